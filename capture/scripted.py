"""A source that replays a JSON Lines trace: the fake behind the Source interface.

Each trace line is an event in its dict form (``type`` plus the event's fields) with
``t``, the offset in seconds from the start of the trace, instead of ``ts``/``mono``;
the replay stamps the real wall and monotonic time at emission, as an OS hook would.
Frame lines may carry the image as base64 in ``image_b64``. Blank lines and lines
starting with ``#`` are ignored.

``speed`` scales time (1.0 = real time, 2.0 = twice as fast); ``speed=0`` replays as
fast as the pipeline takes events, waiting when the queue is full (a ``capture.base.Replay``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from capture.base import SourceBase, SourceCounters
from capture.errors import SourceUnavailable
from capture.events import EVENT_TYPES, Emit, Event, Frame, event_from_dict


class TraceError(ValueError):
    """A trace line is not a valid event; the message names the line."""


def parse_trace(lines: Iterable[str], origin: str = "trace") -> list[tuple[float, dict[str, Any]]]:
    """Validate a trace: (offset, event dict) per line, offsets never decreasing."""
    out: list[tuple[float, dict[str, Any]]] = []
    last = 0.0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise TraceError(f"{origin}:{number}: not valid JSON") from None
        if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES:
            raise TraceError(f"{origin}:{number}: expected an object with a known 'type'")
        offset = data.pop("t", last)
        if not isinstance(offset, (int, float)) or offset < last:
            raise TraceError(f"{origin}:{number}: 't' must be a number, never decreasing")
        data.setdefault("ts", 0.0)
        data.setdefault("mono", 0.0)
        image = base64.b64decode(data.pop("image_b64", "") or b"")
        try:
            event_from_dict(data, image)
        except ValueError as exc:
            raise TraceError(f"{origin}:{number}: {exc}") from None
        if image:
            data["image_b64"] = image
        out.append((float(offset), data))
        last = float(offset)
    return out


def _stamp(data: dict[str, Any], ts: float, mono: float) -> Event:
    fields = dict(data, ts=ts, mono=mono)
    image = fields.pop("image_b64", b"")
    event = event_from_dict(fields, image if isinstance(image, bytes) else b"")
    if isinstance(event, Frame) and not event.image:
        raise TraceError("a frame line needs image_b64")
    return event


class ScriptedSource(SourceBase):
    """Replays a trace on its own thread; ``done`` is set when the last event was emitted.

    A ``capture.base.Replay``: the daemon lets its ``emit`` wait for room.
    """

    name = "scripted"

    def __init__(
        self, trace: list[tuple[float, dict[str, Any]]], speed: float = 1.0, repeat: int = 1
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be 0 (as fast as possible) or positive")
        self.trace = trace
        self.speed = speed
        self.repeat = repeat
        self.done = threading.Event()
        self.emitted = 0
        self.frames = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_file(cls, path: Path, speed: float = 1.0, repeat: int = 1) -> ScriptedSource:
        """Load and validate a trace file."""
        try:
            with path.open(encoding="utf-8") as handle:
                trace = parse_trace(handle, str(path))
        except OSError as exc:
            raise SourceUnavailable("scripted", f"cannot read {path}: {exc.strerror}") from None
        return cls(trace, speed=speed, repeat=repeat)

    def finished(self) -> bool:
        """Whether the last event has been emitted (or the replay was stopped)."""
        return self.done.is_set()

    def counters(self) -> SourceCounters:
        """Frames replayed so far (other events are not counted)."""
        return SourceCounters(frames=self.frames)

    def start(self, emit: Emit) -> None:
        """Begin replaying on a background thread (nothing if already replaying)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.done.clear()
        self._thread = threading.Thread(
            target=self._run, args=(emit,), name="source-scripted", daemon=True
        )
        self._thread.start()

    def _run(self, emit: Emit) -> None:
        try:
            for _ in range(self.repeat):
                origin = time.monotonic()
                for offset, data in self.trace:
                    if self.speed:
                        delay = origin + offset / self.speed - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                    elif self._stop.is_set():
                        return
                    event = _stamp(data, time.time(), time.monotonic())
                    emit(event)
                    self.emitted += 1
                    if event.__class__ is Frame:
                        self.frames += 1
        finally:
            self.done.set()

    def stop(self) -> None:
        """Stop replaying and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

"""The chunk writer: gathers events in memory and seals them into encrypted chunk files.

Plaintext lives only in this object's memory. ``seal`` builds the zip, encrypts it to
every recipient with age, and writes it atomically; a crash loses at most the open chunk.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Event, Frame, Key, MouseButton, MouseMove, Scroll, field_names
from storage import safe_fs
from storage.anchors import ANCHOR_FIELD, anchor_field
from storage.atomic import write_atomic
from storage.canonical import canonical_json
from storage.chunk import (
    CHUNK_SUFFIX,
    EVENTS,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAMES_DIR,
    META_SUFFIX,
    build_zip,
    manifest_hash,
    member_digest,
    session_anchor,
    sign_manifest,
)
from storage.errors import KeyMaterialError, StorageError
from storage.heads import HeadRecorder
from storage.keys import public_key_text

log = logging.getLogger(__name__)

_FIELDS: dict[type, tuple[str, ...]] = {}
_NOT_IN_LINE = ("image", "bands", "mono", "masked_mono")
"""Event fields never in an event line: images are members of their own, and monotonic
times mean nothing outside this run of the agent."""


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(n for n in field_names(cls) if n not in _NOT_IN_LINE)
        _FIELDS[cls] = names
    return names


# One event line is written per event, so serialising is the writer's hot path. The
# frequent, flat event types have hand-written formatters that produce exactly what
# json.dumps(record, separators=(",", ":"), ensure_ascii=False) produces (same key
# order, floats by repr, strings by the json module's own C escaper); each checks that
# every value has the plain type it expects and returns None otherwise (a bool where an
# int belongs, an int timestamp, a non-finite float), and the line is then built by the
# json module. tests/capture/test_fast_paths.py compares both on generated events.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_json_str: Callable[[str], str] = json.encoder.encode_basestring


def _mouse_move_line(seq: int, e: MouseMove) -> str | None:
    ts, x, y, sens = e.ts, e.x, e.y, e.sensitivity
    if (
        seq.__class__ is int
        and ts.__class__ is float
        and ts - ts == 0.0
        and x.__class__ is int
        and y.__class__ is int
        and sens.__class__ is int
    ):
        return (
            f'{{"seq":{seq},"type":"mouse_move","ts":{ts!r},"x":{x},"y":{y},"sensitivity":{sens}}}'
        )
    return None


def _mouse_button_line(seq: int, e: MouseButton) -> str | None:
    ts, x, y, button, pressed, sens = e.ts, e.x, e.y, e.button, e.pressed, e.sensitivity
    if (
        seq.__class__ is int
        and ts.__class__ is float
        and ts - ts == 0.0
        and x.__class__ is int
        and y.__class__ is int
        and button.__class__ is str
        and pressed.__class__ is bool
        and sens.__class__ is int
    ):
        return (
            f'{{"seq":{seq},"type":"mouse_button","ts":{ts!r},"x":{x},"y":{y},'
            f'"button":{_json_str(button)},"pressed":{"true" if pressed else "false"},'
            f'"sensitivity":{sens}}}'
        )
    return None


def _scroll_line(seq: int, e: Scroll) -> str | None:
    ts, x, y, dx, dy, sens = e.ts, e.x, e.y, e.dx, e.dy, e.sensitivity
    if (
        seq.__class__ is int
        and ts.__class__ is float
        and ts - ts == 0.0
        and x.__class__ is int
        and y.__class__ is int
        and dx.__class__ is int
        and dy.__class__ is int
        and sens.__class__ is int
    ):
        return (
            f'{{"seq":{seq},"type":"scroll","ts":{ts!r},"x":{x},"y":{y},"dx":{dx},'
            f'"dy":{dy},"sensitivity":{sens}}}'
        )
    return None


def _key_line(seq: int, e: Key) -> str | None:
    ts, key, pressed, char, redacted, sens = (
        e.ts,
        e.key,
        e.pressed,
        e.char,
        e.redacted,
        e.sensitivity,
    )
    if (
        seq.__class__ is int
        and ts.__class__ is float
        and ts - ts == 0.0
        and key.__class__ is str
        and pressed.__class__ is bool
        and sens.__class__ is int
    ):
        if char is None:
            char_json = "null"
        elif char.__class__ is str:
            char_json = _json_str(char)
        else:
            return None
        if redacted is None:
            redacted_json = "null"
        elif redacted.__class__ is str:
            redacted_json = _json_str(redacted)
        else:
            return None
        return (
            f'{{"seq":{seq},"type":"key","ts":{ts!r},"key":{_json_str(key)},'
            f'"pressed":{"true" if pressed else "false"},"char":{char_json},'
            f'"redacted":{redacted_json},"sensitivity":{sens}}}'
        )
    return None


_FAST_LINES: dict[type, Callable[[int, Any], str | None]] = {
    MouseMove: _mouse_move_line,
    MouseButton: _mouse_button_line,
    Scroll: _scroll_line,
    Key: _key_line,
}


def event_line(seq: int, event: Event) -> str:
    """The events.jsonl line of a non-frame event (``seq``, ``type``, its fields)."""
    fast = _FAST_LINES.get(event.__class__)
    if fast is not None:
        line = fast(seq, event)
        if line is not None:
            return line
    record: dict[str, Any] = {"seq": seq, "type": event.type}
    for name in _fields(type(event)):
        record[name] = getattr(event, name)
    return _ENCODER.encode(record)


def frame_record(seq: int, frame: Frame) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """A frame's event record and the members (name, bytes) holding its image.

    The image is ``frames/<seq>.webp`` (``file``); bands below it (format 3) are
    ``frames/<seq>.<n>.webp``, n from 1, listed in ``bands`` top to bottom.
    """
    record: dict[str, Any] = {"seq": seq, "type": frame.type}
    for name in _fields(Frame):
        record[name] = getattr(frame, name)
    record["file"] = f"{FRAMES_DIR}{seq:09d}.webp"
    images = [(record["file"], frame.image)]
    if frame.bands:
        names = [f"{FRAMES_DIR}{seq:09d}.{n}.webp" for n in range(1, len(frame.bands) + 1)]
        record["bands"] = names
        images += zip(names, frame.bands, strict=True)
    return record, images


@dataclass(frozen=True)
class SealedChunk:
    """What was written: for status, listing and logs (numbers and paths only)."""

    path: Path
    session: str
    seq: int
    events: int
    frames: int
    size: int
    start_ts: float
    end_ts: float


class ScrubJudgement(Protocol):
    """What the writer reads of ``privacy.scrub_ledger.Judgement``."""

    @property
    def counts(self) -> dict[str, dict[str, int]]: ...

    @property
    def rects(self) -> Sequence[tuple[str, str, int, int, int, int]]: ...


class ScrubSource(Protocol):
    """What the writer reads of ``privacy.scrub_ledger.ScrubLedger``."""

    engine: str | None

    def take(self, number: int) -> ScrubJudgement | None: ...

    def take_withheld(self) -> dict[str, int]: ...


class ChunkWriter:
    """Accumulates one session's events and seals them into numbered chunks."""

    def __init__(
        self,
        sessions_dir: Path,
        device: str,
        session: str,
        recipients: list[str],
        signing_key: Ed25519PrivateKey,
        max_seconds: float = 30.0,
        max_bytes: int = 16_000_000,
        clock: Callable[[], float] = time.monotonic,
        ledger_head: Callable[[], tuple[int, str] | None] | None = None,
    ) -> None:
        try:
            self._recipients = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        except Exception:
            raise KeyMaterialError("a configured recipient is not an age X25519 key") from None
        self.session_dir = sessions_dir / session
        self.root = sessions_dir
        """Folders below it are opened without following links: a planted data/ or
        session link is refused (storage/safe_fs.py). The daemon sets its data root."""
        self.device = device
        self.session = session
        self._key = signing_key
        self._signing_public = public_key_text(signing_key.public_key())
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._clock = clock
        self._prev = session_anchor(device, session)
        # The consent ledger's head (seq, hash) at seal time, signed into the manifest
        # (storage/anchors.py); None when the writer has no ledger to anchor.
        self._ledger_head = ledger_head
        self._heads = HeadRecorder(sessions_dir, device, signing_key)
        self.next_seq = 0
        self.sealed_chunks = 0
        self.stored_events = 0
        self.bytes_written = 0
        self.rejected_frames = 0  # changed regions whose base frame is not in the chunk
        # Called with urgent=False when a chunk starts (its first frame should be a key
        # frame) and urgent=True when a region was rejected; the daemon wires it to the
        # screen source (ScreenSource.request_key_frame). Called on the pipeline thread.
        self.on_key_frame_needed: Callable[[bool], None] | None = None
        # What the screen mask did to each frame (privacy.scrub_ledger.ScrubLedger): with
        # it, every manifest has a `scrub` record; without it (no screen masking in this
        # process) none, and `verify` notes chunks with frames as unscrubbed.
        self.scrub: ScrubSource | None = None
        self._reset()

    def _reset(self) -> None:
        self._lines: list[str] = []
        self._frames: list[tuple[str, bytes]] = []  # member name, image (bands apart)
        self._counts: dict[str, int] = {}
        self._size = 0
        self._start_ts: float | None = None
        self._first_seq: int | None = None
        self._end_ts = 0.0
        self._max_sensitivity = 0
        self._opened = self._clock()
        self._last_frame: int | None = None  # number of the chunk's last stored frame
        self._scrubbed = 0  # frames with a judgement of the screen mask
        self._unscrubbed = 0
        self._masked: dict[str, dict[str, int]] = {}

    @property
    def pending_events(self) -> int:
        """Events held in the open (unsealed) chunk."""
        return len(self._lines)

    @property
    def open_since_ts(self) -> float | None:
        """Wall time of the first event in the open chunk (None while it is empty)."""
        return self._start_ts

    @property
    def open_first_seq(self) -> int | None:
        """Sequence number of the first event in the open chunk (None while it is empty)."""
        return self._first_seq

    def discard(self) -> tuple[int, int]:
        """Drop the open chunk without writing anything; return the (events, frames) it held.

        For `forget`: what was never sealed is gone from memory, and no file ever held it.
        """
        held = (len(self._lines), self._counts.get("frame", 0))
        self._reset()
        return held

    @property
    def pending_bytes(self) -> int:
        """Plaintext bytes held in memory for the open chunk."""
        return self._size

    def add(self, seq: int, event: Event) -> None:
        """Append one event (already through consent and privacy) to the open chunk."""
        if isinstance(event, Frame):
            if not event.key and event.base != self._last_frame:
                self._reject_region()
                return
            self._last_frame = event.number
            masks = self._note_scrub(event.number) if self.scrub is not None else None
            record, images = frame_record(seq, event)
            if masks:
                record["masks"] = masks
            self._frames += images
            self._size += event.image_bytes
            line = _ENCODER.encode(record)
        else:
            line = event_line(seq, event)
        self._lines.append(line)
        self._size += len(line) + 1
        kind = event.type
        counts = self._counts
        counts[kind] = counts.get(kind, 0) + 1
        ts = event.ts
        if self._start_ts is None:
            self._start_ts = ts
            self._first_seq = seq
        if ts > self._end_ts:
            self._end_ts = ts
        if event.sensitivity > self._max_sensitivity:
            self._max_sensitivity = event.sensitivity

    def _note_scrub(self, number: int) -> list[dict[str, Any]]:
        """Count what the mask did to frame ``number``; the frame record's ``masks``."""
        assert self.scrub is not None
        judged = self.scrub.take(number)
        if judged is None:
            self._unscrubbed += 1
            return []
        self._scrubbed += 1
        for stage, per in judged.counts.items():
            into = self._masked.setdefault(stage, {})
            for category, n in per.items():
                into[category] = into.get(category, 0) + n
        # Where, not what: positions of the painted rectangles, inside the encrypted
        # chunk, so `view` can tell a masked region from a black screen.
        return [
            {"stage": stage, "category": category, "x": x, "y": y, "width": w, "height": h}
            for stage, category, x, y, w, h in judged.rects
        ]

    def _reject_region(self) -> None:
        # A changed region is stored only right after the frame it was drawn onto, in
        # the same chunk: a chunk's frames then compose from its own key frame alone
        # (retention deletes whole chunks; export reads them alone). The frame before
        # it went to the previous chunk, or was dropped on the way (consent gate,
        # privacy filters), so it cannot be shown: the screen source is asked for a
        # whole frame now. Nothing of a dropped frame can reach a reader this way.
        self.rejected_frames += 1
        if self.on_key_frame_needed is not None:
            self.on_key_frame_needed(True)

    def due(self) -> bool:
        """True when the open chunk should be sealed (age or size reached)."""
        if not self._lines:
            return False
        return self._size >= self.max_bytes or self._clock() - self._opened >= self.max_seconds

    def seconds_until_due(self) -> float | None:
        """Seconds until ``due`` turns true with nothing added (0: due now); None while the
        open chunk is empty (nothing will be due until an event comes)."""
        if not self._lines:
            return None
        if self._size >= self.max_bytes:
            return 0.0
        return max(0.0, self.max_seconds - (self._clock() - self._opened))

    def seal(
        self,
        removed: dict[str, dict[str, int]] | None = None,
        dropped: dict[str, int] | None = None,
    ) -> SealedChunk | None:
        """Encrypt and durably write the open chunk; None when it is empty."""
        if not self._lines:
            self._opened = self._clock()
            return None
        events_bytes = ("\n".join(self._lines) + "\n").encode("utf-8")
        members = [(EVENTS, events_bytes), *self._frames]
        seq = self.next_seq
        manifest: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "device": self.device,
            "session": self.session,
            "seq": seq,
            "start_ts": self._start_ts,
            "end_ts": self._end_ts,
            "events": len(self._lines),
            "frames": self._counts.get("frame", 0),
            "counts": dict(self._counts),
            "max_sensitivity": self._max_sensitivity,
            "removed": removed or {},
            "dropped": dropped or {},
            "members": {name: member_digest(data) for name, data in members},
            "prev_manifest_sha256": self._prev,
            "signing_key": self._signing_public,
            "sealed_ts": time.time(),
            ANCHOR_FIELD: anchor_field(self._ledger_head() if self._ledger_head else None),
        }
        if self.scrub is not None:
            # Counts only, never content: what was masked, by stage and category.
            manifest["scrub"] = {
                "engine": self.scrub.engine,
                "frames": self._scrubbed,
                "unscrubbed": self._unscrubbed,
                "masked": self._masked,
                "withheld": self.scrub.take_withheld(),
            }
        manifest = sign_manifest(manifest, self._key)
        manifest_bytes = canonical_json(manifest)
        plaintext = build_zip(manifest_bytes, members)
        try:
            ciphertext = pyrage.encrypt(plaintext, self._recipients)
            meta = pyrage.encrypt(manifest_bytes, self._recipients)
        except Exception as exc:
            raise StorageError(f"encryption failed ({type(exc).__name__})") from None
        try:
            safe_fs.ensure_dir(self.session_dir, self.root)
        except OSError as exc:
            raise StorageError(f"{self.session_dir}: cannot create: {exc.strerror}") from None
        path = self.session_dir / f"{seq:06d}{CHUNK_SUFFIX}"
        write_atomic(path, ciphertext, root=self.root)
        # The metadata copy comes second: a chunk without one is still complete and
        # readers fall back to it; a metadata file without its chunk is never written.
        write_atomic(self.session_dir / f"{seq:06d}{META_SUFFIX}", meta, root=self.root)
        sealed = SealedChunk(
            path=path,
            session=self.session,
            seq=seq,
            events=len(self._lines),
            frames=self._counts.get("frame", 0),
            size=len(ciphertext),
            start_ts=float(self._start_ts or 0.0),
            end_ts=self._end_ts,
        )
        self._prev = manifest_hash(manifest_bytes)
        self.next_seq += 1
        try:
            # After the chunk and its record: a crash in between leaves the record one
            # chunk behind, which `verify` accepts; never naming a chunk not written.
            self._heads.update(self.session, seq, self._prev, root=self.root)
        except StorageError as exc:
            log.error("cannot update the head record: %s", exc)
        self.sealed_chunks += 1
        self.stored_events += sealed.events
        self.bytes_written += len(ciphertext) + len(meta)
        log.info(
            "sealed chunk %s/%06d: %d events, %d frames, %d bytes",
            self.session,
            seq,
            sealed.events,
            sealed.frames,
            sealed.size,
        )
        self._reset()
        if self.on_key_frame_needed is not None:
            self.on_key_frame_needed(False)
        return sealed

"""A window-focus source that polls: the shared loop of the macOS and Windows backends.

Polling twice a second costs a few system calls; it needs no event hook, no run loop
and no message pump on the source's thread, which keeps the backends simple and their
``stop()`` prompt.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from capture.events import Emit, Window
from capture.window_info import process_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FocusInfo:
    """What a backend read about the focused window (plain values)."""

    title: str
    app: str
    pid: int | None = None
    x: int | None = None
    y: int | None = None
    width: int | None = None
    height: int | None = None


class PollingWindowSource:
    """Base of polling window sources: subclasses implement ``read_focus``."""

    name = "window"

    def __init__(self, poll_interval: float = 0.5) -> None:
        self.poll_interval = poll_interval
        self.read_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: FocusInfo | None = None

    def read_focus(self) -> FocusInfo | None:
        """The focused window now, or None when nothing has focus."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise SourceUnavailable if this backend cannot run here (called by start)."""

    def start(self, emit: Emit) -> None:
        """Start polling; the current focus is emitted at once."""
        if self._thread is not None:
            raise RuntimeError("window source already started")
        self.check()
        self._stop.clear()
        self._last = None
        self._thread = threading.Thread(
            target=self._run, args=(emit,), name=f"window-{type(self).__name__}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def poll_once(self, emit: Emit) -> None:
        """Read the focus once and emit a ``Window`` event if it changed."""
        try:
            focus = self.read_focus() or FocusInfo(title="", app="")
        except Exception as exc:  # an OS call failed: count it, never crash the thread
            self.read_errors += 1
            log.debug("window focus read failed: %s", type(exc).__name__)
            return
        if focus == self._last:
            return
        self._last = focus
        emit(
            Window(
                ts=time.time(),
                mono=time.monotonic(),
                title=focus.title,
                app=focus.app,
                process=process_name(focus.pid),
                pid=focus.pid,
                x=focus.x,
                y=focus.y,
                width=focus.width,
                height=focus.height,
            )
        )

    def _run(self, emit: Emit) -> None:
        while True:
            self.poll_once(emit)
            if self._stop.wait(self.poll_interval):
                return

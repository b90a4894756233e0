"""A source thread that polls one value and emits an event each time it changes.

The shared loop of the polled backends (window focus and the password-field signal on
macOS and Windows): polling a few times a second costs a few system calls and needs no
event hook, run loop or message pump on the source's thread, which keeps the backends
simple and their ``stop()`` prompt. A read that raises is counted and logged by type
only (never a value: a value may be a window title).
"""

from __future__ import annotations

import logging
import threading
from typing import Generic, TypeVar

from capture.base import SourceBase, SourceCounters
from capture.events import Emit, Event

log = logging.getLogger(__name__)

T = TypeVar("T")


class ChangePoller(SourceBase, Generic[T]):
    """Subclasses set ``name``, implement ``read`` and ``event_for``, and call
    ``start_polling`` from ``start``."""

    name: str

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self.read_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: T | None = None

    def read(self) -> T:
        """The value now (may raise: an OS call failed)."""
        raise NotImplementedError

    def event_for(self, value: T) -> Event:
        """The event that reports a new ``value``."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the polling thread was started and not stopped since."""
        return self._thread is not None

    def counters(self) -> SourceCounters:
        """Failed reads so far (``errors``)."""
        return SourceCounters(errors=self.read_errors)

    def start_polling(self, emit: Emit) -> None:
        """Start the thread; the first value is emitted at once (nothing if running)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._last = None
        self._thread = threading.Thread(
            target=self._run, args=(emit,), name=f"{self.name}-{type(self).__name__}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def poll_once(self, emit: Emit) -> None:
        """Read the value once and emit its event if it changed."""
        try:
            value = self.read()
        except Exception as exc:  # an OS call failed: count it, never crash the thread
            self.read_errors += 1
            log.debug("%s read failed: %s", self.name, type(exc).__name__)
            return
        if value == self._last:
            return
        self._last = value
        emit(self.event_for(value))

    def _run(self, emit: Emit) -> None:
        while True:
            self.poll_once(emit)
            if self._stop.wait(self.poll_interval):
                return

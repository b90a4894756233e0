"""Synchronisation for tests: wait on a real condition with a deadline, never a fixed sleep.

On a busy 2-core machine anything can take ten times longer than on a quiet one, so a
test waits for the thing it needs (a file, an event, a log line) and fails, naming what
it waited for and what it last saw, only when a generous deadline has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
E = TypeVar("E")

POLL = 0.02
"""Seconds between two checks: short enough to add little latency, long enough not to spin."""


DEADLINE = 60.0
"""Default seconds before a wait fails. Only a failing wait lasts this long; it is
generous because every stored frame passes the OCR scrub first, and a machine kept busy
by others (CI, a CPU hog) can take tens of seconds to judge a whole screen."""


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``condition`` until it returns something truthy and return that value.

    A condition returning ``X | None`` gives an ``X``: return the thing waited for (a
    snapshot, a parsed file) and assert on exactly what was seen.

    Raises AssertionError naming ``what`` and the condition's last value once ``timeout``
    seconds have passed. The condition is always checked once more after the deadline,
    so a slow poll cannot fail a condition that did come true.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what} (last: {value!r})"
            )
        time.sleep(POLL)


class Collector(Generic[E]):
    """A thread-safe list for events a source thread emits while the test reads them.

    Pass ``collector.append`` as the sink; read with ``snapshot()`` (a copy taken under
    the lock), so a test never iterates a list another thread is appending to, and
    asserts on one consistent copy rather than on a list that keeps growing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[E] = []

    def append(self, item: E) -> None:
        """Record one item (the sink a source calls from its own thread)."""
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[E]:
        """A copy of everything recorded so far."""
        with self._lock:
            return list(self._items)

    def of_type(self, cls: type[T]) -> list[T]:
        """The items of one class, from one snapshot."""
        return [item for item in self.snapshot() if isinstance(item, cls)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

"""The bounded queue between capture sources and the pipeline thread.

OS callbacks run on the system's hook thread: a slow callback freezes input for every
program on the desktop. ``offer`` therefore does the least possible work: one length
check and one ``deque.append`` (atomic under the GIL). When the queue is full the event
is dropped and counted by type; the pipeline turns the counts into ``dropped`` markers,
so a drop is never silent. A consumer gone idle asks to be woken by the next event
(``wake_on_next``): one attribute read per event, and no polling while nothing happens.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from capture.events import Event


class EventQueue:
    """Many producers, one consumer; bounded; drops counted, never silent."""

    def __init__(self, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: deque[Event] = deque()
        self._dropped: dict[str, int] = {}
        self._drop_lock = threading.Lock()
        self.offered = 0
        self._waiter: threading.Event | None = None  # set by the next event (idle consumer)

    def offer(self, event: Event) -> None:
        """Enqueue without blocking; count a drop when full. Safe from any thread."""
        self.offered += 1
        if len(self._items) >= self.maxsize:
            with self._drop_lock:
                self._dropped[event.type] = self._dropped.get(event.type, 0) + 1
            return
        self._items.append(event)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()

    def put(self, event: Event, stop: threading.Event | None = None) -> bool:
        """Enqueue, waiting while full (for replayed traces, never for OS hooks).

        Returns False if ``stop`` was set while waiting; the event is then not queued.
        """
        while len(self._items) >= self.maxsize:
            if stop is not None and stop.is_set():
                return False
            time.sleep(0.0005)
        self.offered += 1
        self._items.append(event)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()
        return True

    def wake_on_next(self, waiter: threading.Event | None) -> None:
        """Have the next queued event set ``waiter`` (None: no more). Consumer thread only.

        Appending comes before reading the waiter, so a consumer that sets its waiter
        and then finds the queue empty is surely woken by the next event.
        """
        self._waiter = waiter

    def drain(self, limit: int = 4096) -> list[Event]:
        """Take up to ``limit`` queued events, oldest first (consumer thread only)."""
        items = self._items
        out: list[Event] = []
        pop = items.popleft
        try:
            for _ in range(limit):
                out.append(pop())
        except IndexError:
            pass
        return out

    def take_dropped(self) -> dict[str, int]:
        """Return and reset the per-type drop counts since the last call."""
        with self._drop_lock:
            counts, self._dropped = self._dropped, {}
        return counts

    def __len__(self) -> int:
        return len(self._items)

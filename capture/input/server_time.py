"""X server timestamps to this process's clocks, for input read in batches.

Every X input event carries the server's time in milliseconds (32 bits). Reading
events in batches (``capture.input.xrecord``) saves a thread wake-up per event, but an event
read late must not be stamped late: the consent gate keeps an event by the moment it
happened. ``ServerClock`` maps server milliseconds onto ``time.monotonic()`` by the
smallest gap seen between an event's server time and when it was read: an event read at
once (the first after a pause in input) gives the delivery latency alone, a fraction
of a millisecond.

Per read, ``read()`` takes the time; each event is then mapped with two additions
(``offset``, ``wall_minus_mono``), never later than the read and never more than
``MAX_LAG`` before it (``stamp``; the reader inlines it, as its loop runs for every
input event); and ``learn(server_ms)`` takes the gap of the read's last event. The
offset is the minimum over the current and the previous window of ``WINDOW`` seconds,
so it follows a server clock that drifts against ours. When the server time jumps (its
clock was reset, or the 32-bit milliseconds wrapped after ~49.7 days), the events of
that read are stamped with the read and the mapping restarts from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

INF = float("inf")


class ServerClock:
    """Maps X server milliseconds to (wall time, monotonic time) of this process."""

    WINDOW = 30.0
    """Seconds a smallest gap stays in use (twice this at most)."""
    MAX_LAG = 2.0
    """A mapping that puts the last event this much before its read is restarted."""

    def __init__(
        self, mono: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ) -> None:
        self._mono = mono
        self._wall = wall
        self.read_mono = 0.0
        """When the last batch was read (monotonic); no event is stamped later."""
        self.wall_minus_mono = 0.0
        """Wall time minus monotonic time at that read."""
        self.offset = INF
        """An event's monotonic time is ``server_ms / 1000 + offset`` (at most ``read_mono``)."""
        self._window_start = -INF
        self._current = INF  # smallest (read - server) in the current window
        self._previous = INF  # ...and in the one before

    def read(self) -> None:
        """Note that a batch of events was read just now (before mapping its events)."""
        self.read_mono = now = self._mono()
        self.wall_minus_mono = self._wall() - now
        if now - self._window_start >= self.WINDOW:
            self._window_start = now
            self._previous, self._current = self._current, INF
            self.offset = self._previous

    def learn(self, server_ms: int) -> None:
        """Take the gap of the last event of the batch read (the most recently sent)."""
        gap = self.read_mono - server_ms / 1000.0
        if gap < self._current:
            self._current = gap
            if gap < self.offset:
                self.offset = gap
        elif gap - self.offset > self.MAX_LAG:
            # The server's clock went back: the old mapping would stamp far too early.
            self._current = self._previous = self.offset = gap

    def stamp(self, server_ms: int) -> tuple[float, float]:
        """(wall, monotonic) time of an event of the last batch read (what the reader
        computes inline)."""
        mono = server_ms / 1000.0 + self.offset
        if mono > self.read_mono or mono < self.read_mono - self.MAX_LAG:
            mono = self.read_mono  # the mapping is not learnt yet, or no longer right
        return mono + self.wall_minus_mono, mono

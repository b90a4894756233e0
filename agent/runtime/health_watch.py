"""The daemon's health watch: feeds ``HealthTracker`` from the capture threads, says problems once.

The screen thread reports pixel statistics, the main loop the input hooks' count and
the writer's progress; ``problems`` is what `status` shows, ``report`` what the log
says (each problem once when it appears, and once when all clear).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from agent.runtime.health import HealthTracker
from capture.screen.pixel_stats import PixelStats

log = logging.getLogger("agent.runtime.daemon")  # the daemon's lines, as before the move


class HealthWatch:
    """Thread-safe feeding of one ``HealthTracker`` (``tracker``, tunable by tests)."""

    def __init__(self, started_ts: float, chunk_seconds: float) -> None:
        self.tracker = HealthTracker(started_ts=started_ts, chunk_seconds=chunk_seconds)
        self._lock = threading.Lock()
        self._reported: list[str] = []
        self._input_delivered = 0  # the input hooks' callback count, last sampled
        self._frames_problem: str | None = None
        # Called (screen thread) when the frames' verdict changed: the daemon's main loop,
        # which reports only every few seconds otherwise, says it at once.
        self.on_change: Callable[[], None] | None = None

    def on_pixels(self, ts: float, stats: PixelStats) -> None:
        """Screen thread: statistics of a grab (numbers and a 16x16 thumbnail in memory)."""
        with self._lock:
            self.tracker.on_frame(ts, stats)
            problem = self.tracker.frames_problem()
            changed, self._frames_problem = problem != self._frames_problem, problem
        if changed and self.on_change is not None:
            self.on_change()

    def input_started(self) -> None:
        """The input hooks were installed just now."""
        with self._lock:
            self.tracker.input_started(time.time())

    def capture_stopped(self) -> None:
        """Every source was stopped: nothing is expected until they start again."""
        with self._lock:
            self.tracker.capture_stopped()

    def problems(
        self,
        *,
        input_delivered: int,
        last_sealed_ts: float | None,
        open_since_ts: float | None,
        pending_events: int,
    ) -> list[str]:
        """Current silent failures while recording, from the hooks' and the writer's numbers.

        Input is judged at the hooks, before any filter: typing in a denied window
        stores nothing, yet proves the hooks deliver.
        """
        with self._lock:
            if input_delivered != self._input_delivered:
                self._input_delivered = input_delivered
                self.tracker.on_input(time.time())
            self.tracker.on_writer(last_sealed_ts, open_since_ts)
            return self.tracker.problems(time.time(), pending_events)

    def report(self, problems: list[str]) -> None:
        """Log each problem once when it appears, and once when all have cleared."""
        for problem in problems:
            if problem not in self._reported:
                log.error("%s", problem)
        if self._reported and not problems:
            log.info("the earlier capture problem cleared")
        self._reported = problems

"""When the bench's screen was drawn on, seen from outside the agent (issue 22).

The observation-staleness figure needs the truth about when the screen changed, not
the agent's own view of it. ``ScreenChanges`` is a second X client on the scene's
display with a DAMAGE object of its own on the root window, at report level "raw
rectangles" (every drawing request is reported, with the server's millisecond time).
It waits on its socket in a thread of the bench process (no polling: the agent's CPU
figures are taken from the agent's process alone). Server milliseconds are mapped to
wall time by the smallest gap seen between a report's server time and when it was read
(the same method as ``capture.input.server_time``): the reports read at once give the
delivery latency alone, a fraction of a millisecond. Each draw's box is kept too: the
pixel check (``bench.observation_pixels``) compares what was drawn there.
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any

from bench.observation_pixels import Box, Draw


class ScreenChanges(threading.Thread):
    """Records when anything was drawn on the screen of ``display_name``."""

    def __init__(self, display_name: str) -> None:
        super().__init__(name="screen-changes", daemon=True)
        from Xlib import display
        from Xlib.ext import damage

        self._display: Any = display.Display(display_name)
        if not self._display.has_extension("DAMAGE"):
            self._display.close()
            raise OSError("the X server has no DAMAGE extension")
        self._display.damage_query_version()
        root = self._display.screen().root
        self._damage = root.damage_create(damage.DamageReportRawRectangles)
        self._display.sync()
        self._kind = self._display.extension_event.DamageNotify
        while self._display.pending_events():  # the whole screen, reported at creation
            self._display.next_event()
        self._halt = threading.Event()
        self._reads: list[tuple[int, float, Box]] = []  # (server ms, read at, box)

    def run(self) -> None:
        """Read damage reports until ``stop``."""
        display, fd = self._display, self._display.fileno()
        while not self._halt.is_set():
            read = time.time()
            # pending_events reads what the socket holds; only then is waiting safe.
            while display.pending_events():
                event = display.next_event()
                if event.type == self._kind:
                    a = event.area  # on the root window: screen coordinates
                    box = (int(a.x), int(a.y), int(a.width), int(a.height))
                    self._reads.append((int(event.timestamp), read, box))
            select.select([fd], [], [], 0.2)

    def stop(self) -> list[Draw]:
        """Stop reading; every draw (wall time, pixels, box), in time order."""
        self._halt.set()
        self.join(5)
        try:
            self._display.damage_destroy(self._damage)
            self._display.close()
        except Exception:  # noqa: S110  the server may be gone already
            pass  # nothing else to release
        return draw_times(self._reads)


def draw_times(reads: list[tuple[int, float, Box]]) -> list[Draw]:
    """Draws from (server ms, read wall time, box) reads: server time plus the smallest
    read-minus-server gap (the 32-bit wrap, ~49 days, is not handled)."""
    if not reads:
        return []
    offset = min(wall - ms / 1000.0 for ms, wall, _ in reads)
    return sorted(Draw(ms / 1000.0 + offset, box[2] * box[3], box) for ms, _, box in reads)

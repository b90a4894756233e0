"""``X11Damage`` reads its reports with ``struct`` (issue 23), under real Xvfb: it reads
what python-xlib's own event class reads on another connection, and a connection that
breaks still makes ``take`` raise (the screen source then compares pixels)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

from capture.screen.damage import X11Damage
from capture.screen.damage_notify import DamageReport
from tests.conftest import XTerm
from tests.waiting import wait_for
from tests.xserver import XServer, start_xserver, wait_drawn_out

pytestmark = pytest.mark.x11

Rect = tuple[int, int, int, int, int]  # x, y, width, height, server millisecond


class RecordingDamage(X11Damage):
    """The real source, keeping every report of its own DAMAGE object it reads."""

    def __init__(self, display_name: str) -> None:
        self.read: list[Rect] = []
        super().__init__(display_name)

    def _add(self, box: Any, reports: list[DamageReport], read: float) -> Any:
        mine = [r for r in reports if r.damage == self._damage]
        self.read += [(r.x, r.y, r.width, r.height, r.timestamp) for r in mine]
        return super()._add(box, reports, read)


class Reference:
    """A second client with python-xlib's own DamageNotify class, at the same level."""

    def __init__(self, display_name: str) -> None:
        from Xlib import display
        from Xlib.ext import damage

        self.display: Any = display.Display(display_name)
        self.display.damage_query_version()
        self.damage = self.display.screen().root.damage_create(damage.DamageReportRawRectangles)
        self.kind = self.display.extension_event.DamageNotify
        self.read: list[Rect] = []

    def drain(self) -> None:
        self.display.sync()  # a round trip: every report sent before it is in
        while self.display.pending_events():
            event = self.display.next_event()
            if event.type == self.kind and event.damage == self.damage:
                a = event.area
                self.read.append((a.x, a.y, a.width, a.height, int(event.timestamp)))


def test_the_reports_read_are_python_xlibs_reports(x_server: XServer, xterm: XTerm) -> None:
    ours = RecordingDamage(x_server.display)
    # Opened after ours: python-xlib puts its own event class back in the table its
    # connections share; ours must keep reading its reports with struct all the same.
    reference = Reference(x_server.display)
    try:
        window = xterm("notify-compare")
        mark = time.monotonic()

        def quiet() -> bool:
            nonlocal mark
            still = ours.drawn_since(mark) == 0
            mark = time.monotonic()
            return still

        wait_for(quiet, "the new terminal to be drawn")
        ours.take()
        reference.drain()
        # Compared from the first report after everything either has read so far (a
        # late redraw read by one connection before this point and by the other after
        # it is left out of both; typing starts tens of milliseconds later).
        cutoff = max(r[4] for r in ours.read + reference.read)
        x_server.run("xdotool", "windowactivate", "--sync", window)
        x_server.run("xdotool", "type", "--delay", "15", "echo struct-read damage reports")
        x_server.run("xdotool", "key", "Return")

        def same() -> bool:
            ours.take()
            reference.drain()
            # All 32 characters echoed, at least a report each, read alike by both: the
            # same areas in the same order, at the same millisecond (the server stamps
            # each connection's copy as it sends it: one may be a millisecond later).
            a, b = after(ours.read), after(reference.read)
            return (
                len(a) >= 32
                and [r[:4] for r in a] == [r[:4] for r in b]
                and all(abs(x[4] - y[4]) <= 1 for x, y in zip(a, b, strict=True))
            )

        def after(read: list[Rect]) -> list[Rect]:
            return [r for r in read if r[4] > cutoff + 1]

        wait_for(same, "both connections to have read the same reports")
        assert type(reference.display.display.event_classes[reference.kind]) is type
    finally:
        ours.close()
        reference.display.close()


def test_a_broken_connection_makes_take_raise() -> None:
    server = start_xserver(width=640, height=480, window_manager=False)
    damage = X11Damage(server.display)
    try:
        assert damage.take().width == 640
        server.stop()  # the server, and so the connection, is gone
        with pytest.raises(Exception):  # noqa: B017, PT011  any error: the source falls back
            damage.take()
        with pytest.raises(Exception):  # noqa: B017, PT011
            damage.drawn_since(0.0)
    finally:
        with contextlib.suppress(Exception):  # closing a dead connection may fail
            damage.close()
        server.stop()


def test_events_that_are_not_its_reports_are_passed_over(x_server: XServer) -> None:
    damage = X11Damage(x_server.display)
    try:
        wait_drawn_out(damage)  # a window closed by an earlier test may still be redrawn
        damage.take()
        # What the connection queues for bytes too short to be a report (None), and a
        # report of another DAMAGE object: neither raises nor counts as drawn.
        queue = damage._display.display.event_queue
        queue += [None, DamageReport(1, damage._damage + 1, 0, 0, 0, 500, 500)]
        assert damage.drawn_since(float("-inf")) == 0
        queue += [None, DamageReport(1, damage._damage + 1, 0, 0, 0, 500, 500)]
        assert damage.take().box is None
    finally:
        damage.close()

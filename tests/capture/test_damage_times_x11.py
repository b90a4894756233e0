"""When the screen was drawn, from X DAMAGE's server times (issue 22), under real Xvfb.

A grab at an action's start is that action's observation only if nothing was drawn
since its press; ``X11Damage.drawn_since`` is how the screen source knows.
"""

from __future__ import annotations

import time

import pytest

from capture.events import Event, Frame, MouseButton
from capture.screen.damage import X11Damage
from capture.screen.mss_source import ScreenSource
from capture.screen.options import ScreenOptions
from tests.conftest import XTerm
from tests.waiting import Collector, wait_for
from tests.xserver import XServer, wait_drawn_out

pytestmark = pytest.mark.x11


def test_drawn_since_tells_a_draw_after_a_moment_from_the_draws_before(
    x_server: XServer, xterm: XTerm
) -> None:
    damage = X11Damage(x_server.display)
    try:
        xterm("drawn-before")
        wait_for(lambda: damage.take().box is not None, "the xterm to be drawn")
        wait_drawn_out(damage)
        moment = time.monotonic()
        assert damage.drawn_since(moment) == 0
        xterm("drawn-after")
        wait_for(lambda: damage.drawn_since(moment), "a draw after the moment")
        # Mapped from the server's milliseconds onto our clock: after the moment, not
        # later than now.
        assert moment <= damage.last_draw <= time.monotonic()
        assert damage.take().box is not None  # what drawn_since read is not lost
    finally:
        damage.close()


def test_a_grab_after_the_press_drew_is_not_an_action_start(
    x_server: XServer, xterm: XTerm
) -> None:
    emitted: Collector[Event] = Collector()
    source = ScreenSource(ScreenOptions(min_interval=0.2, debounce=5.0, idle_interval=60.0))
    source.start(emitted.append)
    damage = X11Damage(x_server.display)
    try:
        wait_for(lambda: len(emitted) == 1, "the start-up frame")
        # Drawn before the press: the grab at the press shows the screen the press met.
        xterm("before-the-press")
        wait_for(lambda: damage.take().box is not None, "the xterm to be drawn")
        wait_drawn_out(damage)
        press = MouseButton(ts=0.0, mono=time.monotonic(), x=1, y=1, button="left", pressed=True)
        source.on_input(press)
        wait_for(lambda: len(emitted) == 2, "the grab at the press")
        # Drawn after the press (as a window manager raising a window on the press):
        # the grab shows the press's effect, so it is no action start.
        press = MouseButton(ts=0.0, mono=time.monotonic(), x=1, y=1, button="left", pressed=True)
        xterm("after-the-press")
        wait_for(lambda: damage.drawn_since(press.mono), "a draw after the press")
        source.on_input(press)
        wait_for(lambda: len(emitted) == 3, "the grab after the press")
    finally:
        damage.close()
        source.stop()
    assert [f.trigger for f in emitted.of_type(Frame)[1:]] == ["action", "after_action"]

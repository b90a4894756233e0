"""Listing the windows on a real X server (Xvfb + openbox) for screen masking."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from Xlib.error import ConnectionClosedError

from capture.window.visible import Rect, VisibleWindow
from capture.window.visible_x11 import X11WindowLister
from tests.conftest import XTerm
from tests.waiting import wait_for
from tests.xserver import XServer

pytestmark = pytest.mark.x11

VAULT = "Passwords.kdbx - KeePassXC"
NOTES = "Visible notes window"


@pytest.fixture
def lister(x_server: XServer) -> Iterator[X11WindowLister]:
    lister = X11WindowLister(x_server.display)
    yield lister
    lister.close()


def frame_rect(display: str, wid: str) -> Rect:
    """The outer rectangle of a client: its top-level ancestor (the WM's frame) on the root."""
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        window = d.create_resource_object("window", int(wid))
        root = d.screen().root
        while (parent := window.query_tree().parent) != root:
            window = parent
        g = window.get_geometry()
        return Rect(g.x, g.y, g.width + 2 * g.border_width, g.height + 2 * g.border_width)
    finally:
        d.close()


def by_title(lister: X11WindowLister) -> dict[str, VisibleWindow]:
    return {w.title: w for w in lister.list_windows()}


def test_lists_focused_and_unfocused_windows_with_their_outer_geometry(
    x_server: XServer, xterm: XTerm, lister: X11WindowLister
) -> None:
    vault, notes = xterm(VAULT), xterm(NOTES)
    wait_for(lambda: {VAULT, NOTES} <= set(by_title(lister)), "both windows managed")
    x_server.run("xdotool", "windowmove", "--sync", vault, "700", "350")
    x_server.run("xdotool", "windowactivate", "--sync", notes)
    wait_for(
        lambda: (w := by_title(lister).get(NOTES)) is not None and w.focused,
        "the focus on the notes",
    )
    windows = by_title(lister)
    assert windows[VAULT].app == "XTerm" and windows[VAULT].process == "xterm"
    assert not windows[VAULT].focused
    for title, wid in ((VAULT, vault), (NOTES, notes)):
        outer = frame_rect(x_server.display, wid)
        assert windows[title].geometry == outer
    geometry = windows[VAULT].geometry
    assert geometry is not None and (geometry.x, geometry.y) == (700, 350)
    # Bottom to top: the focused window was raised last.
    titles = [w.title for w in lister.list_windows()]
    assert titles.index(VAULT) < titles.index(NOTES)


def test_minimised_windows_and_other_desktops_are_not_listed(
    x_server: XServer, xterm: XTerm, lister: X11WindowLister
) -> None:
    vault, notes = xterm(VAULT), xterm(NOTES)
    wait_for(lambda: {VAULT, NOTES} <= set(by_title(lister)), "both windows managed")
    x_server.run("xdotool", "windowminimize", "--sync", vault)
    wait_for(lambda: VAULT not in by_title(lister), "the minimised window to leave the list")
    assert NOTES in by_title(lister)
    x_server.run("xdotool", "windowactivate", "--sync", vault)  # restored
    wait_for(lambda: VAULT in by_title(lister), "the restored window")
    if int(x_server.run("xdotool", "get_num_desktops").strip() or 1) > 1:
        x_server.run("xdotool", "set_desktop_for_window", notes, "1")
        wait_for(lambda: NOTES not in by_title(lister), "the window on another desktop")
        assert VAULT in by_title(lister)


def test_a_lost_connection_raises_then_reconnects(
    x_server: XServer, xterm: XTerm, lister: X11WindowLister
) -> None:
    xterm(NOTES)
    # The window exists once xdotool finds it; the window manager lists it a moment later.
    wait_for(lambda: NOTES in by_title(lister), "the window managed")
    lister._d.close()  # the server dropped us
    with pytest.raises(ConnectionClosedError):
        lister.list_windows()
    assert NOTES in by_title(lister)

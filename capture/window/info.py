"""Helpers shared by the window-focus backends (plain values only)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from capture.events import Window


@dataclass(frozen=True, slots=True)
class FocusInfo:
    """What a backend read about the focused window (plain values); compared to decide
    whether focus changed."""

    title: str
    app: str
    pid: int | None = None
    x: int | None = None
    y: int | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = None
    """The focused browser tab's URL (capture.window.browser_url), when known."""


NO_FOCUS = FocusInfo(title="", app="")
"""Nothing has focus."""


def window_event(focus: FocusInfo) -> Window:
    """The ``Window`` event for a focus change, stamped now."""
    return Window(
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
        url=focus.url,
    )


def process_name(pid: int | None) -> str | None:
    """The executable name of process ``pid``, or None if it is unknown or gone."""
    if pid is None or pid <= 0:
        return None
    try:
        return str(psutil.Process(pid).name())
    except (psutil.Error, OSError):
        return None

"""Whether this desktop session can be captured, and why not: the display diagnosis.

``check_display`` turns the usual reasons a session is unusable (Wayland, no DISPLAY, a
display that does not open) into one line a person can act on. The backends call it
before they connect; ``doctor`` shows it. Importing this module needs no display.
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from collections.abc import Mapping

from capture.errors import SourceUnavailable


def wayland_session(environ: Mapping[str, str]) -> str | None:
    """What says this is a Wayland session (``XDG_SESSION_TYPE=wayland`` or a set
    ``WAYLAND_DISPLAY``), or None; DISPLAY plays no part (XWayland always sets it)."""
    if environ.get("XDG_SESSION_TYPE", "").strip().lower() == "wayland":
        return "XDG_SESSION_TYPE=wayland"
    if environ.get("WAYLAND_DISPLAY", "").strip():
        return "WAYLAND_DISPLAY is set"
    return None


def check_display(source: str = "capture", environ: Mapping[str, str] | None = None) -> None:
    """Raise SourceUnavailable unless an X11 session's display can be opened (Linux only).

    Distinguishes a Wayland session (refused even when DISPLAY names its XWayland
    server), a session with no display at all, and a display that is set but cannot be
    opened. Does nothing on macOS and Windows.
    """
    if not sys.platform.startswith("linux"):
        return
    env = os.environ if environ is None else environ
    display = env.get("DISPLAY", "")
    why = wayland_session(env)
    if why is not None:
        # XWayland shows an X client only the other X clients' input and windows: the
        # agent would say "recording" while missing every native Wayland application.
        through = (
            f"; its XWayland display {display[:40]!r} shows only X11 applications' input "
            "and windows, so the agent would say recording while missing most of the session"
            if display
            else ""
        )
        raise SourceUnavailable(
            source,
            f"this is a Wayland session ({why}), and Wayland blocks global input capture"
            f"{through}: log out and choose an X11 (Xorg) session at the login screen",
        )
    if not display:
        raise SourceUnavailable(
            source,
            "no DISPLAY is set: capture needs an X11 session; run the agent inside "
            "your desktop session (or set DISPLAY, e.g. DISPLAY=:0)",
        )
    reason = _open_failure(display)
    if reason is not None:
        raise SourceUnavailable(
            source,
            f"cannot open X display {display!r} ({reason}): check that the X server is "
            "running and that this user may connect to it (xhost / XAUTHORITY)",
        )


def _open_failure(display: str) -> str | None:
    # Returns None when the display opens, else a short reason (never raises).
    try:
        from Xlib import display as xdisplay
        from Xlib import error as xerror
    except ImportError:
        return "python-xlib is not installed"
    # python-xlib leaves the socket of a failed connection to the garbage collector;
    # its ResourceWarning is noise here, the failure itself is what we report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            connection = xdisplay.Display(display)
        except (xerror.DisplayError, OSError) as exc:
            failure: str | None = type(exc).__name__
        else:
            connection.close()
            failure = None
        if failure is not None:
            # Only a failed connection leaves a socket behind (collected once the
            # exception is gone); a full collection is slow at start-up with everything
            # imported (PERFORMANCE.md), so it is not paid on success.
            gc.collect()
    return failure

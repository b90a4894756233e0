"""Which capture backends run here, and why one cannot.

``check_display`` turns the usual reasons a desktop session is unusable into one line a
person can act on; ``build_sources`` picks the backends for this platform. Backend
modules are imported only when chosen, so importing this module needs no display and
no platform library.
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from capture.base import Source
from capture.errors import SourceUnavailable
from capture.screen.options import Encoding, ScreenOptions
from capture.window.visible import WindowLister

if TYPE_CHECKING:
    from capture.screen.mss_source import FrameMask

_SCREEN = ScreenOptions()  # the defaults


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
            # exception is gone); a full collection costs ~60 ms at start-up with
            # everything imported, so it is not paid on success.
            gc.collect()
    return failure


def build_sources(
    keyboard: bool,
    mouse: bool,
    screen: bool,
    window: bool,
    move_hz: float = 60.0,
    *,
    screen_min_interval: float = _SCREEN.min_interval,
    screen_debounce: float = _SCREEN.debounce,
    screen_idle_interval: float = _SCREEN.idle_interval,
    webp_quality: int = _SCREEN.webp_quality,
    webp_method: int = _SCREEN.webp_method,
    frame_encoding: Encoding = _SCREEN.encoding,
    screen_mask: Callable[[], FrameMask] | None = None,
) -> list[Source]:
    """The capture sources for this platform, in start order (nothing started yet).

    Backends are imported here, only when chosen. Raises SourceUnavailable when a
    requested kind of capture has no backend on this platform. ``screen_mask`` makes
    the mask every screen grab passes first (called on the screen thread; see
    ``window_lister``). With keys captured, a "secure_input" source reports password
    fields from the platform (a missing signal only logs why, see capture.secure_input.common).
    """
    sources: list[Source] = []
    if keyboard:
        # Before the keys, so a password field focused at start is known early.
        sources.append(_secure_input_source())
    if keyboard or mouse:
        from capture.input.pynput_hooks import PynputInput

        sources.append(PynputInput(keyboard=keyboard, mouse=mouse, move_hz=move_hz))
    if window:
        sources.append(_window_source())
    if screen:
        from capture.screen.mss_source import ScreenSource

        sources.append(
            ScreenSource(
                debounce=screen_debounce,
                min_interval=screen_min_interval,
                idle_interval=screen_idle_interval,
                webp_quality=webp_quality,
                webp_method=webp_method,
                encoding=frame_encoding,
                mask_factory=screen_mask,
            )
        )
    return sources


def window_lister() -> WindowLister:
    """This platform's lister of the windows on screen; create it on the thread using it.

    X11 lists every client window. macOS and Windows only report the focused window for
    now (``complete`` is False): enumerating every window there is not implemented, so
    unfocused denied windows are not masked. Raises SourceUnavailable when nothing can
    list windows here.
    """
    from capture.window.visible import FocusOnlyLister

    if sys.platform == "darwin":
        from capture.window.macos import MacWindowSource

        mac = MacWindowSource()
        mac.check()
        return FocusOnlyLister(mac.read_focus)
    if sys.platform == "win32":
        from capture.window.windows import WindowsWindowSource

        windows = WindowsWindowSource()
        windows.check()
        return FocusOnlyLister(windows.read_focus)
    if sys.platform.startswith("linux"):
        from capture.window.visible_x11 import X11WindowLister

        return X11WindowLister()
    raise SourceUnavailable("screen", f"no window-listing backend for platform {sys.platform!r}")


def _secure_input_source() -> Source:
    """This platform's password-field signal; it never stops recording when unavailable."""
    if sys.platform == "darwin":
        from capture.secure_input.macos import MacSecureInput

        return MacSecureInput()
    if sys.platform == "win32":
        from capture.secure_input.windows import WindowsSecureInput

        return WindowsSecureInput()
    from capture.secure_input.atspi import AtspiSecureInput

    return AtspiSecureInput()


def _window_source() -> Source:
    if sys.platform == "darwin":
        from capture.window.macos import MacWindowSource

        return MacWindowSource()
    if sys.platform == "win32":
        from capture.window.windows import WindowsWindowSource

        return WindowsWindowSource()
    if sys.platform.startswith("linux"):
        from capture.window.x11 import X11WindowSource

        return X11WindowSource()
    raise SourceUnavailable("window", f"no window-focus backend for platform {sys.platform!r}")

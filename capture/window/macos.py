"""The focused window on macOS, through Quartz window lists and AppKit (polled).

The frontmost on-screen window of layer 0 in ``CGWindowListCopyWindowInfo`` (which
lists windows front to back) is the focused one; it works from any thread, unlike
NSWorkspace's notifications, which need the main run loop. Window titles require the
Screen Recording permission (macOS 10.15+); without it the title is empty and the app
name still set. Needs pyobjc-framework-Quartz and pyobjc-framework-Cocoa.

Untested: written against the documented APIs and type-checked with
``mypy --platform darwin``; it has never run in CI.
"""

from __future__ import annotations

import sys
from typing import Any

from capture.errors import SourceUnavailable
from capture.window.info import FocusInfo
from capture.window.poll import PollingWindowSource
from capture.window.visible import FocusOnlyLister


class MacWindowSource(PollingWindowSource):
    """Window-focus source ("window") for macOS: frontmost window title, app, bounds."""

    def __init__(self, poll_interval: float = 0.5) -> None:
        super().__init__(poll_interval)
        self._quartz: Any = None
        self._appkit: Any = None

    def check(self) -> None:
        """Import the pyobjc frameworks; raise SourceUnavailable if they are missing."""
        if sys.platform != "darwin":
            raise SourceUnavailable(self.name, "the macOS window backend runs only on macOS")
        try:
            import AppKit
            import Quartz
        except ImportError:
            raise SourceUnavailable(
                self.name,
                "pyobjc is missing: pip install pyobjc-framework-Quartz pyobjc-framework-Cocoa",
            ) from None
        self._quartz, self._appkit = Quartz, AppKit

    def read_focus(self) -> FocusInfo | None:
        """The frontmost normal window now, or None."""
        quartz = self._quartz
        if quartz is None:
            return None
        options = (
            quartz.kCGWindowListOptionOnScreenOnly | quartz.kCGWindowListExcludeDesktopElements
        )
        windows = quartz.CGWindowListCopyWindowInfo(options, quartz.kCGNullWindowID) or []
        for info in windows:
            if int(info.get("kCGWindowLayer", 1)) != 0:
                continue  # menu bar, dock, overlays
            pid = int(info.get("kCGWindowOwnerPID", 0)) or None
            bounds = info.get("kCGWindowBounds") or {}
            return FocusInfo(
                title=str(info.get("kCGWindowName") or ""),
                app=self._app_name(pid) or str(info.get("kCGWindowOwnerName") or ""),
                pid=pid,
                x=_int_or_none(bounds.get("X")),
                y=_int_or_none(bounds.get("Y")),
                width=_int_or_none(bounds.get("Width")),
                height=_int_or_none(bounds.get("Height")),
            )
        return None

    def _app_name(self, pid: int | None) -> str:
        # The localized application name ("Safari"), the closest thing to WM_CLASS.
        if pid is None or self._appkit is None:
            return ""
        app = self._appkit.NSRunningApplication.runningApplicationWithProcessIdentifier_(pid)
        name = app.localizedName() if app is not None else None
        return str(name) if name else ""


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


def focus_only_lister() -> FocusOnlyLister:
    """The visible-window lister here: the focused window only (``complete`` is False)."""
    source = MacWindowSource()
    source.check()
    return FocusOnlyLister(source.read_focus)

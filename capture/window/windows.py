"""The focused window on Windows, through user32 via ctypes (polled).

Untested: written against the documented Win32 API and type-checked with
``mypy --platform win32``; it has never run in CI.
"""

from __future__ import annotations

import sys

from capture.errors import SourceUnavailable
from capture.window.info import FocusInfo
from capture.window.poll import PollingWindowSource
from capture.window.visible import FocusOnlyLister

if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    _user32 = ctypes.WinDLL("user32", use_last_error=True)
    _user32.GetForegroundWindow.restype = wintypes.HWND
    _user32.GetForegroundWindow.argtypes = []
    _user32.GetWindowTextLengthW.restype = ctypes.c_int
    _user32.GetWindowTextLengthW.argtypes = [wintypes.HWND]
    _user32.GetWindowTextW.restype = ctypes.c_int
    _user32.GetWindowTextW.argtypes = [wintypes.HWND, wintypes.LPWSTR, ctypes.c_int]
    _user32.GetWindowThreadProcessId.restype = wintypes.DWORD
    _user32.GetWindowThreadProcessId.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.DWORD)]
    _user32.GetWindowRect.restype = wintypes.BOOL
    _user32.GetWindowRect.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.RECT)]

    def _read_focus() -> FocusInfo | None:
        hwnd = _user32.GetForegroundWindow()
        if not hwnd:
            return None
        length = _user32.GetWindowTextLengthW(hwnd)
        buffer = ctypes.create_unicode_buffer(length + 1)
        _user32.GetWindowTextW(hwnd, buffer, length + 1)
        pid = wintypes.DWORD(0)
        _user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
        rect = wintypes.RECT()
        has_rect = bool(_user32.GetWindowRect(hwnd, ctypes.byref(rect)))
        process_id = int(pid.value) or None
        return FocusInfo(
            title=buffer.value,
            app=_app_name(process_id),
            pid=process_id,
            x=int(rect.left) if has_rect else None,
            y=int(rect.top) if has_rect else None,
            width=int(rect.right - rect.left) if has_rect else None,
            height=int(rect.bottom - rect.top) if has_rect else None,
        )


def _app_name(pid: int | None) -> str:
    # Windows has no WM_CLASS; the executable's name without ".exe" plays that role.
    from capture.window.info import process_name

    name = process_name(pid) or ""
    return name[:-4] if name.lower().endswith(".exe") else name


class WindowsWindowSource(PollingWindowSource):
    """Window-focus source ("window") for Windows: foreground window title, process, rect."""

    def check(self) -> None:
        """Raise SourceUnavailable when not on Windows."""
        if sys.platform != "win32":
            raise SourceUnavailable(self.name, "the Windows window backend runs only on Windows")

    def read_focus(self) -> FocusInfo | None:
        """The foreground window now, or None."""
        if sys.platform == "win32":
            return _read_focus()
        return None


def focus_only_lister() -> FocusOnlyLister:
    """The visible-window lister here: the focused window only (``complete`` is False)."""
    source = WindowsWindowSource()
    source.check()
    return FocusOnlyLister(source.read_focus)

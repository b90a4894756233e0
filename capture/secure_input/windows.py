"""Password fields on Windows: the focused control is an edit with ES_PASSWORD (polled).

``GetGUIThreadInfo`` on the foreground thread names the control with keyboard focus;
an edit control (Edit, RichEdit, WinForms' edit) with the ``ES_PASSWORD`` style shows
bullets instead of characters. This covers classic Win32 and WinForms password boxes,
not UI Automation's ``IsPassword`` property: password fields drawn by browsers, WPF,
UWP/WinUI, Qt or Electron are not seen here (the window-title heuristic still applies).

Untested: written against the documented Win32 API and type-checked with
``mypy --platform win32``; it has never run in CI.
"""

from __future__ import annotations

import sys

from capture.secure_input.common import PollingSecureInput

GWL_STYLE = -16
ES_PASSWORD = 0x0020

if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    class GUITHREADINFO(ctypes.Structure):
        """The Win32 GUITHREADINFO structure."""

        _fields_ = [
            ("cbSize", wintypes.DWORD),
            ("flags", wintypes.DWORD),
            ("hwndActive", wintypes.HWND),
            ("hwndFocus", wintypes.HWND),
            ("hwndCapture", wintypes.HWND),
            ("hwndMenuOwner", wintypes.HWND),
            ("hwndMoveSize", wintypes.HWND),
            ("hwndCaret", wintypes.HWND),
            ("rcCaret", wintypes.RECT),
        ]

    _user32 = ctypes.WinDLL("user32", use_last_error=True)
    _user32.GetGUIThreadInfo.restype = wintypes.BOOL
    _user32.GetGUIThreadInfo.argtypes = [wintypes.DWORD, ctypes.POINTER(GUITHREADINFO)]
    _user32.GetWindowLongW.restype = wintypes.LONG
    _user32.GetWindowLongW.argtypes = [wintypes.HWND, ctypes.c_int]
    _user32.GetClassNameW.restype = ctypes.c_int
    _user32.GetClassNameW.argtypes = [wintypes.HWND, wintypes.LPWSTR, ctypes.c_int]

    def _focused_password() -> bool:
        info = GUITHREADINFO()
        info.cbSize = ctypes.sizeof(GUITHREADINFO)
        if not _user32.GetGUIThreadInfo(0, ctypes.byref(info)):  # 0: the foreground thread
            raise ctypes.WinError(ctypes.get_last_error())
        hwnd = info.hwndFocus
        if not hwnd:
            return False
        name = ctypes.create_unicode_buffer(256)
        _user32.GetClassNameW(hwnd, name, 256)
        # 0x20 means ES_PASSWORD only for edit classes (it is BS_LEFTTEXT on a button).
        if "edit" not in name.value.lower():
            return False
        return bool(_user32.GetWindowLongW(hwnd, GWL_STYLE) & ES_PASSWORD)


class WindowsSecureInput(PollingSecureInput):
    """The "secure_input" source for Windows: a focused password edit control."""

    def check(self) -> str | None:
        """Say why not when this is not Windows."""
        if sys.platform != "win32":
            return "the Windows password-control check runs only on Windows"
        return None

    def read_active(self) -> bool:
        """Whether the control with keyboard focus is a password edit."""
        if sys.platform == "win32":
            return _focused_password()
        return False

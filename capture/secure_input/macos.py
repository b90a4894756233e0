"""Secure event input on macOS, through Carbon's ``IsSecureEventInputEnabled`` (polled).

A password field (NSSecureTextField, the login window, Terminal's Secure Keyboard
Entry, a browser's password input) turns secure event input on while it has focus; the
call answers for the whole session, whichever process turned it on. macOS then also
hides the keys from event taps, so this marker is a second line behind the system's.

Untested: written against the documented API and type-checked with
``mypy --platform darwin``; it has never run in CI.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from capture.secure_input.common import PollingSecureInput

CARBON = "/System/Library/Frameworks/Carbon.framework/Carbon"


class MacSecureInput(PollingSecureInput):
    """The "secure_input" source for macOS: secure event input on or off."""

    def __init__(self, poll_interval: float = 0.25) -> None:
        super().__init__(poll_interval)
        self._enabled: Any = None

    def check(self) -> str | None:
        """Load Carbon's function; say why not when it cannot be loaded."""
        if sys.platform != "darwin":
            return "secure event input exists only on macOS"
        try:
            carbon = ctypes.CDLL(CARBON)
            enabled = carbon.IsSecureEventInputEnabled
        except (OSError, AttributeError) as exc:
            return f"Carbon's IsSecureEventInputEnabled cannot be loaded ({type(exc).__name__})"
        enabled.restype = ctypes.c_bool
        enabled.argtypes = []
        self._enabled = enabled
        return None

    def read_active(self) -> bool:
        """Whether some process has secure event input on now."""
        if self._enabled is None:
            return False
        return bool(self._enabled())

"""The "secure_input" source: the platform says whether keys now go to a password field.

Each backend emits ``Marker(kind="secure_input", detail={"active": bool})`` when that
answer changes (and once when it first knows it); ``privacy.password_fields`` redacts
every typed character while the last marker said active. Backends: AT-SPI on Linux
(``capture.secure_input.atspi``), secure event input on macOS
(``capture.secure_input.macos``), the focused edit control's password style on Windows
(``capture.secure_input.windows``).

A missing signal never stops recording: the title and terminal heuristics still apply,
so a backend that cannot run here records why (``unavailable``), logs it once at info
level and emits nothing. The markers carry one boolean, never a title or any text.
"""

from __future__ import annotations

import logging
import threading
import time

from capture.events import Emit, Marker
from capture.polling import ChangePoller

log = logging.getLogger(__name__)

SECURE_INPUT = "secure_input"
"""The marker kind (and source name); ``privacy.password_fields`` listens for it."""

_reported: set[str] = set()  # unavailability reasons already logged in this process
_reported_lock = threading.Lock()


def secure_input_marker(active: bool) -> Marker:
    """The marker telling the privacy chain that a password field has (or lost) focus."""
    return Marker(
        ts=time.time(), mono=time.monotonic(), kind=SECURE_INPUT, detail={"active": active}
    )


def report_unavailable(reason: str) -> None:
    """Log once per process, at info level, why the platform password signal is missing."""
    with _reported_lock:
        if reason in _reported:
            return
        _reported.add(reason)
    log.info(
        "platform password-field signal unavailable (%s); window-title and terminal "
        "heuristics still apply",
        reason,
    )


class PollingSecureInput(ChangePoller[bool]):
    """Base of the polled backends (macOS, Windows): subclasses implement ``read_active``.

    Polled four times a second (``capture.polling``).
    """

    name = SECURE_INPUT

    def __init__(self, poll_interval: float = 0.25) -> None:
        super().__init__(poll_interval)
        self.unavailable: str | None = None
        """Why this backend cannot run here (None while it can)."""

    def check(self) -> str | None:
        """Prepare the backend; return why it cannot run here, or None."""
        return None

    def read_active(self) -> bool:
        """Whether keys typed now go to a password field (may raise OSError)."""
        raise NotImplementedError

    def start(self, emit: Emit) -> None:
        """Start polling; the first answer is emitted at once. Never raises for a missing API."""
        if self.running:
            return
        self.unavailable = self.check()
        if self.unavailable is not None:
            report_unavailable(self.unavailable)
            return
        self.start_polling(emit)

    def read(self) -> bool:
        """Whether a password field has the keys now."""
        return self.read_active()

    def event_for(self, value: bool) -> Marker:
        """The marker for a change of the answer."""
        return secure_input_marker(value)

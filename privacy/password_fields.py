"""Password fields: redact every typed character while focus is on a password prompt.

Two signals, either is enough: the focused window's title asks for a password,
passphrase or PIN (a heuristic, always on), or the platform says secure input is on
(a capture backend that knows - macOS secure event input, Windows UI Automation's
IsPassword, AT-SPI's password role - emits ``Marker(kind="secure_input",
detail={"active": bool})``).
"""

from __future__ import annotations

import dataclasses
import re

from capture.events import Event, Key, Marker, Window
from privacy import categories as cat
from privacy.text_buffer import REDACTED_KEY

SECURE_INPUT = "secure_input"
"""The marker kind a capture backend uses to report a platform password field."""

PASSWORD_TITLE = re.compile(
    r"(?i:\b(?:password|passwort|kennwort|passphrase|passcode|mot de passe|contraseña|senha"
    r"|parola d'ordine|wachtwoord|lösenord|hasło)\b)|\bPIN\b"
)
"""Window titles that ask for a secret."""


class PasswordFieldRedactor:
    """The stage that removes the characters of keys typed into a password prompt."""

    name = "password_field"
    acts_on: frozenset[type] = frozenset({Key, Window, Marker})
    """Keys are redacted, windows and secure-input markers followed; nothing else."""

    def __init__(self) -> None:
        self._title_says = False
        self._platform_says = False
        self._down: set[str] = set()  # names of redacted keys not yet released

    def __call__(self, event: Event) -> Event | None:
        """Redact a key typed into a password field; note focus and secure-input changes."""
        if isinstance(event, Key):
            if event.pressed:
                if (self._title_says or self._platform_says) and event.char is not None:
                    self._down.add(event.key)
                    return _redact(event)
                return event
            if event.key in self._down:
                self._down.discard(event.key)
                return _redact(event)
            return event
        if isinstance(event, Window):
            self._title_says = PASSWORD_TITLE.search(event.title) is not None
        elif isinstance(event, Marker) and event.kind == SECURE_INPUT:
            self._platform_says = event.detail.get("active") is True
        return event


def _redact(event: Key) -> Key:
    return dataclasses.replace(
        event,
        key=REDACTED_KEY,
        char=None,
        redacted=cat.PASSWORD,
        sensitivity=max(event.sensitivity, 4),
    )

"""Errors raised by capture sources.

CaptureError
└── SourceUnavailable   a backend cannot start here (no DISPLAY, Wayland, missing lib)
"""

from __future__ import annotations


class CaptureError(Exception):
    """Base of every error the capture package raises."""


class SourceUnavailable(CaptureError):
    """A capture backend cannot run on this machine; the message says why and what to do."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

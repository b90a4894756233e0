"""Errors raised by capture sources and the backend tables.

CaptureError
├── SourceUnavailable    a backend cannot start here (no DISPLAY, Wayland, missing lib)
└── BackendChoiceError   a CAPTURE_AGENT_BACKEND_<KIND> override names no backend here
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


class BackendChoiceError(CaptureError):
    """An override variable names a backend the table does not hold; the message lists
    the choices (a configuration mistake: the CLI exits 78)."""

"""The consent gate: the first stage of the chain, dropping what was not consented to.

An event is kept only if recording was on at the moment it *happened* (``event.ts``),
however late it reaches the gate: an event stamped at or after a pause instant is
dropped even if it sat in the queue or a buffer while the pause took effect. Consent
markers always pass: they explain the gap. Other markers are judged like any event,
since even a count of dropped events says how active the person was while paused.
"""

from __future__ import annotations

from typing import Protocol

from capture.events import Event, Marker
from consent.state import CONSENT_MARKER_KINDS


class RecordingHistory(Protocol):
    """Anything that can say whether recording was on at a wall time."""

    def is_recording_at(self, ts: float) -> bool:
        """True when recording was on at ``ts``; must be safe to call from any thread."""
        ...


class ConsentGate:
    """Stage ``event -> event | None``: keeps an event only if recorded with consent."""

    name = "consent"

    def __init__(self, history: RecordingHistory) -> None:
        self.history = history

    def __call__(self, event: Event) -> Event | None:
        """The event if recording was on at ``event.ts`` (or it is a consent marker)."""
        if isinstance(event, Marker) and event.kind in CONSENT_MARKER_KINDS:
            return event
        # Consistent with a transition on another thread: the machine answers from its
        # published open interval (no lock) only while no change is under way, and from
        # its intervals under its lock otherwise (ConsentMachine.is_recording_at).
        return event if self.history.is_recording_at(event.ts) else None

"""The day view's figures: active time per app and window, sessions, what was kept out.

Pure functions over the decrypted records `view` loaded (``agent.export.viewer``), so
the page says nothing the chunks do not: time is *active* time, the gaps between two
recorded events of at most ``GAP_SECONDS`` credited to the window that had the focus.
A longer silence (idle, paused, asleep) counts for nothing. The stretch before a
``suppressed`` marker was spent in a denied window: it counts as "not recorded", never
for the window before it. Everything here comes from a chunk and is untrusted: wrong
types are skipped, and the page escapes every string.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.export.viewer import SessionData

GAP_SECONDS = 60.0
"""A silence longer than this between two recorded events is not active time."""
STOPS = frozenset({"paused", "opted_out", "stopped", "blocked", "no_consent"})
"""Marker kinds after which nothing is recorded until the next event."""
NOT_RECORDED = ("", "not recorded (a denied window had the focus)")
"""The (app, title) key of time spent in denied windows."""


@dataclass
class SessionLine:
    """One session's row in the day view."""

    session: str
    start: float
    end: float
    events: int
    frames: int
    masked: int
    withheld: int


@dataclass
class DaySummary:
    """What the day view shows above the replay."""

    sessions: list[SessionLine] = field(default_factory=list)
    per_app: dict[str, float] = field(default_factory=dict)
    per_window: dict[tuple[str, str], float] = field(default_factory=dict)
    masked: dict[str, int] = field(default_factory=dict)
    """Screen regions masked before storage, per category (every stage)."""
    withheld: dict[str, int] = field(default_factory=dict)
    """Frames not stored, per reason."""
    redacted: dict[str, int] = field(default_factory=dict)
    """Typed keys stored without their character, per category."""
    suppressed_seconds: float = 0.0
    """Time in denied windows, from the ``suppressed`` markers."""
    unscrubbed: int = 0

    @property
    def active_seconds(self) -> float:
        """Active time recorded, denied windows excluded."""
        return sum(t for (app, _), t in self.per_window.items() if (app, _) != NOT_RECORDED)


def _ts(record: dict[str, Any]) -> float | None:
    value = record.get("ts")
    return float(value) if isinstance(value, int | float) else None


def _add(into: dict[Any, float], key: Any, seconds: float) -> None:
    into[key] = into.get(key, 0.0) + seconds


def active_time(records: Sequence[dict[str, Any]], summary: DaySummary) -> None:
    """Credit the gaps between ``records`` (one session, in order) to the focused window."""
    focus: tuple[str, str] | None = None
    recording = True
    previous: float | None = None
    for record in records:
        ts = _ts(record)
        if ts is None:
            continue
        kind = record.get("type")
        marker = record.get("kind") if kind == "marker" else None
        if previous is not None and 0 < ts - previous <= GAP_SECONDS:
            if marker == "suppressed":
                _add(summary.per_window, NOT_RECORDED, ts - previous)
            elif recording and focus is not None:
                _add(summary.per_window, focus, ts - previous)
                _add(summary.per_app, focus[0], ts - previous)
        previous = ts
        if kind == "window":
            focus = (str(record.get("app") or "?"), str(record.get("title") or ""))
            recording = True
        elif marker in STOPS:
            recording = False
        elif marker == "suppressed":
            detail = record.get("detail")
            seconds = detail.get("seconds") if isinstance(detail, dict) else None
            if isinstance(seconds, int | float) and seconds > 0:
                summary.suppressed_seconds += float(seconds)
            recording = True
        elif kind != "marker":
            recording = True


def summarise(sessions: Iterable[SessionData]) -> DaySummary:
    """The day view's figures over ``sessions`` (each already cut to the span shown)."""
    summary = DaySummary()
    for data in sessions:
        times = [t for t in (_ts(r) for r in data.records) if t is not None]
        masked = sum(n for per in data.masked.values() for n in per.values())
        summary.sessions.append(
            SessionLine(
                data.session,
                min(times, default=0.0),
                max(times, default=0.0),
                len(data.records),
                sum(1 for r in data.records if r.get("type") == "frame"),
                masked,
                sum(data.withheld.values()),
            )
        )
        active_time(data.records, summary)
        for per in data.masked.values():
            for category, n in per.items():
                summary.masked[category] = summary.masked.get(category, 0) + n
        for reason, n in data.withheld.items():
            summary.withheld[reason] = summary.withheld.get(reason, 0) + n
        for record in data.records:
            category = str(record.get("redacted") or "")
            if record.get("type") == "key" and record.get("pressed") and category:
                summary.redacted[category] = summary.redacted.get(category, 0) + 1
        summary.unscrubbed += data.unscrubbed
    return summary


def duration(seconds: float) -> str:
    """``3h 05m``, ``12m 30s`` or ``45s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"

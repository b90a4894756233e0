"""`--since`, `--until` and `--today`: the one way a command is told which time to show.

`ls`, `export` and `view` share these options and this parsing, so a time written for
one means the same for the others. A moment is local wall time, as a person means it:

* ``10m``, ``2h``, ``1d``: that long ago;
* ``today``, ``yesterday``: that day's midnight;
* ``14:30``: that time today;
* ``2026-12-07`` or ``2026-12-07T14:30`` (ISO 8601; an explicit offset is honoured).

A bad value is a :class:`~agent.errors.UsageError` (exit 2) that shows the forms above.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from dataclasses import dataclass

from agent.errors import UsageError

FORMS = "10m, 2h, 1d (ago), today, yesterday, 14:30, 2026-12-07 or 2026-12-07T14:30"

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class TimeSpan:
    """A span of wall time (Unix seconds); a missing bound is open."""

    since: float | None = None
    until: float | None = None

    @property
    def is_open(self) -> bool:
        """True when neither bound was given: everything is in the span."""
        return self.since is None and self.until is None

    def overlaps(self, start_ts: object, end_ts: object) -> bool:
        """Whether anything recorded between ``start_ts`` and ``end_ts`` falls in the span.

        A chunk whose times are unknown (not numbers) is kept only by an open span: a
        filter never shows more than it was asked for.
        """
        if self.is_open:
            return True
        known = [t for t in (_number(start_ts), _number(end_ts)) if t is not None]
        if not known:
            return False
        first, last = min(known), max(known)
        if self.since is not None and last < self.since:
            return False
        return not (self.until is not None and first >= self.until)

    def contains(self, ts: object) -> bool:
        """Whether one moment (an event's ``ts``) is in the span."""
        return self.overlaps(ts, ts)

    def describe(self) -> str:
        """The span in words, for a summary line: 'since 2026-12-07 09:00', ''."""
        parts = []
        if self.since is not None:
            parts.append(f"since {_clock(self.since)}")
        if self.until is not None:
            parts.append(f"until {_clock(self.until)}")
        return " ".join(parts)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _midnight(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time()).astimezone().timestamp()


def parse_moment(text: str, option: str, now: float | None = None) -> float:
    """One moment (see the module's forms) as Unix seconds; UsageError when malformed."""
    current = time.time() if now is None else now
    word = text.strip().lower()
    today = dt.datetime.fromtimestamp(current).date()
    if word == "today":
        return _midnight(today)
    if word == "yesterday":
        return _midnight(today - dt.timedelta(days=1))
    if match := _AGO.match(word):
        return current - float(match.group(1)) * _UNITS[match.group(2)]
    if match := _CLOCK.match(word):
        hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
        if hour < 24 and minute < 60 and second < 60:
            moment = dt.datetime.combine(today, dt.time(hour, minute, second))
            return moment.astimezone().timestamp()
    else:
        try:
            parsed = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.astimezone()  # local time, as a person means it
            return parsed.timestamp()
    raise UsageError(f"{option} {text!r}: not a time; use one of {FORMS}")


def add_timespan_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--since``, ``--until`` and ``--today`` to a command's parser."""
    parser.add_argument(
        "--since", metavar="WHEN", help=f"only what was recorded from WHEN on ({FORMS})"
    )
    parser.add_argument("--until", metavar="WHEN", help="only what was recorded before WHEN")
    parser.add_argument(
        "--today", action="store_true", help="only what was recorded today (same as --since today)"
    )


def timespan_from_args(args: argparse.Namespace, now: float | None = None) -> TimeSpan:
    """The span ``--since``/``--until``/``--today`` ask for; UsageError when malformed."""
    since_text: str | None = getattr(args, "since", None)
    until_text: str | None = getattr(args, "until", None)
    if getattr(args, "today", False):
        if since_text is not None:
            raise UsageError("--today and --since both set where to start; give one of them")
        since_text = "today"
    since = parse_moment(since_text, "--since", now) if since_text is not None else None
    until = parse_moment(until_text, "--until", now) if until_text is not None else None
    if since is not None and until is not None and until <= since:
        raise UsageError(
            f"--until {until_text!r} is not after the start ({_clock(since)}); "
            "nothing could be shown"
        )
    return TimeSpan(since, until)

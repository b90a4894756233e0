"""`capture-agent status`: whether the agent runs, what it records, what is buffered."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import load_home_config, sessions_dir, until_clock
from agent.cli.common import out as _out
from agent.errors import NotRunning
from agent.paths import resolve_paths

if TYPE_CHECKING:
    from agent.runtime.status import AgentStatus, DaemonStatus


def cmd_status(args: argparse.Namespace) -> int:
    """Show whether the agent runs, its sources, rates, drops and what is buffered."""
    from agent.runtime.control import request
    from agent.runtime.status import DaemonStatus, OfflineStatus, read_status, status_json

    paths = resolve_paths()
    status: AgentStatus
    try:
        status = read_status(request(paths.socket_path, "status"))
    except NotRunning:
        from agent.runtime.consent import ConsentRuntime
        from agent.runtime.daemon import buffered_on_disk

        config = load_home_config(paths)
        sessions = sessions_dir(paths, config)
        chunks, size = buffered_on_disk(sessions)
        status = OfflineStatus(
            consent=ConsentRuntime(paths, config).status_record(),
            buffered_chunks=chunks,
            buffered_bytes=size,
            data_dir=str(sessions),
        )
    if args.json:
        _out(status_json(status))
        return 0
    _out(f"state:            {status.state}")
    consent = status.consent
    if isinstance(status, OfflineStatus):
        _out(f"consent:          {consent.state}")
    if consent.state == "snoozed":
        until = until_clock(consent.until_or_none)
        _out(f"snoozed:          {consent.minutes_left} minutes left{until}")
    if isinstance(status, DaemonStatus):
        _print_daemon(status)
    _print_buffered(status)
    return 0


def _print_daemon(status: DaemonStatus) -> None:
    """The lines only a running daemon has: problems, session, rates, drops, frames."""
    if status.blocked_reason:
        _out(f"blocked because:  {status.blocked_reason}")
    for problem in filter(None, [status.capture_error, status.storage_error, *status.health]):
        _out(f"PROBLEM:          {problem}")
    _out(f"pid:              {status.pid}")
    _out(f"session:          {status.session}")
    _out(f"sources:          {', '.join(status.sources) or '(none)'}")
    _out(f"events/s:         {status.events_per_second}")
    _out(f"events stored:    {status.events_stored}")
    detail = ", ".join(f"{k} {v}" for k, v in sorted(status.dropped.items()))
    _out(f"dropped:          {status.dropped_total}" + (f" ({detail})" if detail else ""))
    _out(f"chunks sealed:    {status.chunks_sealed} this session")
    _out(f"filtered:         {_removed_line(status.removed)}")
    screen = status.screen
    if screen is None:
        return
    _out(
        f"frames:           {screen.frames} taken, {screen.withheld} withheld "
        f"(not stored: the screen mask or the OCR scrub could not make them safe), "
        f"{screen.unchanged_skipped} unchanged skipped"
    )
    if screen.scrub_error:
        _out(f"screen scrub:     NOT WORKING: {screen.scrub_error}")
    elif screen.scrub_engine:
        _out(
            f"screen scrub:     {screen.scrub_engine}, "
            f"{screen.scrub_cpu_s:.1f} CPU s reading the screen"
        )
    _out(f"screen masked:    {_masked_line(screen.masked)}")
    if screen.withheld_reasons:
        _out(f"frames withheld:  {_withheld_line(screen.withheld_reasons)}")


def _print_buffered(status: AgentStatus) -> None:
    """What waits on disk (a status without the buffered counts prints nothing)."""
    chunks, size, where = status.buffered_chunks, status.buffered_bytes, status.data_dir
    if not (isinstance(chunks, int) and isinstance(size, int) and isinstance(where, str)):
        return
    _out(f"buffered:         {chunks} chunks, {_human_bytes(size)} in {where}")


def _removed_line(removed: dict[str, dict[str, int]]) -> str:
    """'N removed (stage: category n, ...)' from the per-stage counts, or 'nothing'."""
    total = sum(n for per in removed.values() for n in per.values())
    if not total:
        return "nothing removed yet"
    parts = [
        f"{stage}: " + ", ".join(f"{cat} {n}" for cat, n in sorted(per.items()))
        for stage, per in sorted(removed.items())
        if per
    ]
    return f"{total} removed ({'; '.join(parts)})"


WITHHELD_WHY = {
    "denied_focused": "a denied window had the focus",
    "unknown_geometry": "a denied window's place was unknown",
    "secret_unlocated": "a typed secret's place on screen was lost",
    "immutable_pixels": "the shot could not be painted over",
    "refused": "the mask refused the shot",
    "error": "masking failed",
    "no_ocr": "no OCR engine could start (install tesseract-ocr; `capture-agent doctor`)",
    "ocr_failed": "the OCR engine failed on the frame (`capture-agent doctor`)",
}
"""Why the screen mask withheld frames, in words (unknown reasons are shown as sent)."""


def _masked_line(masked: dict[str, dict[str, int]]) -> str:
    """'N regions (category n, ...)' masked in stored frames, summed over stages."""
    per: dict[str, int] = {}
    for counts in masked.values():
        for category, n in counts.items():
            per[str(category)] = per.get(str(category), 0) + int(n)
    total = sum(per.values())
    if not total:
        return "no region masked yet"
    detail = ", ".join(f"{category} {n}" for category, n in sorted(per.items()))
    return f"{total} region(s) painted over before storage ({detail})"


def _withheld_line(reasons: dict[str, int]) -> str:
    """'N (n: why, ...)': frames the screen mask withheld, by reason."""
    parts = [f"{n}: {WITHHELD_WHY.get(r, r)}" for r, n in sorted(reasons.items())]
    return f"{sum(reasons.values())} by the screen mask ({'; '.join(parts)})"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `status` to the CLI's subcommands."""
    p = sub.add_parser(
        "status",
        help="is the agent running; sources, rates, drops, buffer",
        description=cmd_status.__doc__,
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_status)

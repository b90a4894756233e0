"""`capture-agent status`: whether the agent runs, what it records, what is buffered."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from agent.cli.common import EXIT_NOT_RUNNING, load_home_config, sessions_dir, snooze_left, when
from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import out as _out
from agent.errors import NotRunning
from agent.paths import resolve_paths

if TYPE_CHECKING:
    from agent.runtime.scope import CaptureScope
    from agent.runtime.status import AgentStatus, ConsentStatus, DaemonStatus, OfflineStatus


def cmd_status(args: argparse.Namespace) -> int:
    """Show whether the agent runs, what it may capture, its sources, rates, drops, what
    is buffered and the upload's state; exit 3 when the agent is not running."""
    from agent.runtime.control import request
    from agent.runtime.status import OfflineStatus, read_status, status_json

    paths = resolve_paths()
    status: AgentStatus
    upload_configured = False
    try:
        status = read_status(request(paths.socket_path, "status"))
    except NotRunning:
        from agent.runtime.consent import ConsentRuntime
        from agent.runtime.daemon import buffered_on_disk
        from agent.runtime.scope import capture_scope

        config = load_home_config(paths)
        sessions = sessions_dir(paths, config)
        chunks, size = buffered_on_disk(sessions)
        consent = ConsentRuntime(paths, config)
        policy = consent.policy
        status = OfflineStatus(
            consent=consent.status_record(),
            buffered_chunks=chunks,
            buffered_bytes=size,
            data_dir=str(sessions),
            scope=capture_scope(config.capture, policy.scope if policy is not None else None),
        )
        upload_configured = config.upload.transport != "none"
    if args.json:
        _out(status_json(status))
    elif isinstance(status, OfflineStatus):
        _print_offline(status, upload_configured)
    else:
        _print_running(status)
    return 0 if status.running else EXIT_NOT_RUNNING


def _print_offline(status: OfflineStatus, upload: bool) -> None:
    """`status` with no daemon: nothing is recorded, whatever the saved choice says."""
    from agent.runtime.scope import CaptureScope

    _out(f"state:            {status.state}: nothing is being recorded")
    _out(f"your choice:      {_choice_words(status.consent)}")
    if status.consent.state == "snoozed":
        _out(f"snoozed:          {snooze_left(status.consent)}")
    if isinstance(status.scope, CaptureScope):
        _out(f"capture scope:    when running: {_scope_line(status.scope)}")
    _out("sources:          stopped (the agent is not running: no input hook, no screen grab)")
    _print_buffered(status)
    data_dir = status.data_dir if isinstance(status.data_dir, str) else None
    _out(f"upload:           {_offline_upload_line(data_dir, upload)}")
    _out("start it:         `capture-agent run` (or `capture-agent service install`)")


def _choice_words(consent: ConsentStatus) -> str:
    """The saved consent choice, said as a choice, never as what is happening."""
    words = {
        "recording": "record (saved; recording starts when the agent runs)",
        "snoozed": "record, snoozed",
        "opted_out": "opted out (nothing is recorded until you opt in)",
        "no_consent": "not opted in yet (`capture-agent opt-in` to start)",
        "blocked": f"blocked: {consent.reason_or_none}",
    }
    return words.get(consent.state, consent.state)


def _offline_upload_line(data_dir: str | None, configured: bool) -> str:
    if not configured:
        return "not configured: nothing leaves this laptop"
    line = "nothing is sent while the agent is not running"
    if data_dir is not None:
        from pathlib import Path

        from storage import upload_record

        entries, _ = upload_record.read(Path(data_dir).parent)
        if entries:
            last = max(entries, key=lambda e: e.uploaded_ts)
            line += (
                f"; last sent {when(last.uploaded_ts)}, {len(entries)} chunk(s) in all "
                "(`capture-agent ls --uploaded`)"
            )
    return line


def _print_running(status: DaemonStatus) -> None:
    """A running daemon's status, in words."""
    consent = status.consent
    _out(f"state:            {status.state}")
    if consent.state == "snoozed":
        _out(f"snoozed:          {snooze_left(consent)}, then recording resumes")
    if status.blocked_reason:
        _out(f"blocked because:  {status.blocked_reason}")
    for problem in filter(None, [status.capture_error, status.storage_error, *status.health]):
        _out(f"PROBLEM:          {problem}")
    _out(f"pid:              {status.pid}")
    _out(f"session:          {status.session}")
    _out(f"capture scope:    {_scope_line(status.scope)}")
    names = ", ".join(status.sources) or "(none)"
    if status.sources_running:
        _out(f"sources:          {names}")
    else:
        why, until = _why_stopped(consent.state)
        _out(
            f"sources:          stopped ({why}): no input hook is installed, no screen is "
            f"grabbed; they start again {until} ({names})"
        )
    _out(f"events/s:         {status.events_per_second}")
    _out(f"events stored:    {status.events_stored}")
    detail = ", ".join(f"{k} {v}" for k, v in sorted(status.dropped.items()))
    _out(f"dropped:          {status.dropped_total}" + (f" ({detail})" if detail else ""))
    _out(f"chunks sealed:    {status.chunks_sealed} this session")
    _out(f"filtered:         {_removed_line(status.removed)}")
    _print_screen(status)
    _print_buffered(status)
    _out(f"upload:           {_upload_line(status)}")


def _why_stopped(state: str) -> tuple[str, str]:
    """Why the sources are stopped, and when they start again, in words."""
    return {
        "snoozed": ("snoozed", "when the snooze ends"),
        "opted_out": ("opted out", "when you opt in"),
        "no_consent": ("not opted in", "when you opt in"),
        "blocked": ("blocked", "when the block lifts"),
    }.get(state, ("not recording", "when recording resumes"))


def _scope_line(scope: CaptureScope) -> str:
    """What may be captured at all: 'keys, mouse, window titles, screen (a frame at most
    every 1 s)'; what the config or the policy left out is named."""
    kinds = {
        "keys": scope.keys,
        "mouse": scope.mouse,
        "window titles": scope.window,
        "screen": scope.screen,
    }
    taken = [k for k, on in kinds.items() if on]
    left = [k for k, on in kinds.items() if not on]
    line = ", ".join(taken) if taken else "nothing"
    if scope.screen:
        line += f" (a frame at most every {scope.min_frame_interval:g} s)"
    if left:
        line += f"; never: {', '.join(left)}"
    return line


def _upload_line(status: DaemonStatus) -> str:
    """Pending chunks, the next attempt and the last error, in one line."""
    upload = status.upload
    if upload is None:
        return "not configured: nothing leaves this laptop"
    parts = [f"{status.buffered_chunks} chunk(s) waiting here"]
    if upload.paused:
        parts.append("paused while the organisation's policy stops collection")
    elif upload.next_pass_ts is not None:
        parts.append(f"next attempt {when(upload.next_pass_ts)[11:]}")
    last = upload.last_pass
    if last is not None and last.held_back:
        parts.append(f"{last.held_back} inside the hold-back window (`forget` can still delete)")
    parts.append(f"{upload.uploaded_total} sent since the agent started (`ls --uploaded`)")
    if upload.last_error:
        parts.append(f"last error: {upload.last_error}")
    return "; ".join(parts)


def _print_screen(status: DaemonStatus) -> None:
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
        help="is the agent running; scope, sources, rates, drops, buffer, upload",
        description=cmd_status.__doc__,
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_status)

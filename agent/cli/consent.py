"""`capture-agent pause`, `resume`, `opt-in`, `opt-out` and `consent log`: the person decides.

A consent command goes to the running daemon; without one it is applied to the saved
state, which the daemon reads first when it starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.cli.common import EXIT_DATA_PROBLEM, load_home_config, snooze_left, when
from agent.cli.common import out as _out
from agent.errors import AgentError, NotRunning
from agent.paths import Paths, resolve_paths

if TYPE_CHECKING:
    from agent.config import Config
    from agent.runtime.status import ConsentStatus


def _consent_command(
    paths: Paths, config: Config | None, cmd: str, args: dict[str, Any] | None = None
) -> ConsentStatus:
    """Send a consent command to the daemon, or apply it to the persisted state
    (``config`` is loaded then if not given); the consent record after it."""
    from agent.runtime.control import request
    from agent.runtime.status import read_daemon_status

    try:
        return read_daemon_status(request(paths.socket_path, cmd, args or {})).consent
    except NotRunning:
        pass
    from agent.runtime.consent import ConsentRuntime

    consent = ConsentRuntime(paths, config if config is not None else load_home_config(paths))
    if cmd == "pause":
        consent.pause(int((args or {})["minutes"]))
    else:
        getattr(consent, cmd)()
    return consent.status_record()


def _current(paths: Paths) -> ConsentStatus | None:
    """The consent record before a change (None when it cannot be read)."""
    from agent.runtime.control import request
    from agent.runtime.status import read_daemon_status

    try:
        return read_daemon_status(request(paths.socket_path, "status")).consent
    except NotRunning:
        from agent.runtime.consent import ConsentRuntime

        return ConsentRuntime(paths, load_home_config(paths)).status_record()
    except AgentError:
        return None


def _print_consent(status: ConsentStatus, as_json: bool, already: bool = False) -> None:
    if as_json:
        from agent.runtime.status import status_json

        _out(status_json(status))
        return
    state = status.state
    if state == "snoozed":
        _out(f"snoozed: {snooze_left(status)}, then recording resumes")
    elif state == "blocked":
        _out(f"blocked: {status.reason_or_none}")
    elif state == "no_consent":
        _out("not recording: you have not opted in")
    elif state == "opted_out":
        _out(
            "already opted out: nothing is recorded"
            if already
            else "opted out: nothing more is recorded from now on"
        )
    elif state == "recording":
        _out("already recording" if already else "recording")
    else:
        _out(state)


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause recording for up to the maximum (30 minutes, or less if the policy says)."""
    paths = resolve_paths()
    minutes = args.minutes
    status = _consent_command(
        paths,
        None,
        "pause",
        {"minutes": minutes} if minutes is not None else {"minutes": _default_snooze(paths)},
    )
    _print_consent(status, args.json)
    return 0


def _default_snooze(paths: Paths) -> int:
    from agent.runtime.control import request
    from agent.runtime.status import read_daemon_status

    try:
        return read_daemon_status(request(paths.socket_path, "status")).consent.snooze_max_minutes
    except NotRunning:
        return int(load_home_config(paths).consent.snooze_max_minutes)


def _simple_consent(cmd: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        paths = resolve_paths()
        before = _current(paths)
        status = _consent_command(paths, None, cmd)
        already = (
            before is not None and before.state == status.state and before.choice == status.choice
        )
        _print_consent(status, args.json, already)
        if cmd != "opt_out":
            return 0
        if getattr(args, "purge", False):
            _purge_after_opt_out(paths, load_home_config(paths))
        elif not args.json:
            for line in _recorded_before(paths):
                _out(line)
        return 0

    return handler


def _recorded_before(paths: Paths) -> list[str]:
    """What happens to what was recorded before an opt-out, in words (counts only)."""
    from agent.cli.common import human_bytes, sessions_dir
    from storage import upload_record
    from storage.deletion import scan

    config = load_home_config(paths)
    sessions = sessions_dir(paths, config)
    waiting = [c for c in scan(sessions) if not c.uploaded]
    sent, _ = upload_record.read(sessions.parent)
    lines: list[str] = []
    if waiting:
        what = f"{len(waiting)} chunk(s), {human_bytes(sum(c.size for c in waiting))}"
        if config.upload.transport == "none":
            lines.append(
                f"{what} recorded before stay on this machine, encrypted (upload is not "
                "configured, so none is sent)."
            )
        else:
            lines.append(
                f"{what} recorded before are still on this machine and WILL BE UPLOADED "
                f"once their {config.upload.hold_back_minutes:g}-minute hold-back window "
                "has passed."
            )
        lines.append(
            "to delete them instead: `capture-agent opt-out --purge` "
            "(or `capture-agent purge --all`)"
        )
    else:
        lines.append("nothing recorded before is waiting on this machine.")
    if sent:
        lines.append(
            f"{len(sent)} chunk(s) uploaded earlier are with your organisation; "
            "`capture-agent ls --uploaded` lists them."
        )
    return lines


def _purge_after_opt_out(paths: Paths, config: Config) -> None:
    """Delete every chunk still on this machine (none of them was uploaded)."""
    import time

    from agent.cli.common import sessions_dir
    from agent.runtime.daemon import is_running
    from storage.purge import purge, select

    if is_running(paths):
        time.sleep(0.5)  # the daemon seals what was recorded before the opt-out first
    sessions = sessions_dir(paths, config)
    counts = purge(sessions, select(sessions, everything=True), "opt-out --purge")
    sys.stderr.write(
        f"capture-agent: purged {counts.chunks} chunk(s), {counts.bytes} bytes recorded "
        "before the opt-out: none of them will be uploaded (recorded in the deletion record)\n"
    )


def cmd_consent_log(args: argparse.Namespace) -> int:
    """Show the consent ledger: every change, who made it and when."""
    from consent.errors import LedgerError
    from consent.ledger import Ledger

    paths = resolve_paths()
    ledger = Ledger(paths.consent_ledger)
    try:
        entries = ledger.read()
    except LedgerError as exc:
        raise AgentError(str(exc)) from None
    problems = ledger.verify() if args.verify else []
    anchors: list[Any] = []
    unchecked: str | None = None
    if args.verify:
        # The chain alone passes a ledger rewritten with recomputed hashes; the heads
        # the device signed into each chunk do not (storage/anchors.py).
        from agent.cli.ledger_anchors import chunk_anchors

        anchors, notes, unchecked = chunk_anchors(paths)
        problems += ledger.check_anchors(anchors)
        for note in notes:
            sys.stderr.write(f"capture-agent: note: {note}\n")
        if unchecked is not None:
            sys.stderr.write(
                f"capture-agent: note: the ledger was not compared with the chunks ({unchecked})\n"
            )
    if args.json:
        body: dict[str, Any] = {"entries": [e.to_dict() for e in entries]}
        if args.verify:
            body["problems"] = problems
            body["ok"] = not problems
            body["anchors_checked"] = len(anchors)
        _out(json.dumps(body, indent=2))
    else:
        if not entries:
            _out("the consent ledger is empty")
        for e in entries:
            detail = e.details.get("reason") or ""
            _out(f"{e.seq:>4}  {when(e.ts)}  {e.action:<15} {e.actor:<7} {detail}")
        if args.verify:
            if problems:
                for problem in problems:
                    sys.stderr.write(f"capture-agent: ledger problem: {problem}\n")
            else:
                _out(
                    f"verified: {len(entries)} entries, hash chain intact, agrees with the "
                    f"ledger heads signed into {len(anchors)} chunk(s)"
                )
    return EXIT_DATA_PROBLEM if problems else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `pause`, `resume`, `opt-in`, `opt-out` and `consent log` to the CLI."""
    p = sub.add_parser(
        "pause", help="pause recording (snooze) for up to 30 minutes", description=cmd_pause.__doc__
    )
    p.add_argument(
        "--minutes",
        type=int,
        metavar="N",
        help="how long (default: the maximum, 30 unless the policy says less)",
    )
    p.add_argument("--json", action="store_true", help="print the consent state as JSON")
    p.set_defaults(func=cmd_pause)
    for name, cmd, text in (
        ("resume", "resume", "end a pause now"),
        ("opt-in", "opt_in", "say yes: start recording"),
        (
            "opt-out",
            "opt_out",
            "say no: stop recording until you opt in (what was recorded before is "
            "uploaded after the hold-back window unless you add --purge)",
        ),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("--json", action="store_true", help="print the consent state as JSON")
        if cmd == "opt_out":
            p.add_argument(
                "--purge",
                action="store_true",
                help="also delete every chunk not yet uploaded from this machine, so that "
                "nothing recorded before is sent",
            )
        p.set_defaults(func=_simple_consent(cmd))

    p = sub.add_parser(
        "consent",
        help="the consent ledger",
        description="Read the append-only, hash-chained consent ledger.",
    )
    consent_sub = p.add_subparsers(
        dest="consent_command", metavar="COMMAND", parser_class=type(p), required=True
    )
    p = consent_sub.add_parser(
        "log", help="show every consent change", description=cmd_consent_log.__doc__
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--verify",
        action="store_true",
        help="check the hash chain and the heads signed into chunks; exit 1 if edited",
    )
    p.set_defaults(func=cmd_consent_log)

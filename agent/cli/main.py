"""The `capture-agent` command line: one clear line and an exit code for every mistake."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import identities as _identities
from agent.cli.common import load_home_config
from agent.cli.common import out as _out
from agent.errors import AgentError, NotRunning
from agent.paths import HOME_ENV, Paths, resolve_paths
from privacy.errors import PrivacyError
from storage.errors import StorageError

if TYPE_CHECKING:
    # The configuration's modules (msgspec, pyrage for the recipient check) take ~0.1 s
    # and ~16 MB to import: commands that only talk to the running daemon (status, pause,
    # resume, opt-in/out) never load them.
    from agent.config import Config

EXIT_USAGE = 2
EXIT_DATA_PROBLEM = 1

DESCRIPTION = """\
Records mouse, keyboard, window and screen events for training computer-use AI, into
chunks encrypted to the organisation's key and your own. Nothing is stored unencrypted.

Set CAPTURE_AGENT_HOME=DIR to keep everything (config, keys, data, socket, logs) in DIR.
"""

EPILOG = """\
examples:
  capture-agent init                      create a home (with a local demo organisation key)
  capture-agent run                       record in the foreground until Ctrl-C
  capture-agent status                    is it running, what is buffered
  capture-agent ls                        list the chunks stored on this machine
  capture-agent export > events.jsonl     decrypt what is recorded about you
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not a usage dump, for mistakes
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _paths() -> Paths:
    return resolve_paths()


def _config(paths: Paths) -> Config:
    return load_home_config(paths)


# -- init ---------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    """Create a home: configuration, your age identity and the device signing key."""
    from agent.setup.home import init_home

    paths = _paths()
    result = init_home(paths, args.org_recipient or [], args.device_id)
    if args.json:
        _out(
            json.dumps(
                {
                    "config_file": str(result.config_file),
                    "person_recipient": result.person_recipient,
                    "organisation_recipients": result.organisation_recipients,
                    "device_signing_public_key": result.signing_public_key,
                    "demo_organisation_identity": str(result.demo_identity)
                    if result.demo_identity
                    else None,
                    "person_identity_in": result.identity_where,
                },
                indent=2,
            )
        )
        return 0
    _out(f"Initialised {paths.config_dir}")
    _out(f"  config:               {result.config_file}")
    _out(f"  your recipient:       {result.person_recipient}")
    _out(f"  your identity in:     {result.identity_where}")
    _out(f"  device signing key:   {result.signing_public_key} (Ed25519, public)")
    for recipient in result.organisation_recipients:
        _out(f"  organisation:         {recipient}")
    if result.demo_identity:
        _out("")
        _out("No --org-recipient was given, so a LOCAL DEMO organisation identity was created:")
        _out(f"  {result.demo_identity}")
        _out("It is not a real organisation's key; it lives on this machine. For a real")
        _out("deployment, run init with --org-recipient AGE_PUBLIC_KEY from your organisation.")
    return 0


# -- run ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Record in the foreground until SIGINT/SIGTERM."""
    from agent.logsetup import setup_logging
    from agent.runtime.daemon import Daemon
    from capture.base import Source

    _refuse_root(args.allow_root)
    paths = _paths()
    config = _config(paths)
    setup_logging(
        paths.log_file, args.log_level or config.log.level, root=paths.root_of(paths.log_file)
    )
    sources: list[Source] | None = None
    if args.replay:
        from capture.scripted import ScriptedSource, TraceError

        try:
            sources = [ScriptedSource.from_file(Path(args.replay), speed=args.speed)]
        except TraceError as exc:
            raise AgentError(f"--replay: {exc}") from None
    _ask_consent_on_first_run(paths, config)
    daemon = Daemon(paths, config, sources=sources, exit_when_replayed=not args.keep_running)
    from agent.cli.tray import tray_alongside

    with tray_alongside(args.tray):
        return daemon.run()


def _refuse_root(allowed: bool) -> None:
    """Refuse to record as root (euid 0) unless ``--allow-root``, before anything is read.

    The agent records one person's session into that person's home; as root, any
    mistake in handling that home (a planted link, a foreign file) would act with
    root's rights on the whole machine.
    """
    from agent.errors import CannotCapture

    if allowed or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    raise CannotCapture(
        "refusing to run as root: run capture-agent as the person being recorded "
        "(or pass --allow-root to run as root anyway)"
    )


def _ask_consent_on_first_run(paths: Paths, config: Config) -> None:
    """On a terminal, a person who never decided is asked before anything is recorded."""
    from agent.runtime.consent import ConsentRuntime

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    consent = ConsentRuntime(paths, config)
    if consent.machine.state.name.value != "no_consent":
        return
    _out("capture-agent records your mouse, keyboard, window titles and screen, encrypted")
    _out("to your organisation's key and your own, after on-device privacy filters.")
    _out("You can pause (up to 30 minutes), opt out, and see everything it holds at any time.")
    answer = input("Start recording now? [y/N] ").strip().lower()
    if answer in ("y", "yes"):
        consent.opt_in()
        _out("Opted in. `capture-agent pause` pauses, `capture-agent opt-out` stops.")
    else:
        _out("Not recording. Run `capture-agent opt-in` whenever you want to start.")


# -- consent ------------------------------------------------------------------------------


def _consent_command(
    paths: Paths, config: Config | None, cmd: str, args: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Send a consent command to the daemon, or apply it to the persisted state
    (``config`` is loaded then if not given)."""
    from agent.runtime.control import request

    try:
        result: dict[str, Any] = request(paths.socket_path, cmd, args or {})
        return result["consent"]  # type: ignore[no-any-return]
    except NotRunning:
        pass
    from agent.runtime.consent import ConsentRuntime

    consent = ConsentRuntime(paths, config if config is not None else _config(paths))
    if cmd == "pause":
        consent.pause(int((args or {})["minutes"]))
    else:
        getattr(consent, cmd)()
    return consent.status()


def _print_consent(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _out(json.dumps(status, indent=2, sort_keys=True))
        return
    state = status["state"]
    if state == "snoozed":
        _out(
            f"snoozed: {status['minutes_left']} minutes left{_until_clock(status.get('until'))}, "
            "then recording resumes"
        )
    elif state == "blocked":
        _out(f"blocked: {status.get('reason')}")
    elif state == "no_consent":
        _out("not recording: you have not opted in")
    elif state == "opted_out":
        _out("opted out: nothing is recorded")
    else:
        _out(state)


def _until_clock(until: object) -> str:
    """A snooze's end as ' (until 14:35)' in local wall time; '' when none can be shown."""
    if isinstance(until, bool) or not isinstance(until, (int, float)):
        return ""
    try:
        return f" (until {dt.datetime.fromtimestamp(until).strftime('%H:%M')})"
    except (OverflowError, OSError, ValueError):
        return ""


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause recording for up to the maximum (30 minutes, or less if the policy says)."""
    paths = _paths()
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

    try:
        status: dict[str, Any] = request(paths.socket_path, "status")
        return int(status["consent"]["snooze_max_minutes"])
    except NotRunning:
        return int(_config(paths).consent.snooze_max_minutes)


def _simple_consent(cmd: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        paths = _paths()
        status = _consent_command(paths, None, cmd)
        _print_consent(status, args.json)
        if getattr(args, "purge", False):
            _purge_after_opt_out(paths, _config(paths))
        return 0

    return handler


def _purge_after_opt_out(paths: Paths, config: Config) -> None:
    """Delete every chunk still on this machine (none of them was uploaded)."""
    import time

    from agent.runtime.daemon import data_dir_of, is_running
    from storage.purge import purge, select

    if is_running(paths):
        time.sleep(0.5)  # the daemon seals what was recorded before the opt-out first
    sessions = data_dir_of(paths, config) / "sessions"
    counts = purge(sessions, select(sessions, everything=True), "opt-out --purge")
    sys.stderr.write(
        f"capture-agent: purged {counts.chunks} chunk(s), {counts.bytes} bytes, "
        "not uploaded (recorded in the deletion record)\n"
    )


def cmd_consent_log(args: argparse.Namespace) -> int:
    """Show the consent ledger: every change, who made it and when."""
    from consent.errors import LedgerError
    from consent.ledger import Ledger

    paths = _paths()
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
            _out(f"{e.seq:>4}  {_when(e.ts)}  {e.action:<15} {e.actor:<7} {detail}")
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


# -- status -------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    """Show whether the agent runs, its sources, rates, drops and what is buffered."""
    from agent.runtime.control import request

    paths = _paths()
    try:
        status: dict[str, Any] = request(paths.socket_path, "status")
    except NotRunning:
        from agent.runtime.daemon import buffered_on_disk, data_dir_of

        config = _config(paths)
        sessions = data_dir_of(paths, config) / "sessions"
        chunks, size = buffered_on_disk(sessions)
        from agent.runtime.consent import ConsentRuntime

        consent = ConsentRuntime(paths, config).status()
        status = {
            "running": False,
            "state": "not running",
            "consent": consent,
            "buffered_chunks": chunks,
            "buffered_bytes": size,
            "data_dir": str(sessions),
        }
    if args.json:
        _out(json.dumps(status, indent=2, sort_keys=True))
        return 0
    _out(f"state:            {status['state']}")
    consent_status = status.get("consent") or {}
    if not status["running"]:
        _out(f"consent:          {consent_status.get('state')}")
    if consent_status.get("state") == "snoozed":
        left, until = consent_status.get("minutes_left"), consent_status.get("until")
        _out(f"snoozed:          {left} minutes left{_until_clock(until)}")
    if status.get("blocked_reason"):
        _out(f"blocked because:  {status['blocked_reason']}")
    problems = [status.get("capture_error"), status.get("storage_error"), *status.get("health", [])]
    for problem in filter(None, problems):
        _out(f"PROBLEM:          {problem}")
    if status["running"]:
        _out(f"pid:              {status['pid']}")
        _out(f"session:          {status['session']}")
        _out(f"sources:          {', '.join(status['sources']) or '(none)'}")
        _out(f"events/s:         {status['events_per_second']}")
        _out(f"events stored:    {status['events_stored']}")
        dropped = status["dropped_total"]
        detail = ", ".join(f"{k} {v}" for k, v in sorted(status["dropped"].items()))
        _out(f"dropped:          {dropped}" + (f" ({detail})" if detail else ""))
        _out(f"chunks sealed:    {status['chunks_sealed']} this session")
        _out(f"filtered:         {_removed_line(status.get('removed', {}))}")
        screen = status.get("screen")
        if screen:
            _out(
                f"frames:           {screen['frames']} taken, {screen['withheld']} withheld "
                f"(a denied window was focused or could not be masked), "
                f"{screen['unchanged_skipped']} unchanged skipped"
            )
    _out(
        f"buffered:         {status['buffered_chunks']} chunks, "
        f"{_human_bytes(status['buffered_bytes'])} in {status['data_dir']}"
    )
    return 0


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


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


# -- ls and export -----------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace) -> int:
    """List stored chunks from their small metadata records (no full decryption)."""
    from agent.runtime.daemon import data_dir_of
    from storage.errors import IntegrityError
    from storage.reader import list_chunks, read_manifest

    paths = _paths()
    config = _config(paths)
    identities = _identities(paths, args.identity)
    rows: list[dict[str, Any]] = []
    problems = 0
    for ref in list_chunks(data_dir_of(paths, config) / "sessions", args.session):
        try:
            manifest = read_manifest(ref, identities)
        except IntegrityError as exc:
            problems += 1
            sys.stderr.write(f"capture-agent: warning: {exc}\n")
            continue
        rows.append(
            {
                "session": ref.session,
                "seq": ref.seq,
                "start_ts": manifest.get("start_ts"),
                "end_ts": manifest.get("end_ts"),
                "events": manifest.get("events"),
                "frames": manifest.get("frames"),
                "counts": manifest.get("counts"),
                "size": ref.size,
                "max_sensitivity": manifest.get("max_sensitivity"),
                "path": str(ref.path),
            }
        )
    if args.json:
        _out(json.dumps(rows, indent=2))
    elif not rows:
        _out("no chunks stored")
    else:
        _out(
            f"{'session':<26} {'seq':>5}  {'from':<19}  {'to':<8}  {'events':>7} "
            f"{'frames':>6} {'size':>9}"
        )
        for row in rows:
            _out(
                f"{row['session']:<26} {row['seq']:>5}  {_when(row['start_ts']):<19}  "
                f"{_when(row['end_ts'])[11:]:<8}  {row['events']:>7} {row['frames']:>6} "
                f"{_human_bytes(row['size']):>9}"
            )
    return EXIT_DATA_PROBLEM if problems else 0


def cmd_export(args: argparse.Namespace) -> int:
    """Decrypt chunks and write their events as JSON Lines on standard output."""
    from agent.cli.storage import chunks_to_show
    from agent.runtime.daemon import data_dir_of
    from storage.compose import full_frames
    from storage.errors import IntegrityError

    paths = _paths()
    config = _config(paths)
    identities = _identities(paths, args.identity)
    frames_dir: Path | None = Path(args.frames) if args.frames else None
    if frames_dir is not None:
        try:
            frames_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise AgentError(f"--frames {frames_dir}: {exc.strerror or exc}") from None
    sessions = data_dir_of(paths, config) / "sessions"
    if args.session and not (sessions / args.session).is_dir():
        raise AgentError(f"no session {args.session!r} in {sessions} (see `capture-agent ls`)")
    # Only chunks `verify` passes (signature, device, session, order, chain) are shown.
    chunks = chunks_to_show(
        sessions, paths.keys_dir, identities, config.device.id, args.session, args.unverified
    )
    problems = len(chunks.problems)
    out = sys.stdout
    raw: list[dict[str, Any]] = []  # with --format trajectory: folded after the last chunk
    for ref in chunks.refs:
        try:
            chunk = chunks.read(ref)
            records = list(chunk.events())
        except IntegrityError as exc:
            problems += 1
            sys.stderr.write(f"capture-agent: skipped a chunk that cannot be trusted: {exc}\n")
            continue
        # Changed regions composed onto their key frame: every file is a whole screen.
        frames = full_frames(records, chunk.members) if frames_dir is not None else {}
        for record in records:
            member = record.pop("file", None)
            record.pop("bands", None)  # member names of the stored bands
            record["session"] = ref.session
            if frames_dir is not None and isinstance(member, str) and member in frames:
                target = frames_dir / f"{ref.session}-{Path(member).name}"
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(frames[member])
                record["file"] = str(target)
            if args.format == "trajectory":
                raw.append(record)
                continue
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    if args.format == "trajectory":
        from agent.export.trajectory import to_trajectory

        for step in to_trajectory(raw):
            out.write(json.dumps(step, ensure_ascii=False) + "\n")
    out.flush()
    return EXIT_DATA_PROBLEM if problems else 0


# -- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to render --help)."""
    parser = _Parser(
        prog="capture-agent",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "init",
        help="create a home: config, your key, the device signing key",
        description=cmd_init.__doc__,
    )
    p.add_argument(
        "--org-recipient",
        action="append",
        metavar="AGE_PUBLIC_KEY",
        help="the organisation's age public key (repeatable); without it a local "
        "demo organisation identity is created",
    )
    p.add_argument(
        "--device-id",
        help="device id written into every chunk (default: host name plus random suffix)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "run", help="record in the foreground until Ctrl-C or SIGTERM", description=cmd_run.__doc__
    )
    p.add_argument(
        "--replay",
        metavar="TRACE.jsonl",
        help="replay a JSON Lines trace instead of the real input (tests, benchmarks)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay speed factor; 0 replays as fast as possible (default 1)",
    )
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="with --replay: keep running after the trace ends",
    )
    p.add_argument(
        "--tray",
        action="store_true",
        help="also show the tray icon (`capture-agent tray`, in a child process)",
    )
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--allow-root",
        action="store_true",
        help="run even as root (refused by default: the agent belongs to one person's account)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "status",
        help="is the agent running; sources, rates, drops, buffer",
        description=cmd_status.__doc__,
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("ls", help="list stored chunks", description=cmd_ls.__doc__)
    p.add_argument("--session", metavar="ID", help="only this session")
    p.add_argument(
        "--identity",
        action="append",
        metavar="FILE",
        help="age identity file to decrypt with (default: your own key)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser(
        "export",
        help="decrypt what is recorded and print it as JSON Lines",
        description=cmd_export.__doc__,
        epilog="Only chunks that `capture-agent verify` passes are exported; each one it "
        "flags is named on stderr and the exit status is 1 (--unverified overrides).",
    )
    p.add_argument("--session", metavar="ID", help="only this session")
    p.add_argument(
        "--frames",
        metavar="DIR",
        help="also write frames as WebP files into DIR (unencrypted, on request)",
    )
    p.add_argument(
        "--format",
        choices=["raw", "trajectory"],
        default="raw",
        help="raw: one line per event (default); trajectory: one line per action "
        "with the frame and window before it (see docs/EVENTS.md)",
    )
    p.add_argument(
        "--identity",
        action="append",
        metavar="FILE",
        help="age identity file to decrypt with (default: your own key)",
    )
    from agent.cli.storage import UNVERIFIED_HELP

    p.add_argument("--unverified", action="store_true", help=UNVERIFIED_HELP)
    p.set_defaults(func=cmd_export)

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
        ("opt-out", "opt_out", "say no: stop recording until you opt in"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("--json", action="store_true", help="print the consent state as JSON")
        if cmd == "opt_out":
            p.add_argument(
                "--purge",
                action="store_true",
                help="also delete every chunk not yet uploaded from this machine",
            )
        p.set_defaults(func=_simple_consent(cmd))

    p = sub.add_parser(
        "consent",
        help="the consent ledger",
        description="Read the append-only, hash-chained consent ledger.",
    )
    consent_sub = p.add_subparsers(
        dest="consent_command", metavar="COMMAND", parser_class=_Parser, required=True
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

    from agent.cli.living import register as register_living
    from agent.cli.storage import register as register_storage
    from agent.cli.tray import register as register_tray
    from agent.cli.upload import register as register_upload
    from org.cli import register as register_org
    from privacy.check import register_cli as register_privacy

    register_org(sub)
    register_upload(sub)  # adds `org pull` and `org verify` to the org group
    register_tray(sub)
    register_living(sub)
    register_storage(sub)
    from agent.cli.privacy import denylist_in_force
    from agent.cli.privacy import register as register_privacy_home

    register_privacy_home(register_privacy(sub, denylist_loader=denylist_in_force))
    return parser


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked for (reading the
    package metadata imports importlib.metadata, ~35 ms, on every command otherwise)."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str = argparse.SUPPRESS,
        default: Any = argparse.SUPPRESS,
        help: str = "show program's version number and exit",
    ) -> None:
        super().__init__(
            option_strings=option_strings, dest=dest, default=default, nargs=0, help=help
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        sys.stdout.write(f"{parser.prog} {_version()}\n")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("capture-agent")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `capture-agent` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except AgentError as exc:
        sys.stderr.write(f"capture-agent: error: {exc}\n")
        return exc.exit_code
    except StorageError as exc:
        sys.stderr.write(f"capture-agent: error: {exc}\n")
        return getattr(exc, "exit_code", EXIT_DATA_PROBLEM)  # UnsafePath: 78
    except PrivacyError as exc:
        sys.stderr.write(f"capture-agent: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `capture-agent export | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["HOME_ENV", "build_parser", "main"]

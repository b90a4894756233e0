"""Commands for living with the agent: `service`, `doctor` and `view`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agent.cli.common import out as _out
from agent.errors import AgentError

# -- service ------------------------------------------------------------------------------


def cmd_service(args: argparse.Namespace) -> int:
    """Install, remove or inspect the service that starts the agent at login."""
    from agent.setup import service

    platform = args.platform or service.current_platform()
    if platform != service.current_platform() and not (args.dry_run and args.action == "install"):
        raise AgentError(
            f"--platform {platform}: only `service install --dry-run` can show "
            "another platform's service"
        )
    spec = service.describe(platform)
    if args.dry_run:
        if args.action == "install":
            _out(f"# would write {spec.path}")
            sys.stdout.write(spec.text)
            _out(f"# then run: {' && '.join(' '.join(c) for c in spec.activate)}")
        elif args.action == "uninstall":
            _out(f"# would run: {' && '.join(' '.join(c) for c in spec.deactivate)}")
            _out(f"# would remove {spec.path}")
        else:
            _out(json.dumps(service.status(spec), indent=2))
        return 0
    if args.action == "install":
        for line in service.install(spec).lines:
            _out(line)
        return 0
    if args.action == "uninstall":
        for line in service.uninstall(spec).lines:
            _out(line)
        return 0
    state = service.status(spec)
    if args.json:
        _out(json.dumps(state, indent=2))
        return 0
    _out(
        f"service file:    {state['path']} "
        + (
            "(installed"
            + (
                ", up to date)"
                if state["up_to_date"]
                else ", differs from what install would write now)"
            )
            if state["installed"]
            else "(not installed)"
        )
    )
    if state["manager_reachable"]:
        _out(f"enabled:         {state['enabled']}")
        if state["active"] is not None:
            _out(f"active:          {state['active']}")
    else:
        _out("service manager: not reachable from here")
    return 0


# -- doctor -------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check that this machine can record; exit 1 when any check fails."""
    from agent.paths import resolve_paths
    from agent.setup.doctor import run_checks

    checks = run_checks(resolve_paths())
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        _out(json.dumps({"ok": not failed, "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        for check in checks:
            _out(f"{check.status:<4}  {check.name:<12} {check.detail}")
            if check.fix and check.status != "ok":
                _out(f"{'':<18} fix: {check.fix}")
        _out("")
        _out(
            "some checks FAILED: capture will not work until they are fixed"
            if failed
            else "no check failed"
        )
    return 1 if failed else 0


# -- view ---------------------------------------------------------------------------------


def cmd_view(args: argparse.Namespace) -> int:
    """Decrypt a session on this machine and write one self-contained HTML page to replay it."""
    from agent.cli.common import identities as _identities
    from agent.cli.main import _config, _paths
    from agent.cli.storage import chunks_to_show
    from agent.export.viewer import load_session, render_html
    from agent.runtime.daemon import data_dir_of
    from storage.reader import list_chunks

    paths = _paths()
    config = _config(paths)
    identities = _identities(paths, args.identity)
    sessions = data_dir_of(paths, config) / "sessions"
    if args.session:
        if not (sessions / args.session).is_dir():
            raise AgentError(f"no session {args.session!r} in {sessions} (see `capture-agent ls`)")
        session = args.session
    else:
        refs = list_chunks(sessions)
        if not refs:
            raise AgentError(f"no chunks stored in {sessions}: nothing to view")
        session = refs[-1].session  # session ids sort by start time: the latest
    # Only chunks `verify` passes are shown; each one it flags gets a line on stderr.
    chunks = chunks_to_show(
        sessions, paths.keys_dir, identities, config.device.id, session, args.unverified
    )
    data = load_session(chunks, session)
    for problem in data.problems:
        sys.stderr.write(f"capture-agent: skipped a chunk that cannot be trusted: {problem}\n")
    page = render_html(data)
    target = Path(args.output) if args.output else paths.runtime_dir / f"view-{session}.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
    except OSError as exc:
        raise AgentError(f"cannot write {target}: {exc.strerror or exc}") from None
    _out(
        f"wrote {target} (session {session}, {len(data.records)} events, {len(data.frames)} frames)"
    )
    _out("it holds decrypted recordings: keep it private and delete it when done")
    if not args.no_open:
        import webbrowser

        if not webbrowser.open(target.absolute().as_uri()):
            _out("no browser could be opened; open the file above yourself")
    return 1 if data.problems or chunks.problems else 0


def register(subparsers: Any) -> None:
    """Add the `service`, `doctor` and `view` commands to the CLI's subparsers."""
    p = subparsers.add_parser(
        "service",
        help="start the agent at login (systemd user unit, LaunchAgent, logon task)",
        description=(cmd_service.__doc__ or "") + " The service restarts the agent after a crash "
        "only; a restarted agent reads your saved consent state first, so a pause or an "
        "opt-out is never undone by a restart.",
    )
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be installed or run; change nothing",
    )
    p.add_argument(
        "--platform",
        choices=["linux", "darwin", "win32"],
        help="with install --dry-run: show another platform's service file",
    )
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(func=cmd_service)

    p = subparsers.add_parser(
        "doctor",
        help="check this machine: display, permissions, disk, clock, keys, policy, upload",
        description=cmd_doctor.__doc__,
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=cmd_doctor)

    p = subparsers.add_parser(
        "view",
        help="replay a session in your browser (one local HTML file)",
        description=cmd_view.__doc__,
    )
    p.add_argument("--session", metavar="ID", help="the session (default: the latest)")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        help="where to write the page (default: a private file in the runtime folder)",
    )
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    p.add_argument(
        "--identity",
        action="append",
        metavar="FILE",
        help="age identity file to decrypt with (default: your own key)",
    )
    from agent.cli.storage import UNVERIFIED_HELP

    p.add_argument("--unverified", action="store_true", help=UNVERIFIED_HELP)
    p.set_defaults(func=cmd_view)

"""`capture-agent forget` and `purge`: delete what is stored here, before or after upload."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

from agent.cli.common import SESSION_HELP, home, resolve_session, sessions_dir, when
from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import out as _out
from agent.errors import AgentError, UsageError

# -- forget -------------------------------------------------------------------------------


def cmd_forget(args: argparse.Namespace) -> int:
    """Delete what was recorded in the last DURATION and is not uploaded yet."""
    from agent.runtime.control import request
    from agent.runtime.daemon import is_running
    from agent.runtime.status import read_daemon_status
    from storage.forget import forget, parse_duration

    try:
        seconds = parse_duration(args.last)
    except ValueError as exc:
        raise UsageError(f"--last {exc}") from None
    paths, config = home()
    sessions = sessions_dir(paths, config)
    chunks, _ = forget(sessions, seconds, dry_run=True)
    # The chunk being recorded now lives in the daemon's memory only: it is dropped whole
    # (at most `storage.chunk_seconds` of recording, never written to disk).
    open_events = 0
    if is_running(paths):
        try:
            open_events = read_daemon_status(request(paths.socket_path, "status")).open_chunk_events
        except AgentError:  # gone since, or a malformed reply (BadStatus)
            open_events = 0
    if not chunks and not open_events:
        if args.json:
            _out(
                json.dumps(
                    {
                        "deleted": {"chunks": 0, "bytes": 0, "not_uploaded": 0, "sessions": 0},
                        "open_chunk": None,
                    },
                    indent=2,
                )
            )
        else:
            _out(f"nothing recorded in the last {args.last} is waiting on this machine")
        return 0
    parts = []
    if chunks:
        parts.append(f"{len(chunks)} chunk(s), {_human_bytes(sum(c.size for c in chunks))}")
    if open_events:
        parts.append(f"the {open_events} event(s) being recorded now, not sealed yet")
    summary = " and ".join(parts) + f", recorded in the last {args.last}"
    if args.dry_run:
        if args.json:
            preview = {
                "chunks": len(chunks),
                "bytes": sum(c.size for c in chunks),
                "sessions": len({c.ref.session for c in chunks}),
                "open_chunk_events": open_events,
            }
            _out(json.dumps({"would_delete": preview, "deleted": None}, indent=2))
        else:
            _out(f"would delete {summary}; nothing was deleted (--dry-run)")
            for chunk in chunks:
                _out(f"  {chunk.ref.session} {chunk.ref.seq:>5}  sealed {when(chunk.sealed_at)}")
        return 0
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(f"forget would delete {summary}: confirm on a terminal, or pass --yes")
        answer = input(f"Delete {summary}? This cannot be undone. [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            _out("nothing was deleted")
            return 0
    dropped: dict[str, int] | None = None
    if is_running(paths):
        # First the open chunk, so that nothing sealed meanwhile escapes the deletion below.
        dropped = request(paths.socket_path, "forget_open")
    _, counts = forget(sessions, seconds)
    if args.json:
        _out(json.dumps({"deleted": counts.to_dict(), "open_chunk": dropped}, indent=2))
    else:
        _out(
            f"deleted {counts.chunks} chunk(s), {_human_bytes(counts.bytes)}; they will not "
            "be uploaded (the deletion is recorded, with counts only)"
        )
        if dropped is not None:
            _out(
                f"dropped {dropped['events']} event(s) and {dropped['frames']} frame(s) "
                "recorded but not sealed yet (never written to disk; a 'forgotten' marker "
                "with these counts takes their place)"
            )
    return 0


# -- purge --------------------------------------------------------------------------------


def parse_when(text: str) -> float:
    """A local date or date-time (ISO 8601) as a Unix time; AgentError when malformed."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--before {text!r}: expected a date like 2025-01-31 or 2025-01-31T14:00"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as a person means it
    return when.timestamp()


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete stored chunks: all, those sealed before a date, or one session."""
    from storage.purge import purge, select

    paths, config = home()
    sessions = sessions_dir(paths, config)
    before = parse_when(args.before) if args.before else None
    session = resolve_session(sessions, args.session) if args.session else None
    chunks = select(sessions, everything=args.all, before=before, session=session)
    what = (
        "--all"
        if args.all
        else f"--before {args.before}"
        if args.before
        else f"--session {session}"
    )
    if not chunks:
        if args.json:
            _out(
                json.dumps(
                    {"deleted": {"chunks": 0, "bytes": 0, "not_uploaded": 0, "sessions": 0}},
                    indent=2,
                )
            )
        else:
            _out("nothing to purge")
        return 0
    size = sum(c.size for c in chunks)
    not_uploaded = sum(1 for c in chunks if not c.uploaded)
    summary = (
        f"{len(chunks)} chunk(s), {_human_bytes(size)}, from "
        f"{len({c.ref.session for c in chunks})} session(s); {not_uploaded} not "
        "uploaded yet"
    )
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(
                f"purge {what} would delete {summary}: confirm on a terminal, or pass --yes"
            )
        answer = input(f"Delete {summary}? This cannot be undone. [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            _out("nothing was deleted")
            return 0
    counts = purge(sessions, chunks, what, time.time())
    if args.json:
        _out(json.dumps({"deleted": counts.to_dict()}, indent=2))
    else:
        _out(
            f"deleted {counts.chunks} chunk(s), {_human_bytes(counts.bytes)}, from "
            f"{counts.sessions} session(s) ({counts.not_uploaded} not uploaded); recorded in "
            f"{sessions.parent / 'deletions.jsonl'}"
        )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `forget` and `purge` to the CLI's subcommands."""
    p = sub.add_parser(
        "forget",
        help="delete what was recorded recently, before upload",
        description=cmd_forget.__doc__,
    )
    p.add_argument(
        "--last", required=True, metavar="DURATION", help="how far back: 90s, 10m, 2h, 1d"
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--dry-run", action="store_true", help="only show what would be deleted; delete nothing"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser(
        "purge",
        help="delete stored chunks (asks first)",
        description=cmd_purge.__doc__,
        epilog="Every purge is recorded, with counts only, in the data folder's deletions.jsonl.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every stored chunk")
    which.add_argument(
        "--before", metavar="DATE", help="chunks sealed before DATE (local time, e.g. 2025-01-31)"
    )
    which.add_argument("--session", metavar="ID", help=SESSION_HELP)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=cmd_purge)

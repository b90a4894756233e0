"""`capture-agent view`: what the organisation receives, on one local page."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agent.cli.common import IDENTITY_HELP, home, sessions_dir
from agent.cli.common import identities as _identities
from agent.cli.common import out as _out
from agent.cli.trust import UNVERIFIED_HELP, chunks_to_show
from agent.errors import AgentError
from storage import safe_fs


def cmd_view(args: argparse.Namespace) -> int:
    """Decrypt a session on this machine and write one self-contained HTML page to replay it."""
    from agent.export.viewer import load_session, render_html
    from storage.reader import list_chunks

    paths, config = home()
    identities = _identities(paths, args.identity)
    sessions = sessions_dir(paths, config)
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
        # Decrypted recordings: never written through a link planted at the name.
        fd = safe_fs.open_file(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `view` to the CLI's subcommands."""
    p = sub.add_parser(
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
    p.add_argument("--identity", action="append", metavar="FILE", help=IDENTITY_HELP)
    p.add_argument("--unverified", action="store_true", help=UNVERIFIED_HELP)
    p.set_defaults(func=cmd_view)

"""`capture-agent view`: what the organisation receives, on one local page.

By default the page is rendered in memory and served on loopback to the browser this
command opens (``agent.export.serve``): nothing decrypted is written anywhere, and the
page can forget what is still inside the hold-back window. ``-o FILE`` writes the same
page as one self-contained file instead, at the person's explicit request (like
``export --frames``); it then shows the `forget` command to copy.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from agent.cli.common import (
    EXIT_DATA_PROBLEM,
    IDENTITY_HELP,
    SESSION_HELP,
    home,
    resolve_session,
    sessions_dir,
)
from agent.cli.common import identities as _identities
from agent.cli.common import out as _out
from agent.cli.progress import progress_bar
from agent.cli.timespan import TimeSpan, add_timespan_arguments, timespan_from_args
from agent.cli.trust import UNVERIFIED_HELP, chunks_to_show
from agent.errors import AgentError
from storage import safe_fs

if TYPE_CHECKING:
    from agent.config import Config
    from agent.export.page import ForgetOffer
    from agent.export.viewer import SessionData
    from agent.paths import Paths
    from storage.trust import TrustedChunks
    from storage.upload_record import UploadedChunk

CLI = [sys.executable, "-m", "agent.cli.main"]


def _today() -> TimeSpan:
    midnight = time.mktime((*time.localtime()[:3], 0, 0, 0, 0, 0, -1))
    return TimeSpan(since=midnight, until=None)


def _in_span(chunks: TrustedChunks, span: TimeSpan) -> TrustedChunks:
    """``chunks`` cut to those whose time range overlaps ``span`` (their metadata read)."""
    from storage.errors import IntegrityError
    from storage.reader import read_manifest

    if span.is_open:
        return chunks
    kept = []
    for ref in chunks.refs:
        try:
            manifest = read_manifest(ref, chunks.identities)
        except IntegrityError:
            kept.append(ref)  # reading it whole names the problem
            continue
        if span.overlaps(manifest.get("start_ts"), manifest.get("end_ts")):
            kept.append(ref)
    return dataclasses.replace(chunks, refs=kept)


def load(
    args: argparse.Namespace, paths: Paths, config: Config
) -> tuple[list[SessionData], list[str], str]:
    """The sessions to show (cut to the span asked for), problems, and the page's title."""
    from storage.reader import list_chunks

    sessions = sessions_dir(paths, config)
    span = timespan_from_args(args)
    if args.session:
        session = resolve_session(sessions, args.session)
        return (*_load(args, paths, config, session, TimeSpan()), f"session {session}")
    if not span.is_open:
        return (*_load(args, paths, config, None, span), span.describe())
    refs = list_chunks(sessions)
    if not refs:
        raise AgentError(f"no chunks stored in {sessions}: nothing to view")
    shown, problems = _load(args, paths, config, None, _today())
    if shown:
        return shown, problems, "today"
    latest = refs[-1].session  # session ids sort by start time
    shown, problems = _load(args, paths, config, latest, TimeSpan())
    return shown, problems, f"session {latest} (nothing was recorded today)"


def _load(
    args: argparse.Namespace, paths: Paths, config: Config, session: str | None, span: TimeSpan
) -> tuple[list[SessionData], list[str]]:
    from agent.export.viewer import cut_to, load_session

    # Only chunks `verify` passes are shown; each one it flags gets a line on stderr.
    chunks = chunks_to_show(
        sessions_dir(paths, config),
        paths.keys_dir,
        _identities(paths, args.identity),
        config.device.id,
        session,
        args.unverified,
    )
    problems = list(chunks.problems)
    chunks = _in_span(chunks, span)
    shown: list[SessionData] = []
    done = [0]
    with progress_bar("decrypting", "chunks") as update:

        def one_more() -> None:
            done[0] += 1
            update(done[0], len(chunks.refs))

        for name in sorted({ref.session for ref in chunks.refs}):
            data = cut_to(load_session(chunks, name, one_more), span.since, span.until)
            problems += data.problems
            if data.records:
                shown.append(data)
    return shown, problems


def forget_offer(config: Config, sessions: Path, served: bool) -> ForgetOffer:
    """What is inside the hold-back window now (file times only, nothing decrypted)."""
    from agent.export.page import ForgetOffer
    from storage.forget import select_recent

    minutes = config.upload.hold_back_minutes or 10.0
    recent = select_recent(sessions, minutes * 60, time.time())
    return ForgetOffer(minutes, len(recent), sum(c.size for c in recent), served)


def uploaded(sessions: Path, shown: list[SessionData], title: str) -> list[UploadedChunk]:
    """The upload record's chunks of the sessions or the span shown (read, never trusted:
    a malformed line is named on stderr and skipped)."""
    from storage import upload_record

    entries, problems = upload_record.read(sessions.parent)
    for problem in problems:
        sys.stderr.write(f"capture-agent: upload record: {problem}\n")
    names = {s.session for s in shown}
    times = [float(r["ts"]) for s in shown for r in s.records]
    if title.startswith("session ") or not times:
        return [c for c in entries if c.session in names]
    first = min(times)
    return [c for c in entries if c.session in names or c.to_ts >= first]


def forget_call(minutes: float) -> Callable[[], str]:
    """Run `capture-agent forget --last <hold-back> --yes` for the page; its output."""

    def call() -> str:
        done = subprocess.run(
            [*CLI, "forget", "--last", f"{minutes:g}m", "--yes"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        said = (done.stdout + done.stderr).strip()
        return said or f"forget exited with status {done.returncode}"

    return call


def cmd_view(args: argparse.Namespace) -> int:
    """Show what your organisation receives: today's recording (or a session, or a span)
    on one local page, served from memory to your browser on this computer only."""
    from agent.export.page import build_replay, render_page

    paths, config = home()
    sessions = sessions_dir(paths, config)
    shown, problems, title = load(args, paths, config)
    for problem in problems:
        sys.stderr.write(f"capture-agent: skipped a chunk that cannot be trusted: {problem}\n")
    events = sum(len(s.records) for s in shown)
    frames = build_replay(shown).frames
    which = f"session {shown[0].session}" if len(shown) == 1 else f"{len(shown)} sessions"
    what = f"{which}, {events} events, {len(frames)} frames"
    status = EXIT_DATA_PROBLEM if problems else 0
    if args.output:
        page = render_page(
            shown,
            title=title,
            forget=forget_offer(config, sessions, False),
            problems=problems,
            sent=uploaded(sessions, shown, title),
        )
        target = Path(args.output)
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Decrypted recordings: never written through a link planted at the name.
            fd = safe_fs.open_file(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(page)
        except OSError as exc:
            raise AgentError(f"cannot write {target}: {exc.strerror or exc}") from None
        _out(f"wrote {target} ({what})")
        _out("it holds decrypted recordings: keep it private and delete it when done")
        if not args.no_open:
            import webbrowser

            if not webbrowser.open(target.absolute().as_uri()):
                _out("no browser could be opened; open the file above yourself")
        return status
    return _serve(args, shown, problems, title, what, config, sessions) or status


def _serve(
    args: argparse.Namespace,
    shown: list[SessionData],
    problems: list[str],
    title: str,
    what: str,
    config: Config,
    sessions: Path,
) -> int:
    """Serve the page from memory until it is closed or this command is stopped."""
    from agent.export.page import build_replay, render_page
    from agent.export.serve import PageServer

    offer = forget_offer(config, sessions, True)
    images = [item.image for item in build_replay(shown).frames]
    page = render_page(
        shown,
        title=title,
        image_url=lambda n: f"f/{n}",
        forget=offer,
        problems=problems,
        sent=uploaded(sessions, shown, title),
    )
    server = PageServer(page, images, forget_call(offer.minutes))
    del page, images, shown  # the server holds the only copy
    link = server.new_link()
    launcher: Path | None = None
    previous = signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        _out(f"showing {title}: {what}")
        _out(f"page: {link}")
        _out(
            "served from memory to this computer only (the link works once); nothing "
            "decrypted is written to disk. Close the page or press Ctrl-C to stop."
        )
        sys.stdout.flush()
        launcher = None if args.no_open else _launcher(link)
        if launcher is not None:
            import webbrowser

            if not webbrowser.open(launcher.as_uri()):
                _out("no browser could be opened; open the link above yourself")
        try:
            reason = server.wait()
        except KeyboardInterrupt:
            server.close()
            reason = "stopped"
    finally:
        signal.signal(signal.SIGTERM, previous)
        if launcher is not None:
            shutil.rmtree(launcher.parent, ignore_errors=True)
    _out(f"page no longer served ({reason})")
    return 0


def _launcher(link: str) -> Path:
    """A page in a new private (0700) temp folder that sends the browser on to ``link``.

    The browser is handed this file, not the link: a command line is readable by every
    local account, and the link is the one-time key to the page. The file holds only that
    link (used once, then worthless), never anything recorded; it is deleted on exit.
    """
    folder = Path(tempfile.mkdtemp(prefix="capture-agent-view-"))
    page = folder / "open.html"
    target = html.escape(link, quote=True)
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            '<!DOCTYPE html><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
            f'<meta http-equiv="refresh" content="0;url={target}">'
            f'<title>capture-agent view</title><p>Opening <a href="{target}">the page</a>...</p>'
        )
    return page


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `view` to the CLI's subcommands."""
    p = sub.add_parser(
        "view",
        help="see what your organisation receives: today's recording on a local page",
        description=cmd_view.__doc__,
        epilog="Without --session or a span: today (or the latest session when nothing "
        "was recorded today). Only chunks `capture-agent verify` passes are shown; each one "
        "it flags is named on stderr and the exit status is 1 (--unverified overrides).",
    )
    p.add_argument("--session", metavar="ID", help=SESSION_HELP)
    add_timespan_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        help="write the page to FILE.html instead of serving it (decrypted: at your request)",
    )
    p.add_argument(
        "--no-open",
        action="store_true",
        help="do not open a browser: open the one-time link it prints yourself",
    )
    p.add_argument("--identity", action="append", metavar="FILE", help=IDENTITY_HELP)
    p.add_argument("--unverified", action="store_true", help=UNVERIFIED_HELP)
    p.set_defaults(func=cmd_view)

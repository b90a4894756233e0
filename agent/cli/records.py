"""`capture-agent ls`, `export` and `verify`: read and check what is stored (`view`: view.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agent.cli.common import (
    EXIT_DATA_PROBLEM,
    IDENTITY_HELP,
    SESSION_HELP,
    home,
    match_session,
    resolve_session,
    sessions_dir,
    when,
)
from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import identities as _identities
from agent.cli.common import out as _out
from agent.cli.progress import progress_bar, wanted
from agent.cli.timespan import TimeSpan, add_timespan_arguments, timespan_from_args
from agent.cli.trust import UNVERIFIED_HELP, chunks_to_show, pinned_device_keys
from agent.errors import AgentError, UsageError
from storage import safe_fs
from storage.errors import KeyMaterialError

# -- ls -----------------------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace) -> int:
    """List what is stored here, per session with totals, from the small metadata records."""
    from storage.errors import IntegrityError
    from storage.reader import list_chunks, read_manifest

    paths, config = home()
    sessions = sessions_dir(paths, config)
    span = timespan_from_args(args)
    if args.uploaded:
        return _ls_uploaded(sessions.parent, span, args)
    session = resolve_session(sessions, args.session) if args.session else None
    identities = _identities(paths, args.identity)
    rows: list[dict[str, Any]] = []
    unreadable = 0
    for ref in list_chunks(sessions, session):
        try:
            manifest = read_manifest(ref, identities)
        except IntegrityError as exc:
            unreadable += 1
            sys.stderr.write(f"capture-agent: warning: {exc}\n")
            continue
        if not span.overlaps(manifest.get("start_ts"), manifest.get("end_ts")):
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
    elif rows:
        (_print_chunk_rows if args.chunks else _print_session_rows)(rows)
    elif unreadable:
        _out(
            f"{unreadable} chunk(s) are stored here, but none could be read with "
            + ("the given identity" if args.identity else "your identities")
            + " (see the warnings above)"
        )
    else:
        where = f" {span.describe()}" if not span.is_open else ""
        _out(f"no chunks stored on this machine{where}" + _uploaded_hint(sessions.parent))
    return EXIT_DATA_PROBLEM if unreadable else 0


def _uploaded_hint(data_dir: Path) -> str:
    """'; N chunk(s) were uploaded ...' when the upload record holds any, else ''."""
    from storage import upload_record

    entries, _ = upload_record.read(data_dir)
    if not entries:
        return ""
    return (
        f"; {len(entries)} chunk(s) were uploaded and then deleted here "
        "(`capture-agent ls --uploaded` shows what, when and where)"
    )


def _span_text(start: object, end: object) -> tuple[str, str]:
    """'YYYY-MM-DD HH:MM:SS' and the end's time (its date too when another day)."""
    first, last = when(_ts(start)), when(_ts(end))
    return first, last[11:] if last[:10] == first[:10] else last


def _ts(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _print_chunk_rows(rows: list[dict[str, Any]]) -> None:
    """One line per chunk (``--chunks``)."""
    _out(
        f"{'session':<26} {'seq':>5}  {'from':<19}  {'to':<8}  {'events':>7} "
        f"{'frames':>6} {'size':>9}"
    )
    for row in rows:
        first, last = _span_text(row["start_ts"], row["end_ts"])
        _out(
            f"{row['session']:<26} {row['seq']:>5}  {first:<19}  {last:<8}  "
            f"{_int(row['events']):>7} {_int(row['frames']):>6} {_human_bytes(row['size']):>9}"
        )
    _out(_totals(rows))


def _print_session_rows(rows: list[dict[str, Any]]) -> None:
    """One line per session with its totals, then the totals of everything listed."""
    by_session: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_session.setdefault(row["session"], []).append(row)
    _out(
        f"{'session':<26} {'from':<19}  {'to':<8}  {'chunks':>6} {'events':>7} "
        f"{'frames':>6} {'size':>9}"
    )
    for session, group in by_session.items():
        starts = [t for r in group if (t := _ts(r["start_ts"])) is not None]
        ends = [t for r in group if (t := _ts(r["end_ts"])) is not None]
        first, last = _span_text(min(starts, default=None), max(ends, default=None))
        _out(
            f"{session:<26} {first:<19}  {last:<8}  {len(group):>6} "
            f"{sum(_int(r['events']) for r in group):>7} "
            f"{sum(_int(r['frames']) for r in group):>6} "
            f"{_human_bytes(sum(r['size'] for r in group)):>9}"
        )
    _out(_totals(rows) + "; `--chunks` lists each chunk")


def _totals(rows: list[dict[str, Any]]) -> str:
    sessions = len({r["session"] for r in rows})
    return (
        f"total: {sessions} session(s), {len(rows)} chunk(s), "
        f"{sum(_int(r['events']) for r in rows)} events, "
        f"{sum(_int(r['frames']) for r in rows)} frames, "
        f"{_human_bytes(sum(r['size'] for r in rows))} on this machine, not uploaded yet"
    )


def _ls_uploaded(data_dir: Path, span: TimeSpan, args: argparse.Namespace) -> int:
    """`ls --uploaded`: what left this laptop, from the upload record (no decryption)."""
    from storage import upload_record

    entries, problems = upload_record.read(data_dir)
    for problem in problems:
        sys.stderr.write(f"capture-agent: warning: {problem}\n")
    if args.session:
        known = sorted({e.session for e in entries})
        session = match_session(known, args.session, "in the upload record")
        entries = [e for e in entries if e.session == session]
    entries = [e for e in entries if span.overlaps(e.from_ts or e.to_ts, e.to_ts)]
    if args.json:
        _out(json.dumps([e.to_dict() for e in entries], indent=2))
        return EXIT_DATA_PROBLEM if problems else 0
    if not entries:
        _out(
            "nothing recorded here was uploaded"
            + (f" {span.describe()}" if not span.is_open else "")
            + f" (the record is {upload_record.record_path(data_dir)})"
        )
        return EXIT_DATA_PROBLEM if problems else 0
    if args.chunks:
        _out(f"{'session':<26} {'seq':>5}  {'from':<19}  {'to':<8}  {'size':>9}  {'sent':<19}  to")
        for e in entries:
            first, last = _span_text(e.from_ts, e.to_ts)
            _out(
                f"{e.session:<26} {e.seq:>5}  {first:<19}  {last:<8}  "
                f"{_human_bytes(e.bytes):>9}  {when(e.uploaded_ts):<19}  {e.destination} {e.key}"
            )
    else:
        by_session: dict[str, list[Any]] = {}
        for e in entries:
            by_session.setdefault(e.session, []).append(e)
        _out(
            f"{'session':<26} {'from':<19}  {'to':<8}  {'chunks':>6} {'size':>9}  {'last sent':<19}"
        )
        for session, group in by_session.items():
            starts = [e.from_ts for e in group if e.from_ts is not None]
            first, last = _span_text(min(starts, default=None), max(e.to_ts for e in group))
            _out(
                f"{session:<26} {first:<19}  {last:<8}  {len(group):>6} "
                f"{_human_bytes(sum(e.bytes for e in group)):>9}  "
                f"{when(max(e.uploaded_ts for e in group)):<19}"
            )
    destinations = sorted({e.destination for e in entries})
    _out(
        f"total: {len(entries)} chunk(s), {_human_bytes(sum(e.bytes for e in entries))} sent "
        f"to {', '.join(destinations)}"
        + ("" if args.chunks else "; `--chunks` lists each chunk with its object key")
    )
    return EXIT_DATA_PROBLEM if problems else 0


# -- export -------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """Decrypt chunks and write their events as JSON Lines on standard output."""
    from storage.compose import full_frames
    from storage.errors import IntegrityError
    from storage.reader import in_time_order

    paths, config = home()
    span = timespan_from_args(args)
    identities = _identities(paths, args.identity)
    frames_dir: Path | None = Path(args.frames) if args.frames else None
    if frames_dir is not None:
        try:
            frames_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise UsageError(f"--frames {frames_dir}: {exc.strerror or exc}") from None
    sessions = sessions_dir(paths, config)
    session = resolve_session(sessions, args.session) if args.session else None
    # Only chunks `verify` passes (signature, device, session, order, chain) are shown.
    chunks = chunks_to_show(
        sessions, paths.keys_dir, identities, config.device.id, session, args.unverified
    )
    problems = len(chunks.problems)
    out = sys.stdout
    raw: list[dict[str, Any]] = []  # with --format trajectory: folded after the last chunk
    # A session's records are held (no pixels: frames go to files) and written in time
    # order when its last chunk is read; chunks come session by session.
    pending: list[dict[str, Any]] = []

    def finish_session() -> None:
        for record in in_time_order(pending):
            if args.format == "trajectory":
                raw.append(record)
            else:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        pending.clear()

    events = files = 0
    with progress_bar("exporting", "chunks", wanted() and frames_dir is not None) as progress:
        for done, ref in enumerate(chunks.refs):
            progress(done, len(chunks.refs))
            if pending and pending[-1]["session"] != ref.session:
                finish_session()
            try:
                chunk = chunks.read(ref)
                if not span.overlaps(chunk.manifest.get("start_ts"), chunk.manifest.get("end_ts")):
                    continue
                records = [r for r in chunk.events() if span.contains(r.get("ts"))]
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
                    record["file"] = str(_write_frame(frames_dir, ref.session, member, frames))
                    files += 1
                events += 1
                pending.append(record)
        finish_session()
    if args.format == "trajectory":
        from agent.export.trajectory import to_trajectory

        for step in to_trajectory(raw):
            out.write(json.dumps(step, ensure_ascii=False) + "\n")
    out.flush()
    if frames_dir is not None:
        sys.stderr.write(
            f"capture-agent: wrote {files} frame file(s) (WebP, unencrypted) to "
            f"{frames_dir.absolute()}; {events} event(s) to standard output\n"
        )
    elif wanted():
        sys.stderr.write(f"capture-agent: exported {events} event(s) to standard output\n")
    return EXIT_DATA_PROBLEM if problems else 0


def _write_frame(frames_dir: Path, session: str, member: str, frames: dict[str, bytes]) -> Path:
    """Write one decrypted frame (0600) into ``frames_dir``; its path."""
    target = frames_dir / f"{session}-{Path(member).name}"
    # Decrypted pixels: never written through a link planted at the name.
    fd = safe_fs.open_file(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(frames[member])
    return target


# -- verify -------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Decrypt every chunk and check signatures, hashes, order and completeness."""
    from storage.verify import verify

    paths, config = home()
    sessions = sessions_dir(paths, config)
    session = resolve_session(sessions, args.session) if args.session else None
    try:
        pinned = pinned_device_keys(paths.keys_dir)
    except KeyMaterialError as exc:
        raise AgentError(f"cannot pin the device key: {exc}") from None
    identities = _identities(paths, args.identity)
    with progress_bar("verifying", "chunks", wanted() and not args.json) as progress:
        report = verify(
            sessions,
            identities,
            pinned,
            config.device.id,
            session,
            head_record=True,  # the newest chunk of each session (storage/heads.py)
            ledger=_ledger_hashes(paths.consent_ledger),
            progress=progress,
        )
    if args.json:
        _out(json.dumps(report.to_dict(), indent=2))
    else:
        for problem in report.problems:
            _out(f"PROBLEM [{problem.kind}] {problem.message}")
        for note in report.notes:
            _out(f"note [{note.kind}] {note.message}")
        verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        _out(
            f"{verdict}: {report.verified} of {report.chunks} chunks verified in "
            f"{report.sessions} session(s) in {sessions}; device key {pinned[0]}"
        )
    return 0 if report.ok else EXIT_DATA_PROBLEM


def _ledger_hashes(path: Path) -> dict[int, str]:
    """The consent ledger's entries (seq -> hash), compared with the heads chunks signed."""
    from consent.errors import LedgerError
    from consent.ledger import Ledger

    try:
        return {entry.seq: entry.hash for entry in Ledger(path).read()}
    except LedgerError as exc:
        raise AgentError(str(exc)) from None


# -- parser -------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ls`, `export` and `verify` to the CLI's subcommands."""
    p = sub.add_parser(
        "ls",
        help="what is stored here (per session), or what was uploaded",
        description=cmd_ls.__doc__,
        epilog="examples: `ls --today --chunks` (each chunk recorded today), "
        "`ls --uploaded --since 2h` (what left this laptop in the last two hours)",
    )
    p.add_argument("--session", metavar="ID", help=SESSION_HELP)
    add_timespan_arguments(p)
    p.add_argument("--chunks", action="store_true", help="one line per chunk, not per session")
    p.add_argument(
        "--uploaded",
        action="store_true",
        help="what was uploaded from here: chunk, time covered, size, when, where",
    )
    p.add_argument("--identity", action="append", metavar="FILE", help=IDENTITY_HELP)
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per chunk")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser(
        "export",
        help="decrypt what is recorded and print it as JSON Lines",
        description=cmd_export.__doc__,
        epilog="Only chunks that `capture-agent verify` passes are exported; each one it "
        "flags is named on stderr and the exit status is 1 (--unverified overrides). "
        "example: `export --today --frames ./frames > today.jsonl`",
    )
    p.add_argument("--session", metavar="ID", help=SESSION_HELP)
    add_timespan_arguments(p)
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
        "with the frame and window before it",
    )
    p.add_argument("--identity", action="append", metavar="FILE", help=IDENTITY_HELP)
    p.add_argument("--unverified", action="store_true", help=UNVERIFIED_HELP)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "verify",
        help="check every chunk: signature, hashes, order, gaps",
        description=cmd_verify.__doc__,
        epilog="exit status: 0 when everything verifies, 1 on any problem, 2 for an "
        "unknown --session. Each problem is printed with its kind (signature, hash, "
        "chain, missing, reordered, ...) and what it means.",
    )
    p.add_argument("--session", metavar="ID", help=SESSION_HELP)
    p.add_argument(
        "--identity",
        action="append",
        metavar="FILE",
        help="age identity file to decrypt with (default: your identities, current and retired)",
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    p.set_defaults(func=cmd_verify)

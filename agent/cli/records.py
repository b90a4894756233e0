"""`capture-agent ls`, `export` and `verify`: read and check what is stored (`view`: view.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agent.cli.common import EXIT_DATA_PROBLEM, IDENTITY_HELP, home, sessions_dir, when
from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import identities as _identities
from agent.cli.common import out as _out
from agent.cli.trust import UNVERIFIED_HELP, chunks_to_show, pinned_device_keys
from agent.errors import AgentError
from storage import safe_fs
from storage.errors import KeyMaterialError

# -- ls -----------------------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace) -> int:
    """List stored chunks from their small metadata records (no full decryption)."""
    from storage.errors import IntegrityError
    from storage.reader import list_chunks, read_manifest

    paths, config = home()
    identities = _identities(paths, args.identity)
    rows: list[dict[str, Any]] = []
    problems = 0
    for ref in list_chunks(sessions_dir(paths, config), args.session):
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
                f"{row['session']:<26} {row['seq']:>5}  {when(row['start_ts']):<19}  "
                f"{when(row['end_ts'])[11:]:<8}  {row['events']:>7} {row['frames']:>6} "
                f"{_human_bytes(row['size']):>9}"
            )
    return EXIT_DATA_PROBLEM if problems else 0


# -- export -------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """Decrypt chunks and write their events as JSON Lines on standard output."""
    from storage.compose import full_frames
    from storage.errors import IntegrityError

    paths, config = home()
    identities = _identities(paths, args.identity)
    frames_dir: Path | None = Path(args.frames) if args.frames else None
    if frames_dir is not None:
        try:
            frames_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise AgentError(f"--frames {frames_dir}: {exc.strerror or exc}") from None
    sessions = sessions_dir(paths, config)
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
                # Decrypted pixels: never written through a link planted at the name.
                fd = safe_fs.open_file(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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


# -- verify -------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Decrypt every chunk and check signatures, hashes, order and completeness."""
    from storage.verify import verify

    paths, config = home()
    sessions = sessions_dir(paths, config)
    if args.session and not (sessions / args.session).is_dir():
        raise AgentError(f"no session {args.session!r} in {sessions} (see `capture-agent ls`)")
    try:
        pinned = pinned_device_keys(paths.keys_dir)
    except KeyMaterialError as exc:
        raise AgentError(f"cannot pin the device key: {exc}") from None
    report = verify(
        sessions,
        _identities(paths, args.identity),
        pinned,
        config.device.id,
        args.session,
        head_record=True,  # the newest chunk of each session (storage/heads.py)
        ledger=_ledger_hashes(paths.consent_ledger),
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
            f"{report.sessions} session(s); device key {pinned[0]}"
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
    p = sub.add_parser("ls", help="list stored chunks", description=cmd_ls.__doc__)
    p.add_argument("--session", metavar="ID", help="only this session")
    p.add_argument("--identity", action="append", metavar="FILE", help=IDENTITY_HELP)
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
    p.add_argument("--identity", action="append", metavar="FILE", help=IDENTITY_HELP)
    p.add_argument("--unverified", action="store_true", help=UNVERIFIED_HELP)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "verify",
        help="check every chunk: signature, hashes, order, gaps",
        description=cmd_verify.__doc__,
        epilog="exit status: 0 when everything verifies, 1 on any "
        "problem. Problem kinds: see docs/FORMAT.md.",
    )
    p.add_argument("--session", metavar="ID", help="only this session")
    p.add_argument(
        "--identity",
        action="append",
        metavar="FILE",
        help="age identity file to decrypt with (default: your identities, current and retired)",
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    p.set_defaults(func=cmd_verify)

"""`capture-agent verify`, `keys show|rotate` and `purge`: storage you can check and control."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from agent.cli.common import home as _home
from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import identities as _identities
from agent.cli.common import out as _out
from agent.cli.common import sessions_dir as _sessions_dir
from agent.errors import AgentError
from storage.errors import KeyMaterialError

EXIT_DATA_PROBLEM = 1
DEVICE_KEY_PUB_GLOB = "device-signing-*.pub"


def pinned_device_keys(keys_dir: Path) -> list[str]:
    """The device signing keys chunks must be signed with: the current one, then retired."""
    from storage.keys import DEVICE_SIGNING_KEY, load_signing_key, public_key_text
    from storage.keystore import RETIRED_DIR

    keys = [public_key_text(load_signing_key(keys_dir / DEVICE_SIGNING_KEY).public_key())]
    retired = keys_dir / RETIRED_DIR
    if retired.is_dir():
        for path in sorted(retired.glob(DEVICE_KEY_PUB_GLOB)):
            text = path.read_text(encoding="ascii").strip()
            if text:
                keys.append(text)
    return keys


UNVERIFIED_HELP = (
    "show chunks without verifying them (signature, order, chain): for damaged or "
    "foreign data you mean to inspect; nothing shown is then trusted"
)


def chunks_to_show(
    sessions: Path,
    keys_dir: Path,
    identities: list[Any],
    device_id: str,
    session: str | None,
    unverified: bool,
) -> Any:
    """The chunks `export` and `view` may show (storage/trust.py); problems on stderr.

    Without ``unverified`` only chunks `verify` passes are returned, and each chunk it
    flags gets one stderr line; with it every chunk is, after a warning that says so.
    """
    from storage.trust import trusted_chunks

    if unverified:
        sys.stderr.write(
            "capture-agent: warning: --unverified: chunks are shown without checking their "
            "signature, order or chain; a forged or moved chunk would be shown too, and "
            "nothing shown is verified\n"
        )
        return trusted_chunks(sessions, identities, None, device_id, session)
    try:
        pinned = pinned_device_keys(keys_dir)
    except KeyMaterialError as exc:
        raise AgentError(
            f"cannot pin the device key to verify chunks against: {exc} "
            "(--unverified reads them without verifying)"
        ) from None
    chunks = trusted_chunks(sessions, identities, pinned, device_id, session)
    for line in chunks.problems:
        sys.stderr.write(f"capture-agent: {line}\n")
    return chunks


# -- verify -------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Decrypt every chunk and check signatures, hashes, order and completeness."""
    from storage.verify import verify

    paths, config = _home()
    sessions = _sessions_dir(paths, config)
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


# -- keys ---------------------------------------------------------------------------------


def cmd_keys_show(args: argparse.Namespace) -> int:
    """Print the public recipients, the device's signing public key and where keys live."""
    from storage.keystore import keyring_status, list_slots

    paths, config = _home()
    try:
        pinned = pinned_device_keys(paths.keys_dir)
    except KeyMaterialError as exc:
        raise AgentError(str(exc)) from None
    usable, backend = keyring_status()
    slots = list_slots(paths.keys_dir)
    body = {
        "device_id": config.device.id,
        "device_signing_public_key": pinned[0],
        "retired_device_signing_keys": pinned[1:],
        "organisation_recipients": list(config.recipients.organisation),
        "person_recipient": config.recipients.person,
        "identities": [
            {
                "kind": s.kind,
                "path": str(s.path),
                "public": s.public,
                "retired": s.retired,
                "current": s.retired is None,
            }
            for s in slots
        ],
        "keyring": {"usable": usable, "backend": backend},
    }
    if args.json:
        _out(json.dumps(body, indent=2))
        return 0
    _out(f"device:               {config.device.id}")
    _out(f"device signing key:   {pinned[0]} (Ed25519, public; pinned for `verify`)")
    for recipient in config.recipients.organisation:
        _out(f"organisation:         {recipient}")
    _out(f"your recipient:       {config.recipients.person}")
    for slot in slots:
        label = "your identity:" if slot.retired is None else f"retired {slot.retired}:"
        _out(f"{label:<22}{slot.public or '(public key unknown)'} [{slot.kind}: {slot.path}]")
    _out(f"OS keyring:           {'usable' if usable else 'not usable'} ({backend})")
    return 0


def _new_passphrase() -> str:
    from storage.keystore import PASSPHRASE_ENV

    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise AgentError(f"--passphrase needs a terminal to ask on, or {PASSPHRASE_ENV} set")
    import getpass

    first = getpass.getpass("new passphrase: ")
    if not first:
        raise AgentError("an empty passphrase protects nothing; nothing was changed")
    if getpass.getpass("again: ") != first:
        raise AgentError("the passphrases differ; nothing was changed")
    return first


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Make a new identity for new chunks; the old one is kept to read older chunks."""
    from agent.runtime.daemon import is_running
    from storage.keystore import Where, rotate_identity

    paths, _config = _home()
    where: Where = (
        "passphrase"
        if args.passphrase
        else "keyring"
        if args.keyring
        else "file"
        if args.file
        else "auto"
    )
    passphrase = _new_passphrase() if where == "passphrase" else None
    try:
        result = rotate_identity(paths.keys_dir, paths.config_file, where, passphrase)
    except KeyMaterialError as exc:
        raise AgentError(str(exc)) from None
    running = is_running(paths)
    if args.json:
        _out(
            json.dumps(
                {
                    "old_recipient": result.old_public,
                    "new_recipient": result.new_public,
                    "retired_identity": str(result.retired_slot),
                    "new_identity": str(result.new_slot.path),
                    "kind": result.new_slot.kind,
                    "restart_needed": running,
                },
                indent=2,
            )
        )
        return 0
    _out(
        f"new recipient:      {result.new_public} [{result.new_slot.kind}: {result.new_slot.path}]"
    )
    _out(f"old identity kept:  {result.retired_slot} (older chunks stay readable)")
    if running:
        _out("The agent is running: restart it so that new chunks use the new key.")
    return 0


# -- purge --------------------------------------------------------------------------------


def parse_when(text: str) -> float:
    """A local date or date-time (ISO 8601) as a Unix time; AgentError when malformed."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise AgentError(
            f"--before {text!r}: expected a date like 2025-01-31 or 2025-01-31T14:00"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as a person means it
    return when.timestamp()


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete stored chunks: all, those sealed before a date, or one session."""
    from storage.purge import purge, select

    paths, config = _home()
    sessions = _sessions_dir(paths, config)
    before = parse_when(args.before) if args.before else None
    if args.session and not (sessions / args.session).is_dir():
        raise AgentError(f"no session {args.session!r} in {sessions} (see `capture-agent ls`)")
    chunks = select(sessions, everything=args.all, before=before, session=args.session)
    what = (
        "--all"
        if args.all
        else f"--before {args.before}"
        if args.before
        else f"--session {args.session}"
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
            raise AgentError(
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


# -- parser -------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add `verify`, `keys show|rotate` and `purge` to the main parser's subcommands."""
    p = subparsers.add_parser(
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

    keys = subparsers.add_parser(
        "keys",
        help="show or rotate keys",
        description="Public keys, where identities live, rotation.",
    )
    keys_sub = keys.add_subparsers(
        dest="keys_command", metavar="COMMAND", parser_class=type(keys), required=True
    )
    p = keys_sub.add_parser(
        "show",
        help="public recipients and the device signing key",
        description=cmd_keys_show.__doc__,
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_keys_show)
    p = keys_sub.add_parser(
        "rotate",
        help="new identity for new chunks; old ones stay readable",
        description=cmd_keys_rotate.__doc__,
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--passphrase",
        action="store_true",
        help="protect the new identity with a passphrase (age scrypt)",
    )
    group.add_argument("--keyring", action="store_true", help="keep it in the OS keyring")
    group.add_argument("--file", action="store_true", help="keep it in a 0600 file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_keys_rotate)

    p = subparsers.add_parser(
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
    which.add_argument("--session", metavar="ID", help="one session")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=cmd_purge)

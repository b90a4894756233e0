"""The head record: a small signed file naming the newest sealed chunk of each session.

``<data>/sessions/heads.json``, rewritten atomically by the chunk writer after each seal::

    {"device": "laptop-1", "format": "capture-agent/heads", "reset": null,
     "sessions": {"<session>": {"manifest_sha256": "<hex>", "seq": 5}},
     "signature": "<base64>", "signing_key": "<base64>", "version": 1}

The manifest chain shows a chunk removed from the middle of a session, and a metadata
record left behind shows a removed last chunk; neither shows the newest chunk deleted
together with its metadata record, nor a whole session folder deleted. This record does:
`verify` expects every session it names to hold chunks up to the named ``seq``, unless the
deletion record covers the rest (retention, purge and forget write it first).

It is signed by the device key, so an edited or forged record is detected. When the
writer finds the record missing or not verifying while chunks exist, it does not start
afresh silently (that would launder the deletion it was hiding): it writes ``reset``
(when, why, which sessions existed), which `verify` reports while those sessions remain.
Identifiers and numbers only, never captured content.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from storage.atomic import write_atomic
from storage.canonical import canonical_json
from storage.chunk import CHUNK_SUFFIX, sign_manifest
from storage.deletion import read_deleted
from storage.keys import public_key_text

log = logging.getLogger(__name__)

HEADS_FILE = "heads.json"
HEADS_FORMAT = "capture-agent/heads"
HEADS_VERSION = 1
MAX_HEADS_BYTES = 8 << 20  # about 50,000 sessions: read whole only below this
MAX_RESET_SESSIONS = 10_000
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Head:
    """The newest sealed chunk of one session: its sequence number and manifest hash."""

    seq: int
    manifest_sha256: str


@dataclass(frozen=True)
class Reset:
    """The writer found the record missing or forged while these sessions existed."""

    ts: float
    reason: str
    sessions: tuple[str, ...]


@dataclass
class HeadRecord:
    """The record's content: the device, each session's head, and any reset."""

    device: str
    sessions: dict[str, Head] = field(default_factory=dict)
    reset: Reset | None = None

    def unsigned(self, signing_key: str) -> dict[str, Any]:
        """The fields the signature covers."""
        return {
            "format": HEADS_FORMAT,
            "version": HEADS_VERSION,
            "device": self.device,
            "sessions": {
                name: {"seq": h.seq, "manifest_sha256": h.manifest_sha256}
                for name, h in sorted(self.sessions.items())
            },
            "reset": None
            if self.reset is None
            else {
                "ts": self.reset.ts,
                "reason": self.reset.reason,
                "sessions": list(self.reset.sessions),
            },
            "signing_key": signing_key,
        }


def heads_path(sessions_dir: Path) -> Path:
    """Where the head record lives: in the sessions folder, next to the session folders."""
    return sessions_dir / HEADS_FILE


def _parse(data: bytes) -> tuple[HeadRecord, dict[str, Any]]:
    """Parse a record (signature not checked); ValueError says what is wrong."""
    if len(data) > MAX_HEADS_BYTES:
        raise ValueError(f"{len(data)} bytes, above the {MAX_HEADS_BYTES}-byte limit")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != HEADS_FORMAT:
        raise ValueError("not a head record")
    if doc.get("version") != HEADS_VERSION or isinstance(doc.get("version"), bool):
        raise ValueError(f"unknown head record version {doc.get('version')!r}")
    device, sessions, reset = doc.get("device"), doc.get("sessions"), doc.get("reset")
    if not isinstance(device, str) or not isinstance(sessions, dict):
        raise ValueError("'device' or 'sessions' is malformed")
    record = HeadRecord(device=device)
    for name, head in sessions.items():
        seq = head.get("seq") if isinstance(head, dict) else None
        digest = head.get("manifest_sha256") if isinstance(head, dict) else None
        if (
            type(seq) is not int
            or seq < 0
            or not isinstance(digest, str)
            or len(digest) != 64
            or not set(digest) <= _HEX
        ):
            raise ValueError(f"the entry for session {name!r} is malformed")
        record.sessions[name] = Head(seq, digest)
    if reset is not None:
        names = reset.get("sessions") if isinstance(reset, dict) else None
        ts = reset.get("ts") if isinstance(reset, dict) else None
        reason = reset.get("reason") if isinstance(reset, dict) else None
        if (
            not isinstance(names, list)
            or not all(isinstance(n, str) for n in names)
            or not isinstance(ts, (int, float))
            or isinstance(ts, bool)
            or not isinstance(reason, str)
        ):
            raise ValueError("'reset' is malformed")
        record.reset = Reset(float(ts), reason, tuple(names))
    return record, doc


def _signed_by(doc: dict[str, Any], key: Ed25519PublicKey) -> bool:
    signature = doc.get("signature")
    if not isinstance(signature, str):
        return False
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical_json(unsigned))
    except (InvalidSignature, ValueError):
        return False
    return True


def read_heads(
    sessions_dir: Path, pinned: dict[str, Ed25519PublicKey]
) -> tuple[HeadRecord | None, str | None]:
    """The record if it verifies with a pinned device key; else why not (None, None: absent)."""
    path = heads_path(sessions_dir)
    try:
        if path.stat().st_size > MAX_HEADS_BYTES:
            return None, f"{path}: larger than the {MAX_HEADS_BYTES}-byte limit"
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: cannot read the head record: {exc.strerror or exc}"
    try:
        record, doc = _parse(data)
    except ValueError as exc:
        return None, f"{path}: the head record is unreadable ({exc})"
    named = doc.get("signing_key")
    keys = [pinned[named]] if isinstance(named, str) and named in pinned else list(pinned.values())
    if not any(_signed_by(doc, key) for key in keys):
        return None, (
            f"{path}: the head record's signature does not verify with the pinned device "
            "key (it was edited or forged)"
        )
    return record, None


class HeadRecorder:
    """Keeps the head record up to date for one writer (the daemon's one session)."""

    def __init__(self, sessions_dir: Path, device: str, key: Ed25519PrivateKey) -> None:
        self.sessions_dir = sessions_dir
        self.device = device
        self._key = key
        self._public = public_key_text(key.public_key())
        self._record: HeadRecord | None = None

    def update(
        self, session: str, seq: int, manifest_sha256: str, root: Path | None = None
    ) -> None:
        """Name ``seq`` the newest chunk of ``session`` and rewrite the record atomically.

        ``root``: no link below it is followed (as for the chunks, storage/safe_fs.py).
        """
        if self._record is None:
            self._record = self._load(session)
        self._record.sessions[session] = Head(seq, manifest_sha256)
        signed = sign_manifest(self._record.unsigned(self._public), self._key)
        write_atomic(heads_path(self.sessions_dir), canonical_json(signed) + b"\n", root=root)

    def _load(self, own: str) -> HeadRecord:
        """The record as found, pruned; a reset when it is missing or does not verify."""
        record, problem = read_heads(self.sessions_dir, {self._public: self._key.public_key()})
        if record is not None and record.device != self.device:
            record, problem = None, "it names another device"
        if record is None:
            existing = [name for name in self._sessions_with_chunks() if name != own]
            if problem is None and not existing:
                return HeadRecord(self.device)  # the first chunk ever: nothing to protect
            reason = "missing" if problem is None else "invalid"
            log.warning(
                "the head record (%s) is %s while %d session(s) hold chunks: "
                "starting a new one, marked as reset for `verify`",
                heads_path(self.sessions_dir),
                reason,
                len(existing),
            )
            return HeadRecord(
                self.device,
                reset=Reset(round(time.time(), 3), reason, tuple(existing[:MAX_RESET_SESSIONS])),
            )
        # Sessions deleted whole on purpose (every chunk in the deletion record) need no
        # head any more; a reset whose sessions are all gone has nothing left to warn of.
        deleted, _ = read_deleted(self.sessions_dir)
        for name, head in list(record.sessions.items()):
            gone = not (self.sessions_dir / name).is_dir()
            if gone and set(range(head.seq + 1)) <= deleted.get(name, set()):
                del record.sessions[name]
        if record.reset is not None and not any(
            (self.sessions_dir / name).is_dir() for name in record.reset.sessions
        ):
            record.reset = None
        return record

    def _sessions_with_chunks(self) -> list[str]:
        if not self.sessions_dir.is_dir():
            return []
        return sorted(
            folder.name
            for folder in self.sessions_dir.iterdir()
            if folder.is_dir() and any(folder.glob(f"*{CHUNK_SUFFIX}"))
        )


def _ranges(seqs: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for seq in seqs:
        if out and out[-1][1] == seq - 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return out


def expected(record: HeadRecord | None, deleted: dict[str, set[int]]) -> list[str]:
    """Sessions the record names that must still hold a chunk (not all deleted on purpose)."""
    if record is None:
        return []
    return [
        name
        for name, head in record.sessions.items()
        if not set(range(head.seq + 1)) <= deleted.get(name, set())
    ]


def tail_findings(
    session: str,
    folder: Path,
    head: Head | None,
    highest: int,
    deleted: set[int],
    newest_sha256: str | None,
) -> list[tuple[str, str, int]]:
    """(kind, message, seq) for the newest chunks of a session the head record misses.

    ``highest`` is the highest sequence number found (chunk or metadata record, -1 for
    none); ``newest_sha256`` the manifest hash of the trusted chunk at the record's seq.
    """
    if head is None:
        return []
    out: list[tuple[str, str, int]] = []
    tail = sorted(set(range(highest + 1, head.seq + 1)) - deleted)
    gone = highest < 0 and not folder.is_dir()
    for first, last in _ranges(tail):
        what = f"chunk {first} is" if first == last else f"chunks {first}-{last} are"
        if gone:
            out.append(
                (
                    "missing_session",
                    f"session {session} is gone: {what} missing, though the head record "
                    f"names chunk {head.seq} as its newest (the session folder was deleted "
                    "without a deletion record)",
                    first,
                )
            )
        else:
            out.append(
                (
                    "missing_tail",
                    f"session {session}: {what} missing: the head record names chunk "
                    f"{head.seq} as the newest sealed (the newest chunks were deleted with "
                    "their metadata records, without a deletion record)",
                    first,
                )
            )
    if not tail and newest_sha256 is not None and newest_sha256 != head.manifest_sha256:
        out.append(
            (
                "head_mismatch",
                f"session {session}: chunk {head.seq} is not the chunk the head record "
                "names as the newest sealed (it was replaced)",
                head.seq,
            )
        )
    return out


def record_findings(
    sessions_dir: Path,
    record: HeadRecord | None,
    problem: str | None,
    device_id: str | None,
    anchored: set[str],
) -> tuple[list[str], list[str]]:
    """(problems, notes) about the record itself, given the sessions whose verified
    chunks were written by a version that keeps it (their manifests carry the field)."""
    path = heads_path(sessions_dir)
    if problem is not None:
        return [problem], []
    if record is None:
        if anchored:
            return [
                f"{path}: the head record is missing, though chunks of "
                f"{len(anchored)} session(s) were sealed with it (it was deleted: the "
                "newest chunks of a session could have been deleted unseen)"
            ], []
        return [], []
    problems: list[str] = []
    notes: list[str] = []
    if device_id is not None and record.device != device_id:
        problems.append(f"{path}: the head record belongs to device {record.device!r}")
    reset = record.reset
    if reset is not None:
        remaining = [name for name in reset.sessions if (sessions_dir / name).is_dir()]
        message = (
            f"{path}: the head record was {reset.reason} when the agent sealed a chunk at "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(reset.ts))} and was "
            f"started again; the newest chunks of {len(remaining)} older session(s) "
            "cannot be vouched for"
        )
        if any(name in anchored for name in remaining):
            problems.append(message)
        elif remaining:
            notes.append(message + " (they predate the record)")
    return problems, notes

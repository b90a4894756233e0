"""`verify`: check every stored chunk, and every session's chain, against the pinned device.

The threats, and what catches each:

* a flipped, truncated or replaced byte: age authenticates the ciphertext ("decrypt"),
  and the manifest's SHA-256 of each member catches an altered plaintext ("member");
* a forged or re-signed manifest: the Ed25519 signature must verify with the device key
  pinned at `init` (keys/device-signing.pem), not with whatever key the manifest names
  ("signature", "foreign_key");
* a chunk moved from another device or session: the signed manifest names both
  ("foreign_device", "foreign_session");
* renamed or swapped files: the signed sequence number must match the file name
  ("reordered");
* a deleted chunk: sequence numbers must be contiguous from 0, and a metadata record
  whose chunk is gone gives away a deleted last chunk ("gap", "missing_chunk"); deletions
  made by retention or purge are in the deletion record and are not problems;
* a chunk replaced by another validly signed one: each manifest holds the SHA-256 of the
  previous manifest, the first one a session anchor ("chain");
* a metadata record that disagrees with its chunk: `ls` would show something the chunk
  does not hold ("meta_mismatch", "meta_unreadable");
* the newest chunks deleted with their metadata records, or a whole session folder: the
  signed head record names each session's newest chunk ("missing_tail",
  "missing_session", "head_mismatch"; a missing or forged record is "head_record");
* a consent ledger rewritten with recomputed hashes: each manifest signs the ledger's
  head at seal time ("ledger_anchor"; the chunk itself stays verified).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from storage.anchors import ANCHOR_FIELD, anchor_of, anchor_problem
from storage.canonical import canonical_json
from storage.chunk import (
    CHUNK_SUFFIX,
    META_SUFFIX,
    check_signature,
    manifest_hash,
    session_anchor,
)
from storage.deletion import read_deleted
from storage.errors import IntegrityError, KeyMaterialError
from storage.heads import Head, expected, read_heads, record_findings, tail_findings
from storage.keys import public_key_from_text
from storage.reader import ChunkRef, list_chunks, open_chunk, read_meta

PROBLEM_KINDS = (
    "decrypt",
    "format",
    "member",
    "integrity",
    "signature",
    "foreign_key",
    "foreign_device",
    "foreign_session",
    "reordered",
    "chain",
    "gap",
    "missing_chunk",
    "meta_mismatch",
    "meta_unreadable",
    "deletion_record",
    "missing_tail",
    "missing_session",
    "head_mismatch",
    "head_record",
    "ledger_anchor",
)


@dataclass(frozen=True)
class Problem:
    """One finding: a machine-readable ``kind`` and a sentence a person can act on."""

    kind: str
    message: str
    session: str | None = None
    seq: int | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `verify --json`."""
        return asdict(self)


@dataclass
class Report:
    """The result of verifying a data folder (or one session)."""

    sessions: int = 0
    chunks: int = 0
    verified: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    # Chunk path -> manifest hash of every verified chunk: what export, view and
    # `org pull` may show (storage/trust.py), each re-read against its hash.
    trusted: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (notes are not problems)."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `verify --json`."""
        return {
            "ok": self.ok,
            "sessions": self.sessions,
            "chunks": self.chunks,
            "verified": self.verified,
            "problems": [p.to_dict() for p in self.problems],
            "notes": [n.to_dict() for n in self.notes],
        }


@dataclass
class _Checked:
    ref: ChunkRef
    manifest: dict[str, Any] | None = None
    manifest_bytes: bytes = b""
    trusted: bool = False  # decrypted, hashes and pinned signature fine, right session


def _ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if out and out[-1][1] == seq - 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return out


def verify(
    sessions_dir: Path,
    identities: list[pyrage.x25519.Identity],
    device_keys: list[str],
    device_id: str | None,
    session: str | None = None,
    head_record: bool = False,
    ledger: Mapping[int, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Verify every chunk under ``sessions_dir`` (or one session) and each session's chain.

    ``device_keys`` are the pinned signing keys (base64, as in manifests); ``device_id``
    the pinned device id (None accepts any, e.g. when verifying several devices' uploads).
    ``head_record``: check the device's head record (storage/heads.py; on the device,
    not on uploads). ``ledger``: the consent ledger's entries (seq -> hash) to compare
    with the heads chunks signed (storage/anchors.py). ``progress(done, total)`` is
    called after each chunk (a progress bar's).
    """
    if not device_keys:
        raise KeyMaterialError("no pinned device signing key to verify against")
    pinned = {text: public_key_from_text(text) for text in device_keys}
    report = Report()
    deleted, record_problems = read_deleted(sessions_dir)
    for message in record_problems:
        report.problems.append(Problem("deletion_record", message))
    # Read before listing: a chunk sealed meanwhile is then newer than the record (fine),
    # never named by it and not listed (a false "missing").
    heads, heads_problem = read_heads(sessions_dir, pinned) if head_record else (None, None)
    refs = list_chunks(sessions_dir, session)
    by_session: dict[str, list[ChunkRef]] = {}
    for ref in refs:
        by_session.setdefault(ref.session, []).append(ref)
    folders = (
        [sessions_dir / session]
        if session
        else (
            sorted(p for p in sessions_dir.iterdir() if p.is_dir()) if sessions_dir.is_dir() else []
        )
    )
    for folder in folders:
        if folder.is_dir():
            by_session.setdefault(folder.name, [])
    for name in expected(heads, deleted):
        if session is None or name == session:
            by_session.setdefault(name, [])  # a session folder deleted whole
    anchored: set[str] = set()
    total, done = len(refs), 0

    def on_chunk() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    for name in sorted(by_session):
        report.sessions += 1
        if _verify_session(
            sessions_dir / name,
            name,
            by_session[name],
            identities,
            pinned,
            device_id,
            deleted.get(name, set()),
            report,
            heads.sessions.get(name) if heads is not None else None,
            ledger,
            on_chunk,
        ):
            anchored.add(name)
    if head_record:
        problems, notes = record_findings(sessions_dir, heads, heads_problem, device_id, anchored)
        report.problems += [Problem("head_record", m) for m in problems]
        report.notes += [Problem("head_record", m) for m in notes]
    return report


def _verify_session(
    folder: Path,
    session: str,
    refs: list[ChunkRef],
    identities: list[pyrage.x25519.Identity],
    pinned: dict[str, Ed25519PublicKey],
    device_id: str | None,
    deleted: set[int],
    report: Report,
    head: Head | None = None,
    ledger: Mapping[int, str] | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> bool:
    """Check one session; True when a verified chunk was sealed with a head record."""
    checked = []
    for ref in refs:
        checked.append(_check_chunk(ref, identities, pinned, device_id, report))
        if on_chunk is not None:
            on_chunk()
    report.chunks += len(checked)
    # The chain is followed by the signed sequence numbers, not by file names: a swap is
    # reported once, as "reordered", and does not also break every link after it.
    by_seq: dict[int, _Checked] = {}
    for item in checked:
        if item.trusted and item.manifest is not None:
            by_seq.setdefault(item.manifest["seq"], item)
    devices = {c.manifest["device"] for c in by_seq.values() if c.manifest is not None}
    anchor_device = device_id or (devices.pop() if len(devices) == 1 else None)
    for seq, item in sorted(by_seq.items()):
        assert item.manifest is not None
        prev = item.manifest["prev_manifest_sha256"]
        where = {"session": session, "seq": seq, "path": str(item.ref.path)}
        if seq == 0:
            if anchor_device is not None and prev != session_anchor(anchor_device, session):
                report.problems.append(
                    Problem(
                        "chain",
                        f"{item.ref.path}: the first chunk of session {session} does not "
                        "start from the session anchor (chunks before it were removed, or it "
                        "was spliced in)",
                        **where,  # type: ignore[arg-type]
                    )
                )
                item.trusted = False
        elif seq - 1 in by_seq:
            before = by_seq[seq - 1]
            if prev != manifest_hash(before.manifest_bytes):
                report.problems.append(
                    Problem(
                        "chain",
                        f"{item.ref.path}: chunk {seq} does not follow chunk {seq - 1} "
                        "of its session (its previous-manifest hash differs: a chunk was "
                        "replaced or spliced in)",
                        **where,  # type: ignore[arg-type]
                    )
                )
                item.trusted = False
        elif seq - 1 in deleted:
            report.notes.append(
                Problem(
                    "chain",
                    f"session {session}: the chain is checked from chunk {seq} on "
                    f"(earlier chunks were deleted by retention or purge)",
                    **where,  # type: ignore[arg-type]
                )
            )
    # Gaps: every sequence number up to the highest seen must be a chunk, or be recorded
    # as deleted on purpose. A metadata record without its chunk shows a deleted tail.
    present = set(by_seq)
    for item in checked:
        if not item.trusted and item.manifest is None:
            present.add(item.ref.seq)  # unreadable: already reported, not also a gap
    orphans: dict[int, Path] = {}
    if folder.is_dir():
        for meta in folder.glob(f"*{META_SUFFIX}"):
            try:
                seq = int(meta.stem)
            except ValueError:
                continue
            if not meta.with_suffix(CHUNK_SUFFIX).exists():
                orphans[seq] = meta
    highest = max([*present, *orphans, -1])
    newest = by_seq.get(head.seq) if head is not None else None
    for kind, message, seq in tail_findings(
        session,
        folder,
        head,
        highest,
        deleted,
        manifest_hash(newest.manifest_bytes) if newest is not None and newest.trusted else None,
    ):
        report.problems.append(Problem(kind, message, session=session, seq=seq, path=str(folder)))
    for seq, item in sorted(by_seq.items()):
        anchor = anchor_of(item.manifest or {})
        problem = anchor_problem(anchor, ledger) if anchor and ledger is not None else None
        if problem is not None:
            # No path: the chunk is sound (and stays verified); the ledger is not.
            report.problems.append(
                Problem("ledger_anchor", f"{item.ref.path}: {problem}", session=session, seq=seq)
            )
    missing = set(range(highest + 1)) - present - deleted
    for seq, meta in sorted(orphans.items()):
        if seq in missing:
            missing.discard(seq)
            report.problems.append(
                Problem(
                    "missing_chunk",
                    f"{folder / (f'{seq:06d}' + CHUNK_SUFFIX)}: chunk {seq} of "
                    f"session {session} is gone but its metadata record remains (deleted without "
                    "a deletion record)",
                    session=session,
                    seq=seq,
                    path=str(meta),
                )
            )
    for first, last in _ranges(missing):
        what = f"chunk {first} is" if first == last else f"chunks {first}-{last} are"
        report.problems.append(
            Problem(
                "gap",
                f"session {session}: {what} missing (deleted without a deletion record)",
                session=session,
                seq=first,
                path=str(folder),
            )
        )
    flagged = {p.path for p in report.problems}
    for c in checked:
        if c.trusted and str(c.ref.path) not in flagged:
            report.verified += 1
            report.trusted[str(c.ref.path)] = manifest_hash(c.manifest_bytes)
    return any(ANCHOR_FIELD in (c.manifest or {}) for c in by_seq.values() if c.trusted)


def _check_chunk(
    ref: ChunkRef,
    identities: list[pyrage.x25519.Identity],
    pinned: dict[str, Ed25519PublicKey],
    device_id: str | None,
    report: Report,
) -> _Checked:
    item = _Checked(ref)
    where = {"session": ref.session, "seq": ref.seq, "path": str(ref.path)}
    try:
        chunk = open_chunk(ref, identities)  # the manifest only: members wait for the signature
    except IntegrityError as exc:
        report.problems.append(Problem(exc.kind, str(exc), **where))  # type: ignore[arg-type]
        return item
    manifest = chunk.manifest
    item.manifest, item.manifest_bytes = manifest, chunk.manifest_bytes
    before = len(report.problems)

    def problem(kind: str, message: str) -> None:
        report.problems.append(Problem(kind, f"{ref.path}: {message}", **where))  # type: ignore[arg-type]

    named = manifest.get("signing_key")
    if isinstance(named, str) and named in pinned:
        try:
            check_signature(manifest, pinned[named])
        except IntegrityError as exc:
            problem(exc.kind, str(exc))
    elif _self_signed(manifest):
        problem(
            "foreign_key",
            f"signed by key {named}, not by this device's pinned key "
            f"({', '.join(pinned)}); the chunk was re-signed or comes from elsewhere",
        )
    else:
        # Unknown or missing key, and no valid signature by it: try the pinned ones.
        for key in pinned.values():
            try:
                check_signature(manifest, key)
                break
            except IntegrityError:
                continue
        else:
            problem(
                "signature",
                "the manifest signature does not verify with the pinned "
                "device key (the manifest was altered or the signature replaced)",
            )
    if len(report.problems) == before:
        # Signed by this device, so the declared member sizes that bound inflation are
        # its own; an unsigned manifest's members are never inflated (a zip bomb stops
        # here). Streamed and hashed, nothing kept.
        try:
            chunk.members(keep=False)
        except IntegrityError as exc:
            report.problems.append(Problem(exc.kind, str(exc), **where))  # type: ignore[arg-type]
            return _Checked(ref)
    if device_id is not None and manifest["device"] != device_id:
        problem(
            "foreign_device",
            f"belongs to device {manifest['device']!r}, not "
            f"{device_id!r} (spliced from another device)",
        )
    if manifest["session"] != ref.session:
        problem(
            "foreign_session",
            f"belongs to session {manifest['session']!r}, not "
            f"{ref.session!r} (spliced from another session)",
        )
    elif manifest["seq"] != ref.seq:
        problem(
            "reordered",
            f"the file is named {ref.seq} but holds chunk {manifest['seq']} "
            "of its session (files swapped or renamed)",
        )
    _check_meta(ref, chunk.manifest_bytes, identities, report, where)
    unscrubbed = scrub_finding(manifest)
    if unscrubbed is not None:
        report.notes.append(Problem("unscrubbed", f"{ref.path}: {unscrubbed}", **where))  # type: ignore[arg-type]
    signature_ok = not any(
        p.kind in ("signature", "foreign_key", "foreign_device", "foreign_session")
        for p in report.problems[before:]
    )
    item.trusted = signature_ok and manifest["session"] == ref.session
    return item


def scrub_finding(manifest: Mapping[str, Any]) -> str | None:
    """Why a chunk's frames may hold what the screen scrub would have masked, or None.

    A chunk with frames must carry a ``scrub`` record (storage/writer.py) in which every
    frame was judged by the screen mask; older chunks and chunks written without one
    are reported, as are frames stored without a judgement.
    """
    frames = manifest.get("frames")
    if not isinstance(frames, int) or frames <= 0:
        return None
    scrub = manifest.get("scrub")
    if not isinstance(scrub, Mapping):
        return f"{frames} frame(s) stored without a scrub record (not scrubbed)"
    done, missed = scrub.get("frames"), scrub.get("unscrubbed")
    if not isinstance(done, int) or not isinstance(missed, int) or missed < 0:
        return "the scrub record is malformed"
    if missed > 0 or done < frames:
        return f"{max(missed, frames - done)} of {frames} frame(s) stored unscrubbed"
    return None


def _self_signed(manifest: dict[str, Any]) -> bool:
    """True when the manifest carries a valid signature by the key it names itself."""
    named, signature = manifest.get("signing_key"), manifest.get("signature")
    if not isinstance(named, str) or not isinstance(signature, str):
        return False
    try:
        key = public_key_from_text(named)
        unsigned = {k: v for k, v in manifest.items() if k != "signature"}
        key.verify(base64.b64decode(signature, validate=True), canonical_json(unsigned))
    except (KeyMaterialError, InvalidSignature, ValueError):
        return False
    return True


def _check_meta(
    ref: ChunkRef,
    manifest_bytes: bytes,
    identities: list[pyrage.x25519.Identity],
    report: Report,
    where: dict[str, Any],
) -> None:
    if not ref.meta_path.exists():
        report.notes.append(
            Problem(
                "meta_missing",
                f"{ref.meta_path}: no metadata record (a crash between writing "
                "the chunk and its record; listing falls back to the chunk)",
                **where,
            )
        )
        return
    try:
        meta = read_meta(ref, identities)
    except IntegrityError as exc:
        report.problems.append(Problem("meta_unreadable", str(exc), **where))
        return
    if meta != manifest_bytes:
        report.problems.append(
            Problem(
                "meta_mismatch",
                f"{ref.meta_path}: the metadata record differs from the "
                "chunk's manifest (`ls` would show something the chunk does not hold)",
                **where,
            )
        )

"""Deleting chunks on purpose, and the record that makes every deletion visible.

Retention and purge both delete through ``delete_chunks``. Before a file goes, one line
is appended to ``<data>/deletions.jsonl`` (0600): when, why, how many chunks and bytes,
how many were not uploaded yet, and which sequence numbers of which session. Counts and
identifiers only, never content. `verify` reads it so that a deliberate deletion is not
reported as tampering, while a chunk that vanished without a record is.

The record is written first: a crash in the middle leaves a record that claims a little
more than was deleted (harmless, the rest is still verified), never an unexplained gap.
Within a chunk, the metadata record goes before the chunk, so a crash never leaves a
metadata record whose chunk is gone.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.atomic import append_durably, fsync_dir, write_atomic
from storage.errors import StorageError
from storage.reader import ChunkRef, list_chunks

DELETIONS_LOG = "deletions.jsonl"
UPLOADED_SUFFIX = ".uploaded"


def uploaded_marker(ref: ChunkRef) -> Path:
    """The file the uploader writes once the object store confirmed the chunk."""
    return ref.path.with_suffix(UPLOADED_SUFFIX)


def mark_uploaded(
    ref: ChunkRef, key: str, sha256: str, meta_sha256: str | None, uploaded_ts: float
) -> None:
    """Record that ``ref`` is safely uploaded (call only after the store confirmed it).

    The marker is 0600 JSON (object key, hashes, time), written atomically: the one
    form there is, written by the uploader and by tests alike.
    """
    record = {
        "key": key,
        "sha256": sha256,
        "meta_sha256": meta_sha256,
        "uploaded_ts": round(uploaded_ts, 3),
    }
    write_atomic(uploaded_marker(ref), (json.dumps(record, sort_keys=True) + "\n").encode())


def is_uploaded(ref: ChunkRef) -> bool:
    """True when the chunk carries an upload marker."""
    return uploaded_marker(ref).exists()


@dataclass(frozen=True)
class StoredChunk:
    """A sealed chunk as retention sees it: from file metadata alone, never decrypted."""

    ref: ChunkRef
    size: int  # chunk plus its metadata record, bytes on disk
    sealed_at: float  # the chunk file's mtime: written once, at sealing
    uploaded: bool


def scan(sessions_dir: Path, session: str | None = None) -> list[StoredChunk]:
    """Every sealed chunk with its size, sealing time and upload state (stat calls only)."""
    found: list[StoredChunk] = []
    for ref in list_chunks(sessions_dir, session):
        try:
            st = ref.path.stat()
        except OSError:
            continue  # deleted meanwhile
        size = st.st_size
        with contextlib.suppress(OSError):
            size += ref.meta_path.stat().st_size
        found.append(
            StoredChunk(ref=ref, size=size, sealed_at=st.st_mtime, uploaded=is_uploaded(ref))
        )
    return found


@dataclass(frozen=True)
class DeletionCounts:
    """How much a deletion removed (what `purge` and `status` report)."""

    chunks: int = 0
    bytes: int = 0
    not_uploaded: int = 0
    sessions: int = 0

    def __add__(self, other: DeletionCounts) -> DeletionCounts:
        return DeletionCounts(
            self.chunks + other.chunks,
            self.bytes + other.bytes,
            self.not_uploaded + other.not_uploaded,
            self.sessions + other.sessions,
        )

    def to_dict(self) -> dict[str, int]:
        """Plain counts for JSON output and the deletion record."""
        return {
            "chunks": self.chunks,
            "bytes": self.bytes,
            "not_uploaded": self.not_uploaded,
            "sessions": self.sessions,
        }


def _ranges(seqs: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if out and out[-1][1] == seq - 1:
            out[-1][1] = seq
        else:
            out.append([seq, seq])
    return out


def deletions_log(sessions_dir: Path) -> Path:
    """Where deletions are recorded: next to the sessions folder."""
    return sessions_dir.parent / DELETIONS_LOG


def append_record(sessions_dir: Path, record: dict[str, Any]) -> None:
    """Append one line to the deletion record, durably, creating it 0600."""
    path = deletions_log(sessions_dir)
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    try:
        append_durably(path, line)
    except OSError as exc:
        raise StorageError(f"{path}: cannot record the deletion: {exc.strerror or exc}") from None


def delete_chunks(
    sessions_dir: Path, chunks: list[StoredChunk], reason: str, now: float
) -> DeletionCounts:
    """Record, then delete ``chunks`` (metadata record, chunk, upload marker)."""
    if not chunks:
        return DeletionCounts()
    by_session: dict[str, list[int]] = {}
    for chunk in chunks:
        by_session.setdefault(chunk.ref.session, []).append(chunk.ref.seq)
    counts = DeletionCounts(
        chunks=len(chunks),
        bytes=sum(c.size for c in chunks),
        not_uploaded=sum(1 for c in chunks if not c.uploaded),
        sessions=len(by_session),
    )
    append_record(
        sessions_dir,
        {
            "ts": round(now, 3),
            "reason": reason,
            **counts.to_dict(),
            "deleted": {s: _ranges(q) for s, q in by_session.items()},
        },
    )
    folders: set[Path] = set()
    for chunk in chunks:
        ref = chunk.ref
        for path in (ref.meta_path, ref.path, uploaded_marker(ref)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        folders.add(ref.path.parent)
    for folder in folders:
        with contextlib.suppress(OSError):
            fsync_dir(folder)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: the writer recreates it if still recording
    return counts


def read_deleted(sessions_dir: Path) -> tuple[dict[str, set[int]], list[str]]:
    """Sequence numbers deleted on purpose, per session, and any unreadable record lines."""
    deleted: dict[str, set[int]] = {}
    problems: list[str] = []
    path = deletions_log(sessions_dir)
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return deleted, problems
    except OSError as exc:
        return deleted, [f"{path}: cannot read: {exc.strerror or exc}"]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            for session, ranges in record["deleted"].items():
                target = deleted.setdefault(str(session), set())
                for first, last in ranges:
                    if (
                        not (isinstance(first, int) and isinstance(last, int))
                        or last - first > 10_000_000
                    ):
                        raise ValueError("bad range")
                    target.update(range(first, last + 1))
        except (ValueError, KeyError, TypeError, AttributeError):
            problems.append(f"{path}:{number}: malformed deletion record")
    return deleted, problems

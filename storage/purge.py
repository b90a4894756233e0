"""Purge: the person deletes stored chunks on request (all, before a date, one session).

Selection works from file metadata only (a chunk's sealing time is its file's mtime),
so purging needs no key and never decrypts. Deletions go through ``delete_chunks`` and
are therefore recorded with counts.
"""

from __future__ import annotations

import time
from pathlib import Path

from storage.deletion import DeletionCounts, StoredChunk, delete_chunks, scan


def select(
    sessions_dir: Path,
    *,
    everything: bool = False,
    before: float | None = None,
    session: str | None = None,
) -> list[StoredChunk]:
    """The chunks a purge would delete: all, those sealed before ``before``, or a session."""
    if session is not None:
        return scan(sessions_dir, session)
    chunks = scan(sessions_dir)
    if everything:
        return chunks
    if before is not None:
        return [c for c in chunks if c.sealed_at < before]
    return []


def purge(
    sessions_dir: Path, chunks: list[StoredChunk], reason: str, now: float | None = None
) -> DeletionCounts:
    """Delete the selected chunks, recording the deletion with counts."""
    return delete_chunks(
        sessions_dir, chunks, f"purge: {reason}", time.time() if now is None else now
    )

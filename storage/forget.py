"""`forget --last 10m`: the person deletes what was recorded recently, before it leaves.

Only chunks not uploaded yet can be forgotten (an uploaded one is no longer on this
machine to delete; the hold-back window exists so that recent ones are still here).
Selection uses file times only: no key, nothing decrypted. The deletion goes through
``delete_chunks`` and is recorded with counts, so `verify` and the organisation's
`org verify` see a deliberate deletion, not a lost chunk. Run under the upload lock, so
a chunk is never forgotten while it is being uploaded.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from storage.deletion import DeletionCounts, StoredChunk, delete_chunks, scan
from storage.uploader import upload_lock

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(text: str) -> float:
    """``"10m"`` -> 600.0; units s, m, h, d. Raises ValueError with a readable message."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; use a number and a unit, e.g. 90s, 10m, 2h, 1d"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: the duration must be more than zero")
    return seconds


def select_recent(sessions_dir: Path, seconds: float, now: float) -> list[StoredChunk]:
    """Chunks sealed in the last ``seconds`` that are not uploaded yet."""
    cutoff = now - seconds
    return [c for c in scan(sessions_dir) if c.sealed_at >= cutoff and not c.uploaded]


def forget(
    sessions_dir: Path, seconds: float, now: float | None = None, dry_run: bool = False
) -> tuple[list[StoredChunk], DeletionCounts]:
    """Delete (unless ``dry_run``) un-uploaded chunks sealed in the last ``seconds``."""
    sessions_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with upload_lock(sessions_dir.parent):
        when = time.time() if now is None else now
        chunks = select_recent(sessions_dir, seconds, when)
        if dry_run or not chunks:
            return chunks, DeletionCounts()
        return chunks, delete_chunks(sessions_dir, chunks, f"forget: last {seconds:g}s", when)

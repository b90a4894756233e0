"""Retention: keep the data folder under its caps without ever filling the disk.

Three limits (config ``[storage]``): total bytes of sealed chunks, the age of a chunk, and
a floor of free disk space. ``enforce`` is called by the daemon periodically; it works
from file sizes and times only (no key needed, nothing decrypted).

What may be deleted, in order:

* chunks past ``max_age_days``, uploaded or not: the age cap is a promise to the person
  that recordings do not linger on the laptop; such deletions are recorded with how many
  were not uploaded, never silent;
* for the byte cap and the free-space floor, uploaded chunks only, oldest first.

When the byte cap or the floor cannot be met without deleting data that is not uploaded
yet, nothing more is deleted and the result carries a ``blocked_reason``: the daemon stops
capture with that reason in `status` and resumes by itself once space returns (uploads
confirmed, a purge, or a larger cap).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.deletion import DeletionCounts, StoredChunk, delete_chunks, scan

DAY = 86_400.0


@dataclass(frozen=True)
class RetentionPolicy:
    """The caps; 0 (or None) disables one."""

    max_total_bytes: int | None = 2_000_000_000
    max_age_days: float | None = 30.0
    min_free_bytes: int | None = 500_000_000

    @classmethod
    def from_config(cls, storage: Any) -> RetentionPolicy:
        """Read ``[storage]`` keys, with defaults for configs that predate them."""
        default = cls()
        return cls(
            max_total_bytes=getattr(storage, "max_total_bytes", default.max_total_bytes) or None,
            max_age_days=getattr(storage, "max_age_days", default.max_age_days) or None,
            min_free_bytes=getattr(storage, "min_free_bytes", default.min_free_bytes) or None,
        )


@dataclass(frozen=True)
class RetentionResult:
    """What one enforcement pass decided."""

    blocked_reason: str | None
    deleted: DeletionCounts = field(default_factory=DeletionCounts)
    stored_bytes: int = 0
    stored_chunks: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # deletions per cap


def free_bytes(path: Path) -> int:
    """Free space on the file system holding ``path`` (for unprivileged users)."""
    return shutil.disk_usage(path).free


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def enforce(
    sessions_dir: Path,
    policy: RetentionPolicy,
    now: float,
    disk_free: Callable[[Path], int] = free_bytes,
) -> RetentionResult:
    """Delete what the caps allow, record it, and say whether capture must be blocked."""
    chunks = sorted(scan(sessions_dir), key=lambda c: (c.sealed_at, c.ref.session, c.ref.seq))
    deleted = DeletionCounts()
    reasons: dict[str, int] = {}

    def remove(victims: list[StoredChunk], reason: str) -> None:
        nonlocal deleted, chunks
        if not victims:
            return
        deleted = deleted + delete_chunks(sessions_dir, victims, f"retention: {reason}", now)
        reasons[reason] = reasons.get(reason, 0) + len(victims)
        gone = {id(v) for v in victims}
        chunks = [c for c in chunks if id(c) not in gone]

    if policy.max_age_days:
        cutoff = now - policy.max_age_days * DAY
        remove([c for c in chunks if c.sealed_at < cutoff], "max_age_days")

    blocked: list[str] = []
    if policy.max_total_bytes:
        total = sum(c.size for c in chunks)
        excess = total - policy.max_total_bytes
        victims = _uploaded_oldest(chunks, excess)
        remove(victims, "max_total_bytes")
        total = sum(c.size for c in chunks)
        if total > policy.max_total_bytes:
            blocked.append(
                f"stored chunks use {_human(total)}, above the "
                f"{_human(policy.max_total_bytes)} cap (storage.max_total_bytes), "
                f"and none of the rest is uploaded yet"
            )

    if policy.min_free_bytes and sessions_dir.exists():
        free = disk_free(sessions_dir)
        shortfall = policy.min_free_bytes - free
        victims = _uploaded_oldest(chunks, shortfall)
        remove(victims, "min_free_bytes")
        free += sum(v.size for v in victims)
        if free < policy.min_free_bytes:
            blocked.append(
                f"only {_human(free)} free on disk, below the "
                f"{_human(policy.min_free_bytes)} floor (storage.min_free_bytes)"
            )

    reason = "; ".join(blocked) if blocked else None
    if reason:
        reason = f"disk cap: {reason}; capture resumes once space returns"
    return RetentionResult(
        blocked_reason=reason,
        deleted=deleted,
        stored_bytes=sum(c.size for c in chunks),
        stored_chunks=len(chunks),
        reasons=reasons,
    )


def _uploaded_oldest(chunks: list[StoredChunk], need: int) -> list[StoredChunk]:
    """Uploaded chunks, oldest first, until ``need`` bytes are covered (or none are left)."""
    victims: list[StoredChunk] = []
    for chunk in chunks:
        if need <= 0:
            break
        if chunk.uploaded:
            victims.append(chunk)
            need -= chunk.size
    return victims

"""Which chunks a reader may show: those `verify` passes, each re-read against its hash.

`export`, `view` (and so the trajectory format) and `org pull` show recorded data. A
chunk built by someone holding only the public recipients decrypts fine; only the
checks in storage/verify.py (pinned signature, device, session, order, chain) tell it
from a real one. So these readers run `verify` first and read only what it counted as
verified, refusing a chunk whose manifest changed between the two reads. ``unverified``
skips that, for someone who knows what they are reading: nothing is then trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyrage

from storage.reader import Chunk, ChunkRef, list_chunks, read_chunk
from storage.verify import Problem, verify


@dataclass
class TrustedChunks:
    """The chunks to show, in order, and one line for each problem that kept any out."""

    refs: list[ChunkRef]
    identities: list[pyrage.x25519.Identity]
    verified: bool
    problems: list[str] = field(default_factory=list)
    _trusted: dict[str, str] = field(default_factory=dict)

    def read(self, ref: ChunkRef) -> Chunk:
        """Decrypt one of ``refs``; a verified one must still hold the manifest verify saw."""
        expect = self._trusted[str(ref.path)] if self.verified else None
        return read_chunk(ref, self.identities, expect)


def problem_line(problem: Problem) -> str:
    """One stderr line for a problem `verify` found."""
    if problem.path is not None and problem.path.endswith(".chunk"):
        return f"skipped a chunk that cannot be trusted [{problem.kind}]: {problem.message}"
    return f"verify found a problem [{problem.kind}]: {problem.message}"


def trusted_chunks(
    sessions_dir: Path,
    identities: list[pyrage.x25519.Identity],
    device_keys: list[str] | None,
    device_id: str | None,
    session: str | None = None,
) -> TrustedChunks:
    """The chunks of ``sessions_dir`` (or one session) that verify; None keys: all, unverified.

    Raises KeyMaterialError when ``device_keys`` is an empty list (nothing to verify with).
    """
    refs = list_chunks(sessions_dir, session)
    if device_keys is None:
        return TrustedChunks(refs, identities, verified=False)
    report = verify(sessions_dir, identities, device_keys, device_id, session)
    return TrustedChunks(
        [r for r in refs if str(r.path) in report.trusted],
        identities,
        verified=True,
        problems=[problem_line(p) for p in report.problems],
        _trusted=dict(report.trusted),
    )

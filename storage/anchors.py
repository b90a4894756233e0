"""Ledger anchors: the consent ledger's head, signed into every chunk's manifest.

The consent ledger (consent/ledger.py) is hash-chained, but whoever can write it can also
edit a line and recompute every hash after it. So each chunk's manifest records the
ledger's head when the chunk was sealed: ``consent_ledger`` = the last entry's ``seq``
and ``hash`` (``seq`` 0 for an empty ledger), under the device's signature. A rewritten
ledger no longer holds those entries, and the chunks (encrypted to the person and the
organisation, signed, and uploaded) say which. Entries appended after a chunk was sealed
are not covered by it, only by later chunks; a purged chunk takes its anchor with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from storage.chunk import check_signature, parse_manifest
from storage.errors import IntegrityError
from storage.reader import ChunkRef, list_chunks, read_chunk, read_meta

ANCHOR_FIELD = "consent_ledger"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class LedgerAnchor:
    """The ledger's head as a chunk recorded it: entry ``seq`` had hash ``hash``."""

    seq: int
    hash: str


def anchor_field(head: tuple[int, str] | None) -> dict[str, Any] | None:
    """The manifest value for a ledger head (None: the ledger could not be read)."""
    if head is None:
        return None
    return {"seq": head[0], "hash": head[1]}


def anchor_of(manifest: Mapping[str, Any]) -> LedgerAnchor | None:
    """The ledger anchor a manifest carries, or None (older chunk, or no ledger then)."""
    value = manifest.get(ANCHOR_FIELD)
    if not isinstance(value, dict):
        return None
    seq, digest = value.get("seq"), value.get("hash")
    if type(seq) is not int or seq < 0 or not isinstance(digest, str):
        return None
    if len(digest) != 64 or not set(digest) <= _HEX:
        return None
    return LedgerAnchor(seq, digest)


def anchor_problem(anchor: LedgerAnchor, ledger: Mapping[int, str]) -> str | None:
    """Why the ledger (entry seq -> hash) contradicts ``anchor``; None when it agrees."""
    if anchor.seq == 0:
        return None  # the ledger was empty: anything since is an append
    if anchor.seq not in ledger:
        last = max(ledger, default=0)
        if anchor.seq > last:
            return (
                f"the consent ledger ends at entry {last}, but it held {anchor.seq} "
                "entries when this chunk was sealed (entries were removed or the "
                "ledger replaced)"
            )
        return (
            f"the consent ledger has no entry {anchor.seq}, which this chunk recorded "
            "when it was sealed (the ledger was rewritten)"
        )
    if ledger[anchor.seq] != anchor.hash:
        return (
            f"consent ledger entry {anchor.seq} differs from the one this chunk recorded "
            "when it was sealed (the ledger was rewritten, its hashes recomputed)"
        )
    return None


@dataclass(frozen=True)
class AnchoredChunk:
    """A chunk whose signed manifest carries a ledger anchor."""

    ref: ChunkRef
    anchor: LedgerAnchor

    @property
    def label(self) -> str:
        """How a person names the chunk: ``<session>/<seq>``."""
        return f"{self.ref.session}/{self.ref.seq:06d}"


def _signed_manifest(
    data: bytes, ref: ChunkRef, pinned: Mapping[str, Ed25519PublicKey]
) -> dict[str, Any]:
    manifest = parse_manifest(data)
    if manifest["session"] != ref.session or manifest["seq"] != ref.seq:
        raise IntegrityError(f"{ref.path}: the manifest is not this chunk's")
    named = manifest.get("signing_key")
    key = pinned.get(named) if isinstance(named, str) else None
    if key is None:
        raise IntegrityError(f"{ref.path}: not signed by this device's pinned key")
    check_signature(manifest, key)
    return manifest


def collect_anchors(
    sessions_dir: Path,
    identities: list[pyrage.x25519.Identity],
    pinned: Mapping[str, Ed25519PublicKey],
) -> tuple[list[AnchoredChunk], list[str]]:
    """Every stored chunk's ledger anchor, trusted only under a pinned device signature.

    The small metadata record is read first; the whole chunk when the record is missing
    or does not verify (so deleting records does not hide anchors). Chunks that cannot be
    read at all are returned as notes: `verify` is the command that reports them.
    """
    found: list[AnchoredChunk] = []
    notes: list[str] = []
    for ref in list_chunks(sessions_dir):
        try:
            manifest = _signed_manifest(read_meta(ref, identities), ref, pinned)
        except IntegrityError:
            try:
                manifest = _signed_manifest(read_chunk(ref, identities).manifest_bytes, ref, pinned)
            except IntegrityError as exc:
                notes.append(f"{ref.session}/{ref.seq:06d}: its anchor was not checked ({exc})")
                continue
        anchor = anchor_of(manifest)
        if anchor is not None:
            found.append(AnchoredChunk(ref, anchor))
    return found, notes

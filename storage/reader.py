"""Reading chunks back: listing from metadata records, full decryption for export."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from storage.chunk import (
    CHUNK_SUFFIX,
    EVENTS,
    MAX_CHUNK_BYTES,
    MAX_META_BYTES,
    META_SUFFIX,
    OpenedZip,
    manifest_hash,
    parse_manifest,
)
from storage.errors import DecryptionError, FormatError, IntegrityError

AGE_MAGIC = b"age-encryption.org/v1\n"


@dataclass(frozen=True)
class ChunkRef:
    """A chunk file on disk, located by session and sequence number."""

    path: Path
    session: str
    seq: int

    @property
    def meta_path(self) -> Path:
        """The small encrypted metadata record next to the chunk."""
        return self.path.with_suffix(META_SUFFIX)

    @property
    def size(self) -> int:
        """The chunk's size in bytes (ciphertext)."""
        return self.path.stat().st_size


@dataclass(frozen=True)
class Chunk:
    """A decrypted, hash-checked chunk."""

    manifest: dict[str, Any]
    manifest_bytes: bytes
    members: dict[str, bytes]

    def events(self) -> Iterator[dict[str, Any]]:
        """The chunk's event records, in order."""
        for number, line in enumerate(self.members.get(EVENTS, b"").splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                raise FormatError(f"events.jsonl line {number} is not valid JSON") from None
            if not isinstance(record, dict) or "type" not in record or "ts" not in record:
                raise FormatError(f"events.jsonl line {number} is not an event record")
            yield record


def _number(value: object) -> float:
    """A ts or seq as a float; a value of the wrong type sorts last (never an exception)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.inf


# The X server delivers input in order, stamped in its milliseconds; mapped onto this
# machine's clock (capture/input/server_time.py), two events of one millisecond can come
# out microseconds apart the wrong way round (a click's press and release sent at once).
INPUT_TYPES = frozenset({"mouse_move", "mouse_button", "scroll", "key"})


def in_time_order(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One session's records, given in storage order, sorted by ``ts`` (stable, ``seq``
    breaking ties); input events keep their order among themselves.

    Events are stored in arrival order, which is not time order: a frame is stamped when
    its grab began but queued after the keys that arrived while it was being encoded, and
    input read in batches arrives after the window change it preceded. Input events are
    sorted by the latest ``ts`` of the input stored up to them, so a press is never put
    after its release by microseconds of clock mapping. Every reader hands a session out
    in time order through this function (docs/EVENTS.md, "Order").
    """
    keyed: list[tuple[float, float, int, dict[str, Any]]] = []
    latest_input = -math.inf
    for index, record in enumerate(records):
        ts = _number(record.get("ts"))
        if record.get("type") in INPUT_TYPES and ts != math.inf:
            ts = latest_input = max(latest_input, ts)
        keyed.append((ts, _number(record.get("seq")), index, record))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def list_chunks(sessions_dir: Path, session: str | None = None) -> list[ChunkRef]:
    """Every sealed chunk, ordered by session then sequence (temporary files ignored)."""
    if not sessions_dir.is_dir():
        return []
    refs: list[ChunkRef] = []
    folders = [sessions_dir / session] if session else sorted(sessions_dir.iterdir())
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.glob(f"*{CHUNK_SUFFIX}"):
            if path.name.startswith("."):
                continue
            try:
                seq = int(path.stem)
            except ValueError:
                continue
            refs.append(ChunkRef(path=path, session=folder.name, seq=seq))
    refs.sort(key=lambda r: (r.session, r.seq))
    return refs


def decrypt_bytes(data: bytes, identities: list[pyrage.x25519.Identity], what: str) -> bytes:
    """age-decrypt ``data``, turning every failure into an IntegrityError naming ``what``.

    Every identity is tried (the person's current and retired ones, or the organisation's):
    age authenticates each 64 KiB payload chunk, so any flipped or missing byte fails here.
    """
    if not data.startswith(AGE_MAGIC):
        raise FormatError(f"{what}: not an age-encrypted file (bad header)")
    if not identities:
        raise DecryptionError(f"{what}: no identity to decrypt with")
    try:
        return bytes(pyrage.decrypt(data, identities))
    except Exception:
        raise DecryptionError(
            f"{what}: cannot be decrypted with the given identity "
            f"(wrong key, or the file is corrupt or truncated)"
        ) from None


def read_file_bounded(path: Path, limit: int) -> bytes:
    """Read ``path`` after checking its size against ``limit`` (sizes before trust)."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise FormatError(f"{path}: {size} bytes, above the {limit}-byte limit for its kind")
        return path.read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read: {exc.strerror or exc}") from None


class OpenChunk:
    """A decrypted chunk: directory checked, manifest parsed, members not inflated yet.

    Check the manifest (signature, or that it is the one `verify` passed) before
    ``members``: the sizes that bound inflation are then signed ones.
    """

    def __init__(self, opened: OpenedZip, what: str) -> None:
        self._opened = opened
        self.what = what
        self.manifest: dict[str, Any] = opened.manifest
        self.manifest_bytes = opened.manifest_bytes
        self.plaintext = opened.plaintext

    def members(self, keep: bool = True) -> dict[str, bytes]:
        """Inflate and hash-check every member (``keep`` False: check only, keep nothing)."""
        with _named(self.what):
            return self._opened.read_members(keep)

    def chunk(self) -> Chunk:
        """The whole chunk, members inflated."""
        return Chunk(self.manifest, self.manifest_bytes, self.members())


class _named:
    """Prefix an IntegrityError's message with the file it is about."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, IntegrityError):
            raise type(exc)(f"{self.what}: {exc}") from None


def open_chunk_data(data: bytes, identities: list[pyrage.x25519.Identity], what: str) -> OpenChunk:
    """Decrypt chunk file bytes and read its manifest; every failure names ``what``."""
    if len(data) > MAX_CHUNK_BYTES:
        raise FormatError(f"{what}: {len(data)} bytes, above the chunk size limit")
    plaintext = decrypt_bytes(data, identities, what)
    with _named(what):
        return OpenChunk(OpenedZip(plaintext), what)


def open_chunk(ref: ChunkRef, identities: list[pyrage.x25519.Identity]) -> OpenChunk:
    """Decrypt a chunk file (its size checked first) and read its manifest."""
    data = read_file_bounded(ref.path, MAX_CHUNK_BYTES)
    return open_chunk_data(data, identities, str(ref.path))


def open_chunk_bytes(data: bytes, identities: list[pyrage.x25519.Identity], what: str) -> Chunk:
    """Decrypt and open chunk file bytes, checking no signature (bounds and hashes hold)."""
    return open_chunk_data(data, identities, what).chunk()


def read_chunk(
    ref: ChunkRef, identities: list[pyrage.x25519.Identity], expect: str | None = None
) -> Chunk:
    """Decrypt and open a chunk, checking format, version, sizes and member hashes.

    ``expect`` is the manifest hash `verify` passed (Report.trusted): a chunk whose
    manifest differs (replaced since) is refused before any member is inflated.
    Without it no signature is checked: callers that show data pass it.
    """
    opened = open_chunk(ref, identities)
    if expect is not None and manifest_hash(opened.manifest_bytes) != expect:
        raise IntegrityError(f"{ref.path}: changed since it was verified; run `verify` again")
    return opened.chunk()


def read_meta(ref: ChunkRef, identities: list[pyrage.x25519.Identity]) -> bytes:
    """The decrypted bytes of a chunk's metadata record (its manifest, byte for byte)."""
    data = read_file_bounded(ref.meta_path, MAX_META_BYTES)
    return decrypt_bytes(data, identities, str(ref.meta_path))


def read_manifest(ref: ChunkRef, identities: list[pyrage.x25519.Identity]) -> dict[str, Any]:
    """A chunk's manifest, from its small metadata record when present (fast listing).

    Falls back to decrypting the whole chunk when the record is missing or unreadable.
    """
    try:
        manifest = parse_manifest(read_meta(ref, identities))
        if manifest["session"] == ref.session and manifest["seq"] == ref.seq:
            return manifest
    except (OSError, IntegrityError):
        pass
    return open_chunk(ref, identities).manifest  # members need not be inflated

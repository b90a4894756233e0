"""The chunk writer: gathers events in memory and seals them into encrypted chunk files.

Plaintext lives only in this object's memory. ``seal`` builds the zip, encrypts it to
every recipient with age, and writes it atomically; a crash loses at most the open chunk.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Event, Frame, field_names
from storage.atomic import write_atomic
from storage.chunk import (
    CHUNK_SUFFIX,
    EVENTS,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAMES_DIR,
    META_SUFFIX,
    build_zip,
    canonical_json,
    manifest_hash,
    member_digest,
    session_anchor,
    sign_manifest,
)
from storage.errors import KeyMaterialError, StorageError
from storage.keys import public_key_text

log = logging.getLogger(__name__)

_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(n for n in field_names(cls) if n not in ("image", "mono"))
        _FIELDS[cls] = names
    return names


@dataclass(frozen=True)
class SealedChunk:
    """What was written: for status, listing and logs (numbers and paths only)."""

    path: Path
    session: str
    seq: int
    events: int
    frames: int
    size: int
    start_ts: float
    end_ts: float


class ChunkWriter:
    """Accumulates one session's events and seals them into numbered chunks."""

    def __init__(
        self,
        sessions_dir: Path,
        device: str,
        session: str,
        recipients: list[str],
        signing_key: Ed25519PrivateKey,
        max_seconds: float = 30.0,
        max_bytes: int = 16_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self._recipients = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        except Exception:
            raise KeyMaterialError("a configured recipient is not an age X25519 key") from None
        self.session_dir = sessions_dir / session
        self.device = device
        self.session = session
        self._key = signing_key
        self._signing_public = public_key_text(signing_key.public_key())
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._clock = clock
        self._prev = session_anchor(device, session)
        self.next_seq = 0
        self.sealed_chunks = 0
        self.stored_events = 0
        self.bytes_written = 0
        self._reset()

    def _reset(self) -> None:
        self._lines: list[str] = []
        self._frames: list[tuple[str, bytes]] = []
        self._counts: dict[str, int] = {}
        self._size = 0
        self._start_ts: float | None = None
        self._end_ts = 0.0
        self._max_sensitivity = 0
        self._opened = self._clock()

    @property
    def pending_events(self) -> int:
        """Events held in the open (unsealed) chunk."""
        return len(self._lines)

    @property
    def pending_bytes(self) -> int:
        """Plaintext bytes held in memory for the open chunk."""
        return self._size

    def add(self, seq: int, event: Event) -> None:
        """Append one event (already through consent and privacy) to the open chunk."""
        record: dict[str, Any] = {"seq": seq, "type": event.type}
        for name in _fields(type(event)):
            record[name] = getattr(event, name)
        if isinstance(event, Frame):
            name = f"{FRAMES_DIR}{seq:09d}.webp"
            record["file"] = name
            self._frames.append((name, event.image))
            self._size += len(event.image)
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        self._lines.append(line)
        self._size += len(line) + 1
        kind = event.type
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if self._start_ts is None:
            self._start_ts = event.ts
        if event.ts > self._end_ts:
            self._end_ts = event.ts
        if event.sensitivity > self._max_sensitivity:
            self._max_sensitivity = event.sensitivity

    def due(self) -> bool:
        """True when the open chunk should be sealed (age or size reached)."""
        if not self._lines:
            return False
        return self._size >= self.max_bytes or self._clock() - self._opened >= self.max_seconds

    def seal(self, removed: dict[str, dict[str, int]] | None = None,
             dropped: dict[str, int] | None = None) -> SealedChunk | None:
        """Encrypt and durably write the open chunk; None when it is empty."""
        if not self._lines:
            self._opened = self._clock()
            return None
        events_bytes = ("\n".join(self._lines) + "\n").encode("utf-8")
        members = [(EVENTS, events_bytes), *self._frames]
        seq = self.next_seq
        manifest: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "device": self.device,
            "session": self.session,
            "seq": seq,
            "start_ts": self._start_ts,
            "end_ts": self._end_ts,
            "events": len(self._lines),
            "frames": len(self._frames),
            "counts": dict(self._counts),
            "max_sensitivity": self._max_sensitivity,
            "removed": removed or {},
            "dropped": dropped or {},
            "members": {name: member_digest(data) for name, data in members},
            "prev_manifest_sha256": self._prev,
            "signing_key": self._signing_public,
            "sealed_ts": time.time(),
        }
        manifest = sign_manifest(manifest, self._key)
        manifest_bytes = canonical_json(manifest)
        plaintext = build_zip(manifest_bytes, members)
        try:
            ciphertext = pyrage.encrypt(plaintext, self._recipients)
            meta = pyrage.encrypt(manifest_bytes, self._recipients)
        except Exception as exc:
            raise StorageError(f"encryption failed ({type(exc).__name__})") from None
        self.session_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.session_dir / f"{seq:06d}{CHUNK_SUFFIX}"
        write_atomic(path, ciphertext)
        # The metadata copy comes second: a chunk without one is still complete and
        # readers fall back to it; a metadata file without its chunk is never written.
        write_atomic(self.session_dir / f"{seq:06d}{META_SUFFIX}", meta)
        sealed = SealedChunk(path=path, session=self.session, seq=seq,
                             events=len(self._lines), frames=len(self._frames),
                             size=len(ciphertext), start_ts=float(self._start_ts or 0.0),
                             end_ts=self._end_ts)
        self._prev = manifest_hash(manifest_bytes)
        self.next_seq += 1
        self.sealed_chunks += 1
        self.stored_events += sealed.events
        self.bytes_written += len(ciphertext) + len(meta)
        log.info("sealed chunk %s/%06d: %d events, %d frames, %d bytes",
                 self.session, seq, sealed.events, sealed.frames, sealed.size)
        self._reset()
        return sealed

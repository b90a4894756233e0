"""The record of what left this laptop: one line per chunk the store confirmed.

The person reads it with `capture-agent ls --uploaded`: which chunk (session and
sequence number), the time it covers, its size, when it was sent and where (the
transport and the object key). It holds those facts only, never captured content, so
it is plain JSON Lines (0600, ``<data>/uploaded.jsonl``), appended through
``safe_fs`` (a link planted at its name is refused, never written through) and never
rewritten: the uploader deletes its local chunks after the upload, this record stays.

The time covered is known without decrypting (the uploader holds no key that could):
a chunk file is written once, when it is sealed, so its mtime is the end of what it
holds; its start is the end of the chunk before it in the session, or the session's
start (its id begins with the UTC start time) for the first one. Where neither is
known any more, ``from_ts`` is null and the record says so rather than guess.

Anything in the home may have been written by someone else: reading is bounded, and a
malformed line is reported and skipped, never trusted.
"""

from __future__ import annotations

import calendar
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storage import safe_fs
from storage.atomic import append_durably
from storage.errors import StorageError

UPLOAD_RECORD = "uploaded.jsonl"
MAX_RECORD_BYTES = 256 << 20  # ~1 year of 30-second chunks; more is not ours


@dataclass(frozen=True)
class UploadedChunk:
    """One chunk the store confirmed: identifiers, times, size and destination only."""

    session: str
    seq: int
    from_ts: float | None  # start of what it holds (None: not known any more)
    to_ts: float  # when it was sealed: the end of what it holds
    bytes: int  # chunk plus metadata record, as sent
    uploaded_ts: float
    destination: str  # the transport (no credentials)
    key: str  # the object key in the store
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`ls --uploaded --json` and the record's line)."""
        return asdict(self)


def record_path(data_dir: Path) -> Path:
    """Where the record lives: the data folder, beside the deletion record."""
    return data_dir / UPLOAD_RECORD


def session_start(session: str) -> float | None:
    """The start a session id encodes (``20261207T091500Z-...``), None if it has none."""
    try:
        return float(calendar.timegm(time.strptime(session[:16], "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def append(data_dir: Path, entry: UploadedChunk) -> None:
    """Append one line durably (created 0600, never through a link); StorageError on failure."""
    path = record_path(data_dir)
    line = (json.dumps(entry.to_dict(), sort_keys=True, separators=(",", ":")) + "\n").encode()
    try:
        append_durably(path, line)
    except OSError as exc:
        raise StorageError(f"{path}: cannot record the upload: {exc.strerror or exc}") from None


def _entry(raw: object) -> UploadedChunk:
    """A decoded line as an entry; ValueError when a field is missing or of a wrong type."""
    if not isinstance(raw, dict):
        raise ValueError("not an object")

    def optional_number(name: str) -> float | None:
        value = raw.get(name)
        return None if value is None else number(name)

    def number(name: str) -> float:
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(name)
        return float(value)

    def text(name: str) -> str:
        value = raw.get(name)
        if not isinstance(value, str) or len(value) > 1000:
            raise ValueError(name)
        return value

    seq, size = raw.get("seq"), raw.get("bytes")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError("seq")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("bytes")
    return UploadedChunk(
        session=text("session"),
        seq=seq,
        from_ts=optional_number("from_ts"),
        to_ts=number("to_ts"),
        bytes=size,
        uploaded_ts=number("uploaded_ts"),
        destination=text("destination"),
        key=text("key"),
        sha256=text("sha256"),
    )


def read(data_dir: Path) -> tuple[list[UploadedChunk], list[str]]:
    """Every entry in session and sequence order (a chunk recorded twice after a crash
    counts once), and a line per malformed or unreadable part."""
    path = record_path(data_dir)
    try:
        fd = safe_fs.open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"{path}: cannot read: {exc.strerror or exc}"]
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_RECORD_BYTES + 1)
    problems: list[str] = []
    if len(data) > MAX_RECORD_BYTES:
        problems.append(f"{path}: larger than {MAX_RECORD_BYTES} bytes; only the start is read")
        data = data[:MAX_RECORD_BYTES]
    entries: dict[tuple[str, int, str], UploadedChunk] = {}
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = _entry(json.loads(line))
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError too
            problems.append(f"{path}:{number}: malformed line ({exc}); skipped")
            continue
        entries.setdefault((entry.session, entry.seq, entry.sha256), entry)
    return sorted(entries.values(), key=lambda e: (e.session, e.seq, e.uploaded_ts)), problems


def last_end(entries: list[UploadedChunk]) -> dict[tuple[str, int], float]:
    """(session, seq) -> the end of that uploaded chunk: the start of the next one."""
    return {(e.session, e.seq): e.to_ts for e in entries}

"""The uploader: sealed chunks to a transport, after the hold-back window, exactly once.

What it promises, and how:

* **Only sealed chunks, only after the hold-back window.** A ``<seq>.chunk`` file exists
  only once sealed (written under a temporary name, then renamed). Its mtime is its
  sealing time; it is due once ``hold_back`` seconds have passed, so `forget --last`
  can still delete it before then.
* **Idempotent keys.** ``[prefix/]<org>/<device>/<session>/<seq>.chunk`` (and ``.meta``):
  uploading twice writes the same object twice, never a second object.
* **Confirmed before deleted.** The local copy goes only when the store's answer to the
  PUT carries the SHA-256 of the local bytes. Then, in this order: an upload marker
  ``<seq>.uploaded`` (0600 JSON, written atomically: key, sha256, time), one line in the
  deletion record (storage/deletion.py, reason "uploaded"), the files.
* **A crash loses nothing and duplicates nothing.** The journal ``<data>/uploads.jsonl``
  (append-only, 0600, identifiers and hashes only) records each step. After a crash: a
  chunk without a confirmation is uploaded again under the same key; a confirmed one
  with the same hash is not sent again but marked; a marked one is deleted.
* **Failures.** Transient ones are retried with exponential backoff and full jitter;
  permanent ones (access denied...) wait for the next pass. Offline for days loses
  nothing: chunks wait on disk, under the retention caps, which block capture visibly.
* **Resources.** At most ``concurrency`` uploads at once; an optional bandwidth limit
  (average bytes per second, all uploads together).

One pass at a time per data folder: the daemon's thread, `upload`, and `forget` share a
lock file, so a chunk is never uploaded and forgotten at the same moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage import safe_fs, upload_record
from storage.atomic import write_atomic
from storage.chunk import MAX_CHUNK_BYTES, MAX_META_BYTES
from storage.deletion import (
    DELETIONS_LOG,
    StoredChunk,
    delete_chunks,
    deletions_log,
    mark_uploaded,
    uploaded_marker,
)
from storage.errors import StorageError
from storage.reader import ChunkRef, list_chunks, read_file_bounded
from storage.upload import PermanentUploadError, Transport, UploadError

log = logging.getLogger(__name__)

JOURNAL = "uploads.jsonl"
LOCK = "upload.lock"
UPLOADED_REASON = "uploaded"
# A chunk whose metadata record is missing may be between its two writes: wait this long
# before uploading it alone (the record is optional: the chunk holds the same manifest).
META_GRACE = 30.0
JOURNAL_COMPACT_BYTES = 1 << 20


@dataclass(frozen=True)
class UploadSettings:
    """How the uploader behaves (from config ``[upload]``, plus the device id)."""

    org: str
    device: str
    prefix: str = ""
    hold_back: float = 600.0
    concurrency: int = 2
    bandwidth_bytes_per_s: int = 0
    interval: float = 60.0
    attempts: int = 5  # per chunk per pass; the next pass starts again
    base_delay: float = 1.0
    max_delay: float = 60.0

    @classmethod
    def from_config(cls, upload: Any, device: str) -> UploadSettings:
        """Read an ``UploadConfig``."""
        return cls(
            org=upload.org,
            device=device,
            prefix=upload.prefix or "",
            hold_back=upload.hold_back_minutes * 60.0,
            concurrency=upload.concurrency,
            bandwidth_bytes_per_s=upload.bandwidth_limit_kbps * 1000,
            interval=upload.interval_seconds,
        )

    def key_for(self, path: Path, session: str) -> str:
        """The object key of a chunk or metadata file (the file's own name is kept)."""
        parts = [p for p in self.prefix.strip("/").split("/") if p]
        return "/".join([*parts, self.org, self.device, session, path.name])

    def device_prefix(self) -> str:
        """Every object of this device lives under this key prefix."""
        parts = [p for p in self.prefix.strip("/").split("/") if p]
        return "/".join([*parts, self.org, self.device]) + "/"


@dataclass
class PassResult:
    """What one pass did (counts and identifiers only)."""

    uploaded: int = 0
    bytes: int = 0
    failed: int = 0
    held_back: int = 0
    pending: int = 0  # due but not attempted (stopped, paused)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `upload --json` and `status`."""
        return {
            "uploaded": self.uploaded,
            "bytes": self.bytes,
            "failed": self.failed,
            "held_back": self.held_back,
            "pending": self.pending,
            "errors": self.errors,
        }


class RateLimiter:
    """A shared token bucket: ``take(n)`` waits until ``n`` bytes fit the average rate."""

    def __init__(self, bytes_per_s: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = bytes_per_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = clock()

    def delay_for(self, n: int) -> float:
        """Reserve ``n`` bytes of budget; return how long the caller must wait first."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + n / self.rate
            return start - now


def backoff_delay(
    attempt: int, base: float, cap: float, rand: Callable[[float, float], float] = random.uniform
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand(0.0, min(cap, base * (2**attempt)))


class Journal:
    """The append-only upload journal (0600 JSON Lines; keys and hashes, never content)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Append one record durably."""
        line = (
            json.dumps(
                {"ts": round(time.time(), 3), **record}, sort_keys=True, separators=(",", ":")
            )
            + "\n"
        ).encode()
        with self._lock:
            fd = safe_fs.open_file(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record (a line torn by a crash is skipped)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    yield record

    def confirmed(self) -> dict[str, str]:
        """Object key -> SHA-256 the store confirmed (the latest confirmation wins)."""
        return {
            str(r["key"]): str(r["sha256"])
            for r in self.records()
            if r.get("event") == "confirmed" and "key" in r and "sha256" in r
        }

    def compact(self, keep_keys: set[str]) -> None:
        """Rewrite the journal keeping only records about ``keep_keys`` (when it is big)."""
        with self._lock:
            try:
                if self.path.stat().st_size < JOURNAL_COMPACT_BYTES:
                    return
            except FileNotFoundError:
                return
            kept = [r for r in self.records() if r.get("key") in keep_keys]
            data = "".join(
                json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in kept
            ).encode()
            write_atomic(self.path, data)


@contextlib.contextmanager
def upload_lock(data_dir: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the data folder's upload lock; yields False when ``wait`` is off and it is busy."""
    fd = safe_fs.open_file(data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class _Due:
    ref: ChunkRef
    size: int
    sealed_at: float


ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


class Uploader:
    """Uploads due chunks of one data folder through one transport; runs as a thread too."""

    def __init__(
        self,
        sessions_dir: Path,
        transport: Transport,
        settings: UploadSettings,
        *,
        paused: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions_dir = sessions_dir
        self.data_dir = sessions_dir.parent
        self.transport = transport
        self.settings = settings
        self.paused = paused
        self.clock = clock
        self.journal = Journal(self.data_dir / JOURNAL)
        self.limiter = RateLimiter(settings.bandwidth_bytes_per_s)
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._deletions_sent: str | None = None
        self.last: PassResult | None = None
        self.last_pass_ts: float | None = None
        self.last_error: str | None = None
        self.next_pass_ts: float | None = None  # set by the thread, for `status`
        # Per session, the last chunk in the upload record (sequence, end): where the
        # next one starts. Read from the record once, not at every pass.
        self._last_sent: dict[str, tuple[int, float]] | None = None
        self._record_lock = threading.Lock()
        self.total_uploaded = 0

    # -- the thread ------------------------------------------------------------------

    def start(self) -> None:
        """Run passes every ``interval`` seconds on a background thread."""
        self.stop_event.clear()
        self._thread = threading.Thread(target=self._loop, name="uploader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the uploads in flight (a PUT is never cut in the middle on purpose)."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            if not self.paused():
                try:
                    with upload_lock(self.data_dir, wait=False) as got:
                        if got:
                            self._pass(self.clock(), waive_hold_back=False, progress=None)
                except (OSError, StorageError) as exc:
                    self.last_error = str(exc)
                    log.error("upload pass failed: %s", exc)
            self.next_pass_ts = self.clock() + self.settings.interval
            self.stop_event.wait(self.settings.interval)

    # -- one pass --------------------------------------------------------------------

    def run_once(
        self, *, waive_hold_back: bool = False, progress: ProgressFn | None = None
    ) -> PassResult:
        """One pass now, waiting for the lock (``upload``; ``--now`` waives the hold-back)."""
        with upload_lock(self.data_dir):
            return self._pass(self.clock(), waive_hold_back=waive_hold_back, progress=progress)

    def due(self, now: float, waive_hold_back: bool = False) -> tuple[list[_Due], int]:
        """(chunks due for upload, oldest first; how many are still held back)."""
        due: list[_Due] = []
        held = 0
        for ref in list_chunks(self.sessions_dir):
            try:
                st = ref.path.stat()
            except OSError:
                continue
            young = now - st.st_mtime < self.settings.hold_back
            if young and not waive_hold_back:
                held += 1
                continue
            if (
                not ref.meta_path.exists()
                and now - st.st_mtime < META_GRACE
                and not uploaded_marker(ref).exists()
            ):
                held += 1
                continue
            due.append(_Due(ref, st.st_size, st.st_mtime))
        due.sort(key=lambda d: (d.sealed_at, d.ref.session, d.ref.seq))
        return due, held

    def _pass(
        self, now: float, *, waive_hold_back: bool, progress: ProgressFn | None
    ) -> PassResult:
        result = PassResult()
        due, result.held_back = self.due(now, waive_hold_back)
        confirmed = self.journal.confirmed()
        total = sum(d.size for d in due)
        done_bytes = 0
        lock = threading.Lock()
        finished: list[StoredChunk] = []
        starts = self._starts(due)

        def one(item: _Due) -> None:
            nonlocal done_bytes
            if self.stop_event.is_set() or self.paused():
                with lock:
                    result.pending += 1
                return
            try:
                sent = self._upload_chunk(item, confirmed, starts.get(item.ref))
            except UploadError as exc:
                with lock:
                    result.failed += 1
                    if str(exc) not in result.errors:
                        result.errors.append(str(exc))
                return
            with lock:
                result.uploaded += 1
                result.bytes += sent
                done_bytes += item.size
                finished.append(
                    StoredChunk(
                        ref=item.ref, size=item.size, sealed_at=item.sealed_at, uploaded=True
                    )
                )
                if progress is not None:
                    progress(done_bytes, total)

        if progress is not None:
            progress(0, total)
        if due:
            with ThreadPoolExecutor(
                max_workers=self.settings.concurrency, thread_name_prefix="upload"
            ) as pool:
                list(pool.map(one, due))
        if finished:
            # One deletion record for the pass: the chunks are safe in the store.
            delete_chunks(self.sessions_dir, finished, UPLOADED_REASON, self.clock())
            for item in finished:
                self.journal.append({"event": "deleted", "key": self._key(item.ref)})
        try:
            self._send_deletion_record()
        except UploadError as exc:
            result.errors.append(str(exc))
        self.journal.compact({self._key(r) for r in list_chunks(self.sessions_dir)})
        self.total_uploaded += result.uploaded
        self.last, self.last_pass_ts = result, self.clock()
        self.last_error = result.errors[-1] if result.errors else None
        if result.uploaded or result.failed:
            log.info(
                "upload pass: %d chunk(s) uploaded (%d bytes), %d failed, %d held back",
                result.uploaded,
                result.bytes,
                result.failed,
                result.held_back,
            )
        for message in result.errors:
            log.warning("upload: %s", message)
        return result

    def _key(self, ref: ChunkRef) -> str:
        return self.settings.key_for(ref.path, ref.session)

    def _starts(self, due: list[_Due]) -> dict[ChunkRef, float | None]:
        """Where each due chunk's recording starts (storage/upload_record.py says how):
        the end of the chunk before it, due now or sent before, else the session's start."""
        ends = {(d.ref.session, d.ref.seq): d.sealed_at for d in due}
        if self._last_sent is None:  # read once per uploader, then kept up to date
            entries, _ = upload_record.read(self.data_dir)
            self._last_sent = {}
            for entry in entries:  # in session and sequence order: the last one wins
                self._last_sent[entry.session] = (entry.seq, entry.to_ts)
        for session, (seq, to_ts) in self._last_sent.items():
            ends.setdefault((session, seq), to_ts)
        return {
            d.ref: ends.get((d.ref.session, d.ref.seq - 1))
            if d.ref.seq > 0
            else upload_record.session_start(d.ref.session)
            for d in due
        }

    def _upload_chunk(
        self, item: _Due, confirmed: dict[str, str], from_ts: float | None = None
    ) -> int:
        """Upload (or finish) one chunk; return bytes sent. The local files stay.

        Once the store confirmed it, one line goes to the upload record the person reads
        (storage/upload_record.py), before the marker: a crash in between records it
        twice (read once), never not at all.
        """
        ref = item.ref
        key = self._key(ref)
        marker = uploaded_marker(ref)
        if marker.exists():
            return 0  # confirmed before a crash: only the deletion is left
        data = read_file_bounded(ref.path, MAX_CHUNK_BYTES)
        sha = hashlib.sha256(data).hexdigest()
        sent = 0
        if confirmed.get(key) != sha:
            self.journal.append({"event": "begin", "key": key, "sha256": sha, "size": len(data)})
            self._put_confirmed(key, data, sha)
            sent += len(data)
        meta_sha = None
        meta_size = 0
        if ref.meta_path.exists():
            meta_key = self._key(ChunkRef(ref.meta_path, ref.session, ref.seq))
            meta = read_file_bounded(ref.meta_path, MAX_META_BYTES)
            meta_size = len(meta)
            meta_sha = hashlib.sha256(meta).hexdigest()
            if confirmed.get(meta_key) != meta_sha:
                self._put_confirmed(meta_key, meta, meta_sha)
                sent += len(meta)
        now = self.clock()
        upload_record.append(
            self.data_dir,
            upload_record.UploadedChunk(
                session=ref.session,
                seq=ref.seq,
                from_ts=None if from_ts is None else round(from_ts, 3),
                to_ts=round(item.sealed_at, 3),
                bytes=len(data) + meta_size,
                uploaded_ts=round(now, 3),
                destination=repr(self.transport),
                key=key,
                sha256=sha,
            ),
        )
        if self._last_sent is not None:
            with self._record_lock:
                if ref.seq >= self._last_sent.get(ref.session, (-1, 0.0))[0]:
                    self._last_sent[ref.session] = (ref.seq, item.sealed_at)
        mark_uploaded(ref, key, sha, meta_sha, now)
        return sent

    def _put_confirmed(self, key: str, data: bytes, sha: str) -> None:
        """PUT with retries; return once the store confirmed ``sha`` (else raise)."""
        attempt = 0
        while True:
            wait = self.limiter.delay_for(len(data))
            if wait > 0 and self.stop_event.wait(wait):
                raise UploadError(f"{key}: stopped before the upload")
            try:
                result = self.transport.put(key, data, sha)
                if result.sha256 != sha:
                    raise PermanentUploadError(
                        f"{key}: the store did not confirm the upload's SHA-256 "
                        "(the local copy is kept)"
                    )
                self.journal.append({"event": "confirmed", "key": key, "sha256": sha})
                return
            except PermanentUploadError:
                raise
            except UploadError:
                attempt += 1
                if attempt >= self.settings.attempts:
                    raise
                delay = backoff_delay(
                    attempt - 1, self.settings.base_delay, self.settings.max_delay
                )
                if self.stop_event.wait(delay):
                    raise

    def _send_deletion_record(self) -> None:
        """Upload the deletions the organisation must know about (forget, retention, purge).

        A chunk deleted here before it was uploaded leaves a gap in the session's chain;
        with this record `org verify` tells a deliberate deletion from a lost or removed
        object. Lines about chunks deleted *because* they were uploaded are left out: for
        those the store must hold the object, and a missing one must be reported.
        """
        path = deletions_log(self.sessions_dir)
        try:
            lines = path.read_bytes().splitlines(keepends=True)
        except FileNotFoundError:
            return
        kept = b"".join(line for line in lines if _reason(line) != UPLOADED_REASON)
        if not kept:
            return
        sha = hashlib.sha256(kept).hexdigest()
        if sha == self._deletions_sent:
            return
        self._put_confirmed(self.settings.device_prefix() + DELETIONS_LOG, kept, sha)
        self._deletions_sent = sha

    # -- status ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counters for `status` (numbers and messages, never content or credentials)."""
        return {
            "transport": repr(self.transport),
            "paused": self.paused(),
            "uploaded_total": self.total_uploaded,
            "last_pass_ts": self.last_pass_ts,
            "last_pass": self.last.to_dict() if self.last else None,
            "last_error": self.last_error,
            "next_pass_ts": self.next_pass_ts,
        }


def _reason(line: bytes) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("reason") if isinstance(record, dict) else None


def build_transport(upload: Any) -> Transport:
    """The transport an ``UploadConfig`` names (``folder`` or ``s3``)."""
    from storage.upload import FolderTransport, S3Transport

    if upload.transport == "folder":
        return FolderTransport(Path(upload.folder).expanduser())
    if upload.transport == "s3":
        return S3Transport(upload.bucket, endpoint_url=upload.endpoint_url, region=upload.region)
    raise PermanentUploadError('upload is not configured (upload.transport is "none")')

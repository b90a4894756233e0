"""Uploads to a real S3 server (SeaweedFS) with write-only device credentials."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage.deletion import uploaded_marker
from storage.reader import list_chunks
from storage.upload import PermanentUploadError, S3Transport
from storage.uploader import JOURNAL, Uploader, UploadSettings
from tests.cli_helpers import cli_env, run_cli
from tests.seaweed import BUCKET, ORG, Seaweed
from tests.storage.test_upload import configure_upload, make_home, sessions_of, write_chunks
from tests.waiting import wait_for


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    server = Seaweed(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def device_home(tmp_path: Path, server: Seaweed, device: str = "dev-a", extra: str = "") -> Path:
    home = make_home(tmp_path) if device == "dev-a" else _home_for(tmp_path, device)
    configure_upload(
        home,
        f'transport = "s3"\nendpoint_url = "{server.endpoint}"\n'
        f'bucket = "{BUCKET}"\norg = "{ORG}"\nregion = "us-east-1"\n' + extra,
    )
    return home


def _home_for(tmp_path: Path, device: str) -> Path:
    home = tmp_path / f"home-{device}"
    done = run_cli(home, "init", "--device-id", device)
    assert done.returncode == 0, done.stderr
    return home


def upload_cli(
    home: Path, server: Seaweed, *args: str, device: str = "dev-a"
) -> subprocess.CompletedProcess[str]:
    env = cli_env(home, **server.devices[device].env())
    return subprocess.run(
        [sys.executable, "-m", "agent.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def org_cli(home: Path, server: Seaweed, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(home, **server.reader.env())
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli.main",
            "org",
            *args,
            "--bucket",
            BUCKET,
            "--endpoint-url",
            server.endpoint,
            "--org",
            ORG,
            "--identity",
            str(home / "keys" / "demo-organisation.agekey"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def snapshot(home: Path, device: str = "dev-a") -> dict[str, bytes]:
    """Object key -> the bytes the device holds locally, for every chunk and record."""
    out: dict[str, bytes] = {}
    for ref in list_chunks(sessions_of(home)):
        for path in (ref.path, ref.meta_path):
            out[f"{ORG}/{device}/{ref.session}/{path.name}"] = path.read_bytes()
    return out


def device_transport(server: Seaweed, device: str, monkeypatch: pytest.MonkeyPatch) -> S3Transport:
    for key, value in server.devices[device].env().items():
        monkeypatch.setenv(key, value)
    return S3Transport(BUCKET, endpoint_url=server.endpoint, region="us-east-1")


def test_upload_then_org_pull_reproduces_what_the_device_recorded(
    seaweed: Seaweed, tmp_path: Path
) -> None:
    home = device_home(tmp_path, seaweed)
    write_chunks(home, "S-pull", 3)
    exported = run_cli(home, "export", "--session", "S-pull")
    assert exported.returncode == 0, exported.stderr
    local = snapshot(home)
    done = upload_cli(home, seaweed, "upload", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["uploaded"] == 3
    assert list_chunks(sessions_of(home)) == []
    keys = seaweed.keys(f"{ORG}/dev-a/S-pull/")
    assert keys == sorted(local)
    for key in keys:
        assert seaweed.get(key) == local[key]
    out = tmp_path / "pulled"
    done = org_cli(home, seaweed, "pull", "--device", "dev-a", "--out", str(out), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"], result
    assert (out / "dev-a" / "S-pull" / "events.jsonl").read_text() == exported.stdout


def test_reupload_is_idempotent(seaweed: Seaweed, tmp_path: Path) -> None:
    home = device_home(tmp_path, seaweed)
    refs = write_chunks(home, "S-idem", 2)
    saved = {p: p.read_bytes() for r in refs for p in (r.path, r.meta_path)}
    assert upload_cli(home, seaweed, "upload").returncode == 0
    before = {k: seaweed.get(k) for k in seaweed.keys(f"{ORG}/dev-a/S-idem/")}
    for path, data in saved.items():  # the same chunks again (a restored backup, a crash)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    done = upload_cli(home, seaweed, "upload", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["uploaded"] == 2
    after = {k: seaweed.get(k) for k in seaweed.keys(f"{ORG}/dev-a/S-idem/")}
    assert after == before and len(after) == 4


def test_hold_back_is_respected_by_the_s3_upload(seaweed: Seaweed, tmp_path: Path) -> None:
    home = device_home(tmp_path, seaweed)
    write_chunks(home, "S-hold", 2, age=0)
    done = upload_cli(home, seaweed, "upload", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["held_back"] == 2
    assert seaweed.keys(f"{ORG}/dev-a/S-hold/") == []
    assert len(list_chunks(sessions_of(home))) == 2


def test_device_credentials_are_write_only_and_scoped_to_their_prefix(
    seaweed: Seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.exceptions  # type: ignore[import-untyped]  # no stubs installed

    home = device_home(tmp_path, seaweed)
    write_chunks(home, "S-acl", 1)
    assert upload_cli(home, seaweed, "upload").returncode == 0
    key = f"{ORG}/dev-a/S-acl/000000.chunk"
    device = seaweed.client(seaweed.devices["dev-a"])
    attempts: dict[str, Callable[[], object]] = {
        "get": lambda: device.get_object(Bucket=BUCKET, Key=key),
        "head": lambda: device.head_object(Bucket=BUCKET, Key=key),
        "list bucket": lambda: device.list_objects_v2(Bucket=BUCKET),
        "list own prefix": lambda: device.list_objects_v2(Bucket=BUCKET, Prefix=f"{ORG}/dev-a/"),
        "put under another device": lambda: device.put_object(
            Bucket=BUCKET, Key=f"{ORG}/dev-b/S-acl/000000.chunk", Body=b"forged"
        ),
        "put outside the org": lambda: device.put_object(Bucket=BUCKET, Key="elsewhere", Body=b"x"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            attempt()
        status = refused.value.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status == 403, (what, refused.value.response)
    # Listing buckets shows none of them.
    with contextlib.suppress(botocore.exceptions.ClientError):
        assert device.list_buckets().get("Buckets", []) == []
    # Through the transport: a refusal is permanent, and says so without secrets.
    transport = device_transport(seaweed, "dev-a", monkeypatch)
    with pytest.raises(PermanentUploadError) as refused:
        transport.put(f"{ORG}/dev-b/x.chunk", b"x", hashlib.sha256(b"x").hexdigest())
    assert "AccessDenied" in str(refused.value)
    assert seaweed.devices["dev-a"].secret_key not in str(refused.value) + repr(transport)
    # The organisation reader can read and list.
    reader = seaweed.client(seaweed.reader)
    assert reader.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0
    assert key in seaweed.keys(f"{ORG}/")
    # ...but not write.
    with pytest.raises(botocore.exceptions.ClientError):
        reader.put_object(Bucket=BUCKET, Key=key, Body=b"overwritten")


def test_server_down_then_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = Seaweed(tmp_path / "own-seaweed")
    server.start()
    try:
        home = make_home(tmp_path)
        write_chunks(home, "S-down", 2)
        local = snapshot(home)
        transport = device_transport(server, "dev-a", monkeypatch)
        uploader = Uploader(
            sessions_of(home),
            transport,
            UploadSettings(org=ORG, device="dev-a", attempts=2, base_delay=0.01, max_delay=0.05),
        )
        server.stop()
        result = uploader.run_once()
        assert (result.uploaded, result.failed) == (0, 2)
        assert "cannot reach" in result.errors[0]
        assert len(list_chunks(sessions_of(home))) == 2
        assert not any(uploaded_marker(r).exists() for r in list_chunks(sessions_of(home)))
        server.start()  # same ports, same data
        result = uploader.run_once()
        assert (result.uploaded, result.failed) == (2, 0), result.errors
        assert {k: server.get(k) for k in server.keys(f"{ORG}/")} == local
    finally:
        server.stop()


def test_agent_killed_mid_upload_loses_and_duplicates_nothing(
    seaweed: Seaweed, tmp_path: Path
) -> None:
    # A slow link (bandwidth limit) so the kill lands between two chunks' uploads.
    home = device_home(tmp_path, seaweed, extra="bandwidth_limit_kbps = 4\nconcurrency = 1\n")
    write_chunks(home, "S-kill", 6)
    local = snapshot(home)
    env = cli_env(home, **seaweed.devices["dev-a"].env())
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli.main", "upload"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = home / "data" / JOURNAL
    try:
        wait_for(
            lambda: (
                proc.poll() is not None
                or (journal.exists() and journal.read_text().count('"confirmed"') >= 3)
            ),
            "three confirmed uploads (or the upload to end)",
            timeout=120,
        )
        assert proc.poll() is None, "the upload finished before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    # Interrupted midway, for real: some chunks confirmed (marked), the rest not.
    marked = [r for r in list_chunks(sessions_of(home)) if uploaded_marker(r).exists()]
    assert 0 < len(marked) < 6
    before_restart = journal.read_text().splitlines()
    configure_text = (
        (home / "config.toml")
        .read_text()
        .replace("bandwidth_limit_kbps = 4", "bandwidth_limit_kbps = 0")
    )
    (home / "config.toml").write_text(configure_text)
    done = upload_cli(home, seaweed, "upload")
    assert done.returncode == 0, done.stderr
    assert list_chunks(sessions_of(home)) == []
    keys = seaweed.keys(f"{ORG}/dev-a/S-kill/")
    assert keys == sorted(local)  # nothing lost, no extra object
    for key in keys:
        assert seaweed.get(key) == local[key]
    # What was confirmed before the kill was not sent again.
    after = journal.read_text().splitlines()[len(before_restart) :]
    resent = {json.loads(line)["key"] for line in after if '"begin"' in line}
    assert not resent & {f"{ORG}/dev-a/S-kill/{r.path.name}" for r in marked}
    # The local deletions happened once per chunk, and all were recorded.
    seqs: list[int] = []
    for line in (home / "data" / "deletions.jsonl").read_text().splitlines():
        for first, last in json.loads(line)["deleted"].get("S-kill", []):
            seqs.extend(range(first, last + 1))
    assert sorted(seqs) == list(range(6))


def test_forget_before_upload_and_org_verify(seaweed: Seaweed, tmp_path: Path) -> None:
    home_b = device_home(tmp_path, seaweed, device="dev-b")
    write_chunks(home_b, "S-forget", 4, age=0)
    # The person forgets the last two chunks (recent: still held back).
    refs = list_chunks(sessions_of(home_b))
    for ref in refs[:2]:
        os.utime(ref.path, (time.time() - 3600, time.time() - 3600))
    done = upload_cli(home_b, seaweed, "forget", "--last", "10m", "--yes", "--json", device="dev-b")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"]["chunks"] == 2
    done = upload_cli(home_b, seaweed, "upload", "--now", "--json", device="dev-b")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["uploaded"] == 2
    keys = seaweed.keys(f"{ORG}/dev-b/")
    assert f"{ORG}/dev-b/S-forget/000002.chunk" not in keys
    assert f"{ORG}/dev-b/deletions.jsonl" in keys
    # The organisation side: dev-b's home made its own demo organisation key.
    done = org_cli(home_b, seaweed, "verify", "--device", "dev-b", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["devices"][0]["chunks"] == 2
    # An object removed from the bucket is caught.
    admin = seaweed.client(seaweed.admin)
    admin.delete_object(Bucket=BUCKET, Key=f"{ORG}/dev-b/S-forget/000000.chunk")
    done = org_cli(home_b, seaweed, "verify", "--device", "dev-b", "--json")
    assert done.returncode == 1
    kinds = {p["kind"] for p in json.loads(done.stdout)["devices"][0]["problems"]}
    assert kinds & {"gap", "missing_chunk", "chain"}, kinds

"""`org build` on a Dask LocalCluster of two worker processes, reading a real S3 store.

The uploads are in SeaweedFS (tests/seaweed.py), read with the organisation's reader
credentials; each worker downloads and decrypts its sessions' chunks itself. The shards
must equal, byte for byte, those one process builds from the same store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import cli_env
from tests.org.fleet import ORG, Fleet
from tests.seaweed import BUCKET, Seaweed


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    server = Seaweed(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def build(server: Seaweed, fleet: Fleet, out: Path, workers: int) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli.main",
            "org",
            "build",
            "--bucket",
            BUCKET,
            "--endpoint-url",
            server.endpoint,
            "--org",
            ORG,
            "--identity",
            str(fleet.identity_file),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--json",
        ],
        env=cli_env(fleet.root / "no-home", **server.reader.env()),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_two_workers_build_what_one_process_builds(seaweed: Seaweed, tmp_path: Path) -> None:
    fleet = Fleet(tmp_path / "fleet")
    admin = seaweed.client(seaweed.admin)
    sessions = [("dev-a", "20260101T000000Z-aaaaaa"), ("dev-a", "20260101T020000Z-cccccc")]
    sessions += [("dev-b", "20260101T010000Z-bbbbbb"), ("dev-b", "20260101T030000Z-dddddd")]
    for n, (device, session) in enumerate(sessions):
        fleet.record(device, session, 2, start=1_767_225_600.0 + n * 3600)
        for key, data in fleet.objects(device, session).items():
            admin.put_object(Bucket=BUCKET, Key=key, Body=data)
    single, spread = tmp_path / "single", tmp_path / "spread"
    alone = build(seaweed, fleet, single, 0)
    shared = build(seaweed, fleet, spread, 2)
    assert shared["workers"] == 2 and alone["workers"] == 0
    assert alone["shards"] == shared["shards"] == 4 and shared["problems"] == []
    files = sorted(p.relative_to(single) for p in single.rglob("*") if p.is_file())
    assert len(files) == 8
    assert files == sorted(p.relative_to(spread) for p in spread.rglob("*") if p.is_file())
    for name in files:
        assert (single / name).read_bytes() == (spread / name).read_bytes(), name
    # The identity never reached the store or the dataset.
    secret = str(fleet.identity).encode()
    assert not any(secret in (single / name).read_bytes() for name in files)
    assert not any(secret in seaweed.get(key) for key in seaweed.keys(""))

"""Retention caps, purge, the deletion record, and capture blocked by a disk cap."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Marker
from storage.deletion import deletions_log, is_uploaded, mark_uploaded, scan
from storage.keys import public_key_text
from storage.reader import ChunkRef
from storage.retention import DAY, RetentionPolicy, enforce
from storage.verify import verify
from storage.writer import ChunkWriter
from tests.cli_helpers import run_cli, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for

NOW = 2_000_000_000.0


@pytest.fixture
def sessions(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sessions"


def write(
    sessions: Path, session: str, count: int, key: Ed25519PrivateKey, sealed_at: float
) -> None:
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    writer = ChunkWriter(sessions, "dev", session, [recipient], key)
    for n in range(count):
        writer.add(n, Marker(ts=float(n), mono=float(n), kind="x" * 500))
        sealed = writer.seal()
        assert sealed is not None
        os.utime(sealed.path, (sealed_at + n, sealed_at + n))


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def mark_confirmed(ref: ChunkRef) -> None:
    """The marker the uploader writes once the store confirmed ``ref`` (same function)."""
    sha = hashlib.sha256(ref.path.read_bytes()).hexdigest()
    meta = (
        hashlib.sha256(ref.meta_path.read_bytes()).hexdigest() if ref.meta_path.exists() else None
    )
    mark_uploaded(ref, f"acme/dev/{ref.session}/{ref.path.name}", sha, meta, NOW)


def no_caps(**kw: float) -> RetentionPolicy:
    base: dict[str, float | None] = {
        "max_total_bytes": None,
        "max_age_days": None,
        "min_free_bytes": None,
    }
    base.update(kw)
    return RetentionPolicy(**base)  # type: ignore[arg-type]


def test_byte_cap_deletes_uploaded_chunks_oldest_first(
    sessions: Path, key: Ed25519PrivateKey
) -> None:
    write(sessions, "a", 4, key, NOW - 100)
    chunks = scan(sessions)
    for chunk in chunks[:3]:
        mark_confirmed(chunk.ref)
    size = chunks[0].size
    result = enforce(sessions, no_caps(max_total_bytes=2 * size + size // 2), NOW)
    assert result.blocked_reason is None
    assert (result.deleted.chunks, result.deleted.not_uploaded) == (2, 0)
    assert [c.ref.seq for c in scan(sessions)] == [2, 3]
    assert not any(
        p.suffix == ".uploaded" and not p.with_suffix(".chunk").exists()
        for p in (sessions / "a").iterdir()
    )


def test_byte_cap_never_deletes_unuploaded_data_it_blocks(
    sessions: Path, key: Ed25519PrivateKey
) -> None:
    write(sessions, "a", 3, key, NOW - 100)
    mark_confirmed(scan(sessions)[0].ref)
    result = enforce(sessions, no_caps(max_total_bytes=10), NOW)
    assert result.deleted.chunks == 1 and result.deleted.not_uploaded == 0
    assert result.blocked_reason is not None
    assert "storage.max_total_bytes" in result.blocked_reason
    assert "resumes once space returns" in result.blocked_reason
    assert len(scan(sessions)) == 2
    for chunk in scan(sessions):
        assert not is_uploaded(chunk.ref)


def test_free_disk_floor(sessions: Path, key: Ed25519PrivateKey) -> None:
    write(sessions, "a", 3, key, NOW - 100)
    mark_confirmed(scan(sessions)[0].ref)
    size = scan(sessions)[0].size
    result = enforce(sessions, no_caps(min_free_bytes=1000 + size), NOW, disk_free=lambda _p: 1000)
    assert result.blocked_reason is None and result.deleted.chunks == 1
    result = enforce(sessions, no_caps(min_free_bytes=10**12), NOW, disk_free=lambda _p: 1000)
    assert result.blocked_reason is not None and "storage.min_free_bytes" in result.blocked_reason
    assert result.deleted.chunks == 0 and len(scan(sessions)) == 2


def test_age_cap_deletes_old_chunks_and_records_how_many_were_not_uploaded(
    sessions: Path, key: Ed25519PrivateKey
) -> None:
    write(sessions, "old", 2, key, NOW - 40 * DAY)
    write(sessions, "new", 1, key, NOW - DAY)
    mark_confirmed(scan(sessions, "old")[0].ref)
    result = enforce(sessions, no_caps(max_age_days=30), NOW)
    assert result.blocked_reason is None
    assert (result.deleted.chunks, result.deleted.not_uploaded) == (2, 1)
    assert [c.ref.session for c in scan(sessions)] == ["new"]
    assert not (sessions / "old").exists()
    log = deletions_log(sessions)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    record = json.loads(log.read_text())
    assert record["reason"] == "retention: max_age_days"
    assert (record["chunks"], record["not_uploaded"], record["sessions"]) == (2, 1, 1)
    assert record["deleted"] == {"old": [[0, 1]]}


def test_verify_accepts_retention_deletions(sessions: Path, key: Ed25519PrivateKey) -> None:
    identity = pyrage.x25519.Identity.generate()
    writer = ChunkWriter(sessions, "dev", "s", [str(identity.to_public())], key)
    for n in range(4):
        writer.add(n, Marker(ts=float(n), mono=float(n), kind="x"))
        writer.seal()
    for chunk in scan(sessions)[:2]:
        mark_confirmed(chunk.ref)
    enforce(sessions, no_caps(max_total_bytes=1), NOW)
    report = verify(sessions, [identity], [public_key_text(key.public_key())], "dev")
    assert report.ok and report.verified == 2


def test_defaults_come_from_config(tmp_path: Path) -> None:
    from agent.config import StorageConfig

    policy = RetentionPolicy.from_config(StorageConfig(max_age_days=0))
    assert policy.max_age_days is None
    assert policy.max_total_bytes == 2_000_000_000
    assert policy.min_free_bytes == 500_000_000


TRACE = '{"type":"key","t":0,"key":"a","pressed":true,"char":"a"}\n'


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "t.jsonl"
    trace.write_text(TRACE)
    for _ in range(3):
        assert run_cli(home, "run", "--replay", str(trace)).returncode == 0
    return home


def one_line_error(done: object) -> str:
    err: str = done.stderr.strip()  # type: ignore[attr-defined]
    assert done.returncode != 0 and "Traceback" not in err  # type: ignore[attr-defined]
    assert len(err.splitlines()) == 1, err
    return err


def test_purge_asks_unless_yes_and_records_counts(home: Path) -> None:
    chunks = sorted((home / "data" / "sessions").glob("*/*.chunk"))
    assert len(chunks) == 3
    err = one_line_error(run_cli(home, "purge", "--all"))
    assert "confirm on a terminal, or pass --yes" in err and "3 chunk(s)" in err
    assert len(list((home / "data" / "sessions").glob("*/*.chunk"))) == 3

    session = chunks[0].parent.name
    done = run_cli(home, "purge", "--session", session, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"]["chunks"] == 1
    assert not (home / "data" / "sessions" / session).exists()

    assert "expected a date" in one_line_error(run_cli(home, "purge", "--before", "soon"))
    assert "no session" in one_line_error(run_cli(home, "purge", "--session", "nope", "--yes"))
    assert (
        run_cli(home, "purge", "--before", "2000-01-01", "--yes").stdout.strip()
        == "nothing to purge"
    )
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + DAY))
    done = run_cli(home, "purge", "--before", tomorrow, "--yes")
    assert done.returncode == 0 and "deleted 2 chunk(s)" in done.stdout
    records = [
        json.loads(line) for line in (home / "data" / "deletions.jsonl").read_text().splitlines()
    ]
    assert [r["chunks"] for r in records] == [1, 2]
    assert records[0]["reason"] == f"purge: --session {session}"
    checked = run_cli(home, "verify", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["chunks"] == 0
    assert run_cli(home, "purge").returncode == 2  # one of --all/--before/--session


def test_disk_cap_blocks_capture_visibly_and_lifts_when_space_returns(
    home: Path, tmp_path: Path
) -> None:
    config = home / "config.toml"
    config.write_text(config.read_text().replace("[storage]", "[storage]\nmax_total_bytes = 1000"))
    trace = tmp_path / "t.jsonl"
    before = set((home / "data" / "sessions").glob("*/*.chunk"))
    assert len(before) == 3
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, proc)
        status = wait_for(lambda: _status_in(home, "blocked"), "blocked", timeout=60)
        assert "disk cap" in status["blocked_reason"]
        assert "storage.max_total_bytes" in status["blocked_reason"]
        human = run_cli(home, "status").stdout
        assert "blocked because:" in human and "disk cap" in human
        kept = set((home / "data" / "sessions").glob("*/*.chunk"))
        assert before <= kept  # nothing un-uploaded was deleted
        assert run_cli(home, "purge", "--all", "--yes").returncode == 0
        status = wait_for(lambda: _status_in(home, "recording"), "recording", timeout=60)
        assert status["blocked_reason"] is None
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err


def _status_in(home: Path, state: str) -> dict[str, Any] | None:
    """The running agent's status if it is in ``state``."""
    done = run_cli(home, "status", "--json")
    if done.returncode != 0:
        return None
    status: dict[str, Any] = json.loads(done.stdout)
    return status if status["state"] == state else None

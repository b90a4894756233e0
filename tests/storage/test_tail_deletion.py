"""Attacks on the newest chunks: deleted with their metadata records, a session deleted
whole, the head record forged or deleted. Deliberate deletions (purge, retention,
forget) are recorded and must not be flagged."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Key, Marker
from storage.canonical import canonical_json
from storage.chunk import sign_manifest
from storage.forget import forget
from storage.heads import heads_path
from storage.keys import generate_age_identity, public_key_text
from storage.purge import purge, select
from storage.retention import RetentionPolicy, enforce
from storage.verify import Problem, Report, verify
from storage.writer import ChunkWriter
from tests.cli_helpers import recording_home, run_cli

TRACE = '{"type":"key","t":0.01,"key":"h","pressed":true,"char":"h"}\n'


@dataclass
class Store:
    sessions: Path
    identity: pyrage.x25519.Identity
    recipients: list[str]
    key: Ed25519PrivateKey

    def write(self, session: str, chunks: int, key: Ed25519PrivateKey | None = None) -> None:
        writer = ChunkWriter(self.sessions, "dev-1", session, self.recipients, key or self.key)
        for n in range(chunks):
            writer.add(2 * n, Marker(ts=float(n), mono=float(n), kind="test"))
            writer.add(2 * n + 1, Key(ts=n + 0.5, mono=n + 0.5, key="a", pressed=True, char="a"))
            assert writer.seal() is not None

    def verify(self) -> Report:
        pinned = [public_key_text(self.key.public_key())]
        return verify(self.sessions, [self.identity], pinned, "dev-1", head_record=True)

    def drop(self, session: str, seq: int) -> None:
        """The attack: the chunk and its metadata record deleted, nothing recorded."""
        for suffix in (".chunk", ".meta"):
            (self.sessions / session / f"{seq:06d}{suffix}").unlink()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    pair = generate_age_identity()
    return Store(
        sessions=tmp_path / "data" / "sessions",
        identity=pyrage.x25519.Identity.from_str(pair.secret),
        recipients=[pair.public],
        key=Ed25519PrivateKey.generate(),
    )


def problems(report: Report) -> list[Problem]:
    return list(report.problems)


def test_untouched_store_with_a_head_record_verifies(store: Store) -> None:
    store.write("s1", 3)
    store.write("s2", 2)
    record = json.loads(heads_path(store.sessions).read_bytes())
    assert {k: v["seq"] for k, v in record["sessions"].items()} == {"s1": 2, "s2": 1}
    report = store.verify()
    assert report.ok, report.problems
    assert report.notes == []


def test_newest_chunk_deleted_with_its_meta_is_a_missing_tail(store: Store) -> None:
    store.write("s1", 3)
    store.drop("s1", 2)
    [problem] = problems(store.verify())
    assert (problem.kind, problem.session, problem.seq) == ("missing_tail", "s1", 2)
    assert "chunk 2 is missing" in problem.message


def test_two_newest_chunks_deleted_name_the_range(store: Store) -> None:
    store.write("s1", 4)
    store.drop("s1", 3)
    store.drop("s1", 2)
    [problem] = problems(store.verify())
    assert problem.kind == "missing_tail" and "chunks 2-3 are missing" in problem.message


def test_every_chunk_of_a_session_deleted_leaves_an_empty_folder_flagged(store: Store) -> None:
    store.write("s1", 2)
    store.drop("s1", 1)
    store.drop("s1", 0)
    [problem] = problems(store.verify())
    assert problem.kind == "missing_tail" and "chunks 0-1 are missing" in problem.message


def test_session_folder_deleted_whole_is_a_missing_session(store: Store) -> None:
    store.write("s1", 2)
    store.write("s2", 3)
    shutil.rmtree(store.sessions / "s2")
    report = store.verify()
    [problem] = problems(report)
    assert (problem.kind, problem.session) == ("missing_session", "s2")
    assert "session s2 is gone: chunks 0-2 are missing" in problem.message
    assert report.sessions == 2


def test_forged_head_record_is_detected(store: Store) -> None:
    store.write("s1", 3)
    store.drop("s1", 2)
    path = heads_path(store.sessions)
    record = json.loads(path.read_bytes())
    record["sessions"]["s1"]["seq"] = 1  # hide the deletion, keep the old signature
    path.write_bytes(canonical_json(record))
    [problem] = problems(store.verify())
    assert problem.kind == "head_record" and "does not verify" in problem.message


def test_head_record_signed_by_another_key_is_detected(store: Store) -> None:
    store.write("s1", 3)
    store.drop("s1", 2)
    path = heads_path(store.sessions)
    record = json.loads(path.read_bytes())
    record["sessions"]["s1"]["seq"] = 1
    attacker = Ed25519PrivateKey.generate()
    record["signing_key"] = public_key_text(attacker.public_key())
    path.write_bytes(canonical_json(sign_manifest(record, attacker)))
    assert {p.kind for p in problems(store.verify())} == {"head_record"}


@pytest.mark.parametrize("garbage", [b"", b"{", b"[]", b'{"format":"capture-agent/heads"}'])
def test_unreadable_head_record_is_one_clear_problem(store: Store, garbage: bytes) -> None:
    store.write("s1", 1)
    heads_path(store.sessions).write_bytes(garbage)
    [problem] = problems(store.verify())
    assert problem.kind == "head_record" and "unreadable" in problem.message


def test_deleted_head_record_is_detected_and_a_restart_does_not_launder_it(
    store: Store,
) -> None:
    store.write("s1", 3)
    store.drop("s1", 2)
    heads_path(store.sessions).unlink()
    [problem] = problems(store.verify())
    assert problem.kind == "head_record" and "is missing" in problem.message
    # The agent starts again and seals: the new record says it was started afresh.
    store.write("s2", 1)
    [problem] = problems(store.verify())
    assert problem.kind == "head_record" and "was missing" in problem.message
    # Once the sessions it could not vouch for are purged, nothing is left to warn of.
    purge(store.sessions, select(store.sessions, session="s1"), "test")
    store.write("s3", 1)
    report = store.verify()
    assert report.ok, report.problems


def test_replaced_newest_chunk_is_a_head_mismatch(store: Store, tmp_path: Path) -> None:
    store.write("s1", 2)
    other = tmp_path / "other" / "sessions"
    Store(other, store.identity, store.recipients, store.key).write("s1", 3)
    # Both chunks swapped for another run's (same device, key and session id): the
    # chain holds, only the record knows which chunk 1 was sealed here.
    for seq in (0, 1):
        for suffix in (".chunk", ".meta"):
            name = f"{seq:06d}{suffix}"
            shutil.copyfile(other / "s1" / name, store.sessions / "s1" / name)
    [problem] = problems(store.verify())
    assert (problem.kind, problem.seq) == ("head_mismatch", 1)
    assert "chunk 1 is not the chunk the head record names" in problem.message


def test_purge_of_the_newest_chunks_is_not_flagged(store: Store) -> None:
    store.write("s1", 4)
    store.write("s2", 2)
    newest = [c for c in select(store.sessions, session="s1") if c.ref.seq >= 2]
    purge(store.sessions, newest, "test")
    whole = select(store.sessions, session="s2")
    purge(store.sessions, whole, "test")
    assert not (store.sessions / "s2").exists()
    report = store.verify()
    assert report.ok, report.problems


def test_forget_of_the_newest_chunks_then_more_recording_is_not_flagged(store: Store) -> None:
    writer = ChunkWriter(store.sessions, "dev-1", "s1", store.recipients, store.key)
    for n in range(3):
        writer.add(n, Marker(ts=float(n), mono=float(n), kind="test"))
        writer.seal()
    _chunks, counts = forget(store.sessions, 3600)
    assert counts.chunks == 3
    assert store.verify().ok
    writer.add(9, Marker(ts=9.0, mono=9.0, kind="test"))
    writer.seal()  # chunk 3, chained to the forgotten chunk 2
    report = store.verify()
    assert report.ok, report.problems


def test_retention_of_every_chunk_is_not_flagged(store: Store) -> None:
    store.write("s1", 3)
    store.write("s2", 1)
    result = enforce(store.sessions, RetentionPolicy(max_age_days=1.0), now=4e9)
    assert result.deleted.chunks == 4
    report = store.verify()
    assert report.ok, report.problems
    assert report.sessions == 0


def test_a_crash_between_the_chunk_and_the_record_is_not_flagged(store: Store) -> None:
    store.write("s1", 2)
    behind = heads_path(store.sessions).read_bytes()
    store.write("s2", 1)
    heads_path(store.sessions).write_bytes(behind)  # s2's chunk sealed, record not updated
    report = store.verify()
    assert report.ok, report.problems


def test_verify_command_names_the_deleted_newest_chunk(tmp_path: Path) -> None:
    home = recording_home(tmp_path)
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    for _ in range(2):
        done = run_cli(home, "run", "--replay", str(trace))
        assert done.returncode == 0, done.stderr
    assert run_cli(home, "verify").returncode == 0
    first, second = sorted(p for p in (home / "data" / "sessions").iterdir() if p.is_dir())
    for path in second.iterdir():  # the newest chunk, with its metadata record
        path.unlink()
    done = run_cli(home, "verify", "--json")
    assert done.returncode == 1, done.stdout
    [problem] = json.loads(done.stdout)["problems"]
    assert (problem["kind"], problem["session"], problem["seq"]) == ("missing_tail", second.name, 0)
    shutil.rmtree(first)
    done = run_cli(home, "verify")
    assert done.returncode == 1
    assert f"PROBLEM [missing_session] session {first.name} is gone: chunk 0 is missing" in (
        done.stdout
    )
    assert "Traceback" not in done.stderr

"""Adversarial tests for `verify`: every kind of tampering is caught, with a specific kind."""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Key, Marker
from storage.canonical import canonical_json
from storage.chunk import build_zip, sign_manifest
from storage.keys import generate_age_identity, public_key_text
from storage.purge import purge, select
from storage.reader import list_chunks, read_chunk
from storage.verify import Report, verify
from storage.writer import ChunkWriter


@dataclass
class Store:
    sessions: Path
    identity: pyrage.x25519.Identity
    recipients: list[str]
    key: Ed25519PrivateKey

    @property
    def pinned(self) -> list[str]:
        return [public_key_text(self.key.public_key())]

    def writer(
        self,
        session: str,
        device: str = "dev-1",
        key: Ed25519PrivateKey | None = None,
        sessions: Path | None = None,
    ) -> ChunkWriter:
        return ChunkWriter(
            sessions or self.sessions, device, session, self.recipients, key or self.key
        )

    def write(
        self,
        session: str,
        chunks: int,
        device: str = "dev-1",
        key: Ed25519PrivateKey | None = None,
        sessions: Path | None = None,
        text: str = "ab",
    ) -> None:
        writer = self.writer(session, device, key, sessions)
        for n in range(chunks):
            writer.add(2 * n, Marker(ts=float(n), mono=float(n), kind="test"))
            writer.add(
                2 * n + 1,
                Key(
                    ts=n + 0.5,
                    mono=n + 0.5,
                    key=text[n % len(text)],
                    pressed=True,
                    char=text[n % len(text)],
                ),
            )
            writer.seal()

    def verify(self, session: str | None = None) -> Report:
        return verify(self.sessions, [self.identity], self.pinned, "dev-1", session)

    def path(self, session: str, seq: int, suffix: str = ".chunk") -> Path:
        return self.sessions / session / f"{seq:06d}{suffix}"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    pair = generate_age_identity()
    other = generate_age_identity()
    return Store(
        sessions=tmp_path / "sessions",
        identity=pyrage.x25519.Identity.from_str(pair.secret),
        recipients=[pair.public, other.public],
        key=Ed25519PrivateKey.generate(),
    )


def kinds(report: Report) -> set[str]:
    return {p.kind for p in report.problems}


def test_untouched_store_verifies(store: Store) -> None:
    store.write("s1", 3)
    store.write("s2", 2)
    report = store.verify()
    assert report.ok, report.problems
    assert (report.sessions, report.chunks, report.verified) == (2, 5, 5)
    assert report.notes == []


def test_flip_every_byte_of_a_small_chunk(store: Store) -> None:
    store.write("s1", 1)
    path = store.path("s1", 0)
    original = path.read_bytes()
    assert len(original) < 2000
    for i in range(len(original)):
        data = bytearray(original)
        data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        report = store.verify()
        assert not report.ok, f"flip at byte {i} went unnoticed"
        problem = report.problems[0]
        assert problem.kind in ("decrypt", "format"), (i, problem)
        assert problem.path == str(path)
        assert (
            "cannot be decrypted" in problem.message
            or "not an age-encrypted file" in problem.message
        ), problem.message
    path.write_bytes(original)
    assert store.verify().ok


def test_truncate_at_every_length(store: Store) -> None:
    store.write("s1", 1)
    path = store.path("s1", 0)
    original = path.read_bytes()
    for length in range(len(original)):
        path.write_bytes(original[:length])
        report = store.verify()
        assert [p.kind for p in report.problems] in (["decrypt"], ["format"]), length
        assert str(path) in report.problems[0].message


def test_swapped_chunks_are_reported_as_reordered(store: Store) -> None:
    store.write("s1", 3)
    for suffix in (".chunk", ".meta"):
        a, b = store.path("s1", 1, suffix), store.path("s1", 2, suffix)
        tmp = a.with_name("swap")
        a.rename(tmp)
        b.rename(a)
        tmp.rename(b)
    report = store.verify()
    assert kinds(report) == {"reordered"}
    messages = sorted(p.message for p in report.problems)
    assert "named 1 but holds chunk 2" in messages[0]
    assert "named 2 but holds chunk 1" in messages[1]


def test_deleted_middle_chunk_is_a_gap(store: Store) -> None:
    store.write("s1", 4)
    for suffix in (".chunk", ".meta"):
        store.path("s1", 1, suffix).unlink()
    report = store.verify()
    assert kinds(report) == {"gap"}
    assert "chunk 1 is missing" in report.problems[0].message


def test_deleted_first_chunks_are_a_gap(store: Store) -> None:
    store.write("s1", 3)
    for seq in (0, 1):
        for suffix in (".chunk", ".meta"):
            store.path("s1", seq, suffix).unlink()
    report = store.verify()
    assert kinds(report) == {"gap"}
    assert "chunks 0-1 are missing" in report.problems[0].message


def test_deleted_last_chunk_is_given_away_by_its_metadata_record(store: Store) -> None:
    store.write("s1", 3)
    store.path("s1", 2).unlink()
    report = store.verify()
    assert kinds(report) == {"missing_chunk"}
    assert "chunk 2 of session s1 is gone" in report.problems[0].message


def test_chunk_spliced_from_another_session(store: Store) -> None:
    store.write("s1", 3)
    store.write("s2", 3, text="xy")
    for suffix in (".chunk", ".meta"):
        shutil.copyfile(store.path("s2", 1, suffix), store.path("s1", 1, suffix))
    report = store.verify()
    assert "foreign_session" in kinds(report)
    splice = next(p for p in report.problems if p.kind == "foreign_session")
    assert "belongs to session 's2', not 's1'" in splice.message
    assert splice.path == str(store.path("s1", 1))
    assert kinds(report) <= {"foreign_session", "gap", "chain"}


def test_chunk_spliced_from_another_device(store: Store, tmp_path: Path) -> None:
    store.write("s1", 2)
    other = tmp_path / "other"
    store.write("s1", 2, device="dev-2", sessions=other)  # same key, other device id
    for suffix in (".chunk", ".meta"):
        shutil.copyfile(other / "s1" / f"000001{suffix}", store.path("s1", 1, suffix))
    report = store.verify()
    assert "foreign_device" in kinds(report)
    assert any("belongs to device 'dev-2', not 'dev-1'" in p.message for p in report.problems)


def test_chunk_from_another_device_key(store: Store, tmp_path: Path) -> None:
    store.write("s1", 2)
    other = tmp_path / "other"
    store.write("s1", 2, key=Ed25519PrivateKey.generate(), sessions=other)
    shutil.copyfile(other / "s1" / "000001.chunk", store.path("s1", 1))
    shutil.copyfile(other / "s1" / "000001.meta", store.path("s1", 1, ".meta"))
    report = store.verify()
    assert "foreign_key" in kinds(report)
    problem = next(p for p in report.problems if p.kind == "foreign_key")
    assert "not by this device's pinned key" in problem.message


def _rewrite(store: Store, session: str, seq: int, manifest: dict[str, object]) -> None:
    """What an attacker who knows the recipients (public!) can do: build a new chunk."""
    chunk = read_chunk(list_chunks(store.sessions, session)[seq], [store.identity])
    manifest_bytes = canonical_json(manifest)
    members = [(n, d) for n, d in chunk.members.items()]
    recipients = [pyrage.x25519.Recipient.from_str(r) for r in store.recipients]
    store.path(session, seq).write_bytes(
        pyrage.encrypt(build_zip(manifest_bytes, members), recipients)
    )
    store.path(session, seq, ".meta").write_bytes(pyrage.encrypt(manifest_bytes, recipients))


def test_replaced_device_signature(store: Store) -> None:
    store.write("s1", 2)
    manifest = dict(read_chunk(list_chunks(store.sessions, "s1")[1], [store.identity]).manifest)
    forged = sign_manifest(manifest, Ed25519PrivateKey.generate())
    _rewrite(store, "s1", 1, forged)  # the signature is replaced, the named key kept
    report = store.verify()
    assert kinds(report) == {"signature"}
    assert "does not verify with the pinned device key" in report.problems[0].message


def test_resigned_with_another_named_key(store: Store) -> None:
    store.write("s1", 2)
    manifest = dict(read_chunk(list_chunks(store.sessions, "s1")[1], [store.identity]).manifest)
    attacker = Ed25519PrivateKey.generate()
    manifest["signing_key"] = public_key_text(attacker.public_key())
    manifest["events"] = 1
    _rewrite(store, "s1", 1, sign_manifest(manifest, attacker))
    report = store.verify()
    assert kinds(report) == {"foreign_key"}


def test_altered_manifest_with_old_signature(store: Store) -> None:
    store.write("s1", 1)
    manifest = dict(read_chunk(list_chunks(store.sessions, "s1")[0], [store.identity]).manifest)
    manifest["max_sensitivity"] = 1
    _rewrite(store, "s1", 0, manifest)
    assert kinds(store.verify()) == {"signature"}


def test_missing_signature(store: Store) -> None:
    store.write("s1", 1)
    manifest = dict(read_chunk(list_chunks(store.sessions, "s1")[0], [store.identity]).manifest)
    del manifest["signature"]
    _rewrite(store, "s1", 0, manifest)
    report = store.verify()
    assert kinds(report) == {"signature"}


def test_replaced_member_is_a_member_problem(store: Store) -> None:
    store.write("s1", 1)
    chunk = read_chunk(list_chunks(store.sessions, "s1")[0], [store.identity])
    members = dict(chunk.members)
    members["events.jsonl"] = members["events.jsonl"].replace(b'"a"', b'"z"')
    recipients = [pyrage.x25519.Recipient.from_str(r) for r in store.recipients]
    store.path("s1", 0).write_bytes(
        pyrage.encrypt(build_zip(chunk.manifest_bytes, list(members.items())), recipients)
    )
    report = store.verify()
    assert kinds(report) == {"member"}
    assert "events.jsonl does not match its SHA-256" in report.problems[0].message


def test_validly_signed_chunk_from_another_run_breaks_the_chain(
    store: Store, tmp_path: Path
) -> None:
    store.write("s1", 3)
    other = tmp_path / "other"
    store.write("s1", 3, sessions=other, text="zz")  # same device, key and session id
    for suffix in (".chunk", ".meta"):
        shutil.copyfile(other / "s1" / f"000001{suffix}", store.path("s1", 1, suffix))
    report = store.verify()
    assert kinds(report) == {"chain"}
    assert {p.seq for p in report.problems} == {1, 2}
    assert "does not follow chunk 0" in report.problems[0].message


def test_first_chunk_must_start_from_the_session_anchor(store: Store) -> None:
    store.write("s1", 1)
    manifest = dict(read_chunk(list_chunks(store.sessions, "s1")[0], [store.identity]).manifest)
    manifest["prev_manifest_sha256"] = "0" * 64  # validly signed, but not a session start
    _rewrite(store, "s1", 0, sign_manifest(manifest, store.key))
    report = store.verify()
    assert kinds(report) == {"chain"}
    assert "does not start from the session anchor" in report.problems[0].message


def test_metadata_record_must_match_its_chunk(store: Store) -> None:
    store.write("s1", 3)
    shutil.copyfile(store.path("s1", 2, ".meta"), store.path("s1", 1, ".meta"))
    report = store.verify()
    assert kinds(report) == {"meta_mismatch"}
    store.path("s1", 1, ".meta").write_bytes(b"age-encryption.org/v1\ngarbage")
    assert kinds(store.verify()) == {"meta_unreadable"}


def test_missing_metadata_record_is_a_note_not_a_problem(store: Store) -> None:
    store.write("s1", 2)
    store.path("s1", 1, ".meta").unlink()  # a crash between the chunk and its record
    report = store.verify()
    assert report.ok
    assert [n.kind for n in report.notes] == ["meta_missing"]


def test_recorded_deletions_are_not_problems(store: Store) -> None:
    store.write("s1", 4)
    chunks = [c for c in select(store.sessions, session="s1") if c.ref.seq < 2]
    counts = purge(store.sessions, chunks, "test")
    assert counts.chunks == 2
    report = store.verify()
    assert report.ok, report.problems
    assert [n.kind for n in report.notes] == ["chain"]
    # ...but deleting one more without a record is.
    store.path("s1", 2).unlink()
    store.path("s1", 2, ".meta").unlink()
    assert kinds(store.verify()) == {"gap"}


def test_malformed_deletion_record_is_reported(store: Store) -> None:
    store.write("s1", 1)
    (store.sessions.parent / "deletions.jsonl").write_text("{not json\n")
    assert kinds(store.verify()) == {"deletion_record"}


def test_wrong_identity_is_a_decrypt_problem(store: Store) -> None:
    store.write("s1", 1)
    stranger = pyrage.x25519.Identity.generate()
    report = verify(store.sessions, [stranger], store.pinned, "dev-1")
    assert kinds(report) == {"decrypt"}


def test_unknown_format_version_is_rejected_clearly(store: Store) -> None:
    store.write("s1", 1)
    manifest = dict(read_chunk(list_chunks(store.sessions, "s1")[0], [store.identity]).manifest)
    manifest["version"] = 99
    _rewrite(store, "s1", 0, sign_manifest(manifest, store.key))
    report = store.verify()
    assert kinds(report) == {"format"}
    assert "version 99 is not supported" in report.problems[0].message


def test_signature_text_is_base64_of_64_bytes(store: Store) -> None:
    store.write("s1", 1)
    manifest = read_chunk(list_chunks(store.sessions, "s1")[0], [store.identity]).manifest
    assert len(base64.b64decode(manifest["signature"])) == 64
    assert manifest["signing_key"] == store.pinned[0]

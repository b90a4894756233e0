"""Attacks on the consent ledger that its own hash chain cannot see: a line edited and
every hash after it recomputed (the .head sidecar too), lines cut, the ledger replaced.
The ledger heads the device signed into each chunk's manifest give them away."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Marker
from consent.ledger import GENESIS, Ledger, entry_hash
from storage.anchors import LedgerAnchor, anchor_problem, collect_anchors
from storage.canonical import canonical_json
from storage.chunk import sign_manifest
from storage.keys import generate_age_identity, public_key_text
from storage.reader import list_chunks, read_chunk
from storage.writer import ChunkWriter
from tests.cli_helpers import recording_home, run_cli

TRACE = '{"type":"key","t":0.01,"key":"h","pressed":true,"char":"h"}\n'


def rewrite(path: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """What someone with the person's uid can do: edit, then recompute every hash."""
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    prev = GENESIS
    out = []
    for seq, edited in enumerate(edit(entries), start=1):
        fields = {**edited, "seq": seq, "prev": prev}
        fields["hash"] = entry_hash(fields)
        prev = fields["hash"]
        out.append(canonical_json(fields) + b"\n")
    path.write_bytes(b"".join(out))
    head = {"seq": len(out), "hash": prev} if out else None
    sidecar = path.with_name(path.name + ".head")
    if head is None:
        sidecar.unlink(missing_ok=True)
    else:
        sidecar.write_bytes(canonical_json(head) + b"\n")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose daemon sealed one chunk (a real `run --replay`), ledger anchored."""
    home = recording_home(tmp_path)
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    done = run_cli(home, "run", "--replay", str(trace))
    assert done.returncode == 0, done.stderr
    return home


def ledger_path(home: Path) -> Path:
    return home / "consent-ledger.jsonl"


def only_chunk(home: Path) -> str:
    [ref] = list_chunks(home / "data" / "sessions")
    return f"{ref.session}/{ref.seq:06d}"


def test_intact_ledger_agrees_with_the_chunks(home: Path) -> None:
    done = run_cli(home, "consent", "log", "--verify")
    assert done.returncode == 0, done.stderr
    assert "agrees with the ledger heads signed into 1 chunk(s)" in done.stdout
    body = json.loads(run_cli(home, "consent", "log", "--verify", "--json").stdout)
    assert body["ok"] and body["anchors_checked"] == 1


def test_edited_entry_with_recomputed_chain_fails_naming_the_chunk(home: Path) -> None:
    def relabel(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries[0]["actor"] = "policy"  # "the organisation opted me in", not the person
        return entries

    rewrite(ledger_path(home), relabel)
    assert Ledger(ledger_path(home)).verify() == []  # the chain alone is fooled
    done = run_cli(home, "consent", "log", "--verify")
    assert done.returncode == 1
    assert f"ledger problem: chunk {only_chunk(home)}: consent ledger entry" in done.stderr
    assert "differs from the one this chunk recorded" in done.stderr
    assert "Traceback" not in done.stderr
    verified = run_cli(home, "verify", "--json")
    assert verified.returncode == 1
    report = json.loads(verified.stdout)
    assert [p["kind"] for p in report["problems"]] == ["ledger_anchor"]
    assert report["verified"] == 1  # the chunk is sound; the ledger is not


def test_entries_cut_and_chain_recomputed_are_detected(home: Path) -> None:
    rewrite(ledger_path(home), lambda entries: entries[:-1])
    done = run_cli(home, "consent", "log", "--verify")
    assert done.returncode == 1
    assert "entries when this chunk was sealed" in done.stderr
    assert only_chunk(home) in done.stderr


def test_ledger_deleted_whole_is_detected(home: Path) -> None:
    ledger_path(home).unlink()
    ledger_path(home).with_name("consent-ledger.jsonl.head").unlink()
    done = run_cli(home, "consent", "log", "--verify")
    assert done.returncode == 1
    assert "the consent ledger ends at entry 0" in done.stderr


def test_entries_appended_after_a_seal_are_fine(home: Path) -> None:
    assert run_cli(home, "pause", "--minutes", "5").returncode == 0
    assert run_cli(home, "opt-out").returncode == 0
    done = run_cli(home, "consent", "log", "--verify")
    assert done.returncode == 0, done.stderr


def test_purged_chunks_take_their_anchors_with_them(home: Path) -> None:
    assert run_cli(home, "purge", "--all", "--yes").returncode == 0
    done = run_cli(home, "consent", "log", "--verify")
    assert done.returncode == 0, done.stderr
    assert "signed into 0 chunk(s)" in done.stdout


def test_missing_identity_is_a_note_not_a_crash(home: Path) -> None:
    for path in (home / "keys").glob("person*"):
        path.unlink()
    done = run_cli(home, "consent", "log", "--verify")
    assert done.returncode == 0, done.stderr
    assert "not compared with the chunks" in done.stderr
    assert "Traceback" not in done.stderr


# -- the anchor itself ----------------------------------------------------------------


def test_anchor_problem_names_each_contradiction() -> None:
    ledger = {1: "a" * 64, 2: "b" * 64}
    assert anchor_problem(LedgerAnchor(0, GENESIS), {}) is None
    assert anchor_problem(LedgerAnchor(2, "b" * 64), ledger) is None
    assert "differs" in (anchor_problem(LedgerAnchor(2, "c" * 64), ledger) or "")
    assert "ends at entry 2" in (anchor_problem(LedgerAnchor(3, "c" * 64), ledger) or "")
    assert "no entry 1" in (anchor_problem(LedgerAnchor(1, "a" * 64), {2: "b" * 64}) or "")


def test_anchor_counts_only_under_the_device_signature(tmp_path: Path) -> None:
    """A chunk re-encrypted to the (public) recipients with a made-up anchor is ignored."""
    pair = generate_age_identity()
    identity = pyrage.x25519.Identity.from_str(pair.secret)
    key = Ed25519PrivateKey.generate()
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append("opted_in", "person")
    sessions = tmp_path / "sessions"
    writer = ChunkWriter(sessions, "dev-1", "s1", [pair.public], key, ledger_head=ledger.head)
    writer.add(0, Marker(ts=1.0, mono=1.0, kind="test"))
    writer.seal()
    pinned = {public_key_text(key.public_key()): key.public_key()}
    [found], notes = collect_anchors(sessions, [identity], pinned)
    assert found.anchor == LedgerAnchor(*ledger.head())  # type: ignore[misc]
    assert notes == []
    # The attacker rewrites the ledger, then the anchor, signing with a key of their own.
    ref = list_chunks(sessions)[0]
    manifest = dict(read_chunk(ref, [identity]).manifest)
    manifest["consent_ledger"] = {"seq": 9, "hash": "f" * 64}
    attacker = Ed25519PrivateKey.generate()
    forged = canonical_json(sign_manifest(manifest, attacker))
    recipient = pyrage.x25519.Recipient.from_str(pair.public)
    ref.meta_path.write_bytes(pyrage.encrypt(forged, [recipient]))
    [found], notes = collect_anchors(sessions, [identity], pinned)
    assert found.anchor.seq == 1  # the forged record is passed over for the signed chunk
    ref.path.unlink()
    found_none, notes = collect_anchors(sessions, [identity], pinned)
    assert found_none == [] and notes == []


def test_head_follows_appends_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    daemon, cli = Ledger(path), Ledger(path)
    assert daemon.head() == (0, GENESIS)
    first = cli.append("opted_in", "person")
    assert daemon.head() == (1, first.hash)
    second = cli.append("paused", "person")
    assert daemon.head() == (2, second.hash)

"""The consent ledger: append-only, hash-chained, tamper-evident."""

from __future__ import annotations

import itertools
import json
import stat
from pathlib import Path

import pytest

from consent.errors import LedgerError
from consent.ledger import GENESIS, Ledger, entry_hash
from consent.state import ConsentMachine, Transition

T0 = 1_700_000_000.0


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "consent.ledger")
    led.append("opted_in", "person", {"from": "no_consent", "to": "recording"}, ts=T0)
    led.append("paused", "person", {"until": T0 + 600, "minutes": 10}, ts=T0 + 1)
    led.append("snooze_expired", "system", {}, ts=T0 + 601)
    led.append("blocked", "policy", {"reason": "collection paused"}, ts=T0 + 700)
    led.append("unblocked", "policy", None, ts=T0 + 800)
    return led


def lines(led: Ledger) -> list[bytes]:
    return led.path.read_bytes().splitlines(keepends=True)


def write_lines(led: Ledger, new: list[bytes]) -> None:
    led.path.write_bytes(b"".join(new))


def test_intact_ledger_verifies_and_reads_back(ledger: Ledger) -> None:
    assert ledger.verify() == []
    entries = ledger.read()
    assert [e.action for e in entries] == [
        "opted_in",
        "paused",
        "snooze_expired",
        "blocked",
        "unblocked",
    ]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    assert entries[1].details == {"until": T0 + 600, "minutes": 10}
    assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ledger.head_path.stat().st_mode) == 0o600


def test_lines_are_canonical_and_hash_their_content(ledger: Ledger) -> None:
    for raw in lines(ledger):
        doc = json.loads(raw)
        assert raw.rstrip(b"\n") == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        assert doc["hash"] == entry_hash(doc)


def test_empty_ledger_verifies(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "none.ledger")
    assert led.verify() == [] and led.read() == []


def test_edited_line_is_detected(ledger: Ledger) -> None:
    raw = lines(ledger)
    raw[1] = raw[1].replace(b'"minutes":10', b'"minutes":11')
    write_lines(ledger, raw)
    problems = ledger.verify()
    assert any("line 2" in p and "edited" in p for p in problems), problems


def test_edited_line_with_recomputed_hash_is_detected(ledger: Ledger) -> None:
    raw = lines(ledger)
    doc = json.loads(raw[1])
    doc["details"]["minutes"] = 1
    doc["hash"] = entry_hash(doc)
    raw[1] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    write_lines(ledger, raw)
    problems = ledger.verify()
    assert any(p.startswith("line 3: does not follow") for p in problems), problems


def test_edited_last_line_with_recomputed_hash_is_detected(ledger: Ledger) -> None:
    raw = lines(ledger)
    doc = json.loads(raw[-1])
    doc["actor"] = "person"
    doc["hash"] = entry_hash(doc)
    raw[-1] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    write_lines(ledger, raw)
    assert any("entry 5 differs" in p for p in ledger.verify())


@pytest.mark.parametrize("index", [0, 2])
def test_deleted_line_is_detected(ledger: Ledger, index: int) -> None:
    raw = lines(ledger)
    del raw[index]
    write_lines(ledger, raw)
    assert any("does not follow" in p for p in ledger.verify())


def test_inserted_line_is_detected(ledger: Ledger) -> None:
    raw = lines(ledger)
    forged = json.loads(raw[1])
    forged["action"] = "opted_out"
    forged["hash"] = entry_hash(forged)
    raw.insert(2, json.dumps(forged, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    write_lines(ledger, raw)
    assert any("does not follow" in p for p in ledger.verify())


def test_reordered_lines_are_detected(ledger: Ledger) -> None:
    raw = lines(ledger)
    raw[1], raw[2] = raw[2], raw[1]
    write_lines(ledger, raw)
    assert any("does not follow" in p for p in ledger.verify())


def test_lines_cut_from_the_end_are_detected(ledger: Ledger) -> None:
    write_lines(ledger, lines(ledger)[:3])
    problems = ledger.verify()
    assert problems == [
        "the ledger ends at entry 3 but 5 entries were written: entries were removed from the end"
    ]


def test_truncated_at_every_length_is_detected(ledger: Ledger) -> None:
    whole = ledger.path.read_bytes()
    for length in range(len(whole)):
        ledger.path.write_bytes(whole[:length])
        assert ledger.verify(), f"truncation to {length} bytes not detected"


def test_missing_head_is_reported(ledger: Ledger) -> None:
    ledger.head_path.unlink()
    assert any("missing" in p for p in ledger.verify())


def test_append_after_an_interrupted_write_keeps_the_chain(ledger: Ledger) -> None:
    whole = ledger.path.read_bytes()
    ledger.path.write_bytes(whole + b'{"v":1,"seq":6,"ts":')  # a crash mid-append
    entry = ledger.append("opted_out", "person", {}, ts=T0 + 900)
    assert entry.seq == 6 and entry.prev == ledger.read()[4].hash
    problems = ledger.verify()
    assert len(problems) == 1 and problems[0].startswith("line 6: unreadable"), problems


@pytest.mark.parametrize(
    ("action", "actor", "details"),
    [
        ("Opted In", "person", {}),
        ("opted_in", "someone", {}),
        ("opted_in", "person", {"text": ["nested"]}),
        ("opted_in", "person", {"text": "x" * 501}),
    ],
)
def test_append_refuses_bad_fields(
    tmp_path: Path, action: str, actor: str, details: dict[str, object]
) -> None:
    led = Ledger(tmp_path / "l")
    with pytest.raises(LedgerError):
        led.append(action, actor, details)
    assert not led.path.exists()


def test_unwritable_ledger_raises_a_clear_error(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "no-such-folder" / "consent.ledger")
    with pytest.raises(LedgerError, match="cannot open the consent ledger"):
        led.append("opted_in", "person")


def test_transitions_become_ledger_lines(tmp_path: Path) -> None:
    now = [T0]
    m = ConsentMachine(tmp_path / "state.json", clock=lambda: now[0], monotonic=lambda: now[0])

    def snooze_ends() -> Transition | None:
        now[0] += 900
        return m.tick()

    led = Ledger(tmp_path / "consent.ledger")
    for t in (m.opt_in(), m.snooze(15), snooze_ends(), m.opt_out()):
        assert t is not None
        led.append_transition(t)
    entries = led.read()
    assert [(e.action, e.actor, e.ts) for e in entries] == [
        ("opted_in", "person", T0),
        ("paused", "person", T0),
        ("snooze_expired", "system", T0 + 900),
        ("opted_out", "person", T0 + 900),
    ]
    assert entries[1].details["until"] == T0 + 900
    assert entries[1].details["to"] == "snoozed"
    assert led.verify() == []

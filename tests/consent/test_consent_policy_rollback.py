"""Attacks on the fleet policy's order: replay, undated, same date, future, tampered record.

Issue 16, item 3: whoever controls the policy's location (not the key) served a
`collect: false` policy, then an older `collect: true` one signed by the same key; it was
refused once and accepted at the next refresh, and the refusal dropped the accepted
policy. Here the replay is refused at every refresh and after every restart, the
accepted policy stays in force, and the durable record fails closed when forged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from consent.errors import PolicyIssuedInFuture, PolicyRecordCorrupt, PolicyRollback
from consent.policy import PolicyKeyPair, generate_policy_keypair, sign_policy, verify_policy
from consent.policy_record import (
    MAX_CLOCK_SKEW,
    MAX_RECORD_BYTES,
    AcceptedPolicy,
    load_record,
    save_record,
)
from consent.refresher import COLLECTION_PAUSED, PolicyRefresher, apply_decision
from consent.sources import FilePolicySource
from consent.state import ConsentMachine, StateName
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for

NOW = 1_790_000_000.0  # 2026-09-21T13:33:20Z
LEASE_END = NOW + 7 * 86400
OLDER, NEWER = NOW - 7200, NOW - 3600


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def org() -> PolicyKeyPair:
    return generate_policy_keypair()


def signed(org: PolicyKeyPair, issued: float | None, **changes: Any) -> bytes:
    doc: dict[str, Any] = {"version": 1, "collect": True, "not_after": iso(LEASE_END)}
    if issued is not None:
        doc["issued_at"] = iso(issued)
    doc.update(changes)
    return sign_policy(doc, org.private_pem)


class Home:
    """A policy file the attacker controls, and the agent's cache and record."""

    def __init__(self, root: Path, org: PolicyKeyPair) -> None:
        self.org = org
        self.served = root / "served.json"
        self.cache = root / "home" / "policy-cache.json"
        self.record = root / "home" / "policy-accepted.json"
        self.cache.parent.mkdir()
        self.clock = Clock()

    def serve(self, blob: bytes) -> None:
        self.served.write_bytes(blob)

    def refresher(self) -> PolicyRefresher:
        """A refresher as the daemon builds one: a new one is a restart."""
        return PolicyRefresher(
            FilePolicySource(self.served),
            self.org.public,
            clock=self.clock,
            interval=60,
            cache_path=self.cache,
            record_path=self.record,
        )


@pytest.fixture
def home(tmp_path: Path, org: PolicyKeyPair) -> Home:
    return Home(tmp_path, org)


def killed(home: Home) -> tuple[PolicyRefresher, ConsentMachine]:
    """An opted-in person under a refresher that accepted the kill switch (issued NEWER)."""
    machine = ConsentMachine(home.cache.parent / "state.json", clock=home.clock)
    machine.opt_in()
    home.serve(signed(home.org, NEWER, collect=False))
    refresher = home.refresher()
    decision = refresher.refresh()
    assert decision.block_reason == COLLECTION_PAUSED
    apply_decision(machine, decision)
    assert machine.state.name is StateName.BLOCKED
    return refresher, machine


def assert_replay_refused(refresher: PolicyRefresher, machine: ConsentMachine) -> None:
    decision = refresher.refresh()
    assert decision.blocked, "the replayed collect: true unblocked capture"
    assert isinstance(decision.error, PolicyRollback)
    assert "replayed old policy is refused" in str(decision.error)
    assert decision.policy is not None and decision.policy.collect is False  # still in force
    assert refresher.policy is decision.policy
    apply_decision(machine, decision)
    assert machine.state.name is StateName.BLOCKED and not machine.is_recording


# -- replay across refreshes and restarts ---------------------------------------------------


def test_replayed_older_collect_true_is_refused_at_every_refresh(home: Home) -> None:
    refresher, machine = killed(home)
    home.serve(signed(home.org, OLDER, collect=True))  # genuine, same key, an hour older
    for round_ in range(1, 11):
        home.clock.now += 60
        assert refresher.due()
        assert_replay_refused(refresher, machine)
        assert refresher.policy is not None, f"refresh {round_} dropped the accepted policy"


def test_replay_is_refused_after_a_restart(home: Home) -> None:
    _, machine = killed(home)
    home.serve(signed(home.org, OLDER, collect=True))
    for _ in range(3):  # three restarts, each with a few refreshes
        restarted = home.refresher()
        assert restarted.policy is not None and restarted.policy.collect is False  # the cache
        for _ in range(3):
            home.clock.now += 60
            assert_replay_refused(restarted, machine)
    record = json.loads(home.record.read_bytes())
    assert record["issued_at"] == iso(NEWER)


def test_replay_is_refused_after_a_restart_that_lost_the_cache(home: Home) -> None:
    killed(home)
    home.cache.unlink()  # the record alone still holds the floor
    home.serve(signed(home.org, OLDER, collect=True))
    decision = home.refresher().refresh()
    assert decision.blocked and decision.policy is None
    assert isinstance(decision.error, PolicyRollback)


def test_cache_swapped_for_an_older_genuine_policy_is_ignored(home: Home) -> None:
    killed(home)
    older = signed(home.org, OLDER, collect=True)
    home.cache.write_bytes(older)  # someone with the person's account plants the old one
    home.serve(older)
    restarted = home.refresher()
    assert restarted.policy is None  # not taken from the cache
    decision = restarted.refresh()
    assert decision.blocked and isinstance(decision.error, PolicyRollback)


def test_a_newer_policy_lifts_the_kill_switch(home: Home) -> None:
    refresher, machine = killed(home)
    home.serve(signed(home.org, OLDER, collect=True))
    assert_replay_refused(refresher, machine)
    home.serve(signed(home.org, NOW, collect=True))  # the organisation's own decision
    decision = refresher.refresh()
    assert not decision.blocked and decision.error is None
    apply_decision(machine, decision)
    assert machine.is_recording
    assert json.loads(home.record.read_bytes())["issued_at"] == iso(NOW)


def test_refusal_with_collect_true_held_blocks_but_keeps_the_policy(home: Home) -> None:
    home.serve(signed(home.org, NEWER))
    refresher = home.refresher()
    assert not refresher.refresh().blocked
    held = refresher.policy
    home.serve(signed(home.org, OLDER, collect=True, max_sensitivity=4))
    decision = refresher.refresh()
    assert decision.blocked and str(decision.block_reason).startswith("fleet policy refused: ")
    assert decision.policy is held  # its denylist and scope stay, not the replay's
    assert home.cache.read_bytes() == signed(home.org, NEWER)


# -- undated, same date, future -----------------------------------------------------------------


def test_undated_policy_after_a_dated_one_counts_as_the_epoch(home: Home) -> None:
    refresher, _ = killed(home)
    home.serve(signed(home.org, None, collect=True))
    decision = refresher.refresh()
    assert decision.blocked and isinstance(decision.error, PolicyRollback)
    assert "no issued_at" in str(decision.error) and "1970-01-01T00:00:00Z" in str(decision.error)
    assert decision.policy is not None and decision.policy.collect is False
    assert isinstance(home.refresher().refresh().error, PolicyRollback)  # and after a restart


def test_undated_policies_are_accepted_until_a_dated_one_is(home: Home) -> None:
    home.serve(signed(home.org, None))
    refresher = home.refresher()
    assert not refresher.refresh().blocked
    home.serve(signed(home.org, None, collect=False))  # as agents before issued_at did
    assert refresher.refresh().block_reason == COLLECTION_PAUSED
    assert not home.record.exists()  # an undated policy sets no floor
    home.serve(signed(home.org, OLDER))
    assert not refresher.refresh().blocked
    home.serve(signed(home.org, None))
    assert isinstance(refresher.refresh().error, PolicyRollback)


def test_same_date_with_other_content_is_refused(home: Home) -> None:
    refresher, _ = killed(home)
    same = signed(home.org, NEWER, collect=False)
    home.serve(same)
    assert refresher.refresh().error is None  # the same policy again is fine
    home.serve(signed(home.org, NEWER, collect=True))
    decision = refresher.refresh()
    assert isinstance(decision.error, PolicyRollback) and "content differs" in str(decision.error)
    assert decision.blocked and decision.policy is not None and not decision.policy.collect
    assert isinstance(home.refresher().refresh().error, PolicyRollback)


def test_policy_from_the_future_is_refused_and_sets_no_floor(home: Home) -> None:
    refresher, _ = killed(home)
    far = NOW + MAX_CLOCK_SKEW + 60
    home.serve(signed(home.org, far, collect=True))
    decision = refresher.refresh()
    assert isinstance(decision.error, PolicyIssuedInFuture)
    assert decision.blocked and decision.policy is not None and not decision.policy.collect
    assert json.loads(home.record.read_bytes())["issued_at"] == iso(NEWER)
    home.serve(signed(home.org, NOW + 1))  # newer, within the clock skew: accepted
    assert not refresher.refresh().blocked


# -- the durable record, missing, corrupt or hostile -------------------------------------------


def _symlink(home: Home) -> None:
    target = home.record.with_name("elsewhere.json")
    save_record(target, AcceptedPolicy(dt.datetime(1971, 1, 1, tzinfo=dt.UTC), "0" * 64))
    home.record.unlink()
    home.record.symlink_to(target)


def _fifo(home: Home) -> None:
    home.record.unlink()
    os.mkfifo(home.record)


def _directory(home: Home) -> None:
    home.record.unlink()
    home.record.mkdir()


def _write(data: bytes) -> Any:
    return lambda home: home.record.write_bytes(data)


def _edit(**changes: Any) -> Any:
    def edit(home: Home) -> None:
        record = json.loads(home.record.read_bytes())
        record.update(changes)
        home.record.write_bytes(json.dumps(record).encode())

    return edit


TAMPERED = {
    "garbage": _write(b"\x00\xffnot json"),
    "empty": _write(b""),
    "deep nesting": _write(b"[" * 2000 + b"]" * 2000),
    "oversized": _write(b" " * (MAX_RECORD_BYTES + 1) + b"{}"),
    "a list": _write(b"[]"),
    "unknown field": _edit(extra=1),
    "missing hash": _edit(sha256=None),
    "bad hash": _edit(sha256="zz" * 32),
    "date without zone": _edit(issued_at="2026-01-01T00:00:00"),
    "date in the far future": _edit(issued_at="2999-01-01T00:00:00Z"),
    "wrong format": _edit(format="something-else"),
    "wrong version": _edit(v=2),
    "symlink": _symlink,
    "fifo": _fifo,
    "directory": _directory,
}


@pytest.mark.parametrize("how", list(TAMPERED))
def test_tampered_record_fails_closed_with_a_clear_message(home: Home, how: str) -> None:
    killed(home)
    TAMPERED[how](home)
    home.serve(signed(home.org, OLDER, collect=True))
    restarted = home.refresher()
    assert restarted.policy is None
    for _ in range(3):
        home.clock.now += 60
        decision = restarted.refresh()
        assert decision.blocked and isinstance(decision.error, PolicyRecordCorrupt)
        reason = str(decision.block_reason)
        assert str(home.record) in reason and "remove the file" in reason
        assert "\n" not in reason
    # The person (or an administrator) removes it: the next genuine policy is taken as new.
    if home.record.is_dir() and not home.record.is_symlink():
        home.record.rmdir()
    else:
        home.record.unlink()
    home.serve(signed(home.org, NOW, collect=False))
    decision = restarted.refresh()
    assert decision.error is None and decision.block_reason == COLLECTION_PAUSED


def test_record_dated_like_the_policy_but_another_hash_blocks(home: Home) -> None:
    killed(home)
    _edit(sha256="ab" * 32)(home)  # forged to make the genuine current policy look changed
    decision = home.refresher().refresh()
    assert decision.blocked and isinstance(decision.error, PolicyRollback)


def test_record_owned_by_another_user_is_refused(home: Home) -> None:
    if os.getuid() != 0:
        pytest.skip("changing a file's owner needs root")  # runs where the suite runs as root
    killed(home)
    os.chown(home.record, 12345, 12345)
    with pytest.raises(PolicyRecordCorrupt, match="owned by another user"):
        load_record(home.record, NOW)


def test_missing_record_is_rebuilt_from_the_cached_policy(home: Home) -> None:
    killed(home)
    home.record.unlink()  # an agent from before the record, or a lost file
    home.serve(signed(home.org, OLDER, collect=True))
    restarted = home.refresher()
    decision = restarted.refresh()
    assert decision.blocked and isinstance(decision.error, PolicyRollback)
    assert json.loads(home.record.read_bytes())["issued_at"] == iso(NEWER)


def test_unwritable_record_never_holds_back_a_kill_switch(
    tmp_path: Path, org: PolicyKeyPair
) -> None:
    served = tmp_path / "served.json"
    served.write_bytes(signed(org, NEWER, collect=False))
    refresher = PolicyRefresher(
        FilePolicySource(served),
        org.public,
        clock=Clock(),
        record_path=tmp_path / "absent-folder" / "policy-accepted.json",
    )
    assert refresher.refresh().block_reason == COLLECTION_PAUSED
    served.write_bytes(signed(org, OLDER))
    assert isinstance(refresher.refresh().error, PolicyRollback)  # the floor held in memory


# -- org sign-policy dates every policy ---------------------------------------------------------


def _sign(tmp_path: Path, keys: Path, doc: dict[str, Any], name: str) -> tuple[bytes, str]:
    unsigned = tmp_path / f"{name}.unsigned.json"
    unsigned.write_text(json.dumps(doc))
    out = tmp_path / f"{name}.json"
    done = run_cli(
        tmp_path / "h",
        "org",
        "sign-policy",
        str(unsigned),
        "--key",
        str(keys / "policy-signing.pem"),
        "--lease-hours",
        "1",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    return out.read_bytes(), done.stderr


@pytest.fixture
def org_keys(tmp_path: Path) -> tuple[Path, str]:
    keys = tmp_path / "org-keys"
    done = run_cli(tmp_path / "h", "org", "keygen", "--out", str(keys), "--json")
    assert done.returncode == 0, done.stderr
    return keys, json.loads(done.stdout)["policy_public_key"]


def test_sign_policy_writes_issued_at(tmp_path: Path, org_keys: tuple[Path, str]) -> None:
    keys, public = org_keys
    before = dt.datetime.now(dt.UTC)
    first, _ = _sign(tmp_path, keys, {"version": 1, "collect": True}, "first")
    second, note = _sign(
        tmp_path,
        keys,
        {"version": 1, "collect": False, "issued_at": "2020-01-01T00:00:00Z"},
        "second",
    )
    after = dt.datetime.now(dt.UTC)
    a, b = verify_policy(first, public), verify_policy(second, public)
    assert a.issued_at is not None and b.issued_at is not None
    assert before <= a.issued_at < b.issued_at <= after  # dated now, to the microsecond
    assert "replaced by the signing time" in note  # an old date in the file is not kept
    assert json.loads(first)["policy"]["issued_at"].endswith("Z")


def test_policies_signed_in_turn_cannot_be_replayed(
    tmp_path: Path, org_keys: tuple[Path, str]
) -> None:
    """The issue's reproduction with the real tool: sign collect: true, then collect:
    false; serving the first again after the second is refused."""
    keys, public = org_keys
    on, _ = _sign(tmp_path, keys, {"version": 1, "collect": True}, "on")
    off, _ = _sign(tmp_path, keys, {"version": 1, "collect": False}, "off")
    served = tmp_path / "served.json"
    served.write_bytes(off)
    refresher = PolicyRefresher(
        FilePolicySource(served), public, record_path=tmp_path / "policy-accepted.json"
    )
    assert refresher.refresh().block_reason == COLLECTION_PAUSED
    served.write_bytes(on)
    for _ in range(3):
        decision = refresher.refresh()
        assert decision.blocked and isinstance(decision.error, PolicyRollback)


# -- the real daemon, restarted ----------------------------------------------------------------

TRACE_LINE = '{"type":"mouse_move","t":%s,"x":%d,"y":5}'


def _status(home: Path) -> dict[str, Any]:
    done = run_cli(home, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _policy_error(home: Path) -> str:
    policy = _status(home)["consent"].get("policy") or {}
    return str(policy.get("error") or "")


def test_daemon_keeps_the_kill_switch_against_a_replay_across_restarts(
    tmp_path: Path, org_keys: tuple[Path, str]
) -> None:
    keys, public = org_keys
    on, _ = _sign(tmp_path, keys, {"version": 1, "collect": True}, "on")
    off, _ = _sign(tmp_path, keys, {"version": 1, "collect": False}, "off")
    home = recording_home(tmp_path)
    served = tmp_path / "served.json"
    served.write_bytes(off)
    with (home / "config.toml").open("a") as handle:
        handle.write(
            f'\n[policy]\nlocation = "{served}"\npublic_key = "{public}"\nrefresh_interval = 5\n'
        )
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(TRACE_LINE % (i / 10, i) for i in range(1200)) + "\n")
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, proc)
        wait_for(lambda: _status(home)["state"] == "blocked", "the kill switch")
        served.write_bytes(on)  # the replay
        wait_for(lambda: "replayed old policy" in _policy_error(home), "the replay's refusal")
        now = _status(home)
        assert now["state"] == "blocked" and now["consent"]["policy"]["collect"] is False
    finally:
        stop_agent(proc)
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, proc)
        wait_for(lambda: "replayed old policy" in _policy_error(home), "the refusal after restart")
        now = _status(home)
        assert now["state"] == "blocked" and now["consent"]["policy"]["collect"] is False
    finally:
        stop_agent(proc)
    done = run_cli(home, "export")
    assert done.returncode == 0, done.stderr
    moves = [line for line in done.stdout.splitlines() if '"mouse_move"' in line]
    assert moves == [], "something was recorded while the kill switch was in force"

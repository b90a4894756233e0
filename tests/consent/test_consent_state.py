"""The consent state machine: transitions, persistence, fail-closed loading."""

from __future__ import annotations

import contextlib
import json
import stat
from pathlib import Path

import pytest

from consent.errors import SnoozeInvalid, SnoozeTooLong, StateWriteError, TransitionRefused
from consent.state import (
    BLOCK_DISK,
    BLOCK_POLICY,
    Choice,
    ConsentMachine,
    ConsentState,
    Mode,
    StateName,
)

T0 = 1_700_000_000.0


class FakeClock:
    """A wall clock (called) and a monotonic one (``mono``) the test moves together by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.mono_now = 1000.0
        self.boot = "boot-1"

    def __call__(self) -> float:
        return self.now

    def mono(self) -> float:
        return self.mono_now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        self.mono_now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "consent.json"


def machine(path: Path, clock: FakeClock, mode: Mode = "opt-in") -> ConsentMachine:
    return ConsentMachine(
        path, mode=mode, clock=clock, monotonic=clock.mono, boot_id=lambda: clock.boot
    )


def test_opt_in_mode_starts_without_consent(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    assert m.state == ConsentState(StateName.NO_CONSENT)
    assert not m.is_recording
    assert not path.exists()  # nothing chosen, nothing written


def test_opt_out_mode_starts_recording(path: Path, clock: FakeClock) -> None:
    assert machine(path, clock, "opt-out").state.name is StateName.RECORDING


def test_opt_in_records_and_returns_a_transition(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    t = m.opt_in()
    assert t is not None
    assert (t.kind, t.old.name, t.new.name, t.actor, t.ts) == (
        "opted_in",
        StateName.NO_CONSENT,
        StateName.RECORDING,
        "person",
        T0,
    )
    assert m.is_recording
    assert m.opt_in() is None  # already so: nothing changes, no marker


def test_transition_becomes_a_marker(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    clock.advance(5)
    t = m.snooze(10)
    marker = t.marker(mono=42.0)
    assert (marker.kind, marker.ts, marker.mono) == ("paused", T0 + 5, 42.0)
    assert marker.detail["from"] == "recording" and marker.detail["to"] == "snoozed"
    assert marker.detail["until"] == T0 + 5 + 600


def test_opt_out_from_recording_and_back(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    t = m.opt_out()
    assert t is not None and (t.kind, t.new.name) == ("opted_out", StateName.OPTED_OUT)
    assert not m.is_recording
    t = m.opt_in()
    assert t is not None and t.old.name is StateName.OPTED_OUT and m.is_recording


def test_opt_out_without_ever_opting_in(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock, "opt-out")
    t = m.opt_out()
    assert t is not None and t.old.name is StateName.RECORDING
    assert m.state.name is StateName.OPTED_OUT


def test_snooze_then_expire_on_time(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    t = m.snooze(30)
    assert t.new == ConsentState(StateName.SNOOZED, until=T0 + 1800)
    clock.advance(60)
    assert m.snooze_seconds_left() == 1740
    clock.advance(1739.9)
    assert m.tick() is None
    assert m.state.name is StateName.SNOOZED
    clock.advance(0.1)
    t2 = m.tick()
    assert t2 is not None
    assert (t2.kind, t2.actor, t2.new.name, t2.ts) == (
        "snooze_expired",
        "system",
        StateName.RECORDING,
        T0 + 1800,
    )
    clock.advance(1)
    assert m.tick() is None and m.snooze_seconds_left() is None


def test_tick_uses_the_clock_by_default(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.snooze(1)
    clock.advance(59)
    assert m.tick() is None
    clock.advance(1)
    assert m.tick() is not None and m.is_recording


def test_resume_ends_a_snooze_early(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.snooze(5)
    clock.advance(10)
    t = m.resume()
    assert t is not None and (t.kind, t.new.name, t.ts) == ("resumed", StateName.RECORDING, T0 + 10)
    assert m.resume() is None  # already recording
    clock.advance(10_000)
    assert m.tick() is None  # the old snooze end no longer matters


def test_snooze_again_restarts_from_now(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.snooze(5)
    clock.advance(120)
    assert m.snooze(5).new.until == T0 + 120 + 300


def test_snooze_in_opt_out_mode_resumes_to_undecided(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock, "opt-out")
    m.snooze(1)
    clock.advance(60)
    m.tick()
    assert m.choice is Choice.UNDECIDED and m.is_recording


@pytest.mark.parametrize("minutes", [31, 60, 10_000])
def test_oversize_snooze_names_the_maximum(path: Path, clock: FakeClock, minutes: int) -> None:
    m = machine(path, clock)
    m.opt_in()
    with pytest.raises(SnoozeTooLong, match="the maximum is 30 minutes") as info:
        m.snooze(minutes)
    assert info.value.maximum == 30
    assert m.is_recording


def test_policy_lowers_the_snooze_maximum(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.set_snooze_max(10)
    with pytest.raises(SnoozeTooLong, match="maximum is 10 minutes"):
        m.snooze(11)
    assert m.snooze(10).new.until == T0 + 600
    m.set_snooze_max(99)  # never above 30
    assert m.snooze_max_minutes == 30


@pytest.mark.parametrize("minutes", [0, -5, True, 2.5, "10"])
def test_snooze_needs_whole_minutes_from_one(path: Path, clock: FakeClock, minutes: object) -> None:
    m = machine(path, clock)
    m.opt_in()
    with pytest.raises(SnoozeInvalid):
        m.snooze(minutes)  # type: ignore[arg-type]


def test_snooze_and_resume_refused_when_not_recording(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    with pytest.raises(TransitionRefused, match="not opted in"):
        m.snooze(5)
    with pytest.raises(TransitionRefused, match="not opted in"):
        m.resume()
    m.opt_out()
    with pytest.raises(TransitionRefused, match="opted out"):
        m.snooze(5)
    with pytest.raises(TransitionRefused, match="opted out"):
        m.resume()


def test_block_overrides_and_unblock_returns_to_recording(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    t = m.block("fleet paused")
    assert t is not None and (t.kind, t.actor) == ("blocked", "policy")
    assert m.state == ConsentState(StateName.BLOCKED, reason="fleet paused")
    assert m.person_state.name is StateName.RECORDING
    assert m.block("fleet paused") is None  # same block again: no new marker
    t = m.unblock()
    assert t is not None and (t.kind, t.new.name) == ("unblocked", StateName.RECORDING)
    assert m.unblock() is None


@pytest.mark.parametrize("choose", ["opt_out", "snooze"])
def test_unblock_never_overrides_the_person(path: Path, clock: FakeClock, choose: str) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.block("fleet paused")
    if choose == "opt_out":
        m.opt_out()
    else:
        m.snooze(5)
    assert m.state.name is StateName.BLOCKED
    m.unblock()
    assert m.state.name is (StateName.OPTED_OUT if choose == "opt_out" else StateName.SNOOZED)
    assert not m.is_recording


def test_snooze_expiring_while_blocked_stays_blocked(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.snooze(1)
    m.block("disk full", BLOCK_DISK)
    clock.advance(60)
    t = m.tick()
    assert t is not None and t.new.name is StateName.BLOCKED and t.actor == "system"
    assert not m.is_recording
    m.unblock(BLOCK_DISK)
    assert m.is_recording


def test_blocks_from_two_sources_are_independent(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.block("fleet paused", BLOCK_POLICY)
    m.block("disk cap reached", BLOCK_DISK)
    assert m.state.reason == "disk cap reached; fleet paused"
    m.unblock(BLOCK_POLICY)
    assert m.state == ConsentState(StateName.BLOCKED, reason="disk cap reached")
    m.unblock(BLOCK_DISK)
    assert m.is_recording


def test_mode_change_moves_an_undecided_person(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    t = m.set_mode("opt-out")
    assert t is not None and (t.kind, t.actor, t.new.name) == (
        "mode_changed",
        "policy",
        StateName.RECORDING,
    )
    assert m.is_recording_at(T0)
    t = m.set_mode("opt-in")
    assert t is not None and t.new.name is StateName.NO_CONSENT
    m.opt_out()
    assert m.set_mode("opt-out") is None  # an opted-out person stays opted out


# -- persistence -------------------------------------------------------------------


def test_state_file_is_private_json(path: Path, clock: FakeClock) -> None:
    machine(path, clock).opt_in()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["choice"] == "opted_in"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp leftovers


@pytest.mark.parametrize("mode", ["opt-in", "opt-out"])
def test_opted_out_survives_restart(path: Path, clock: FakeClock, mode: Mode) -> None:
    m = machine(path, clock, mode)
    m.opt_in()
    m.opt_out()
    again = machine(path, clock, mode)
    assert again.state.name is StateName.OPTED_OUT
    assert not again.is_recording_at(clock.now)
    clock.advance(86_400)
    assert again.tick() is None


def test_opted_in_survives_restart(path: Path, clock: FakeClock) -> None:
    machine(path, clock).opt_in()
    assert machine(path, clock).is_recording


def test_snooze_survives_restart_and_expires_on_time(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.snooze(20)
    clock.advance(300)  # crash, reboot five minutes later
    again = machine(path, clock)
    assert again.state == ConsentState(StateName.SNOOZED, until=T0 + 1200)
    assert not again.is_recording_at(clock.now)
    clock.advance(899)
    assert again.tick() is None
    clock.advance(1)
    t = again.tick()
    assert t is not None and t.kind == "snooze_expired" and again.is_recording
    assert machine(path, clock).is_recording  # the expiry was saved


def test_snooze_that_ended_while_down_expires_at_first_tick(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.snooze(5)
    clock.advance(3600)
    again = machine(path, clock)
    assert not again.is_recording  # not until the daemon's first tick says so
    t = again.tick()
    assert t is not None and t.kind == "snooze_expired" and again.is_recording


def test_block_survives_restart(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    m.opt_in()
    m.block("fleet paused")
    again = machine(path, clock)
    assert again.state == ConsentState(StateName.BLOCKED, reason="fleet paused")
    again.unblock()
    assert again.is_recording


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": 99, "choice": "opted_in"}',
        b'{"format": 1, "choice": "yes please"}',
        b'{"format": 1, "choice": "snoozed", "blocks": {}}',
        b'{"format": 1, "choice": "opted_in", "blocks": ["x"]}',
    ],
)
@pytest.mark.parametrize("mode", ["opt-in", "opt-out"])
def test_corrupt_state_file_fails_closed(
    path: Path, clock: FakeClock, content: bytes, mode: Mode
) -> None:
    path.write_bytes(content)
    m = machine(path, clock, mode)  # never raises
    assert m.load_error is not None
    assert str(path) in str(m.load_error) and "recording stays off" in str(m.load_error)
    assert m.state.name is StateName.BLOCKED and not m.is_recording
    assert not m.is_recording_at(clock.now)
    assert path.read_bytes() == content  # kept for inspection until the person acts
    with contextlib.suppress(TransitionRefused):
        m.resume()
    assert m.unblock(BLOCK_POLICY) is None
    assert not m.is_recording
    # A restart before the person acts is still closed.
    assert not machine(path, clock, mode).is_recording
    # The person restating their choice clears it.
    t = m.opt_in()
    assert t is not None and m.is_recording
    assert machine(path, clock, mode).is_recording


def test_corrupt_state_then_opt_out(path: Path, clock: FakeClock) -> None:
    path.write_bytes(b"garbage")
    m = machine(path, clock, "opt-out")
    m.opt_out()
    assert m.state.name is StateName.OPTED_OUT
    assert machine(path, clock, "opt-out").state.name is StateName.OPTED_OUT


def test_unreadable_state_file_fails_closed(path: Path, clock: FakeClock) -> None:
    # A folder where the file should be: unreadable even for root (CI runs as root).
    path.mkdir()
    m = machine(path, clock, "opt-out")
    assert not m.is_recording
    assert m.load_error is not None


def test_write_failure_refuses_recording_but_never_refuses_a_pause(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "missing-folder" / "consent.json"
    m = ConsentMachine(path, mode="opt-out", clock=clock, monotonic=clock.mono)
    assert m.is_recording  # opt-out mode, undecided
    t = m.snooze(5)  # cannot be saved, but a pause is never refused
    assert not t.saved and t.marker(0.0).detail["saved"] is False
    assert not m.is_recording
    with pytest.raises(StateWriteError, match="nothing changed"):
        m.resume()
    assert m.state.name is StateName.SNOOZED
    m.opt_out()
    assert m.state.name is StateName.OPTED_OUT


# -- recording history, for the gate -----------------------------------------------


def test_recording_history_is_half_open(path: Path, clock: FakeClock) -> None:
    m = machine(path, clock)
    assert not m.is_recording_at(T0)
    clock.advance(10)
    m.opt_in()  # on at T0+10
    clock.advance(10)
    m.snooze(1)  # off at T0+20
    clock.advance(60)
    m.tick()  # on at T0+80
    clock.advance(40)
    m.opt_out()  # off at T0+120
    assert [
        m.is_recording_at(T0 + s) for s in (9.99, 10, 19.99, 20, 79.9, 80, 119.9, 120, 500)
    ] == [False, True, True, False, False, True, True, False, False]
    assert m.intervals() == [(T0 + 10, T0 + 20), (T0 + 80, T0 + 120)]


def test_state_path_that_cannot_be_read_fails_closed(path: Path, clock: FakeClock) -> None:
    path.mkdir()  # reading a folder fails with an OSError, whoever runs the test
    m = machine(path, clock, "opt-out")
    assert m.load_error is not None and "cannot read" in str(m.load_error)
    assert not m.is_recording

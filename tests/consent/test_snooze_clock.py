"""Attacks on the snooze's clock (issue 16, item 9).

The wall clock can be stepped (NTP, a person, anyone allowed to set the time). A snooze
that ran on it ended at once after a step forward and lasted 210 minutes after a step
back. It now runs on a monotonic clock; the wall clock only names its end and carries it
across a reboot, where it is trusted up to the snooze's own length and no further.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.paths import resolve_paths
from agent.runtime.consent import ConsentRuntime
from agent.runtime.status import read_status, to_plain
from agent.tray.app import view_of
from consent.snooze_clock import boot_clock, current_boot_id, remaining
from consent.state import ConsentMachine, StateName
from tests.agent_status import daemon_reply
from tests.cli_helpers import run_cli

T0 = 1_700_000_000.0
MINUTE = 60.0
HOUR = 3600.0


class Clocks:
    """A wall clock (called), a monotonic one (``mono``) and a boot id, moved by hand."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono_now = 5000.0
        self.boot = "boot-1"

    def __call__(self) -> float:
        return self.wall

    def mono(self) -> float:
        return self.mono_now

    def advance(self, seconds: float) -> None:
        """Real time passes: both clocks move."""
        self.wall += seconds
        self.mono_now += seconds

    def step_wall(self, seconds: float) -> None:
        """The wall clock is set: only it moves."""
        self.wall += seconds

    def reboot(self, seconds_off: float) -> None:
        """The machine is off for ``seconds_off``: a new boot, its clock starts again."""
        self.wall += seconds_off
        self.mono_now = 12.0
        self.boot = f"boot-after-{self.boot}"


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "consent.json"


def machine(path: Path, clocks: Clocks) -> ConsentMachine:
    return ConsentMachine(path, clock=clocks, monotonic=clocks.mono, boot_id=lambda: clocks.boot)


def snoozed_for(path: Path, clocks: Clocks, minutes: int = 30) -> ConsentMachine:
    m = machine(path, clocks)
    m.opt_in()
    m.snooze(minutes)
    return m


def run_until_expired(m: ConsentMachine, clocks: Clocks, step: float = 0.5) -> float:
    """Tick as the daemon does (every ``step`` s of real time); the monotonic seconds until
    the snooze expired (fails after four hours)."""
    start = clocks.mono_now
    while clocks.mono_now - start < 4 * HOUR:
        t = m.tick()
        if t is not None:
            assert t.kind == "snooze_expired" and m.is_recording
            return clocks.mono_now - start
        clocks.advance(step)
    raise AssertionError("the snooze never ended")


@pytest.mark.parametrize("wall_step", [2 * HOUR, -3 * HOUR])
def test_a_wall_step_neither_ends_nor_stretches_a_snooze(
    path: Path, clocks: Clocks, wall_step: float
) -> None:
    m = snoozed_for(path, clocks)
    clocks.advance(5 * MINUTE)
    clocks.step_wall(wall_step)
    assert m.tick() is None, "a wall step ended the snooze"
    assert m.state.name is StateName.SNOOZED
    assert m.snooze_seconds_left() == 25 * MINUTE
    # 25 more monotonic minutes, within one daemon tick: not at once, not after 210.
    assert run_until_expired(m, clocks) == pytest.approx(25 * MINUTE, abs=0.5)


def test_the_expiry_transition_is_stamped_on_the_stepped_wall(path: Path, clocks: Clocks) -> None:
    m = snoozed_for(path, clocks)
    clocks.step_wall(-3 * HOUR)
    clocks.advance(30 * MINUTE)
    t = m.tick()
    assert t is not None and t.ts == T0 - 3 * HOUR + 30 * MINUTE


@pytest.mark.parametrize("wall_step", [2 * HOUR, -3 * HOUR])
def test_status_and_tray_show_the_monotonic_minutes_left(
    tmp_path: Path, clocks: Clocks, wall_step: float
) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
    runtime = ConsentRuntime(
        paths, load_config(paths.config_file), clock=clocks, monotonic=clocks.mono
    )
    runtime.opt_in()
    runtime.pause(30)
    clocks.advance(5 * MINUTE)
    clocks.step_wall(wall_step)
    runtime.tick()
    status = runtime.status_record()
    assert status.state == "snoozed"
    assert status.minutes_left == 25.0 and status.seconds_left == 25 * MINUTE
    # The end shown is named in the wall clock as it now reads.
    assert status.until == clocks.wall + 25 * MINUTE
    reply = daemon_reply(state="snoozed", consent=to_plain(status))
    view = view_of(read_status(reply), None, clocks.wall, 30.0)
    assert "snoozed, 25 min left" in view.title and view.minutes_left == 25


def test_the_saved_end_follows_a_wall_step(path: Path, clocks: Clocks) -> None:
    # What a reboot falls back on must name the same instant as the monotonic end.
    m = snoozed_for(path, clocks)
    clocks.advance(MINUTE)
    clocks.step_wall(2 * HOUR)
    m.tick()
    saved = json.loads(path.read_text())
    assert saved["until"] == pytest.approx(clocks.wall + 29 * MINUTE)
    assert m.state.until == pytest.approx(clocks.wall + 29 * MINUTE)


@pytest.mark.parametrize("wall_step", [2 * HOUR, -3 * HOUR])
def test_a_restart_on_the_same_boot_keeps_the_monotonic_end(
    path: Path, clocks: Clocks, wall_step: float
) -> None:
    snoozed_for(path, clocks)
    clocks.advance(10 * MINUTE)
    clocks.step_wall(wall_step)  # stepped while the agent was down
    again = machine(path, clocks)
    assert again.state.name is StateName.SNOOZED and again.tick() is None
    assert again.snooze_seconds_left() == 20 * MINUTE
    assert run_until_expired(again, clocks) == pytest.approx(20 * MINUTE, abs=0.5)


def test_a_reboot_with_the_wall_set_back_grants_at_most_the_snooze_length(
    path: Path, clocks: Clocks
) -> None:
    snoozed_for(path, clocks)
    clocks.advance(10 * MINUTE)
    clocks.reboot(2 * MINUTE)
    clocks.step_wall(-3 * HOUR)  # the new boot's clock starts three hours behind
    again = machine(path, clocks)
    assert again.snooze_seconds_left() == 30 * MINUTE, "not 210 minutes"
    # The first load on this boot is saved against the boot clock: restarting again
    # ten minutes later cannot take the wall clock's word for another whole length.
    clocks.advance(10 * MINUTE)
    third = machine(path, clocks)
    assert third.snooze_seconds_left() == 20 * MINUTE
    assert run_until_expired(third, clocks) == pytest.approx(20 * MINUTE, abs=0.5)


def test_a_reboot_with_a_sane_wall_clock_keeps_the_rest(path: Path, clocks: Clocks) -> None:
    snoozed_for(path, clocks)
    clocks.advance(10 * MINUTE)
    clocks.reboot(5 * MINUTE)
    again = machine(path, clocks)
    assert again.snooze_seconds_left() == 15 * MINUTE


def test_a_reboot_after_the_end_has_ended_it(path: Path, clocks: Clocks) -> None:
    snoozed_for(path, clocks)
    clocks.reboot(2 * HOUR)
    again = machine(path, clocks)
    assert again.snooze_seconds_left() == 0.0
    t = again.tick()
    assert t is not None and t.kind == "snooze_expired"


@pytest.mark.parametrize(
    ("fields", "left"),
    [
        # A forged end ten years away, on this boot's clock or on the wall clock.
        ({"boot": "boot-1", "boot_until": 5000.0 + 10 * 365 * 86400}, 30 * MINUTE),
        ({"until": T0 + 10 * 365 * 86400}, 30 * MINUTE),
        ({"until": 1e308, "length": 60.0}, 60.0),
        ({"boot": "another boot", "boot_until": 1e300, "until": T0 + 120}, 120.0),
    ],
)
def test_a_forged_far_end_is_clamped_to_the_length(
    path: Path, clocks: Clocks, fields: dict[str, Any], left: float
) -> None:
    doc = {
        "format": 1,
        "choice": "snoozed",
        "resume_to": "opted_in",
        "until": T0 + 1800,
        "length": 1800.0,
        "blocks": {},
        **fields,
    }
    path.write_text(json.dumps(doc))
    m = machine(path, clocks)
    assert m.load_error is None and m.state.name is StateName.SNOOZED
    assert m.snooze_seconds_left() == left


@pytest.mark.parametrize(
    "fields",
    [
        {"until": float("nan")},
        {"until": float("inf")},
        {"length": 1801.0},
        {"length": 0},
        {"length": -5},
        {"length": "30"},
        {"length": True},
        {"boot": "boot-1"},
        {"boot_until": 6000.0},
        {"boot": 7, "boot_until": 6000.0},
        {"boot": "x" * 65, "boot_until": 6000.0},
        {"boot": "boot-1", "boot_until": float("nan")},
    ],
)
def test_a_bad_snooze_record_fails_closed(
    path: Path, clocks: Clocks, fields: dict[str, Any]
) -> None:
    doc = {
        "format": 1,
        "choice": "snoozed",
        "resume_to": "opted_in",
        "until": T0 + 600,
        "blocks": {},
        **fields,
    }
    path.write_text(json.dumps(doc))
    m = machine(path, clocks)
    assert m.load_error is not None and "recording stays off" in str(m.load_error)
    assert m.state.name is StateName.BLOCKED and not m.is_recording


def test_a_state_file_from_before_lengths_were_saved_is_trusted_up_to_the_maximum(
    path: Path, clocks: Clocks
) -> None:
    doc = {"format": 1, "choice": "snoozed", "resume_to": "opted_in", "until": T0 + 10 * HOUR}
    path.write_text(json.dumps(doc))
    assert machine(path, clocks).snooze_seconds_left() == 30 * MINUTE


def stepped_wall(step: float) -> Callable[[], float]:
    """The real wall clock, set ``step`` seconds away."""
    return lambda: time.time() + step


def test_the_real_clocks_survive_a_restart_with_the_wall_stepped(path: Path) -> None:
    # The production clocks: CLOCK_BOOTTIME and this machine's boot id.
    assert current_boot_id() is not None, "Linux always has a boot id"
    first = ConsentMachine(path)
    first.opt_in()
    first.snooze(30)
    for step in (2 * HOUR, -3 * HOUR):
        again = ConsentMachine(path, clock=stepped_wall(step))
        left = again.snooze_seconds_left()
        assert left is not None and 29 * MINUTE < left <= 30 * MINUTE
        assert again.tick() is None and again.state.name is StateName.SNOOZED


def test_remaining_is_bounded_by_the_length() -> None:
    common = {"length": 600.0, "wall_now": 100.0, "boot_now": 50.0}
    assert remaining(wall_until=10**9, boot_until=None, same_boot=False, **common) == 600.0
    assert remaining(wall_until=0.0, boot_until=10**9, same_boot=False, **common) == 0.0
    assert remaining(wall_until=0.0, boot_until=350.0, same_boot=True, **common) == 300.0
    assert remaining(wall_until=0.0, boot_until=float("inf"), same_boot=True, **common) == 600.0


def test_the_boot_clock_never_goes_back() -> None:
    readings = [boot_clock() for _ in range(1000)]
    assert readings == sorted(readings)


def test_status_names_the_minutes_left_and_the_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    assert run_cli(home, "pause", "--minutes", "20").returncode == 0
    done = run_cli(home, "status")
    assert done.returncode == 3, done.stderr  # not running (README's exit codes)
    line = next(x for x in done.stdout.splitlines() if x.startswith("snoozed:"))
    minutes = float(line.split()[1])
    assert 19.0 < minutes <= 20.0 and "(until " in line
    consent = json.loads(run_cli(home, "status", "--json").stdout)["consent"]
    assert consent["state"] == "snoozed" and 19.0 < consent["minutes_left"] <= 20.0

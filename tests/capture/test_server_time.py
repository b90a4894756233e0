"""capture/input/server_time.py: X server milliseconds to this process's clocks."""

from __future__ import annotations

import pytest

from capture.input.server_time import ServerClock


class Clocks:
    """Monotonic and wall clocks the test sets by hand (wall = mono + 1000)."""

    def __init__(self) -> None:
        self.now = 50.0

    def mono(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + 1000.0


def read_at(
    clock: ServerClock, clocks: Clocks, now: float, *server_ms: int
) -> list[tuple[float, float]]:
    """Read a batch at ``now``: its events' stamps, then the mapping learns from the last."""
    clocks.now = now
    clock.read()
    stamps = [clock.stamp(ms) for ms in server_ms]
    clock.learn(server_ms[-1])
    return stamps


def test_events_read_late_keep_the_time_they_happened() -> None:
    clocks = Clocks()
    clock = ServerClock(clocks.mono, clocks.wall)
    # The first event ever is stamped with its read; read at once, it sets the mapping.
    ((ts, mono),) = read_at(clock, clocks, 50.0002, 10_000)
    assert mono == pytest.approx(50.0002) and ts == pytest.approx(1050.0002)
    # A batch read 50 ms after its first event: each event keeps its own moment.
    batch = read_at(clock, clocks, 50.5602, 10_500, 10_510, 10_520, 10_530, 10_540)
    assert [m for _, m in batch] == pytest.approx([50.5002, 50.5102, 50.5202, 50.5302, 50.5402])
    assert [t - m for t, m in batch] == pytest.approx([1000.0] * 5)


def test_a_stamp_is_never_later_than_its_read() -> None:
    clocks = Clocks()
    clock = ServerClock(clocks.mono, clocks.wall)
    read_at(clock, clocks, 50.020, 10_000)  # the first read was 20 ms late
    ((_, mono),) = read_at(clock, clocks, 51.0, 11_000)  # this one came at once
    assert mono == pytest.approx(51.0)
    ((_, later),) = read_at(clock, clocks, 52.0, 12_000)  # ...and the mapping learnt it
    assert later == pytest.approx(52.0)
    ((_, early),) = read_at(clock, clocks, 53.5, 13_000)  # read 500 ms late: still 53.0
    assert early == pytest.approx(53.0)


def test_a_server_clock_that_jumps_back_restarts_the_mapping() -> None:
    clocks = Clocks()
    clock = ServerClock(clocks.mono, clocks.wall)
    read_at(clock, clocks, 50.0, 900_000)
    # The server's time went back (or its 32-bit milliseconds wrapped): the first
    # events after are stamped with their read, then the mapping is learnt again.
    ((_, mono),) = read_at(clock, clocks, 60.0, 5_000)
    assert mono == pytest.approx(60.0)
    ((_, after),) = read_at(clock, clocks, 60.7, 5_500)  # read 200 ms late
    assert after == pytest.approx(60.5)


def test_the_mapping_forgets_an_old_gap_after_two_windows() -> None:
    clocks = Clocks()
    clock = ServerClock(clocks.mono, clocks.wall)
    read_at(clock, clocks, 50.0, 0)
    # From here on the server's clock is 200 ms behind what it was (it was slewed):
    # under MAX_LAG, so no restart; the old mapping stamps events 200 ms early...
    ((_, early),) = read_at(clock, clocks, 51.0, 800)
    assert early == pytest.approx(50.8)
    # ...until the windows holding the old gap have passed.
    second = 1
    while second <= 2 * ServerClock.WINDOW + 1:
        second += 1
        ((_, mono),) = read_at(clock, clocks, 50.0 + second, second * 1000 - 200)
    assert mono == pytest.approx(50.0 + second)

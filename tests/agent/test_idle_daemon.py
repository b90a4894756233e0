"""An idle agent is quiet: at most one wake-up a second across all its threads, and no
more than 0.1 % of a core (a laptop on battery, the person away, the screen static).

The real daemon records on a real X server; once it has stored what it saw at start
and every thread is back in its wait, its wake-ups (voluntary context switches, Linux
/proc: one per sleep a thread wakes from) and its CPU time are counted over a stretch
of real idle time. A thread that polls (the pipeline ticked five times a second, the
main loop twice) fails this.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.agent_status import running_status
from tests.cli_helpers import recording_home, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for
from tests.xserver import XServer

pytestmark = [
    pytest.mark.x11,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc"),
]

IDLE_SECONDS = 10.0
MAX_WAKEUPS_PER_SECOND = 1.0
MAX_CPU_SHARE = 0.001  # of one core
QUIET_TO_SETTLE = 1.0  # no thread woke for this long: every one is back in its wait


def _switches(pid: int) -> dict[int, int]:
    """Every thread's voluntary context switches."""
    out: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        line = next(x for x in status.splitlines() if x.startswith("voluntary_ctxt_switches"))
        out[int(task.name)] = int(line.split()[1])
    return out


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time: per-thread run time in nanoseconds where the kernel keeps
    it (schedstat), else utime + stime in clock ticks (/proc/<pid>/stat)."""
    tasks = list(Path(f"/proc/{pid}/task").iterdir())
    try:
        return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Settled:
    """A condition: the switch counts once no thread has woken for QUIET_TO_SETTLE s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: dict[int, int] = {}
        self.since = time.monotonic()

    def __call__(self) -> dict[int, int] | None:
        now = _switches(self.pid)
        if now != self.seen:
            self.seen, self.since = now, time.monotonic()
            return None
        return now if time.monotonic() - self.since >= QUIET_TO_SETTLE else None


def test_an_idle_recording_agent_wakes_at_most_once_a_second(
    x_server: XServer, tmp_path: Path
) -> None:
    home = recording_home(tmp_path)
    config = home / "config.toml"
    # Chunks of one second: the chunk holding the start-up is sealed at once, and after
    # it nothing is left to seal (nothing happens).
    text = re.sub(r"(?m)^chunk_seconds = .*$", "chunk_seconds = 1", config.read_text())
    assert "chunk_seconds = 1\n" in text
    config.write_text(text)

    proc = start_agent(home, DISPLAY=x_server.display, WAYLAND_DISPLAY=None)
    try:
        wait_until_running(home, proc)
        # Recording, the screen's start-up frame taken and the chunk holding it sealed.
        wait_for(
            lambda: (
                (now := running_status(home)) is not None
                and now["state"] == "recording"
                and now["screen"]["frames"] >= 1
                and now["chunks_sealed"] >= 1
                and not now["health"]
            ),
            "the agent to record and seal its start-up",
        )
        settled = _Settled(proc.pid)
        try:
            before = wait_for(settled, "every thread of the agent back in its wait", timeout=20)
        except AssertionError:
            # A thread that polls never lets the agent settle: measure it as it is, so
            # the failure below counts its wake-ups.
            before = _switches(proc.pid)
        cpu_before, started = _cpu_seconds(proc.pid), time.monotonic()
        # Real idle time is the behaviour under test: the wake-ups in it are counted.
        time.sleep(IDLE_SECONDS)
        after, cpu_after = _switches(proc.pid), _cpu_seconds(proc.pid)
        elapsed = time.monotonic() - started
        assert proc.poll() is None, "the agent exited while idle"
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err

    woke = {tid: n - before.get(tid, 0) for tid, n in after.items()}
    total = sum(woke.values())
    busy = {tid: n for tid, n in woke.items() if n}
    assert total <= MAX_WAKEUPS_PER_SECOND * elapsed, (
        f"{total} wake-ups in {elapsed:.1f} s idle (thread id: count {busy})"
    )
    cpu = cpu_after - cpu_before
    assert cpu <= MAX_CPU_SHARE * elapsed, f"{cpu * 1000:.1f} ms of CPU in {elapsed:.1f} s idle"

"""Threads that wait for something sleep until it comes: no periodic wake-ups while idle.

Each wake-up costs CPU (~60-130 µs on the benchmark VM, docs/PERFORMANCE.md), and an
idle agent should cost nothing. Counted with the thread's voluntary context switches
(Linux /proc), which grow by one for every sleep it wakes from.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from agent.runtime.control import ControlServer, request
from capture.events import Event
from capture.window.x11 import X11WindowSource
from tests.waiting import Collector, wait_for
from tests.xserver import XServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")


def _switches(thread: threading.Thread) -> int:
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("voluntary_ctxt_switches"))
    return int(line.split()[1])


def _asleep(thread: threading.Thread) -> str | None:
    """Where the thread sleeps in the kernel, once it waits for a file descriptor."""
    wchan = Path(f"/proc/self/task/{thread.native_id}/wchan").read_text().strip()
    return wchan if any(w in wchan for w in ("poll", "select")) else None


def _settled_switches(thread: threading.Thread) -> int:
    """The switch count once the thread has gone back to its wait.

    A thread just done with a request may still take the GIL or finish a reply, each a
    voluntary switch that is not an idle wake-up; counting starts once it sleeps.
    """
    wait_for(lambda: _asleep(thread), f"thread {thread.name} back in its wait")
    return _switches(thread)


def _thread(name: str) -> threading.Thread:
    return next(t for t in threading.enumerate() if t.name == name)


def test_the_control_server_sleeps_until_a_connection_and_stops_at_once(tmp_path: Path) -> None:
    server = ControlServer(tmp_path / "control.sock", {"ping": lambda _req: "pong"})
    server.start()
    thread = _thread("control")
    try:
        assert request(tmp_path / "control.sock", "ping") == "pong"
        before = _settled_switches(thread)
        # A real idle second is the behaviour under test: the wake-ups in it are counted.
        time.sleep(1.0)
        assert _switches(thread) - before <= 1  # it used to wake 5 times a second
    finally:
        started = time.monotonic()
        server.stop()
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0
    assert not (tmp_path / "control.sock").exists()


@pytest.mark.x11
def test_the_window_watcher_sleeps_until_an_x_event_and_stops_at_once(x_server: XServer) -> None:
    source = X11WindowSource()
    reports: Collector[Event] = Collector()
    source.start(reports.append)
    thread = _thread("window-x11")
    try:
        wait_for(reports.snapshot, "the first report")
        before = _settled_switches(thread)
        # A real idle second is the behaviour under test: the wake-ups in it are counted.
        time.sleep(1.0)
        assert _switches(thread) - before <= 1
    finally:
        started = time.monotonic()
        source.stop()
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0

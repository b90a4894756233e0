"""The daemon wires silent-failure detection: dead input hooks while the screen changes.

The real daemon runs in-process with two sources that stand in for the OS: an input
source whose hooks deliver nothing (as when the OS removed them) and a screen whose
pixels keep changing (someone is clearly working). `status` must say "error" with the
reason, and recover once input arrives again. The thresholds are shortened on the
daemon's own tracker; everything else (consent, chain, writer, control) is real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.config import load_config
from agent.paths import resolve_paths
from agent.runtime.daemon import Daemon
from agent.runtime.status import DaemonStatus
from capture.base import PixelCallback, SourceBase, SourceCounters
from capture.events import Emit, MouseButton
from capture.screen.pixel_stats import PixelStats
from tests.cli_helpers import recording_home
from tests.waiting import wait_for


class SilentInput(SourceBase):
    """Input hooks that were installed but never deliver (until told to)."""

    name = "input"

    def __init__(self) -> None:
        self.emit: Emit | None = None
        self.delivered = 0  # callbacks made, as capture.input.pynput_hooks counts them

    def hooked_devices(self) -> frozenset[str]:
        return frozenset({"keyboard", "mouse"})

    def counters(self) -> SourceCounters:
        return SourceCounters(delivered=self.delivered)

    def start(self, emit: Emit) -> None:
        self.emit = emit

    def stop(self) -> None:
        self.emit = None

    def click(self) -> None:
        assert self.emit is not None
        self.delivered += 2
        now = time.time()
        for pressed in (True, False):
            self.emit(
                MouseButton(ts=now, mono=time.monotonic(), x=5, y=5, button="left", pressed=pressed)
            )


class ChangingScreen(SourceBase):
    """A screen whose content changes ten times a second (reports statistics only)."""

    name = "screen"

    def __init__(self) -> None:
        self.on_pixels: Callable[[float, PixelStats], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.changes = 0  # frames reported, each different from the one before

    def watch_pixels(self, callback: PixelCallback | None) -> None:
        self.on_pixels = callback

    def start(self, emit: Emit) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.1):
            n += 1
            thumb = bytes((n * 37 + i) % 256 for i in range(256))
            if self.on_pixels is not None:
                self.on_pixels(time.time(), PixelStats(mean=120.0, stddev=60.0, thumb=thumb))
                self.changes += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def status_when(daemon: Daemon, test: Callable[[DaemonStatus], bool]) -> DaemonStatus | None:
    """The daemon's status once it is up and passes ``test``, else None."""
    if daemon.pipeline is None or daemon.consent is None:
        return None
    now = daemon.status()
    return now if test(now) else None


def enough_for_a_stall(daemon: Daemon, screen: ChangingScreen, check: Callable[[], None]) -> None:
    """Run ``check`` until a stall would have been reported if the hooks were dead.

    That is: the stall time has passed and the screen changed more than the minimum
    since (counted, not assumed from a fixed sleep: a busy machine may draw slowly).
    """
    start, changes = time.monotonic(), screen.changes

    def long_enough() -> bool:
        check()
        return (
            time.monotonic() - start > 1.5 * daemon.health.tracker.input_stall_seconds
            and screen.changes - changes >= 2 * daemon.health.tracker.input_stall_min_changes
        )

    wait_for(long_enough, "a stall's worth of screen changes", timeout=30)


def test_input_that_stops_while_the_screen_changes_is_an_error_until_input_returns(
    tmp_path: Path,
) -> None:
    home = recording_home(tmp_path)
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
    hooks, screen = SilentInput(), ChangingScreen()
    daemon = Daemon(
        paths, load_config(paths.config_file), sources=[hooks, screen], exit_when_replayed=False
    )
    daemon.health.tracker.input_stall_seconds = 1.0
    daemon.health.tracker.input_stall_min_changes = 5
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        # (state "error" alone also means "sources not started yet" during start-up)
        broken = wait_for(
            lambda: status_when(daemon, lambda s: s.state == "error" and bool(s.health)),
            "dead input hooks to be reported",
            timeout=20,
        )
        assert broken.consent.state == "recording"
        assert any("input hooks seem to have stopped" in p for p in broken.health)

        hooks.click()  # input arrives again
        healed = wait_for(
            lambda: status_when(daemon, lambda s: s.state == "recording"),
            "the error to clear once input arrived",
            timeout=20,
        )
        assert healed.health == ()

        # Typing in a denied window: the hooks deliver, the filters store nothing. That
        # is not a dead hook: it is judged at the hooks, before any filter.
        def delivering() -> None:
            hooks.delivered += 1
            assert daemon.status().state == "recording"

        enough_for_a_stall(daemon, screen, delivering)

        # Paused on purpose, silence is expected: no error while not recording.
        daemon._cmd_pause({"minutes": 1})
        wait_for(lambda: not daemon.sources_running, "the sources to stop for the pause")
        # A real interval is the behaviour here: the sources are stopped, so no screen
        # change can serve as the signal; the stall time passes and raises nothing.
        time.sleep(1.5 * daemon.health.tracker.input_stall_seconds)
        paused = daemon.status()
        assert paused.state == "snoozed" and paused.health == ()
    finally:
        daemon.stop_requested.set()
        runner.join(30)
    assert not runner.is_alive()

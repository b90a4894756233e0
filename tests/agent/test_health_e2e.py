"""Silent failure made visible, on a real X server with the real agent.

A screen that only ever returns black (here: Xvfb's black root window and no window on
it, as a powered-off display or a missing screen-recording permission would give) must
turn `status` and the tray into an error state while consent says "recording", and the
error must clear by itself once the screen shows something again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.runtime.status import read_status
from agent.tray.app import Look, view_of
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for
from tests.xserver import XServer, start_xserver

pytestmark = pytest.mark.x11


@pytest.fixture
def black_screen() -> Iterator[XServer]:
    server = start_xserver(640, 480, extra_args=("-br",))
    try:
        yield server
    finally:
        server.stop()


def status(home: Path) -> dict[str, Any]:
    done = run_cli(home, "status", "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def status_when(home: Path, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The agent's status if it passes ``test``."""
    now = status(home)
    return now if test(now) else None


def logged(home: Path, text: str) -> bool:
    """Whether the agent's log has a line containing ``text``."""
    log = home / "logs" / "agent.log"
    return log.exists() and text in log.read_text(errors="replace")


def test_black_frames_raise_an_error_state_that_clears_when_the_screen_returns(
    black_screen: XServer, tmp_path: Path
) -> None:
    home = recording_home(tmp_path)
    # A grab every second even when nothing happens (the default idle fallback is 30 s).
    config = home / "config.toml"
    text = re.sub(r"(?m)^idle_interval = .*$", "idle_interval = 1.0", config.read_text())
    assert "idle_interval = 1.0" in text
    config.write_text(text)
    proc = start_agent(home, DISPLAY=black_screen.display, WAYLAND_DISPLAY=None)
    try:
        wait_until_running(home, proc)
        broken = wait_for(
            lambda: status_when(home, lambda s: s["state"] == "error" and bool(s["health"])),
            "black frames to raise an error",
            timeout=30,
        )
        assert broken["consent"]["state"] == "recording"
        assert "black frames" in broken["health"][0]
        assert broken["capture_error"] is None  # the sources run: only the pixels tell
        # One black frame stored, the identical ones after it skipped, none withheld.
        assert broken["screen"]["frames"] >= 1 and broken["screen"]["withheld"] == 0
        assert broken["screen"]["unchanged_skipped"] >= 1
        view = view_of(read_status(broken), None, time.time(), 30.0)
        assert view.look is Look.ERROR and "black frames" in view.title
        text = run_cli(home, "status").stdout
        assert "state:            error" in text and "PROBLEM:" in text and "black" in text
        assert "frames:" in text and "unchanged skipped" in text

        # Something on the screen again: the error clears without a restart.
        black_screen.spawn(
            "xterm",
            "-geometry",
            "60x20+10+10",
            "-bg",
            "white",
            "-fg",
            "black",
            "-e",
            "sh",
            "-c",
            "ls -la /; sleep 600",
        )
        healed = wait_for(
            lambda: status_when(home, lambda s: s["state"] == "recording" and not s["health"]),
            "the error to clear once the screen showed a window",
            timeout=30,
        )
        assert view_of(read_status(healed), None, time.time(), 30.0).look is not Look.ERROR
        # The main loop logs a change of the frames' verdict at once: wait for the line.
        wait_for(lambda: logged(home, "the earlier capture problem cleared"), "the cleared line")
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    # Said once in the log when it appeared, once when it cleared; no pixel data.
    assert err.count("screen capture returns black frames") == 1
    assert "the earlier capture problem cleared" in err

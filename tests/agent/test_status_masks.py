"""`status` (text and --json) and `view` say what the screen mask painted over and withheld.

The real agent on a real X server: a password manager's window (denied by the default
denylist) visible beside an ordinary terminal is painted over in every frame, and when
it takes the focus the frames are withheld; the person reads both in `status`, and
`view` labels the masked rectangle instead of showing black screen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.agent_status import running_status
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.privacy.test_privacy_e2e import NOTES, VAULT, Desktop
from tests.waiting import wait_for
from tests.xserver import XServer

pytestmark = pytest.mark.x11


def screen(home: Path) -> dict[str, Any]:
    now = running_status(home)
    return {} if now is None or not now.get("screen") else dict(now["screen"])


def test_status_and_view_show_masked_regions_and_withheld_frames(
    x_server: XServer, tmp_path: Path
) -> None:
    home = recording_home(tmp_path)
    # Nothing done in a denied window is stored, so nothing it does asks for a frame: the
    # idle frame (every second here) is the one withheld while it has the focus.
    config = home / "config.toml"
    settings = config.read_text(encoding="utf-8")
    assert "idle_interval = 30.0" in settings
    config.write_text(
        settings.replace("idle_interval = 30.0", "idle_interval = 1.0"), encoding="utf-8"
    )
    desktop = Desktop(x_server, home)
    try:
        notes = desktop.terminal(NOTES, 40, 40, cols=70, rows=20, echo=True)
        vault = desktop.terminal(VAULT, 640, 360)
        desktop.focus(notes)
        proc = start_agent(home, DISPLAY=x_server.display, WAYLAND_DISPLAY=None)
        try:
            wait_until_running(home, proc)
            # Every frame passes the OCR scrub first: the start-up key frame of the whole
            # screen costs seconds of CPU, many more on a machine kept busy by others.
            wait_for(
                lambda: screen(home).get("masked", {}).get("window", {}).get("denied_window"),
                "a frame with the vault painted over",
                timeout=120.0,
            )
            desktop.focus(vault)
            wait_for(
                lambda: screen(home).get("withheld_reasons", {}).get("denied_focused"),
                "a frame withheld while the vault has the focus",
                timeout=120.0,
            )
            as_json = run_cli(home, "status", "--json")
            text = run_cli(home, "status")
        finally:
            code, err = stop_agent(proc)
        assert code == 0 and "Traceback" not in err, err
    finally:
        desktop.close()

    assert as_json.returncode == 0 and text.returncode == 0, as_json.stderr + text.stderr
    counts = json.loads(as_json.stdout)["screen"]
    masked = counts["masked"]["window"]["denied_window"]
    withheld = counts["withheld_reasons"]["denied_focused"]
    assert masked >= 1 and withheld >= 1 and counts["withheld"] >= withheld
    lines = {line.split(":", 1)[0]: line for line in text.stdout.splitlines()}
    assert "region(s) painted over before storage (denied_window" in lines["screen masked"]
    assert "a denied window had the focus" in lines["frames withheld"]
    assert VAULT not in as_json.stdout + text.stdout  # counts, never a title

    page = tmp_path / "view.html"
    done = run_cli(home, "view", "--no-open", "-o", str(page))
    assert done.returncode == 0, done.stderr
    source = page.read_text(encoding="utf-8")
    assert 'class="masked" data-category="denied_window"' in source
    assert "screen region(s) masked before storage (denied_window" in source
    assert "frame(s) withheld (denied_focused" in source

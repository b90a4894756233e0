"""End to end on a real X server: real input through xdotool, the real agent, real chunks.

This is the foundation's acceptance test: what a person does is recorded (the sentence,
the clicks, both window titles, frames of the screen's size), nothing of it is readable
in any file the agent wrote, and the stock `age` CLI opens a chunk.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.conftest import XTerm
from tests.waiting import wait_for
from tests.xserver import XServer

pytestmark = pytest.mark.x11

SENTENCE = "the quick brown fox jumps over 13 lazy dogs"
FIRST_TITLE = "Alpha notes window"
SECOND_TITLE = "Beta report window"


def xdo(server: XServer, *args: str) -> None:
    server.run("xdotool", *args, timeout=30)


def status(home: Path) -> dict[str, Any]:
    """The running agent's `status --json`."""
    done = run_cli(home, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def screen_grabs(home: Path) -> int:
    """Grabs the screen source has judged so far: frames, unchanged skips, withheld, errors."""
    screen = status(home)["screen"]
    return sum(screen[k] for k in ("frames", "unchanged_skipped", "withheld", "grab_errors"))


def typed_text(records: list[dict[str, object]]) -> str:
    """Rebuild the text from stored key presses (what a reader of the export would do)."""
    out = []
    for r in records:
        if r["type"] == "key" and r["pressed"] and isinstance(r.get("char"), str):
            out.append(r["char"])
    return "".join(out)  # type: ignore[arg-type]


def test_real_input_is_recorded_encrypted_and_exportable(
    x_server: XServer, xterm: XTerm, tmp_path: Path
) -> None:
    home = recording_home(tmp_path)
    first = xterm(FIRST_TITLE)
    second = xterm(SECOND_TITLE)
    # openbox focuses a new window once it is mapped, which on a busy machine can come
    # after the switch below: the agent then started in the second window, and switching
    # to it later changed nothing (no window event to wait for).
    wait_for(lambda: x_server.active_window() == second, "the new window focused")
    xdo(x_server, "windowactivate", "--sync", first)
    wait_for(lambda: x_server.active_window() == first, "the first window focused")

    env = {"DISPLAY": x_server.display, "WAYLAND_DISPLAY": None}
    proc = start_agent(home, **env)
    try:
        wait_until_running(home, proc)
        # Sources started (state "recording", not "error") and the start-up frame taken.
        wait_for(
            lambda: (now := status(home))["state"] == "recording" and now["screen"]["frames"] >= 1,
            "the sources to start and the start-up frame",
        )
        xdo(x_server, "mousemove", "--sync", "200", "150")
        xdo(x_server, "mousemove", "--sync", "260", "180")
        xdo(x_server, "click", "1")
        xdo(x_server, "type", "--delay", "40", SENTENCE)
        grabs = screen_grabs(home)
        xdo(x_server, "key", "Return")
        xdo(x_server, "click", "4")  # wheel up
        xdo(x_server, "click", "5")  # wheel down
        # A grab after the typing burst is judged (a frame, or skipped as unchanged).
        wait_for(lambda: screen_grabs(home) > grabs, "a grab after the typing burst")
        before = status(home)["events_processed"]
        xdo(x_server, "windowactivate", "--sync", second)
        xdo(x_server, "mousemove", "--sync", "300", "200")
        xdo(x_server, "click", "1")
        # The focus change, the move and the click reached the pipeline (stopping drains
        # whatever the recording still holds).
        wait_for(
            lambda: status(home)["events_processed"] >= before + 4, "the second window's events"
        )
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    assert "Traceback" not in err
    assert "produced=" in err and "stored=" in err

    frames_dir = tmp_path / "frames"
    exported = run_cli(home, "export", "--frames", str(frames_dir))
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert records, "nothing was exported"

    # Every line has a type and a plausible, non-decreasing timestamp.
    now = time.time()
    stamps = [r["ts"] for r in records]
    assert all(now - 600 < ts <= now for ts in stamps)
    # Frames carry their grab instant but reach the stream after encoding (~0.1 s later),
    # so the order is checked on everything else, which arrives as it happens.
    stream = [r["ts"] for r in records if r["type"] != "frame"]
    assert stream == sorted(stream)

    assert SENTENCE in typed_text(records)
    presses = [r for r in records if r["type"] == "mouse_button" and r["pressed"]]
    assert any((r["x"], r["y"], r["button"]) == (260, 180, "left") for r in presses)
    assert any((r["x"], r["y"], r["button"]) == (300, 200, "left") for r in presses)
    scrolls = [r for r in records if r["type"] == "scroll"]
    assert {r["dy"] for r in scrolls} >= {1, -1}
    titles = [r["title"] for r in records if r["type"] == "window"]
    assert FIRST_TITLE in titles and SECOND_TITLE in titles
    assert titles.index(FIRST_TITLE) < len(titles) - 1 - titles[::-1].index(SECOND_TITLE)
    assert {
        r["app"]
        for r in records
        if r["type"] == "window" and r["title"] in (FIRST_TITLE, SECOND_TITLE)
    } == {"XTerm"}

    frames = [r for r in records if r["type"] == "frame"]
    assert frames, "no frame was recorded"
    for frame in frames:
        image = Image.open(frame["file"])
        image.load()
        assert image.size == (x_server.width, x_server.height)
        assert (frame["width"], frame["height"]) == image.size

    # No plaintext: the sentence (and a distinctive part of it) is in no file the agent wrote.
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in (SENTENCE, "brown fox", FIRST_TITLE):
                assert needle.encode() not in data, f"{needle!r} found in {path}"

    # The stock age CLI decrypts a chunk with the organisation identity; unzip opens it.
    assert shutil.which("age") and shutil.which("unzip")
    chunk = min((home / "data" / "sessions").glob("*/*.chunk"))
    plain = tmp_path / "chunk.zip"
    subprocess.run(
        [
            "age",
            "-d",
            "-i",
            str(home / "keys" / "demo-organisation.agekey"),
            "-o",
            str(plain),
            str(chunk),
        ],
        check=True,
        timeout=30,
    )
    subprocess.run(["unzip", "-t", str(plain)], check=True, capture_output=True, timeout=30)
    with zipfile.ZipFile(io.BytesIO(plain.read_bytes())) as archive:
        names = archive.namelist()
        assert names[0] == "manifest.json" and "events.jsonl" in names
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["seq"] == 0 and manifest["device"]

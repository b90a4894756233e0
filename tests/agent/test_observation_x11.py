"""The trajectory pairs an action with the screen as it was when the action began.

A window shows a "dialog" (its whole area turns red) a second after the first click,
drawn by the application with no window change and no input, so nothing asks the agent
for a frame; the second click lands inside it. The frame taken after the first click
shows no dialog: only a grab at the second press (the screen changed since the last
frame, X DAMAGE says so) shows the dialog the person clicked on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from capture.screen.damage import X11Damage
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for
from tests.xserver import XServer, wait_drawn_out

pytestmark = pytest.mark.x11

TITLE = "Delayed dialog window"


def status(home: Path) -> dict[str, Any]:
    done = run_cli(home, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def grabs(home: Path) -> int:
    screen = status(home)["screen"]
    return sum(screen[k] for k in ("frames", "unchanged_skipped", "withheld", "grab_errors"))


@contextmanager
def autorepeat_off(display: str) -> Iterator[None]:
    """The X server's key auto-repeat off while in the block (a key held longer than the
    repeat delay would type itself again), back on after."""
    from Xlib import X
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display)
    try:
        connection.change_keyboard_control(auto_repeat_mode=X.AutoRepeatModeOff)
        connection.sync()
        yield
    finally:
        connection.change_keyboard_control(auto_repeat_mode=X.AutoRepeatModeOn)
        connection.sync()
        connection.close()


def drawn_out(display: str) -> None:
    """Wait until nothing was drawn on the screen for 0.3 s (``wait_drawn_out``)."""
    damage = X11Damage(display)
    try:
        wait_drawn_out(damage)
    finally:
        damage.close()


def test_the_second_click_is_paired_with_the_dialog_that_opened_before_it(
    x_server: XServer, tmp_path: Path
) -> None:
    home = recording_home(tmp_path)
    go, shown = tmp_path / "go", tmp_path / "shown"
    red_rows = "; ".join(["printf '\\033[41m%80s\\033[0m\\n' ''"] * 30)
    script = (
        f"printf 'Press the button\\n'; while [ ! -e {go} ]; do sleep 0.05; done; "
        f"sleep 1; clear; {red_rows}; touch {shown}; sleep 600"
    )
    x_server.spawn("xterm", "-T", TITLE, "-geometry", "60x15+40+40", "-e", "sh", "-c", script)
    window = x_server.window_named(f"^{TITLE}$", timeout=15)
    x_server.run("xdotool", "windowactivate", "--sync", window, timeout=30)
    geometry = x_server.run("xdotool", "getwindowgeometry", "--shell", window)
    place = dict(line.split("=", 1) for line in geometry.split())
    x = int(place["X"]) + int(place["WIDTH"]) // 2
    y = int(place["Y"]) + int(place["HEIGHT"]) // 2

    proc = start_agent(home, DISPLAY=x_server.display, WAYLAND_DISPLAY=None)
    try:
        wait_until_running(home, proc)
        wait_for(
            lambda: (now := status(home))["state"] == "recording" and now["screen"]["frames"] >= 1,
            "the sources to start and the start-up frame",
        )
        x_server.run("xdotool", "mousemove", "--sync", str(x), str(y), timeout=30)
        before = grabs(home)
        x_server.run("xdotool", "click", "1", timeout=30)  # "the button"
        wait_for(lambda: grabs(home) >= before + 2, "the grabs at and after the first click")
        go.touch()  # the dialog opens a second later, drawn by the application alone
        wait_for(shown.exists, "the dialog to be written", timeout=30)
        # A person clicks once the dialog is on screen: xterm draws what was written
        # a little later, and a draw after the press could be the press's effect (the
        # agent would not pair that grab with the press).
        drawn_out(x_server.display)
        frames = status(home)["screen"]["frames"]
        x_server.run("xdotool", "mousedown", "1", timeout=30)  # inside the dialog
        wait_for(lambda: status(home)["screen"]["frames"] > frames, "a frame at the press")
        processed = status(home)["events_processed"]
        x_server.run("xdotool", "mouseup", "1", timeout=30)
        wait_for(lambda: status(home)["events_processed"] > processed, "events after the press")
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err

    frames_dir = tmp_path / "frames"
    done = run_cli(home, "export", "--format", "trajectory", "--frames", str(frames_dir))
    assert done.returncode == 0, done.stderr
    clicks = [  # the two clicks at (x, y), in time order
        step
        for step in map(json.loads, done.stdout.splitlines())
        # The second is a click, a long press on a slow machine, or a press alone if the
        # agent stopped before it read the release.
        if step["action"]["type"] in ("click", "long_press", "mouse_down")
        and (step["action"]["x"], step["action"]["y"]) == (x, y)
    ]
    assert len(clicks) == 2, done.stdout

    def colour(step: dict[str, Any]) -> tuple[int, int, int]:
        seen = step["observation"]
        image = Image.open(seen["frame"]).convert("RGB")
        pixel = image.getpixel((x - seen["frame_left"], y - seen["frame_top"]))
        assert isinstance(pixel, tuple)
        return pixel[0], pixel[1], pixel[2]

    def red(rgb: tuple[int, int, int]) -> bool:
        return rgb[0] > 150 and rgb[1] < 80 and rgb[2] < 80

    assert not red(colour(clicks[0])), "the first click saw the dialog before it opened"
    assert red(colour(clicks[1])), (
        f"the second click is paired with {colour(clicks[1])} at ({x}, {y}), not the dialog"
    )


def test_enter_right_after_typing_is_paired_with_the_last_characters_echo(
    x_server: XServer, tmp_path: Path
) -> None:
    """xterm draws a key's echo, and Enter's effect, within the millisecond of the press:
    no grab at Enter's press shows the line as typed. The screen held at the last key's
    release (issue 22) is Enter's observation, so it shows the last character."""
    import mss

    from capture.screen.frame_diff import Box

    home = recording_home(tmp_path)
    title = "Typing window"
    x_server.spawn("xterm", "-T", title, "-geometry", "60x15+40+40", "-e", "cat")
    window = x_server.window_named(f"^{title}$", timeout=15)
    x_server.run("xdotool", "windowactivate", "--sync", window, timeout=30)
    proc = start_agent(home, DISPLAY=x_server.display, WAYLAND_DISPLAY=None)
    damage = X11Damage(x_server.display)
    try:
        wait_until_running(home, proc)
        wait_for(
            lambda: (now := status(home))["state"] == "recording" and now["screen"]["frames"] >= 1,
            "the sources to start and the start-up frame",
        )
        x_server.run("xdotool", "type", "--delay", "60", "hello", timeout=30)
        drawn_out(x_server.display)
        damage.take()
        held = status(home)["screen"]["holds"]
        # Held down until the echo is drawn out: the server must not repeat the key.
        with autorepeat_off(x_server.display):
            x_server.run("xdotool", "keydown", "z", timeout=30)
            echo = wait_for(lambda: damage.take().box, "the echo of the last character")
            drawn_out(x_server.display)
            x_server.run("xdotool", "keyup", "z", timeout=30)
        wait_for(lambda: status(home)["screen"]["holds"] > held, "the hold at the release")
        with mss.MSS(display=x_server.display) as grab:
            shot = grab.grab(
                {"left": echo.x, "top": echo.y, "width": echo.width, "height": echo.height}
            )
            seen = Image.frombytes("RGB", shot.size, shot.rgb)
        drawn_out(x_server.display)
        processed = status(home)["events_processed"]
        x_server.run("xdotool", "key", "Return", timeout=30)
        wait_for(lambda: status(home)["events_processed"] > processed, "Enter stored")
    finally:
        damage.close()
        code, err = stop_agent(proc)
    assert code == 0, err

    frames_dir = tmp_path / "frames"
    done = run_cli(home, "export", "--format", "trajectory", "--frames", str(frames_dir))
    assert done.returncode == 0, done.stderr
    steps = [json.loads(line) for line in done.stdout.splitlines()]
    typed = [s for s in steps if s["action"]["type"] == "type"]
    enter = [s for s in steps if s["action"] == {"type": "key", "key": "enter"}]
    assert [s["action"]["text"] for s in typed] == ["helloz"] and len(enter) == 1, done.stdout

    def at_echo(step: dict[str, Any]) -> Image.Image:
        observed = step["observation"]
        image = Image.open(observed["frame"]).convert("RGB")
        box = Box(echo.x - observed["frame_left"], echo.y - observed["frame_top"], 0, 0)
        return image.crop((box.x, box.y, box.x + echo.width, box.y + echo.height))

    assert at_echo(typed[0]).tobytes() != seen.tobytes(), "the typing's observation shows z"
    assert at_echo(enter[0]).tobytes() == seen.tobytes(), (
        "Enter is paired with a screen without the last character's echo"
    )

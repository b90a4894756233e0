"""Attack: a Wayland session whose XWayland server answers on DISPLAY (issue 16, item 7).

A real Wayland session always sets DISPLAY (XWayland). X11 capture there sees only the
X11 applications' input and windows, so an agent that started would say "recording"
while missing most of the session. The agent must refuse (exit 69) whatever DISPLAY says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capture.display import check_display, wayland_session
from capture.errors import SourceUnavailable
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running

WAYLAND_ENVS: list[dict[str, str | None]] = [
    {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"},
    {"WAYLAND_DISPLAY": "wayland-1", "XDG_SESSION_TYPE": None},
    {"WAYLAND_DISPLAY": None, "XDG_SESSION_TYPE": "wayland"},
    # A session type set by hand says "x11", but a Wayland compositor is still there.
    {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"},
]


def chunks(home: Path) -> list[Path]:
    return sorted((home / "data" / "sessions").rglob("*.chunk"))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"DISPLAY": ":0"}, None),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, None),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "tty", "WAYLAND_DISPLAY": ""}, None),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "  "}, None),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "XDG_SESSION_TYPE=wayland"),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": " Wayland\n"}, "XDG_SESSION_TYPE=wayland"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "WAYLAND_DISPLAY is set"),
        ({"WAYLAND_DISPLAY": "/run/user/1000/wayland-0"}, "WAYLAND_DISPLAY is set"),
        ({"XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": "wayland-0"}, "WAYLAND_DISPLAY is set"),
        (
            {"DISPLAY": ":1", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "w"},
            "XDG_SESSION_TYPE=wayland",
        ),
    ],
)
def test_wayland_is_detected_whatever_display_says(
    env: dict[str, str], expected: str | None
) -> None:
    assert wayland_session(env) == expected


@pytest.mark.x11
def test_an_openable_xwayland_display_is_still_refused(x_display: str) -> None:
    # The display opens (a real Xvfb stands in for XWayland): only the session type decides.
    check_display("input", environ={"DISPLAY": x_display})
    with pytest.raises(SourceUnavailable) as err:
        check_display("input", environ={"DISPLAY": x_display, "WAYLAND_DISPLAY": "wayland-0"})
    message = str(err.value)
    assert "Wayland session (WAYLAND_DISPLAY is set)" in message
    assert "only X11 applications' input and windows" in message
    assert "X11 (Xorg) session" in message and "\n" not in message


@pytest.mark.x11
def test_a_hostile_display_value_stays_one_short_line(x_display: str) -> None:
    hostile = "\n".join([x_display] + ["Traceback (most recent call last):"] * 50)
    with pytest.raises(SourceUnavailable) as err:
        check_display("input", environ={"DISPLAY": hostile, "XDG_SESSION_TYPE": "wayland"})
    assert "\n" not in str(err.value) and len(str(err.value)) < 500


@pytest.mark.parametrize("wayland", WAYLAND_ENVS)
@pytest.mark.x11
def test_run_on_xwayland_refuses_with_exit_69_and_captures_nothing(
    tmp_path: Path, x_display: str, wayland: dict[str, str | None]
) -> None:
    home = recording_home(tmp_path)
    done = run_cli(
        home,
        "run",
        timeout=30,  # the old agent started here and ran until killed
        DISPLAY=x_display,
        WAYLAND_DISPLAY=wayland["WAYLAND_DISPLAY"],
        XDG_SESSION_TYPE=wayland["XDG_SESSION_TYPE"],
    )
    err = done.stderr.strip()
    assert done.returncode == 69, (done.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "Wayland session" in err and "would say recording while missing" in err
    assert "X11 (Xorg) session" in err
    assert chunks(home) == []
    status = json.loads(run_cli(home, "status", "--json").stdout)
    assert status["running"] is False


@pytest.mark.x11
def test_run_on_plain_x11_records(tmp_path: Path, x_display: str) -> None:
    # The control: the same home and X server without Wayland starts and seals a chunk,
    # so the refusal above is the session check, not a broken home or display.
    home = recording_home(tmp_path)
    proc = start_agent(home, DISPLAY=x_display, WAYLAND_DISPLAY=None, XDG_SESSION_TYPE="x11")
    wait_until_running(home, proc)
    code, err = stop_agent(proc)
    assert code == 0, err
    assert chunks(home), "the agent on plain X11 sealed no chunk"


@pytest.mark.x11
def test_doctor_fails_the_display_with_the_fix(tmp_path: Path, x_display: str) -> None:
    home = recording_home(tmp_path)
    done = run_cli(
        home,
        "doctor",
        "--json",
        DISPLAY=x_display,
        WAYLAND_DISPLAY="wayland-0",
        XDG_SESSION_TYPE="wayland",
    )
    assert done.returncode == 1
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    display = checks["display"]
    assert display["status"] == "fail"
    assert "Wayland session" in display["detail"] and "XWayland" in display["detail"]
    assert "X11" in display["fix"]

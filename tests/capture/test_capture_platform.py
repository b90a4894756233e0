"""Display checks, the backend tables and their CAPTURE_AGENT_BACKEND_<KIND> override."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture import backends
from capture.backends import build_sources
from capture.display import check_display
from capture.errors import BackendChoiceError, SourceUnavailable
from capture.screen.options import ScreenOptions
from tests.cli_helpers import recording_home, run_cli


def test_no_display_says_x11_is_needed() -> None:
    with pytest.raises(SourceUnavailable, match="no DISPLAY is set: capture needs an X11"):
        check_display("input", environ={})


@pytest.mark.parametrize("env", [{"WAYLAND_DISPLAY": "wayland-0"}, {"XDG_SESSION_TYPE": "wayland"}])
def test_wayland_session_says_to_use_x11(env: dict[str, str]) -> None:
    with pytest.raises(SourceUnavailable) as err:
        check_display("input", environ=env)
    message = str(err.value)
    assert "Wayland blocks global input capture" in message and "X11" in message
    assert "\n" not in message


def test_unopenable_display_is_reported() -> None:
    with pytest.raises(SourceUnavailable, match="cannot open X display ':4242'"):
        check_display("screen", environ={"DISPLAY": ":4242"})


@pytest.mark.x11
def test_open_display_passes(x_display: str) -> None:
    check_display("input", environ={"DISPLAY": x_display})


def test_build_sources_picks_linux_backends() -> None:
    from capture.input.pynput_hooks import PynputInput
    from capture.screen.mss_source import ScreenSource
    from capture.secure_input.atspi import AtspiSecureInput
    from capture.window.x11 import X11WindowSource

    options = ScreenOptions(webp_quality=60, debounce=0.5)
    sources = build_sources(True, False, True, True, move_hz=30.0, screen_options=options)
    assert [type(s) for s in sources] == [
        AtspiSecureInput,
        PynputInput,
        X11WindowSource,
        ScreenSource,
    ]
    assert [s.name for s in sources] == ["secure_input", "input", "window", "screen"]
    assert sources[1].keyboard and not sources[1].mouse  # type: ignore[attr-defined]
    assert sources[1].xrecord  # type: ignore[attr-defined]  # the Linux default row
    assert sources[3].options is options  # type: ignore[attr-defined]  # passed whole
    assert build_sources(False, False, False, False) == []
    # The password-field signal only matters to keys: no keys, no secure_input source.
    assert [s.name for s in build_sources(False, True, False, False)] == ["input"]


def test_every_kind_has_a_row_per_platform() -> None:
    for kind, platforms in backends.BACKENDS.items():
        assert set(platforms) == {"linux", "darwin", "win32"}, kind
        for rows in platforms.values():
            names = [row.name for row in rows]
            assert rows and len(names) == len(set(names)), kind


def test_override_picks_another_row() -> None:
    from capture.input.pynput_hooks import PynputInput

    env = {"CAPTURE_AGENT_BACKEND_INPUT": " PyNput "}
    assert backends.choose("input", env, "linux") is backends.PYNPUT_INPUT
    assert backends.choose("input", {}, "linux") is backends.XRECORD_INPUT
    assert backends.choose("input", {}, "darwin") is backends.PYNPUT_INPUT
    (source,) = build_sources(False, True, False, False, environ=env, platform="linux")
    assert isinstance(source, PynputInput) and not source.xrecord and source.mouse


@pytest.mark.parametrize(
    ("variable", "value", "platform", "choices"),
    [
        ("CAPTURE_AGENT_BACKEND_INPUT", "wayland", "linux", "xrecord, pynput"),
        ("CAPTURE_AGENT_BACKEND_INPUT", "xrecord", "darwin", "pynput"),  # not on macOS
        ("CAPTURE_AGENT_BACKEND_SCREEN", "x\n" * 500, "linux", "mss"),  # a forged value
    ],
)
def test_unknown_override_lists_the_choices(
    variable: str, value: str, platform: str, choices: str
) -> None:
    env = {variable: value}
    with pytest.raises(BackendChoiceError) as err:
        # Every override is checked, even for a kind not asked for.
        build_sources(False, False, False, False, environ=env, platform=platform)
    message = str(err.value)
    assert f"choose one of {choices}, or unset it" in message
    assert variable in message and "\n" not in message and len(message) < 200


def test_missing_backend_module_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = backends.Backend(
        "ghost",
        "capture.input.pynput_hooks:pynput_input",
        ("no_such_module_xyz",),
        "pip install ghost",
    )
    monkeypatch.setitem(backends.BACKENDS["input"], "linux", (broken, backends.XRECORD_INPUT))
    with pytest.raises(SourceUnavailable) as err:
        build_sources(True, False, False, False, environ={}, platform="linux")
    assert str(err.value) == (
        "input: the ghost backend needs the Python module 'no_such_module_xyz', which is "
        "not installed: pip install ghost, or choose another with "
        "CAPTURE_AGENT_BACKEND_INPUT=xrecord"
    )
    # A factory module that fails to import is reported the same way.
    gone = backends.Backend("gone", "capture.input.no_such_backend:make")
    monkeypatch.setitem(backends.BACKENDS["input"], "linux", (gone,))
    with pytest.raises(SourceUnavailable, match="the gone backend needs the Python module"):
        backends.load("input", {}, "linux")


def test_no_backend_for_the_platform_is_unavailable() -> None:
    with pytest.raises(SourceUnavailable, match="no window backend for platform 'sunos5'"):
        backends.choose("window", {}, "sunos5")


def test_run_with_an_unknown_override_exits_78_in_one_line(tmp_path: Path) -> None:
    home = recording_home(tmp_path)
    done = run_cli(home, "run", CAPTURE_AGENT_BACKEND_INPUT="bogus", DISPLAY=":4242")
    assert done.returncode == 78, done.stderr
    assert "CAPTURE_AGENT_BACKEND_INPUT='bogus' names no input backend" in done.stderr
    assert "Traceback" not in done.stderr

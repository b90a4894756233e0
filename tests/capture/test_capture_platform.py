"""Display checks and backend selection."""

from __future__ import annotations

import pytest

from capture.backends import build_sources, check_display
from capture.errors import SourceUnavailable


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

    sources = build_sources(True, False, True, True, move_hz=30.0, webp_quality=60)
    assert [type(s) for s in sources] == [
        AtspiSecureInput,
        PynputInput,
        X11WindowSource,
        ScreenSource,
    ]
    assert [s.name for s in sources] == ["secure_input", "input", "window", "screen"]
    assert sources[1].keyboard and not sources[1].mouse  # type: ignore[attr-defined]
    assert sources[3].options.webp_quality == 60  # type: ignore[attr-defined]
    assert build_sources(False, False, False, False) == []
    # The password-field signal only matters to keys: no keys, no secure_input source.
    assert [s.name for s in build_sources(False, True, False, False)] == ["input"]

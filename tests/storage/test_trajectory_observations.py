"""Which frame a trajectory step is paired with around a grab at its start (issue 22)."""

from __future__ import annotations

from typing import Any

from storage.trajectory import to_trajectory

S = "20250101T000000-abcd"


def rec(type_: str, ts: float, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "seq": 0, "session": S, "sensitivity": 1, **fields}


def frame(ts: float, file: str, trigger: str) -> dict[str, Any]:
    return rec("frame", ts, file=file, left=0, top=0, trigger=trigger)


def key(ts: float, name: str, char: str | None = None, pressed: bool = True) -> dict[str, Any]:
    return rec("key", ts, key=name, pressed=pressed, char=char, redacted=None)


def button(ts: float, pressed: bool, x: int = 10) -> dict[str, Any]:
    return rec("mouse_button", ts, x=x, y=10, button="left", pressed=pressed)


def seen(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(action type or key, observation frame) per step."""
    return [
        (str(s["action"].get("key") or s["action"]["type"]), s["observation"]["frame"])
        for s in to_trajectory(records)
    ]


def test_a_shortcut_is_paired_with_the_grab_at_its_modifier_and_enter_with_no_later_grab() -> None:
    records = [
        frame(1.0, "settled.webp", "typing"),
        # ctrl's press asked for a grab: it lands before the shortcut's key is pressed.
        key(3.0, "ctrl_l"),
        frame(3.008, "at-ctrl.webp", "action"),
        key(3.1, "c", "\x03"),
        key(3.2, "c", pressed=False),
        key(3.3, "ctrl_l", pressed=False),
        # enter draws its effect within its millisecond: a frame after the press shows it.
        key(5.0, "enter"),
        frame(5.006, "after-enter.webp", "action"),
        key(5.1, "enter", pressed=False),
    ]
    assert seen(records) == [("ctrl+c", "at-ctrl.webp"), ("enter", "at-ctrl.webp")]


def test_a_press_adopts_its_start_grab_but_not_one_after_it_took_effect() -> None:
    records = [
        frame(1.0, "before.webp", "click"),
        button(2.0, True),
        frame(2.007, "at-press.webp", "action"),  # the button is still down: adopted
        frame(2.05, "second.webp", "action"),  # a later grab in the same hold: not
        button(2.1, False),
        frame(3.0, "settled.webp", "click"),
        # A click on another window: the window manager focuses it on the press; the
        # focus change is recorded before the grab, which then shows the press's effect.
        button(4.0, True, x=500),
        rec("window", 4.002, title="other", app="xterm"),
        frame(4.009, "after-focus.webp", "action"),
        button(4.1, False, x=500),
        # A zero-length click: the grab lands after the release, when the application
        # may have acted.
        button(6.0, True),
        button(6.0, False),
        frame(6.01, "after-release.webp", "action"),
    ]
    assert seen(records) == [
        ("click", "at-press.webp"),
        ("click", "settled.webp"),
        ("click", "after-focus.webp"),
    ]

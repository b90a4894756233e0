"""Raw export records folded into (observation, action) steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.export.trajectory import to_trajectory
from tests.cli_helpers import run_cli

S = "20250101T000000-abcd"


def rec(type_: str, ts: float, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "seq": 0, "session": S, "sensitivity": 1, **fields}


def key(
    ts: float, name: str, char: str | None = None, pressed: bool = True, redacted: str | None = None
) -> dict[str, Any]:
    return rec("key", ts, key=name, pressed=pressed, char=char, redacted=redacted)


def typed(ts: float, text: str) -> list[dict[str, Any]]:
    out = []
    for i, ch in enumerate(text):
        name = "space" if ch == " " else ch.lower()
        out += [key(ts + i * 0.1, name, ch), key(ts + i * 0.1 + 0.05, name, ch, pressed=False)]
    return out


def button(ts: float, x: int, y: int, pressed: bool, name: str = "left") -> dict[str, Any]:
    return rec("mouse_button", ts, x=x, y=y, button=name, pressed=pressed)


def actions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [step["action"] for step in to_trajectory(records)]


def test_printable_keys_fold_into_one_type_action_and_specials_into_key_actions() -> None:
    records = [
        *typed(1.0, "Hi there"),
        key(2.0, "enter"),
        key(2.05, "enter", pressed=False),
        key(3.0, "ctrl_l"),
        key(3.1, "c", "\x03"),
        key(3.2, "c", pressed=False),
        key(3.3, "ctrl_l", pressed=False),
        key(4.0, "shift_l"),
        key(4.1, "tab"),
        key(4.2, "shift_l", pressed=False),
        key(5.0, "ctrl_r"),
        key(5.05, "shift_r"),
        key(5.1, "t", "T"),
        key(5.3, "shift_r", pressed=False),
        key(5.4, "ctrl_r", pressed=False),
        key(6.0, "shift_l"),
        *typed(6.1, "A"),
        key(6.3, "shift_l", pressed=False),
        key(7.0, "cmd"),
        key(7.1, "cmd", pressed=False),
    ]
    assert actions(records) == [
        {"type": "type", "text": "Hi there", "duration": 0.7},
        {"type": "key", "key": "enter"},
        {"type": "key", "key": "ctrl+c"},
        {"type": "key", "key": "shift+tab"},
        {"type": "key", "key": "ctrl+shift+t"},
        {"type": "type", "text": "A"},
        {"type": "key", "key": "cmd"},
    ]


def test_redacted_keys_stay_redacted_as_a_placeholder() -> None:
    card = [key(2.0 + i * 0.1, "redacted", None, redacted="payment_card") for i in range(4)]
    steps = list(to_trajectory([*typed(1.0, "card "), *card, *typed(3.0, " ok")]))
    assert [s["action"] for s in steps] == [
        {"type": "type", "text": "card ", "duration": 0.4},
        {"type": "type", "text": None, "redacted": "payment_card", "length": 4, "duration": 0.3},
        {"type": "type", "text": " ok", "duration": 0.2},
    ]
    assert "4242" not in json.dumps(steps)


def test_mouse_press_release_become_click_double_click_long_press_and_drag() -> None:
    records = [
        button(1.0, 100, 100, True),
        button(1.1, 101, 100, False),
        button(3.0, 50, 50, True),
        button(3.05, 50, 50, False),
        button(3.2, 51, 51, True),
        button(3.25, 51, 51, False),
        button(5.0, 10, 10, True, "right"),
        button(6.5, 10, 10, False, "right"),
        button(8.0, 10, 10, True),
        rec("mouse_move", 8.1, x=100, y=40),
        button(8.3, 200, 80, False),
    ]
    assert actions(records) == [
        {"type": "click", "button": "left", "x": 100, "y": 100, "duration": 0.1},
        {"type": "double_click", "button": "left", "x": 50, "y": 50, "duration": 0.25},
        {"type": "long_press", "button": "right", "x": 10, "y": 10, "duration": 1.5},
        {
            "type": "drag",
            "button": "left",
            "x": 10,
            "y": 10,
            "to_x": 200,
            "to_y": 80,
            "duration": 0.3,
        },
    ]


def test_scroll_steps_in_one_place_merge() -> None:
    records = [
        rec("scroll", 1.0, x=5, y=5, dx=0, dy=-1),
        rec("scroll", 1.2, x=5, y=6, dx=0, dy=-1),
        rec("scroll", 1.4, x=5, y=5, dx=1, dy=-1),
        rec("scroll", 9.0, x=5, y=5, dx=0, dy=2),
    ]
    assert actions(records) == [
        {"type": "scroll", "x": 5, "y": 5, "dx": 1, "dy": -3, "duration": 0.4},
        {"type": "scroll", "x": 5, "y": 5, "dx": 0, "dy": 2},
    ]


def test_each_action_is_paired_with_the_last_frame_and_window_before_it() -> None:
    records = [
        rec("window", 0.5, title="Inbox", app="Mail"),
        rec("frame", 0.6, width=10, height=10, left=0, top=0, trigger="idle", file="/x/f0.webp"),
        button(1.0, 3, 4, True),
        rec("frame", 1.05, width=10, height=10, left=0, top=0, trigger="click", file="/x/f1.webp"),
        button(1.1, 3, 4, False),
        *typed(2.0, "yo"),
        rec("marker", 3.0, kind="paused", detail={}),
        rec("marker", 4.0, kind="resumed", detail={}),
        *typed(5.0, "z"),
    ]
    steps = list(to_trajectory(records))
    assert [s["action"]["type"] for s in steps] == ["click", "type", "type"]
    click, text, after_gap = (s["observation"] for s in steps)
    assert click["frame"] == "/x/f0.webp" and click["title"] == "Inbox"  # before the press
    assert text["frame"] == "/x/f1.webp" and text["app"] == "Mail"
    # After a pause nothing from before the gap is offered as what the person saw.
    assert after_gap == {
        "frame": None,
        "frame_ts": None,
        "frame_left": None,
        "frame_top": None,
        "title": None,
        "app": None,
    }
    assert [s["ts"] for s in steps] == [1.0, 2.0, 5.0]
    assert all(s["session"] == S for s in steps)


def test_unfinished_press_at_a_gap_and_a_lone_release_are_kept_honestly() -> None:
    records = [
        button(1.0, 1, 2, True),
        rec("marker", 2.0, kind="paused", detail={}),
        button(3.0, 1, 2, False),
    ]
    assert actions(records) == [
        {"type": "mouse_down", "button": "left", "x": 1, "y": 2},
        {"type": "mouse_up", "button": "left", "x": 1, "y": 2},
    ]


def test_steps_come_out_in_start_order_even_when_finished_later() -> None:
    records = [button(1.0, 0, 0, True), *typed(1.5, "ab"), button(2.0, 300, 300, False)]
    steps = list(to_trajectory(records))
    assert [s["action"]["type"] for s in steps] == ["drag", "type"]
    assert [s["ts"] for s in steps] == sorted(s["ts"] for s in steps)


TRACE = (
    "\n".join(
        json.dumps(line)
        for line in [
            {"type": "window", "t": 0, "title": "Notes", "app": "Editor"},
            {
                "type": "mouse_button",
                "t": 0.01,
                "x": 10,
                "y": 20,
                "button": "left",
                "pressed": True,
            },
            {
                "type": "mouse_button",
                "t": 0.02,
                "x": 10,
                "y": 20,
                "button": "left",
                "pressed": False,
            },
            {"type": "key", "t": 0.03, "key": "h", "pressed": True, "char": "h"},
            {"type": "key", "t": 0.04, "key": "h", "pressed": False, "char": "h"},
            {"type": "key", "t": 0.05, "key": "i", "pressed": True, "char": "i"},
        ]
    )
    + "\n"
)


def test_real_export_folds_into_a_trajectory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    done = run_cli(home, "run", "--replay", str(trace), "--speed", "0")
    assert done.returncode == 0, done.stderr
    exported = run_cli(home, "export")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    steps = list(to_trajectory(records))
    assert [s["action"]["type"] for s in steps] == ["click", "type"]
    assert steps[1]["action"]["text"] == "hi"
    assert steps[0]["observation"]["title"] == "Notes"
    folded = run_cli(home, "export", "--format", "trajectory")
    assert folded.returncode == 0, folded.stderr
    assert [json.loads(line) for line in folded.stdout.splitlines()] == steps


def test_a_frame_grabbed_as_an_action_began_is_its_observation() -> None:
    def frame(ts: float, file: str, trigger: str) -> dict[str, Any]:
        return rec("frame", ts, file=file, left=0, top=0, trigger=trigger)

    records = [
        frame(1.0, "before.webp", "click"),
        button(2.0, 10, 10, True),
        frame(2.01, "at-press.webp", "action"),  # the dialog that opened since 1.0
        button(2.08, 10, 10, False),
        *typed(4.0, "ab"),
        frame(4.02, "after-first-key.webp", "action"),  # shows the echo: not adopted
        button(6.0, 50, 50, True),
        button(6.05, 50, 50, False),
        frame(6.06, "after-release.webp", "action"),  # too late: the press was released
        button(8.0, 60, 60, True),
        frame(8.9, "while-held.webp", "action"),  # the button is still down
        button(9.0, 60, 60, False),
    ]
    seen = [step["observation"]["frame"] for step in to_trajectory(records)]
    assert seen == [
        "at-press.webp",
        "at-press.webp",  # typing keeps the frame from before its first key
        "after-first-key.webp",
        "while-held.webp",
    ]

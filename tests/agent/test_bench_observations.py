"""``bench.observations``: which actions' observations predate a screen change (issue 22)."""

from __future__ import annotations

from typing import Any

from bench.observations import observations, summary

S = "20250101T000000-abcd"


def rec(type_: str, ts: float, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "seq": 0, "session": S, "sensitivity": 1, **fields}


def click(ts: float, x: int) -> list[dict[str, Any]]:
    return [
        rec("mouse_button", ts, x=x, y=5, button="left", pressed=True),
        rec("mouse_button", ts + 0.1, x=x, y=5, button="left", pressed=False),
    ]


def test_stale_and_effect_showing_observations_are_counted_apart() -> None:
    events = [
        rec("frame", 1.0, file=None, left=0, top=0, trigger="click"),
        *click(2.0, 10),  # a dialog drawn at 1.5, after the frame: stale
        rec("frame", 2.5, file=None, left=0, top=0, trigger="click"),
        *click(3.0, 200),  # grabbed at the press, after a draw that followed it
        rec("frame", 3.004, file=None, left=0, top=0, trigger="action"),
        *click(5.0, 400),  # nothing drawn since the frame at 3.004: fresh
    ]
    draws = [(0.5, 100), (1.5, 90_000), (3.001, 90_000), (5.5, 10)]
    figures = observations(events, draws, detail=True)
    assert (figures["actions"], figures["stale"], figures["may_show_effect"]) == (3, 1, 1)
    assert figures["stale_by_action"] == {"click": 1}
    assert [s["drawn_before"] for s in figures["steps"]] == [1, 0, 0]
    # A cursor-sized draw is counted in the strict figure only.
    small = observations(events, [(0.5, 100), (1.5, 78), (5.5, 10)])
    assert (small["stale"], small["large"]["stale"]) == (1, 0)
    assert "1 of 3 actions (33.3 %)" in summary(figures)

"""``bench.observations``: which actions' observations predate a screen change (issue 22)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from bench.observation_pixels import Draw, Grab
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
    draws = [Draw(0.5, 100), Draw(1.5, 90_000), Draw(3.001, 90_000), Draw(5.5, 10)]
    figures = observations(events, draws, detail=True)
    assert (figures["actions"], figures["stale"], figures["may_show_effect"]) == (3, 1, 1)
    assert figures["stale_by_action"] == {"click": 1}
    assert [s["drawn_before"] for s in figures["steps"]] == [1, 0, 0]
    # A cursor-sized draw is counted in the strict figure only.
    small = observations(events, [Draw(0.5, 100), Draw(1.5, 78), Draw(5.5, 10)])
    assert (small["stale"], small["large"]["stale"]) == (1, 0)
    assert "1 of 3 actions (33.3 %)" in summary(figures)


def test_stale_by_draws_is_checked_by_pixels_against_the_drivers_grabs(tmp_path: Path) -> None:
    # A terminal (grey) with a cursor cell; a dialog (white) opens at 1.5.
    def shot(dialog: bool) -> Image.Image:
        image = Image.new("RGB", (640, 200), (90, 90, 90))
        image.paste((0, 0, 0), (40, 20, 48, 36))
        if dialog:
            image.paste((250, 250, 250), (300, 50, 500, 150))
        return image

    before, after = tmp_path / "1.webp", tmp_path / "2.webp"
    shot(False).save(before, format="WEBP", lossless=True)
    shot(True).save(after, format="WEBP", lossless=True)
    events = [
        rec("frame", 1.0, file=str(before), left=0, top=0, trigger="click"),
        *click(2.0, 10),  # the dialog drawn at 1.5, after the frame: stale both ways
        rec("frame", 2.5, file=str(after), left=0, top=0, trigger="click"),
        *click(4.0, 200),  # only the cursor cell redrawn, unchanged, at 3.0
        rec("frame", 4.5, file=str(after), left=0, top=0, trigger="click"),
        *click(6.0, 300),  # the cursor redrawn at 5.3, unchanged
    ]
    cursor = (40, 20, 8, 16)
    draws = [
        Draw(0.5, 100, (0, 0, 10, 10)),
        Draw(1.5, 20_000, (300, 50, 200, 100)),
        Draw(3.0, 128, cursor),
        Draw(5.3, 128, cursor),
        Draw(6.5, 10, (0, 0, 2, 5)),
    ]
    # The driver's grabs just before each click (the last 100 ms before it).
    grabs = [Grab.of(t, t + 0.004, shot(True)) for t in (1.99, 3.99, 5.9)]
    figures = observations(events, draws, detail=True, grabs=grabs)
    assert (figures["actions"], figures["stale"]) == (3, 3)
    assert [s["pixels"] for s in figures["steps"]] == [
        "pixels_differ",
        "same_pixels",
        "same_pixels",
    ]
    assert (figures["stale_by_pixels"], figures["stale_by_pixels_by_action"]) == (1, {"click": 1})
    assert figures["pixels"] == {"pixels_differ": 1, "same_pixels": 2}
    text = summary(figures)
    assert "3 of 3 actions (100.0 %)" in text and "by pixels" in text and "1 (33.3 %)" in text
    # A draw after the driver's grab, before the action: the grab cannot vouch for it.
    late = [*draws[:4], Draw(5.95, 128, cursor), draws[4]]
    assert observations(events, late, grabs=grabs)["pixels"]["drawn_after_grab"] == 1
    # Without grabs the pixel figure is absent, the draw figures unchanged.
    plain = observations(events, draws)
    assert plain["stale_by_pixels"] is None and plain["stale"] == 3
    assert "not checked by pixels" in summary(plain)

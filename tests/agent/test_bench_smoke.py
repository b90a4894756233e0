"""The benchmarks run and produce figures (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from PIL import Image

from bench import hook, throughput
from bench.common import Figure, table
from tests.waiting import wait_for


def _number(figure: Figure) -> float:
    match = re.search(r"[-+]?[\d,]+(\.\d+)?", figure.value)
    assert match, figure
    return float(match.group(0).replace(",", ""))


@pytest.mark.x11
def test_hook_cost_produces_figures() -> None:
    figures, details = hook.measure(n=2_000)
    names = [f.name for f in figures]
    assert "hook cost, median (all callbacks)" in names
    assert "hook cost, p99 (all callbacks)" in names
    assert all(math.isfinite(_number(f)) for f in figures[:2])
    assert details["calls"] == 2_000 and details["queued"] > 0
    assert set(details["per_kind"]) == {"move", "click", "key", "scroll"}


def test_throughput_produces_figures() -> None:
    figures, details = throughput.measure(n=3_000)
    assert len(figures) == 2
    assert all(_number(f) > 0 for f in figures)
    for result in details.values():
        assert result["chunks"] >= 1 and result["stored"] > 0
    assert "pipeline throughput" in table(figures)


@pytest.mark.x11
def test_the_filled_scene_starts_with_its_terminals_full_of_text() -> None:
    import mss

    from bench.x11_scene import start_scene

    def ink(scene: Any) -> float:
        """Share of the second terminal's pixels that are not its background."""
        with mss.MSS(display=scene.server.display) as grab:
            shot = grab.grab({"left": 980, "top": 100, "width": 600, "height": 380})
        image = Image.frombytes("RGB", shot.size, shot.rgb)
        colours = image.getcolors(1 << 16) or []
        background = max(colours)[0]  # the commonest colour's pixel count
        return 1 - background / (image.width * image.height)

    def inked(filled: bool) -> float:
        """The second terminal's ink once it has printed its lines (it stops changing)."""
        scene = start_scene(filled)
        try:
            readings = [ink(scene)]

            def printed() -> list[float] | None:  # a list: an empty terminal's ink may be 0
                readings.append(ink(scene))
                # Printed: the same reading over the last ten polls (the terminal is done),
                # and, when filled, ink there at all (it may not have started yet).
                last = readings[-10:]
                done = len(last) == 10 and len(set(last)) == 1 and (not filled or last[0] > 0.02)
                return [last[-1]] if done else None

            return wait_for(printed, "the terminal to print its lines", timeout=30)[0]
        finally:
            scene.stop()

    full, empty = inked(True), inked(False)
    assert full > 0.02 and full > 10 * empty, (full, empty)

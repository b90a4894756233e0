"""The benchmarks run and produce figures (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import math
import re

from bench import hook, throughput
from bench.common import Figure, table


def _number(figure: Figure) -> float:
    match = re.search(r"[-+]?[\d,]+(\.\d+)?", figure.value)
    assert match, figure
    return float(match.group(0).replace(",", ""))


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

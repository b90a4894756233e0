"""The cost of judging a focus change: ``Denylist.match`` on real-world window titles.

Every title of the window evaluation set (tests/privacy_windows, both splits) is judged
as the daemon judges a window event, with the shipped taxonomy, first with every cache
emptied before each title (a title never seen) and then warm (the same titles again,
remembered verdicts, as when a person moves between a few windows or the screen mask
asks about the same windows every frame). Target: ≤ 1 ms median.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.common import ROOT, Figure, median, percentile

SPLITS = ("tuning", "heldout")


def _windows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for split in SPLITS:
        text = (ROOT / "tests" / "privacy_windows" / f"{split}.jsonl").read_text("utf-8")
        rows += [json.loads(line) for line in text.splitlines() if line.strip()]
    return rows


def measure(rounds: int = 5) -> tuple[list[Figure], dict[str, Any]]:
    """Per-window decision times (µs), cold and warm, over ``rounds`` passes."""
    from privacy.denylist import Denylist
    from privacy.window_rules.normalize import fold

    windows = _windows()
    denylist = Denylist.default()
    denylist.match("warm-up", "x")  # load and compile the taxonomy once
    cold: list[float] = []
    warm: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for w in windows:
            fold.cache_clear()
            denylist.forget_verdicts()
            start = clock()
            denylist.match(w["title"], w["app"], None, w.get("url"))
            cold.append((clock() - start) / 1000)
    for w in windows:  # remember every verdict once
        denylist.match(w["title"], w["app"], None, w.get("url"))
    for _ in range(rounds):
        for w in windows:
            start = clock()
            denylist.match(w["title"], w["app"], None, w.get("url"))
            warm.append((clock() - start) / 1000)
    cold.sort()
    warm.sort()
    med = median(cold)
    figures = [
        Figure(
            "window decision (new title)",
            f"{med:.0f} µs median, {percentile(cold, 0.99):.0f} µs p99",
            "≤ 1 ms median",
            med <= 1000,
            f"{len(windows)} real-world titles x {rounds}, caches emptied each time",
        ),
        Figure(
            "window decision (title seen before)",
            f"{median(warm):.0f} µs median, {percentile(warm, 0.99):.0f} µs p99",
            note="the same titles again (verdict remembered)",
        ),
    ]
    raw = {"cold_us": cold, "warm_us": warm, "windows": len(windows)}
    return figures, raw

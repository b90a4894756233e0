"""``bench.memory_soak``: the soak's arithmetic on synthetic samples (issue 23)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from bench.memory_soak import read_memory, read_samples, slope_per_hour, summarize, window_minima


def sample(t: float, rss_mb: float, **extra: Any) -> dict[str, Any]:
    kb = round(rss_mb * 1024)
    return {"t": t, "rss_kb": kb, "anon_kb": kb - 30 * 1024, "hwm_kb": 120 * 1024, **extra}


def test_the_slope_is_megabytes_per_hour_of_a_straight_line() -> None:
    # 80 MB growing 0.5 MB over an hour, sampled every 10 s.
    points = [(t, 80 + 0.5 * t / 3600) for t in range(0, 3601, 10)]
    assert slope_per_hour(points) == pytest.approx(0.5)
    assert slope_per_hour([(s, 90 - s / 1800) for s in (0, 600, 1200)]) == pytest.approx(-2.0)
    assert math.isnan(slope_per_hour([(5.0, 80.0)]))
    assert math.isnan(slope_per_hour([(5.0, 80.0), (5.0, 81.0)]))


def test_the_warm_up_is_left_out_of_the_fit() -> None:
    # RSS falls 20 MB in the first 5 minutes (start-up transients given back), then is flat.
    warm = [sample(t, 100 - 20 * t / 300) for t in range(0, 300, 10)]
    steady = [sample(t, 80.0, chunks_sealed=t // 30) for t in range(300, 3600, 10)]
    out = summarize(warm + steady, warmup_s=300)
    assert out["rss_slope_mb_per_h"] == pytest.approx(0.0, abs=1e-9)
    assert out["anon_slope_mb_per_h"] == pytest.approx(0.0, abs=1e-9)
    assert (out["rss_start_mb"], out["rss_warmup_end_mb"], out["rss_end_mb"]) == (100, 80, 80)
    assert out["anon_end_mb"] == 50
    assert out["hwm_end_mb"] == 120
    assert (out["samples"], out["samples_after_warmup"]) == (360, 330)
    # Chunks sealed after the warm-up: 30 s each, 10 at 300 s to 119 at 3590 s.
    assert (out["chunks_sealed_end"], out["chunks_sealed_after_warmup"]) == (119, 109)
    # Fitted over everything, the warm-up's fall would read as a shrinking agent.
    assert summarize(warm + steady, warmup_s=0)["rss_slope_mb_per_h"] < -4


def test_the_floor_fit_is_not_lifted_by_frame_transients() -> None:
    # A flat 80 MB floor; a sample inside a frame's +15 MB transient every 7th sample in
    # the first half hour, every 2nd in the second (a busier screen): the mean rises,
    # the floor does not.
    def busy(t: int) -> bool:
        return (t // 10) % (7 if t < 1800 else 2) == 0

    samples = [sample(t, 80 + (15 if busy(t) else 0)) for t in range(0, 3600, 10)]
    minima = window_minima([(s["t"], s["rss_kb"] / 1024) for s in samples], 300)
    assert len(minima) == 12
    assert {y for _, y in minima} == {80}
    out = summarize(samples, warmup_s=0, window_s=300)
    assert out["rss_slope_mb_per_h"] > 5
    assert out["rss_floor_slope_mb_per_h"] == pytest.approx(0.0, abs=1e-9)
    # A floor that does grow is fitted as growing: 2 MB over the hour.
    grown = [sample(t, 80 + 2 * t / 3600 + (15 if busy(t) else 0)) for t in range(0, 3600, 10)]
    floor_slope = summarize(grown, warmup_s=0)["rss_floor_slope_mb_per_h"]
    assert floor_slope == pytest.approx(2.0, abs=0.01)


def test_a_last_window_the_run_barely_covered_is_not_a_floor() -> None:
    # Twelve whole 5-minute windows on a flat 80 MB floor, then two samples after the
    # workload ended, both inside a transient: not a thirteenth floor at 95 MB.
    points = [(float(t), 80.0 + (5 if t % 30 == 0 else 0)) for t in range(0, 3600, 10)]
    points += [(3600.0, 95.0), (3602.0, 95.0)]
    minima = window_minima(points, 300)
    assert len(minima) == 12
    assert slope_per_hour(minima) == pytest.approx(0.0, abs=1e-9)
    # A last window covered more than half is kept.
    assert len(window_minima([*points, (3760.0, 80.0)], 300)) == 13


def test_the_samples_file_of_an_interrupted_soak_is_read_to_its_last_whole_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "samples.jsonl"
    lines = [json.dumps(sample(t, 80.0)) for t in (0, 10, 20)]
    path.write_text("\n".join(lines) + '\n{"t": 30, "rss_')
    assert [s["t"] for s in read_samples(path)] == [0, 10, 20]


def test_the_memory_of_a_live_process_is_read_and_a_gone_one_is_none() -> None:
    mine = read_memory(os.getpid())
    assert mine is not None
    assert mine["hwm_kb"] >= mine["rss_kb"] > 0
    assert mine["rss_kb"] >= mine["anon_kb"] > 0
    assert mine["threads"] >= 1
    assert read_memory(2**22 + 1) is None  # above Linux's largest pid

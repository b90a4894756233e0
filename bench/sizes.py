"""The X11 workloads at several screen sizes and layouts (``python -m bench --sizes``).

Each layout is a desktop for ``bench.x11_workload``: one monitor of a laptop's size, or
two monitors side by side (two RandR monitors on one framebuffer, which mss and so the
agent list as two: ``tests.xserver.start_xserver``). The reference and the filled
workloads run at each, the scrub and every privacy stage on (the agent's defaults), and
one table holds CPU (real-time and scrub apart, and the total), peak and median RSS,
MB/hour, and the idle floor (once what was recorded before it is sealed). ``against`` runs
another checkout's agent (a previous commit's ``git worktree``) under the same driver,
interleaved run by run, so both see the same load on a shared machine.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT

LAYOUTS = ("1920x1080", "2560x1600", "3840x2160", "2x2560x1440")
"""1080p, a 13-16" Mac, a 4K laptop, a laptop docked to two 1440p monitors."""

WORKLOADS = (("reference", False), ("filled", True))


@dataclass(frozen=True)
class Layout:
    """``monitors`` monitors of ``width`` x ``height`` each, side by side."""

    width: int
    height: int
    monitors: int = 1

    @property
    def name(self) -> str:
        """As written on the command line: ``1920x1080`` or ``2x2560x1440``."""
        one = f"{self.width}x{self.height}"
        return one if self.monitors == 1 else f"{self.monitors}x{one}"

    @property
    def desktop(self) -> tuple[int, int]:
        """The whole desktop's size (all monitors)."""
        return self.width * self.monitors, self.height


def parse_layout(text: str) -> Layout:
    """``WxH`` or ``NxWxH`` (N monitors of WxH side by side); ValueError otherwise."""
    match = re.fullmatch(r"(?:([1-4])x)?(\d{3,5})x(\d{3,5})", text.strip())
    if match is None:
        raise ValueError(f"{text!r}: a layout is WxH or NxWxH (e.g. 3840x2160, 2x2560x1440)")
    monitors, width, height = match.groups()
    return Layout(int(width), int(height), int(monitors or 1))


def measure(
    layouts: list[Layout],
    seconds: float,
    idle_seconds: float,
    repeat: int = 1,
    against: Path | None = None,
) -> list[dict[str, Any]]:
    """One row per run: every layout x workload x repeat (x tree, interleaved)."""
    from bench import x11_workload

    trees = [("this", ROOT)] + ([("previous", against)] if against is not None else [])
    rows: list[dict[str, Any]] = []
    for layout in layouts:
        for workload, filled in WORKLOADS:
            for run in range(1, repeat + 1):
                for tree, root in trees:
                    load = os.getloadavg()[0]
                    started = time.time()
                    result = x11_workload.run(
                        seconds,
                        idle_seconds=idle_seconds,
                        filled=filled,
                        size=layout.desktop,
                        monitors=layout.monitors,
                        agent_root=root,
                        idle_after_seal=True,
                    )
                    result.pop("rss_samples")
                    row = {
                        "tree": tree,
                        "layout": layout.name,
                        "workload": workload,
                        "run": run,
                        "load_1min": load,
                        "started": started,
                        **_summary(result),
                    }
                    rows.append(row)
                    print("  " + _line(row), flush=True)
    return rows


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    realtime = max(0.0, r["cpu_s"] - r["scrub_cpu_s"])
    return {
        "cpu_pct": r["cpu_pct"],
        "realtime_pct": 100.0 * realtime / r["seconds"],
        "scrub_pct": r["scrub_cpu_pct"],
        "scrub_s_per_hour": r["scrub_cpu_s_per_hour"],
        "rss_peak_mb": r["rss_peak_mb"],
        "rss_hwm_mb": r.get("rss_hwm_mb", float("nan")),
        "rss_median_mb": r["rss_median_mb"],
        "worker_rss_peak_mb": r.get("worker_rss_peak_mb", float("nan")),
        "worker_rss_hwm_mb": r.get("worker_rss_hwm_mb", float("nan")),
        "rss_both_peak_mb": r.get("rss_both_peak_mb", float("nan")),
        "mb_per_hour": r["mb_per_hour"],
        "idle_cpu_pct": r["idle_cpu_pct"],
        "idle_wakeups_per_s": r.get("idle_wakeups_per_s", float("nan")),
        "idle_wakeups_by_thread": r.get("idle_wakeups_by_thread", {}),
        "pause_to_last_event_ms": 1000 * (r.get("pause_instant_to_last_event_s") or float("nan")),
        "events_after_pause": r.get("events_after_pause"),
        "frames": r["frames"],
        "scrub_engine": r["scrub_engine"],
        "scrub_withheld": r["scrub_withheld"],
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['tree']} {row['layout']} {row['workload']} #{row['run']}: "
        f"CPU {row['cpu_pct']:.2f} % (real-time {row['realtime_pct']:.2f}, scrub "
        f"{row['scrub_pct']:.2f}), RSS {row['rss_peak_mb']:.1f}/{row['rss_median_mb']:.1f} MB "
        f"(VmHWM {row['rss_hwm_mb']:.1f}), OCR worker {_worker(row)}, "
        f"{row['mb_per_hour']:.1f} MB/h, idle {row['idle_cpu_pct']:.2f} % "
        f"{row['idle_wakeups_per_s']:.1f}/s, load {row['load_1min']:.2f}"
    )


def table(rows: list[dict[str, Any]]) -> str:
    """One Markdown table, a row per run."""
    head = (
        "| layout | workload | agent | run | load (1 min) | CPU total % | real-time % | "
        "scrub % (CPU s/h) | peak RSS MB (VmHWM) | median RSS MB | OCR worker peak RSS MB "
        "(VmHWM); both at once | MB/h | idle CPU % | idle wake-ups/s |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r['layout']} | {r['workload']} | {r['tree']} | {r['run']} | "
            f"{r['load_1min']:.2f} | {r['cpu_pct']:.2f} | {r['realtime_pct']:.2f} | "
            f"{r['scrub_pct']:.2f} ({r['scrub_s_per_hour']:.0f}) | {r['rss_peak_mb']:.1f} "
            f"({r.get('rss_hwm_mb', float('nan')):.1f}) | "
            f"{r['rss_median_mb']:.1f} | {_worker(r)} | {r['mb_per_hour']:.1f} | "
            f"{r['idle_cpu_pct']:.2f} | "
            f"{r['idle_wakeups_per_s']:.1f} |"
        )
    return "\n".join(lines)


def _worker(r: dict[str, Any]) -> str:
    """The OCR worker's memory (its own process), or "inline" (none: in the agent)."""
    peak = r.get("worker_rss_peak_mb", float("nan"))
    if peak != peak:  # NaN: no worker
        return "inline"
    return (
        f"{peak:.1f} ({r.get('worker_rss_hwm_mb', float('nan')):.1f}); "
        f"{r.get('rss_both_peak_mb', float('nan')):.1f}"
    )

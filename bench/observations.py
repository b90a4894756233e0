"""How fresh each action's observation is, on the reference X11 workload (issue 22).

    python -m bench.observations        # one 60-second run: ~2.5 minutes

Runs ``bench.x11_workload`` keeping its home, exports the session, folds it into a
trajectory, and prints: frames by trigger, the median and 90th percentile of each
action's observation age (the action's start minus its frame's), and, of the actions
for which a grab was taken at their start (trigger ``action``: the screen had changed
since the last frame), how many are paired with it. Not part of `make bench` yet.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench import x11_workload
from storage.reader import in_time_order
from storage.trajectory import PRE_ACTION_SECONDS, to_trajectory

ACTIONS = ("click", "double_click", "long_press", "drag", "type")


def observations(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one exported session (raw records, any order)."""
    events = in_time_order(events)
    steps = list(to_trajectory(events))
    grabs = [e["ts"] for e in events if e["type"] == "frame" and e.get("trigger") == "action"]
    ages = sorted(
        s["ts"] - s["observation"]["frame_ts"]
        for s in steps
        if s["observation"]["frame_ts"] is not None
    )
    wanted = paired = 0
    for step in steps:
        if step["action"]["type"] not in ACTIONS:
            continue
        if any(step["ts"] <= t <= step["ts"] + PRE_ACTION_SECONDS for t in grabs):
            wanted += 1
            seen = step["observation"]["frame_ts"]
            paired += seen is not None and seen >= step["ts"]
    return {
        "frames_by_trigger": dict(
            Counter(e.get("trigger") for e in events if e["type"] == "frame")
        ),
        "actions": dict(Counter(s["action"]["type"] for s in steps)),
        "age_median_s": statistics.median(ages) if ages else None,
        "age_p90_s": ages[int(0.9 * len(ages))] if ages else None,
        "grabbed_at_start": wanted,
        "paired_with_that_grab": paired,
    }


def main() -> int:
    """One workload run; print its figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-observations-") as keep:
        result = x11_workload.run(60.0, idle_seconds=10, keep=Path(keep))
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli.main", "export"],
            env=dict(os.environ, CAPTURE_AGENT_HOME=str(Path(keep) / "home")),
            capture_output=True,
            text=True,
            check=False,
        )
        events = [json.loads(line) for line in done.stdout.splitlines()]
    figures = observations(events)
    figures.update(cpu_pct=result.get("cpu_pct"), mb_per_hour=result.get("mb_per_hour"))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

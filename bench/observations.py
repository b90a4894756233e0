"""How fresh each action's observation is, on the X11 workloads (issue 22).

    python -m bench.observations            # one 60-second reference run: ~2.5 minutes
    python -m bench.observations --filled   # the filled workload
    python -m bench.observations --detail   # and one line per action
    python -m bench.observations --agent /tmp/prev   # another checkout's agent, this driver

``make bench`` reports the same figures for both X11 workloads (``bench.x11_workload``
calls ``observations`` with the session it exported and the draws that
``bench.screen_changes`` saw from outside the agent).

An action's observation is *stale* when the screen was drawn on after its frame was
grabbed and before the action began: the person saw something the trajectory does not
show. It *may show the effect* when something was drawn after the action began and
before its frame was grabbed (a grab taken at the action's start that lost the race
with the application). Server timestamps are whole milliseconds and a grab reads the
pixels a little after its frame's time, so draws within ``GRAB`` after the frame's
time and, for a frame from before the action, within ``EDGE`` of the action's start
count as neither (``uncertain`` counts them); for a frame grabbed after the action
began, a draw within ``EDGE`` of its start counts as a possible effect.

A draw need not change a pixel (xterm redraws its cursor cell, unchanged, at every
button release). Given the driver's grabs before each action, an action stale by draws
is also checked by pixels (``bench.observation_pixels``): ``stale_by_pixels`` counts
those whose frame differs from the screen at the action in a drawn box, or cannot be
shown not to (a draw after the grab, no grab, no frame); ``pixels`` says why, by reason.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.observation_pixels import Draw, Frames, Grab, grab_before, pixel_verdict
from storage.reader import in_time_order
from storage.trajectory import to_trajectory

EDGE = 0.020
"""Seconds around an action's start where a draw's side of it is not known: the agent's
input times and these draw times are both mapped from whole server milliseconds, on
different connections; measured, the agent's are 2-8 ms later (a wheel step's own
scroll drawn "8 ms before" the step). Nobody acts within 20 ms of seeing a change, so
a draw that close is taken for the action's own."""
GRAB = 0.005
"""Seconds after a frame's time in which its pixels may still be read."""
CURSOR_AREA = 48 * 48
"""Draws no larger are counted apart too: xterm redraws its cursor cell, unchanged, on
every button press and release (the agent takes such a draw for no effect either,
``ScreenSource.CURSOR_AREA``)."""


def _between(draws: list[float], lo: float, hi: float) -> int:
    """How many draws fall strictly between ``lo`` and ``hi``."""
    if hi <= lo:
        return 0
    return bisect.bisect_left(draws, hi) - bisect.bisect_right(draws, lo)


def _first_after(draws: list[float], ts: float) -> float | None:
    """Milliseconds from ``ts`` to the first draw at or after it (None: none)."""
    i = bisect.bisect_left(draws, ts - EDGE)
    return round(1000 * (draws[i] - ts), 1) if i < len(draws) else None


def _action_name(action: dict[str, Any]) -> str:
    kind = str(action.get("type"))
    if kind == "key":
        return f"key {action.get('key')}"
    if kind == "type":
        text = action.get("text")
        return f"type {len(text) if isinstance(text, str) else action.get('length')} chars"
    return kind


def observations(
    events: list[dict[str, Any]],
    draws: Sequence[Draw],
    detail: bool = False,
    grabs: Sequence[Grab] | None = None,
) -> dict[str, Any]:
    """The figures of one exported session (raw records, any order) against every draw
    on its screen (in time order), over the span they were watched: counted with every
    draw, and ``large``: with draws larger than a cursor cell only. With the driver's
    ``grabs`` (in the order taken) and frames exported as files (``file`` a path), the
    actions stale by every draw are checked by pixels too (``stale_by_pixels``; None
    without grabs)."""
    span = (draws[0].t, draws[-1].t) if draws else (0.0, -1.0)
    out = _staleness(events, draws, span, detail, grabs)
    large = _staleness(events, [d for d in draws if d.area > CURSOR_AREA], span, False, None)
    keep = ("stale", "stale_share", "stale_by_action", "may_show_effect", "draws")
    out["large"] = {k: large[k] for k in keep}
    return out


def _staleness(
    events: list[dict[str, Any]],
    drawn: Sequence[Draw],
    watched: tuple[float, float],
    detail: bool,
    grabs: Sequence[Grab] | None,
) -> dict[str, Any]:
    draws = [d.t for d in drawn]
    frames, verdicts = Frames(), Counter[str]()
    by_pixels: Counter[str] = Counter()
    events = in_time_order(events)
    steps = list(to_trajectory(events))
    triggers = {e["ts"]: e.get("trigger") for e in events if e["type"] == "frame"}
    ages: list[float] = []
    counted = stale = leaked = uncertain = 0
    by_cause: Counter[str] = Counter()
    lines: list[dict[str, Any]] = []
    for step in steps:
        start, frame_ts = step["ts"], step["observation"]["frame_ts"]
        if not watched[0] <= start <= watched[1] or frame_ts is None:
            continue
        counted += 1
        ages.append(start - frame_ts)
        before = _between(draws, frame_ts + GRAB, start - EDGE)
        # A draw at the action's start may be its effect (applications draw within the
        # millisecond of a press): a frame grabbed after it may show it.
        after = _between(draws, start - EDGE, frame_ts)
        edge = _between(draws, frame_ts, frame_ts + GRAB) + (
            _between(draws, start - EDGE, start + EDGE) if frame_ts < start else 0
        )
        name = _action_name(step["action"])
        stale += before > 0
        leaked += after > 0
        uncertain += before == 0 and after == 0 and edge > 0
        verdict = None
        if before:
            by_cause[str(step["action"].get("type"))] += 1
            if grabs is not None:
                seen = step["observation"]
                verdict = pixel_verdict(
                    frames.get(seen["frame"]),
                    (int(seen.get("frame_left") or 0), int(seen.get("frame_top") or 0)),
                    # Every draw after the frame's time (the GRAB window too), before the
                    # action's edge: a superset of the draws counted above.
                    drawn[
                        bisect.bisect_right(draws, frame_ts) : bisect.bisect_left(
                            draws, start - EDGE
                        )
                    ],
                    grab_before(grabs, start),
                )
                verdicts[verdict] += 1
                if verdict != "same_pixels":
                    by_pixels[str(step["action"].get("type"))] += 1
        if detail:
            lines.append(
                {
                    "t": round(start - watched[0], 3),
                    "action": name,
                    "age_ms": round(1000 * (start - frame_ts), 1),
                    "frame": triggers.get(frame_ts),
                    "drawn_before": before,
                    "drawn_after_start": after,
                    "edge": edge,
                    "first_draw_ms": _first_after(draws, start),
                    "pixels": verdict,
                }
            )
    ages.sort()
    out: dict[str, Any] = {
        "actions": counted,
        "stale": stale,
        "stale_share": stale / counted if counted else None,
        "stale_by_action": dict(by_cause),
        "may_show_effect": leaked,
        "uncertain": uncertain,
        "draws": len(draws),
        "frames_by_trigger": dict(
            Counter(e.get("trigger") for e in events if e["type"] == "frame")
        ),
        "age_median_s": statistics.median(ages) if ages else None,
        "age_p90_s": ages[int(0.9 * len(ages))] if ages else None,
    }
    if grabs is not None:
        stale_px = sum(by_pixels.values())
        out.update(
            stale_by_pixels=stale_px,
            stale_by_pixels_share=stale_px / counted if counted else None,
            stale_by_pixels_by_action=dict(by_pixels),
            pixels=dict(verdicts),
            grabs=len(grabs),
        )
    else:
        out.update(stale_by_pixels=None, stale_by_pixels_share=None)
    if detail:
        out["steps"] = lines
    return out


def summary(o: dict[str, Any]) -> str:
    """One Markdown list line of the figures (``make bench``'s workload details)."""
    large = o["large"]
    share = "n/a" if o["stale_share"] is None else f"{100 * o['stale_share']:.1f} %"
    big = "n/a" if large["stale_share"] is None else f"{100 * large['stale_share']:.1f} %"
    age = "n/a" if o["age_median_s"] is None else f"{o['age_median_s']:.2f} s"
    return (
        f"- observations (`bench.observations`): {o['stale']} of {o['actions']} actions "
        f"({share}) paired with a frame the screen was drawn on after, before the action "
        f"began (by action: {o['stale_by_action'] or 'none'}); with draws larger than a "
        f"cursor cell only ({large['draws']} of {o['draws']} draws): {large['stale']} ({big}); "
        f"{by_pixels(o)}; "
        f"{o['may_show_effect']} observations grabbed after a draw that followed the "
        f"action's start; frames by trigger {o['frames_by_trigger']}; median age {age}\n"
    )


def by_pixels(o: dict[str, Any]) -> str:
    """The pixel-checked figure in words (``summary``, ``make bench``'s table)."""
    if o.get("stale_by_pixels") is None:
        return "not checked by pixels (no grabs before the actions)"
    share = o["stale_by_pixels_share"]
    pct = "n/a" if share is None else f"{100 * share:.1f} %"
    return (
        f"by pixels (the driver's grab before the action against the frame, in the boxes "
        f"drawn): {o['stale_by_pixels']} ({pct}) stale, why: {o['pixels'] or 'none'}"
    )


def main(argv: list[str] | None = None) -> int:
    """One workload run; print its observation figures (and the agent's CPU, storage)."""
    from bench import x11_workload
    from bench.common import ROOT

    parser = argparse.ArgumentParser(prog="python -m bench.observations")
    parser.add_argument("--filled", action="store_true", help="terminals full of text")
    parser.add_argument("--detail", action="store_true", help="one line per action")
    parser.add_argument("--seconds", type=float, default=60.0, help="workload length")
    parser.add_argument(
        "--agent",
        type=Path,
        default=ROOT,
        metavar="CHECKOUT",
        help="run this checkout's agent (e.g. `git worktree add /tmp/prev HEAD~3`) under "
        "this checkout's driver and measure, for before/after runs taken in turn",
    )
    args = parser.parse_args(argv)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    result = x11_workload.run(
        args.seconds,
        idle_seconds=10,
        filled=args.filled,
        observation_detail=args.detail,
        agent_root=args.agent.resolve(),
    )
    figures = dict(result["observations"])
    steps = figures.pop("steps", [])
    figures.update(
        cpu_pct=result.get("cpu_pct"),
        scrub_cpu_pct=result.get("scrub_cpu_pct"),
        mb_per_hour=result.get("mb_per_hour"),
        load_before=load_before,
        load=" ".join(Path("/proc/loadavg").read_text().split()[:3]),
    )
    for line in steps:
        print(json.dumps(line))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m bench`` (``make bench``): run the benchmarks, print and record the figures.

The figures go to docs/PERFORMANCE.md (between its bench markers).

    python -m bench                      # everything: about 8 minutes
    python -m bench --only hook,throughput --no-write
    python -m bench --soak 60            # also a 60-minute soak: RSS growth per hour
    python -m bench --screen 3840x2160   # the X11 workloads on a 4K screen
    python -m bench --sizes              # `make bench-sizes`: the workloads at every layout
    python -m bench --sizes --against /tmp/prev   # ... beside another checkout's agent

Figures, not pass/fail: the exit code is 0 whether or not a target is met.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import observations, sizes
from bench.common import ROOT, Figure, machine, table

PARTS = ("hook", "throughput", "window", "frames", "x11", "x11-filled")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SIZES_BEGIN, SIZES_END = "<!-- bench-sizes:begin -->", "<!-- bench-sizes:end -->"


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the chosen parts, report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run (default: all of {', '.join(PARTS)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, for a smoke run (figures are then not meaningful)",
    )
    parser.add_argument(
        "--x11-seconds",
        type=float,
        default=60.0,
        help="length of the reference X11 workload (default 60)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="also run the workload this many minutes and report RSS growth",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "docs" / "PERFORMANCE.md",
        help="where to write the results (default docs/PERFORMANCE.md)",
    )
    parser.add_argument(
        "--screen",
        default="1920x1080",
        help="the X11 workloads' screen: WxH, or NxWxH for N monitors side by side "
        "(default 1920x1080)",
    )
    parser.add_argument(
        "--sizes",
        nargs="?",
        const=",".join(sizes.LAYOUTS),
        metavar="LAYOUTS",
        help="instead of the parts: the reference and filled X11 workloads at each layout "
        f"(default {','.join(sizes.LAYOUTS)}), one table",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="--sizes: runs of each workload (default 1)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="CHECKOUT",
        help="--sizes: also run this checkout's agent (e.g. `git worktree add /tmp/prev "
        "HEAD~1`), interleaved run by run",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also write every raw figure as JSON here")
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C: each workload's cleanup stops its Xvfb and agent.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    try:
        layout = sizes.parse_layout(args.screen)
        layouts = [sizes.parse_layout(x) for x in (args.sizes or "").split(",") if x.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if args.against is not None and not (args.against / "agent" / "cli" / "main.py").is_file():
        parser.error(f"--against {args.against}: not a capture-agent checkout")
    if args.sizes is not None:
        return _sizes(args, layouts, argv)

    started = time.time()
    load_before = os.getloadavg()
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    sections: list[str] = []
    if "hook" in parts:
        from bench import hook

        figs, raw["hook"] = hook.measure(2_000 if args.quick else 100_000)
        figures += figs
        _progress(figs)
    if "throughput" in parts:
        from bench import throughput

        figs, raw["throughput"] = throughput.measure(3_000 if args.quick else 200_000)
        figures += figs
        _progress(figs)
    if "window" in parts:
        from bench import window_bench

        figs, raw["window"] = window_bench.measure(1 if args.quick else 5)
        figures += figs
        _progress(figs)
    if "frames" in parts:
        from bench import frames

        shots = frames.grab_frames(8 if args.quick else 40)
        rows = frames.study(shots)
        raw["frames"] = rows
        sections.append("### Frame storage study\n\n" + frames.table(rows))
        print(frames.table(rows), flush=True)
    if "x11" in parts:
        from bench import x11_workload

        result = x11_workload.run(
            5 if args.quick else args.x11_seconds,
            idle_seconds=2 if args.quick else 10,
            size=layout.desktop,
            monitors=layout.monitors,
        )
        samples = result.pop("rss_samples")
        raw["x11"] = result
        figs = x11_workload.figures(result)
        figures += figs
        _progress(figs)
        sections.append(_x11_details(result))
        del samples
    if "x11-filled" in parts:
        from bench import x11_workload

        # The same script on terminals already full of text: every line typed scrolls a
        # whole terminal, as after the first minutes of a long session.
        result = x11_workload.run(
            5 if args.quick else args.x11_seconds,
            idle_seconds=2 if args.quick else 10,
            filled=True,
            size=layout.desktop,
            monitors=layout.monitors,
        )
        result.pop("rss_samples")
        raw["x11_filled"] = result
        figs = x11_workload.figures(result, label="filled X11 workload")
        figures += figs
        _progress(figs)
        sections.append(_x11_details(result, "Filled X11 workload (terminals full of text)"))
    if args.soak:
        from bench import x11_workload

        # No pixel grabs: they are kept until the end (~100 KB an action).
        result = x11_workload.run(args.soak * 60, pause=False, pixel_check=False)
        growth, base = _rss_growth(result.pop("rss_samples"))
        raw["soak"] = {**result, "rss_growth_mb_per_hour": growth}
        figures.append(
            Figure(
                f"soak {args.soak:g} min: RSS growth",
                f"{growth:+.2f} MB/hour",
                "≤ 1 MB/hour",
                growth <= 1.0,
                f"fit after warm-up, from {base:.1f} MB; peak "
                f"{result['rss_peak_mb']:.1f} MB; CPU {result['cpu_pct']:.2f} %",
            )
        )
        _progress(figures[-1:])
    load_after = os.getloadavg()

    info = machine()
    info["load average"] = (
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after "
        "(1-minute; other work on the machine inflates CPU figures)"
    )
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    report = _report(figures, sections, info, command.strip(), started)
    print()
    print(report)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    if not args.no_write:
        _write(args.output, report)
        print(f"\nwritten to {args.output}")
    return 0


def _sizes(args: argparse.Namespace, layouts: list[sizes.Layout], argv: list[str] | None) -> int:
    """``--sizes``: the X11 workloads at every layout, one table (own markers)."""
    started = time.time()
    loads = [os.getloadavg()]
    seconds = 5.0 if args.quick else args.x11_seconds
    # The idle window spans the screen's idle fallback (every 30 s): the steady idle
    # state, health grab included, not only the quiet between two of them.
    rows = sizes.measure(
        layouts, seconds, 2.0 if args.quick else 32.0, max(1, args.repeat), args.against
    )
    loads.append(os.getloadavg())
    info = machine()
    info["load average"] = (
        f"{loads[0][0]:.2f} before, {loads[1][0]:.2f} after (1-minute; each run's own in the "
        "table; other work on the machine inflates CPU figures)"
    )
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    against = f" `previous`: the agent of {args.against}." if args.against else ""
    report = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} with "
            f"`{command.strip()}` ({seconds:g} s per workload; `make bench-sizes` runs the "
            f"default layouts).{against}",
            "",
            "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".",
            "",
            sizes.table(rows),
        ]
    )
    print()
    print(report)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    if not args.no_write:
        _write(args.output, report, SIZES_BEGIN, SIZES_END)
        print(f"\nwritten to {args.output}")
    return 0


def _progress(figs: list[Figure]) -> None:
    for f in figs:
        print(f"  {f.name}: {f.value}" + (f"  [{f.verdict}]" if f.verdict else ""), flush=True)


def _rss_growth(samples: list[tuple[float, int]]) -> tuple[float, float]:
    """Least-squares slope of RSS (MB/hour) after the first tenth of the run."""
    if len(samples) < 10:
        return float("nan"), float("nan")
    tail = samples[len(samples) // 10 :]
    xs = [t for t, _ in tail]
    ys = [b / 2**20 for _, b in tail]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return slope * 3600, ys[0]


def _x11_details(r: dict[str, Any], title: str = "Reference X11 workload") -> str:
    threads = ", ".join(
        f"{name} {cpu:.2f} s" for name, cpu in r["cpu_by_thread_s"].items() if cpu >= 0.005
    )
    gen = ", ".join(f"{k} {v}" for k, v in sorted(r["generated"].items()))
    stored = ", ".join(f"{k} {v}" for k, v in sorted(r["stored_in_window"].items()))
    return (
        f"### {title}, details\n\n"
        f"- duration {r['seconds']:.1f} s, agent CPU {r['cpu_s']:.2f} s "
        f"({r['cpu_pct']:.2f} % of one core)\n"
        f"- CPU by thread over the workload: {threads}\n"
        f"- screen scrub ({r.get('scrub_engine') or 'no engine'}, inline on the screen "
        f"thread): {r.get('scrub_cpu_s', 0.0):.2f} CPU s over the workload "
        f"({r.get('scrub_cpu_s_per_hour', 0.0):.0f} s per recorded hour), "
        f"{r.get('scrub_cpu_s_session', 0.0):.2f} s over the session with start-up; regions "
        f"masked {r.get('scrub_masked') or {}}, frames withheld {r.get('scrub_withheld', 0)}\n"
        f"- CPU while idle (recording, no input): {r['idle_cpu_pct']:.2f} % of one core; by "
        "thread: "
        + ", ".join(f"{n} {c:.3f} s" for n, c in r["idle_cpu_by_thread_s"].items() if c >= 0.005)
        + f" over {r['idle_seconds']:.0f} s\n"
        f"- generated by the driver: {gen}\n"
        f"- stored during the workload: {stored}\n"
        f"- frames: {r['frames']} stored ({r.get('key_frames', 0)} whole, the rest changed "
        f"regions), mean {r['frame_bytes_mean'] / 1024:.1f} KB, "
        f"{r['frame_bytes_total'] / 2**20:.2f} MB of {r['data_bytes'] / 2**20:.2f} MB on disk\n"
        f"- start: first stored input event {r['start_to_first_event_s']:.2f} s after the "
        f"process was spawned, {r['started_marker_to_first_event_s']:.3f} s after its "
        "'started' marker\n"
        + (
            f"- pause: `capture-agent pause` took {r['pause_command_s'] * 1000:.0f} ms "
            f"(CLI start-up included); pause instant {r['pause_request_to_instant_s'] * 1000:.0f}"
            f" ms after the request; last stored input event "
            f"{r['pause_instant_to_last_event_s'] * 1000:+.1f} ms from the pause instant; "
            f"{r['events_after_pause']} events after it\n"
            if r.get("pause_ok")
            else ""
        )
        + (observations.summary(r["observations"]) if "observations" in r else "")
        + f"- SIGTERM to exit {r['sigterm_to_exit_s']:.2f} s (exit code {r['exit_code']})\n"
    )


def _report(
    figures: list[Figure], sections: list[str], info: dict[str, str], command: str, started: float
) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    lines = [
        f"Measured {when} with `{command}` (from the repository root; `make bench` runs the same).",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".",
        "",
        table(figures),
    ]
    for section in sections:
        lines += ["", section]
    return "\n".join(lines)


def _write(path: Path, report: str, begin: str = BEGIN, end: str = END) -> None:
    # Only the generated part between the markers is replaced; the analysis stays.
    block = f"{begin}\n{report}\n{end}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            tail = rest.split(end, 1)[1]
            path.write_text(head + block + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    path.write_text("# Performance\n\n" + block + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

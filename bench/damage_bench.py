"""X DAMAGE reads measured alone: CPU per damage report and per ``take`` (issue 23).

The screen thread reads every damage report the X server sends (report level "raw
rectangles": one per drawing request) in ``X11Damage.take`` and ``drawn_since``. This
bench runs the reference scene (``bench.x11_scene``: Xvfb, openbox, three xterms) with
one of three streams of drawing, and a child process that reads damage as the screen
thread does: a ``take`` every ``--take-every`` seconds and a ``drawn_since`` every
``--since-every`` (the frames and the holds' checks). The child times its own thread's
CPU (``time.thread_time``) around each call and counts the reports read.

Streams: ``reference`` (the reference workload's seeded script: paths, clicks, typing,
scrolling, window switches), ``scroll`` (a fourth terminal printing a line every 20 ms:
a log being followed, every line scrolls it), ``idle`` (nothing drawn: the fixed cost
of a call).

    python -m bench.damage_bench                        # 3 runs of 30 s of each stream
    python -m bench.damage_bench --against /tmp/prev    # interleaved with another checkout
    python -m bench.damage_bench --streams scroll --profile   # cProfile of the child

The child is this file run as a script with ``-P`` and ``PYTHONPATH`` set to the
checkout measured, so ``--against`` measures that checkout's ``capture.screen.damage``
under the same scene and script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

STREAMS = ("reference", "scroll", "idle")
SCROLLER = (
    "import itertools, time\n"
    "for i in itertools.count():\n"
    "    print('line', i, 'of a followed log, long enough to cover most of the row', flush=True)\n"
    "    time.sleep(0.02)\n"
)


def child(display: str, seconds: float, take_every: float, since_every: float) -> dict[str, Any]:
    """Read damage as the screen thread does for ``seconds``; the figures as a dict."""
    from capture.screen.damage import X11Damage

    damage = X11Damage(display)
    take_cpu = since_cpu = 0.0
    takes = sinces = reports = 0
    try:
        damage.take()  # the creation's whole-screen report is not the stream's
        start = time.monotonic()
        next_take, next_since = start + take_every, start + since_every
        end = start + seconds
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_take:
                reports += len(damage._times)  # read since the last take began
                before = time.thread_time()
                damage.take()
                take_cpu += time.thread_time() - before
                takes += 1
                next_take += take_every
            elif now >= next_since:
                before = time.thread_time()
                damage.drawn_since(now - 0.5)
                since_cpu += time.thread_time() - before
                sinces += 1
                next_since += since_every
            time.sleep(max(0.0, min(next_take, next_since, end) - time.monotonic()))
        reports += len(damage._times)
    finally:
        damage.close()
    return {
        "seconds": seconds,
        "reports": reports,
        "takes": takes,
        "sinces": sinces,
        "take_cpu_s": take_cpu,
        "since_cpu_s": since_cpu,
    }


def _run_child(
    root: Path, display: str, args: argparse.Namespace, profile: bool
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-P", str(Path(__file__).resolve()), "--child", display]
    argv += ["--seconds", str(args.seconds), "--take-every", str(args.take_every)]
    argv += ["--since-every", str(args.since_every)]
    if profile:
        argv.append("--profile")
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)


def _stream(scene: Any, stream: str, seconds: float, seed: int) -> None:
    from bench.x11_scene import workload

    if stream == "reference":
        workload(scene, seconds, seed)
    elif stream in ("scroll", "idle"):
        time.sleep(seconds)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every stream, ``--repeat`` times, for this checkout (and ``--against``'s)."""
    from bench.common import ROOT
    from bench.x11_scene import start_scene

    roots = [("this", ROOT)] + ([("previous", args.against)] if args.against else [])
    rows: list[dict[str, Any]] = []
    for stream in args.streams.split(","):
        scene = start_scene()
        scroller = None
        try:
            if stream == "scroll":
                scroller = scene.server.spawn(
                    "xterm", "-geometry", "150x40+200+100", "-e", sys.executable, "-c", SCROLLER
                )
            time.sleep(2.0)  # the terminals drawn before the first run
            for run in range(args.repeat):
                for name, root in roots if run % 2 == 0 else roots[::-1]:
                    load = os.getloadavg()[0]
                    proc = _run_child(root, scene.server.display, args, args.profile)
                    # The child's first take follows its start-up; the script runs
                    # a little longer than the child reads.
                    driver = threading.Thread(
                        target=_stream, args=(scene, stream, args.seconds + 1.5, 7 + run)
                    )
                    driver.start()
                    out, _ = proc.communicate(timeout=args.seconds + 120)
                    driver.join()
                    if proc.returncode != 0:
                        raise RuntimeError(f"the damage child failed ({proc.returncode})")
                    row = dict(json.loads(out.splitlines()[-1]), stream=stream, code=name)
                    row["load"] = load
                    rows.append(row)
                    print(_line(row), flush=True)
        finally:
            if scroller is not None:
                scroller.terminate()
            scene.stop()
    return rows


def _line(row: dict[str, Any]) -> str:
    cpu = row["take_cpu_s"] + row["since_cpu_s"]
    calls = row["takes"] + row["sinces"]
    per_report = cpu / row["reports"] * 1e6 if row["reports"] else math.nan
    per_take = row["take_cpu_s"] / max(1, row["takes"]) * 1e6
    return (
        f"{row['stream']:9} {row['code']:8} load {row['load']:4.2f}  reports "
        f"{row['reports'] / row['seconds']:6.1f}/s  CPU {cpu / row['seconds'] * 60:6.3f} s/min  "
        f"per report {per_report:6.1f} us  per take {per_take:6.0f} us"
        f"  per drawn_since {row['since_cpu_s'] / max(1, row['sinces']) * 1e6:6.0f} us"
        f"  ({row['takes']} takes, {row['sinces']} drawn_since, {calls} calls)"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the options; run the scene and children (or be a child)."""
    parser = argparse.ArgumentParser(prog="python -m bench.damage_bench", description=__doc__)
    parser.add_argument("--child", metavar="DISPLAY", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=30.0, help="per run (default 30)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stream (default 3)")
    parser.add_argument("--streams", default=",".join(STREAMS), help="default: all")
    parser.add_argument("--take-every", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--since-every", type=float, default=0.5, help="seconds (default 0.5)")
    parser.add_argument("--against", type=Path, metavar="CHECKOUT", help="also this checkout")
    parser.add_argument("--profile", action="store_true", help="cProfile each child (stderr)")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args(argv)
    if args.child:
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            result = profiler.runcall(
                child, args.child, args.seconds, args.take_every, args.since_every
            )
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        else:
            result = child(args.child, args.seconds, args.take_every, args.since_every)
        print(json.dumps(result))
        return 0
    unknown = set(args.streams.split(",")) - set(STREAMS)
    if unknown:
        parser.error(f"unknown stream(s): {', '.join(sorted(unknown))}")
    rows = measure(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

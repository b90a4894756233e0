"""The memory soak: the reference X11 workload for a long while, the agent's memory sampled.

    .venv/bin/python -m bench.memory_soak --minutes 60 --out /tmp/soak23
    .venv/bin/python -m bench.memory_soak --summarize /tmp/soak23/samples.jsonl

The real `capture-agent run` (a fresh home, opted in, the shipped config: every privacy
stage and the OCR scrub on) runs against ``bench.x11_scene``'s scene while its script
plays without a break. Every ``--every`` seconds the agent's ``/proc/PID/status`` is read
(VmRSS, VmHWM, RssAnon, RssFile, threads) with the machine's load average; every
``--status-every`` samples `status --json` adds the chunk writer's sealed-chunk count,
which shows the agent kept recording. Each sample is appended to ``samples.jsonl`` as it
is taken, so an interrupted soak still has its data (``--summarize`` reads it).

The summary: RSS at the end of the warm-up (the first ``--warmup`` minutes: Tesseract's
caches, the scrub's, the arenas fill) and at the end, the least-squares slope of RSS and
of RssAnon (the heap: where a leak would show) in MB/hour over the samples after the
warm-up, VmHWM, chunks sealed. Issue 23's target: growth ≤ 1 MB/hour.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.common import machine
from bench.sizes import parse_layout
from bench.x11_scene import start_scene, workload
from bench.x11_workload import CLI, _cli, _env, _merge_config, _wait_recording, ocr_worker

STATUS_FIELDS = {"VmRSS": "rss_kb", "VmHWM": "hwm_kb", "RssAnon": "anon_kb", "RssFile": "file_kb"}
"""The ``/proc/PID/status`` lines sampled, and their keys in a sample (kB)."""


def read_memory(pid: int) -> dict[str, int] | None:
    """The process's memory lines of ``/proc/PID/status`` (kB) and thread count; None
    once the process is gone (Linux only)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in STATUS_FIELDS:
            out[STATUS_FIELDS[name]] = int(value.split()[0])
        elif name == "Threads":
            out["threads"] = int(value.split()[0])
    return out


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of ``(seconds, MB)`` points, in MB per hour; NaN for
    fewer than two distinct times."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return float("nan")
    cov = sum((x - mx) * (y - my) for x, y in points)
    return cov / var * 3600.0


def window_minima(
    points: Sequence[tuple[float, float]], window_s: float
) -> list[tuple[float, float]]:
    """The lowest point of each ``window_s``-long window (counted from the first point;
    a last window covered less than half is left out): the floor between frames, which
    a sample taken inside a frame's transient (grab, scrub, encoding: +10-20 MB for a
    moment) does not lift."""
    if not points:
        return []
    start = points[0][0]
    lowest: dict[int, tuple[float, float]] = {}
    for t, y in points:
        k = int((t - start) // window_s)
        if k not in lowest or y < lowest[k][1]:
            lowest[k] = (t, y)
    keys = sorted(lowest)
    # A last window the run covered less than half of holds a few samples only, often
    # one inside a transient: its "floor" would bend the fit.
    if len(keys) > 1 and points[-1][0] - (start + keys[-1] * window_s) < window_s / 2:
        keys.pop()
    return [lowest[k] for k in keys]


def summarize(
    samples: list[dict[str, Any]], warmup_s: float, window_s: float = 300.0
) -> dict[str, Any]:
    """The soak's figures from its samples (each with ``t``, seconds since the workload
    started, and the kB keys of ``read_memory``); slopes over the samples from
    ``warmup_s`` on, of every sample and of each ``window_s`` window's lowest (the
    floor). MB are MiB (2**20 bytes), as everywhere in bench/."""

    def mb(kb: float) -> float:
        return kb / 1024.0

    after = [s for s in samples if s["t"] >= warmup_s]
    chunks = [s["chunks_sealed"] for s in samples if s.get("chunks_sealed") is not None]
    chunks_after = [
        (s["t"], s["chunks_sealed"]) for s in after if s.get("chunks_sealed") is not None
    ]
    loads = [s["load1"] for s in samples if "load1" in s]
    out: dict[str, Any] = {
        "samples": len(samples),
        "samples_after_warmup": len(after),
        "warmup_s": warmup_s,
        "duration_s": samples[-1]["t"] if samples else 0.0,
        "rss_start_mb": mb(samples[0]["rss_kb"]) if samples else float("nan"),
        "rss_warmup_end_mb": mb(after[0]["rss_kb"]) if after else float("nan"),
        "rss_end_mb": mb(samples[-1]["rss_kb"]) if samples else float("nan"),
        "rss_max_sampled_mb": max(mb(s["rss_kb"]) for s in samples) if samples else float("nan"),
        "rss_slope_mb_per_h": slope_per_hour([(s["t"], mb(s["rss_kb"])) for s in after]),
        "anon_slope_mb_per_h": slope_per_hour(
            [(s["t"], mb(s["anon_kb"])) for s in after if "anon_kb" in s]
        ),
        "rss_floor_slope_mb_per_h": slope_per_hour(
            window_minima([(s["t"], mb(s["rss_kb"])) for s in after], window_s)
        ),
        "anon_floor_slope_mb_per_h": slope_per_hour(
            window_minima([(s["t"], mb(s["anon_kb"])) for s in after if "anon_kb" in s], window_s)
        ),
        "window_s": window_s,
        "anon_warmup_end_mb": mb(after[0]["anon_kb"]) if after and "anon_kb" in after[0] else None,
        "anon_end_mb": mb(samples[-1]["anon_kb"]) if samples and "anon_kb" in samples[-1] else None,
        "hwm_warmup_end_mb": mb(after[0]["hwm_kb"]) if after else float("nan"),
        "hwm_end_mb": mb(samples[-1]["hwm_kb"]) if samples else float("nan"),
        **_worker_figures([(s["t"], s["worker"]) for s in after if "worker" in s], window_s),
        "chunks_sealed_end": chunks[-1] if chunks else None,
        # Sealed after the warm-up: the agent still records (a 30 s chunk at a time).
        "chunks_sealed_after_warmup": chunks_after[-1][1] - chunks_after[0][1]
        if len(chunks_after) > 1
        else None,
        "load1_min": min(loads) if loads else None,
        "load1_max": max(loads) if loads else None,
        "load1_mean": sum(loads) / len(loads) if loads else None,
    }
    return out


def _worker_figures(
    samples: list[tuple[float, dict[str, Any]]], window_s: float
) -> dict[str, float]:
    """The OCR worker's RSS after the warm-up: first, last, most, slope (all samples and
    floor); none without a worker (the engine inside the agent)."""
    if not samples:
        return {}
    rss = [(t, s["rss_kb"] / 1024.0) for t, s in samples]
    return {
        "worker_rss_warmup_end_mb": rss[0][1],
        "worker_rss_end_mb": rss[-1][1],
        "worker_rss_max_sampled_mb": max(mb for _, mb in rss),
        "worker_hwm_end_mb": samples[-1][1]["hwm_kb"] / 1024.0,
        "worker_rss_slope_mb_per_h": slope_per_hour(rss),
        "worker_rss_floor_slope_mb_per_h": slope_per_hour(window_minima(rss, window_s)),
    }


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The samples of a ``samples.jsonl`` (a torn last line, from a kill, is skipped)."""
    out: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _chunks_sealed(env: dict[str, str]) -> int | None:
    done = _cli(env, "status", "--json", timeout=60)
    try:
        value = json.loads(done.stdout).get("chunks_sealed")
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, int) else None


def run(
    minutes: float,
    out: Path,
    size: tuple[int, int] = (1920, 1080),
    monitors: int = 1,
    every: float = 10.0,
    status_every: int = 3,
    config_extra: str = "",
    agent_env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run the soak for ``minutes`` of workload; the samples (also in out/samples.jsonl).

    ``agent_env``: added to the agent's environment (``PYTHONPATH`` is put before the
    checkout's: a directory with a ``sitecustomize.py`` instruments the agent, e.g. with
    tracemalloc snapshots, without changing its code)."""
    out.mkdir(parents=True, exist_ok=True)
    samples_path = out / "samples.jsonl"
    samples_path.write_text("")
    scene = start_scene(False, *size, monitors=monitors)
    tmp = tempfile.TemporaryDirectory(prefix="bench-soak-")
    home = Path(tmp.name) / "home"
    env = _env(home, scene)
    for key, value in (agent_env or {}).items():
        env[key] = value + os.pathsep + env[key] if key == "PYTHONPATH" else value
    samples: list[dict[str, Any]] = []
    try:
        if _cli(env, "init").returncode != 0 or _cli(env, "opt-in").returncode != 0:
            raise RuntimeError("init or opt-in failed")
        if config_extra:
            config = home / "config.toml"
            config.write_text(_merge_config(config.read_text(), config_extra))
        with (out / "agent.log").open("wb") as log:
            agent = subprocess.Popen([*CLI, "run", "--allow-root"], env=env, stdout=log, stderr=log)
            proc = psutil.Process(agent.pid)
            try:
                _wait_recording(env, agent, timeout=180)  # start-up is not measured here
                driver = threading.Thread(
                    target=workload, args=(scene, minutes * 60.0), name="workload", daemon=True
                )
                t0 = time.monotonic()
                driver.start()
                n = 0
                while True:
                    memory = read_memory(agent.pid)
                    if memory is None or agent.poll() is not None:
                        raise RuntimeError(f"the agent exited ({agent.poll()}); see agent.log")
                    sample: dict[str, Any] = {
                        "t": time.monotonic() - t0,
                        "wall": time.time(),
                        **memory,
                        "load1": os.getloadavg()[0],
                        "cpu_s": sum(proc.cpu_times()[:2]),
                    }
                    worker = ocr_worker(proc)
                    worker_memory = None if worker is None else read_memory(worker.pid)
                    if worker_memory is not None:  # its own process: its own figures
                        sample["worker"] = worker_memory
                    if n % status_every == 0 or not driver.is_alive():
                        sample["chunks_sealed"] = _chunks_sealed(env)
                    samples.append(sample)
                    with samples_path.open("a") as fh:
                        fh.write(json.dumps(sample) + "\n")
                    n += 1
                    if not driver.is_alive():
                        break
                    driver.join(max(0.0, t0 + n * every - time.monotonic()))
                agent.send_signal(signal.SIGTERM)
                agent.wait(120)
            finally:
                if agent.poll() is None:
                    agent.kill()
                    agent.wait()
    finally:
        scene.stop()
        tmp.cleanup()
    return samples


def main(argv: list[str] | None = None) -> int:
    """Run a soak (or summarise one's samples) and print the summary as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory_soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="workload length (60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes not fitted (5)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--status-every", type=int, default=3, help="samples between `status` polls (3)"
    )
    parser.add_argument("--screen", default="1920x1080", help="WxH or NxWxH (1920x1080)")
    parser.add_argument(
        "--out", type=Path, help="output directory: samples.jsonl, soak.json, agent.log"
    )
    parser.add_argument(
        "--agent-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set in the agent's environment (PYTHONPATH: put first); repeatable",
    )
    parser.add_argument(
        "--summarize", type=Path, metavar="JSONL", help="only summarise these samples"
    )
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C: the agent and the Xvfb are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.summarize is not None:
        print(json.dumps(summarize(read_samples(args.summarize), args.warmup * 60), indent=1))
        return 0
    if args.out is None:
        parser.error("--out DIR is needed to run a soak")
    try:
        layout = parse_layout(args.screen)
    except ValueError as exc:
        parser.error(str(exc))
    if not all("=" in item for item in args.agent_env):
        parser.error("--agent-env takes KEY=VALUE")
    started = time.time()
    samples = run(
        args.minutes,
        args.out,
        layout.desktop,
        layout.monitors,
        args.every,
        max(1, args.status_every),
        agent_env=dict(item.split("=", 1) for item in args.agent_env),
    )
    result = {
        "command": "python -m bench.memory_soak " + " ".join(argv or sys.argv[1:]),
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
        "machine": machine(),
        "screen": args.screen,
        "summary": summarize(samples, args.warmup * 60),
        "samples": samples,
    }
    (args.out / "soak.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Crash soak: SIGKILL the agent at random moments while it writes chunks as fast as it can.

    .venv/bin/python bench/crash_soak.py --trials 100 [--seed 1] [--keep DIR]

Each trial starts `capture-agent run --replay TRACE --speed 0` on one home whose
`[storage]` seals a chunk every ~10 KB, waits until the new session has sealed a first
chunk (so the kill lands while chunks are being written), waits a further random time,
and kills it with SIGKILL.
Afterwards (one clean run first, which must remove every leftover) `verify` must pass on
every sealed chunk: no partial file taken for a chunk, no gap, no broken chain. What a
kill loses is only the open chunk (and the queue), since chunk numbers stay contiguous.
Prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "agent.cli.main"]


def write_trace(path: Path, events: int, canary: str = "soak") -> None:
    """A trace of window changes, mouse moves and typing, at full speed (t = 0)."""
    lines = []
    for i in range(events):
        if i % 500 == 0:
            lines.append(
                json.dumps({"type": "window", "t": 0, "title": f"{canary} {i}", "app": "Editor"})
            )
        elif i % 3 == 0:
            lines.append(json.dumps({"type": "mouse_move", "t": 0, "x": i % 1280, "y": i % 800}))
        else:
            c = "abcdefghijklmnopqrstuvwxyz"[i % 26]
            lines.append(
                json.dumps({"type": "key", "t": 0, "key": c, "pressed": i % 2 == 0, "char": c})
            )
    path.write_text("\n".join(lines) + "\n")


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, CAPTURE_AGENT_HOME=str(home), PYTHONPATH=str(ROOT))
    env.update(extra or {})
    return env


def cli(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to completion."""
    return subprocess.run(
        [*CLI, *args],
        env=_env(home, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make_home(home: Path) -> None:
    """init, opt in, and a [storage] section that rotates every ~10 KB."""
    for args in (["init"], ["opt-in"]):
        done = cli(home, *args)
        if done.returncode != 0:
            raise RuntimeError(f"{args}: {done.stderr.strip()}")
    config = home / "config.toml"
    text = (
        config.read_text()
        .replace("chunk_seconds = 30", "chunk_seconds = 1")
        .replace("chunk_max_bytes = 16000000", "chunk_max_bytes = 10000")
    )
    config.write_text(text)


def leftovers(home: Path) -> list[Path]:
    """Temporary files anywhere in the home."""
    return [p for p in home.rglob(".tmp-*") if p.is_file()]


def _wait_for_first_chunk(
    proc: subprocess.Popen[bytes], sessions_dir: Path, before: set[Path], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if sessions_dir.exists() and any(
            next(p.glob("*.chunk"), None) for p in set(sessions_dir.glob("*")) - before
        ):
            return
        time.sleep(0.02)


def soak(
    workdir: Path,
    trials: int,
    seed: int = 1,
    events: int = 60_000,
    kill_after: tuple[float, float] = (0.0, 1.5),
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the soak; return the figures (raises AssertionError on a broken guarantee)."""
    rng = random.Random(seed)
    home = workdir / "home"
    trace = workdir / "trace.jsonl"
    write_trace(trace, events)
    make_home(home)
    sessions_dir = home / "data" / "sessions"
    killed = exited = tmp_seen = 0
    started = time.monotonic()
    for _ in range(trials):
        proc = subprocess.Popen(
            [*CLI, "run", "--allow-root", "--replay", str(trace), "--speed", "0"],
            env=_env(home, env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = set(sessions_dir.glob("*")) if sessions_dir.exists() else set()
        _wait_for_first_chunk(proc, sessions_dir, before)
        try:
            proc.wait(timeout=rng.uniform(*kill_after))
            exited += 1  # the whole trace was written before the kill
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += 1
        tmp_seen += len(leftovers(home))
    chunks_after_kills = len(list(sessions_dir.glob("*/*.chunk")))
    # One clean start must remove every leftover of the kills.
    done = cli(home, "run", "--allow-root", "--replay", str(trace), "--speed", "0", env=env)
    if done.returncode != 0:
        raise AssertionError(f"clean run failed: {done.stderr.strip()[-500:]}")
    remaining = leftovers(home)
    if remaining:
        raise AssertionError(f"leftovers not cleaned at start: {remaining[:5]}")
    checked = cli(home, "verify", "--json", env=env)
    report = json.loads(checked.stdout)
    if checked.returncode != 0 or not report["ok"]:
        raise AssertionError(f"verify found problems: {report['problems'][:5]}")
    notes: dict[str, int] = {}
    for note in report["notes"]:
        notes[note["kind"]] = notes.get(note["kind"], 0) + 1
    return {
        "trials": trials,
        "killed": killed,
        "finished_before_kill": exited,
        "tmp_leftovers_seen_after_kills": tmp_seen,
        "sealed_chunks_after_kills": chunks_after_kills,
        "sessions": report["sessions"],
        "chunks_verified": report["verified"],
        "chunks": report["chunks"],
        "problems": len(report["problems"]),
        "notes": notes,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry: run the soak and print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    args = parser.parse_args(argv)
    if args.keep:
        workdir = Path(args.keep)
        workdir.mkdir(parents=True, exist_ok=True)
        figures = soak(workdir, args.trials, args.seed, args.events)
    else:
        with tempfile.TemporaryDirectory(prefix="crash-soak-") as tmp:
            figures = soak(Path(tmp), args.trials, args.seed, args.events)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pipeline throughput: queue -> stamp -> stages -> serialise -> zip -> age -> durable write.

A synthetic stream with the mix of the reference workload (pointer moves, typing,
clicks, scrolls, window changes) is queued in full, then the real ``Pipeline`` thread
drains it through the real stage chain into the real ``ChunkWriter`` (chunks rotate at
the configured 16 MB, are zipped, encrypted to two age recipients, signed, written to
a temporary name, fsynced and renamed) until the last chunk is sealed. The figure is
events per CPU-second of the process (one core: only the pipeline thread runs), with
the wall-clock rate beside it; the quickest of three runs is reported (other processes
only ever add time).

Two chains are measured: the consent gate alone, and the consent gate followed by the
privacy stages of ``privacy.pipeline.build_chain`` (typed-text redaction and friends),
which is what the daemon runs once the privacy stages are wired in.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.pipeline import Pipeline
from bench.common import Figure
from capture.events import Event, Key, Marker, MouseButton, MouseMove, Scroll, Window
from capture.queue import EventQueue
from consent.gate import ConsentGate
from consent.state import ConsentMachine
from privacy.chain import Chain
from storage.writer import ChunkWriter

SENTENCE = (
    "the report for monday is ready please review the numbers and send them "
    "back before the meeting thanks"
)
WORDS = tuple(SENTENCE.split(" "))


def event_mix(n: int, seed: int = 1, start: float | None = None) -> list[Event]:
    """``n`` events shaped like a person at work: mostly moves, bursts of typing."""
    rng = random.Random(seed)
    # Stamped from ``start`` on (default: a minute ahead, inside the recording interval
    # of a consent machine created now), 10 ms apart.
    now = time.time() + 60 if start is None else start
    mono = time.monotonic() + 60
    out: list[Event] = []
    x, y = 400, 300
    while len(out) < n:
        t = now + len(out) * 0.01
        m = mono + len(out) * 0.01
        roll = rng.random()
        if roll < 0.55:  # a mouse path, then a click
            for _ in range(rng.randint(10, 60)):
                x = max(0, min(1919, x + rng.randint(-15, 15)))
                y = max(0, min(1079, y + rng.randint(-15, 15)))
                out.append(MouseMove(t, m, x, y))
            out.append(MouseButton(t, m, x, y, "left", True))
            out.append(MouseButton(t, m, x, y, "left", False))
        elif roll < 0.85:  # a typed phrase ending in Enter
            for word in rng.sample(WORDS, rng.randint(2, 6)):
                for ch in word + " ":
                    name = "space" if ch == " " else ch
                    out.append(Key(t, m, name, True, ch))
                    out.append(Key(t, m, name, False, ch))
            out.append(Key(t, m, "enter", True, None))
            out.append(Key(t, m, "enter", False, None))
        elif roll < 0.98:
            for _ in range(rng.randint(3, 12)):
                out.append(Scroll(t, m, x, y, 0, -1))
        else:
            out.append(
                Window(
                    t,
                    m,
                    f"Document {rng.randint(1, 9)} - Editor",
                    "editor",
                    "editor",
                    4242,
                    0,
                    0,
                    1920,
                    1080,
                )
            )
    return out[:n]


def _writer(root: Path) -> ChunkWriter:
    recipients = [str(pyrage.x25519.Identity.generate().to_public()) for _ in range(2)]
    return ChunkWriter(
        root / "sessions", "bench-device", "bench-session", recipients, Ed25519PrivateKey.generate()
    )


def run_once(events: list[Event], privacy: bool, root: Path) -> dict[str, Any]:
    """Push ``events`` through a fresh pipeline; CPU seconds, wall seconds, counts."""
    root.mkdir(parents=True, exist_ok=True)
    machine = ConsentMachine(root / f"consent-{privacy}.json", mode="opt-out")
    gate = ConsentGate(machine)
    if privacy:
        from privacy.pipeline import build_chain

        chain = build_chain(leading=[gate])
    else:
        chain = Chain([gate])
    writer = _writer(root / f"store-{privacy}")
    queue = EventQueue(maxsize=len(events) + 100)
    for event in events:
        queue.offer(event)
    queue.offer(Marker(time.time(), time.monotonic(), "stopped"))
    pipeline = Pipeline(queue, chain, writer)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    pipeline.start()
    pipeline.stop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "events": len(events),
        "stored": pipeline.stats.stored,
        "cpu_s": cpu,
        "wall_s": wall,
        "chunks": writer.sealed_chunks,
        "bytes": writer.bytes_written,
    }


def measure(n: int = 200_000, rounds: int = 3) -> tuple[list[Figure], dict[str, Any]]:
    """Throughput of both chains on ``n`` events; the quickest of ``rounds`` runs each."""
    events = event_mix(n)
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        for privacy in (False, True):
            runs = []
            for attempt in range(rounds):
                runs.append(run_once(events, privacy, Path(tmp) / str(attempt)))
            result = min(runs, key=lambda r: r["cpu_s"])
            result["rounds_cpu_s"] = [round(r["cpu_s"], 3) for r in runs]
            rate = result["events"] / result["cpu_s"] if result["cpu_s"] else float("inf")
            wall_rate = result["events"] / result["wall_s"]
            label = "gate + privacy stages" if privacy else "consent gate only"
            details[label] = {
                **result,
                "events_per_cpu_s": round(rate),
                "bytes_per_event": round(result["bytes"] / result["events"], 1),
            }
            figures.append(
                Figure(
                    f"pipeline throughput ({label})",
                    f"{rate:,.0f} ev/s",
                    "≥ 100,000 ev/s",
                    rate >= 100_000,
                    f"{result['events']:,} events, {result['chunks']} chunks, "
                    f"{result['cpu_s']:.2f} CPU s, wall {wall_rate:,.0f} ev/s, "
                    f"{details[label]['bytes_per_event']} B/event sealed",
                )
            )
    return figures, details

"""Privacy benchmark: detection quality on the corpus and the chain's cost per event.

    .venv/bin/python bench/privacy_bench.py [--events N] [--json]

Quality: every corpus text is typed, key by key, through the same stages the daemon
runs (``privacy.check.typed_spans``). A positive counts as found when every character
of its fake secret is redacted (``category ok`` also needs the expected category); a
negative line counts as touched when any character of it is redacted.

Cost: a realistic event mix (pointer moves, clicks, scrolls, typed prose with Enter,
window changes, frames) runs through ``build_chain()``; the time of each
``Chain.process`` call is measured per event, split into events that complete a text
boundary (Enter, Tab, click, focus change: they pay for the detectors) and all others.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capture.events import Event, Frame, Key, MouseButton, MouseMove, Scroll, Window  # noqa: E402
from privacy.check import typed_spans  # noqa: E402
from privacy.pipeline import build_chain  # noqa: E402

CORPUS = ROOT / "tests" / "privacy_corpus"


def _load(name: str) -> list[dict[str, Any]]:
    with (CORPUS / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def holdout(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A fresh corpus from the generator with another seed (the detectors were tuned on
    the committed one, so this is the fairer figure)."""
    sys.path.insert(0, str(CORPUS))
    import generate  # type: ignore[import-not-found]

    generate.rng = random.Random(seed)
    return generate.positives(), generate.negatives()


def quality(
    positives: list[dict[str, Any]] | None = None, negatives: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Per-category recall on the positives and the share of negative lines touched."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # hits, category ok, total
    misses: dict[str, list[str]] = defaultdict(list)
    for row in positives if positives is not None else _load("positives.jsonl"):
        start, end = row["span"]
        spans = typed_spans(row["text"])
        covered: dict[int, str] = {}
        for s in spans:
            for i in range(s.start, s.end):
                covered[i] = s.category
        want = [i for i in range(start, end) if not row["text"][i].isspace()]
        stats = found[row["category"]]
        stats[2] += 1
        if all(i in covered for i in want):
            stats[0] += 1
            if all(covered[i] == row["category"] for i in want):
                stats[1] += 1
        else:
            misses[row["category"]].append(row["text"])
    touched: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fp_examples: dict[str, list[str]] = defaultdict(list)
    for row in negatives if negatives is not None else _load("negatives.jsonl"):
        spans = typed_spans(row["text"])
        stats = touched[row["kind"]]
        stats[1] += 1
        if spans:
            stats[0] += 1
            fp_examples[row["kind"]].append(
                f"{row['text']!r} -> {[(row['text'][s.start : s.end], s.category) for s in spans]}"
            )
    return {
        "recall": dict(found),
        "touched": dict(touched),
        "misses": dict(misses),
        "fp_examples": dict(fp_examples),
    }


def event_mix(n: int, seed: int = 7) -> list[tuple[Event, bool]]:
    """A realistic stream of ``n`` events, each with whether it completes a text boundary."""
    rng = random.Random(seed)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "the",
        "lazy",
        "dog",
        "please",
        "review",
        "the",
        "pull",
        "request",
        "before",
        "friday",
        "and",
        "run",
        "tests",
    ]
    out: list[tuple[Event, bool]] = []
    t = 1000.0
    titles = [
        ("main.py - capture-agent - Visual Studio Code", "code"),
        ("Inbox - Mail", "thunderbird"),
        ("Terminal", "xterm"),
        ("GitHub - Mozilla Firefox", "firefox"),
    ]
    image = bytes(2048)
    while len(out) < n:
        t += 0.01
        r = rng.random()
        if r < 0.45:
            out.append((MouseMove(t, t, rng.randint(0, 1919), rng.randint(0, 1079)), False))
        elif r < 0.5:
            out.append((MouseButton(t, t, 10, 10, "left", True), True))
            out.append((MouseButton(t, t, 10, 10, "left", False), False))
        elif r < 0.53:
            out.append((Scroll(t, t, 10, 10, 0, -1), False))
        elif r < 0.535:
            title, app = rng.choice(titles)
            out.append((Window(t, t, title, app, app, 100), True))
        elif r < 0.54:
            out.append((Frame(t, t, 1920, 1080, image, "typing"), False))
        else:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 8)))
            for ch in text:
                t += 0.08
                name = "space" if ch == " " else ch
                out.append((Key(t, t, name, True, ch), False))
                out.append((Key(t + 0.03, t + 0.03, name, False, ch), False))
            out.append((Key(t, t, "enter", True), True))
            out.append((Key(t, t, "enter", False), False))
    return out[:n]


def cost(n: int) -> dict[str, float]:
    """Median and p99 of the chain's time per event, in microseconds."""
    events = event_mix(n)
    chain = build_chain()
    for event, _ in events[:2000]:  # warm up (regex caches, imports)
        chain.process(event)
    chain.flush()
    plain: list[float] = []
    boundary: list[float] = []
    clock = time.perf_counter_ns
    for event, is_boundary in events:
        start = clock()
        chain.process(event)
        elapsed = (clock() - start) / 1000
        (boundary if is_boundary else plain).append(elapsed)
    chain.flush()

    def q(values: list[float], p: float) -> float:
        return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else 0.0

    return {
        "events": n,
        "plain_events": len(plain),
        "plain_median_us": statistics.median(plain),
        "plain_p99_us": q(plain, 99),
        "boundary_events": len(boundary),
        "boundary_median_us": statistics.median(boundary),
        "boundary_p99_us": q(boundary, 99),
    }


def main() -> int:
    """Run both benchmarks and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events in the cost run")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--holdout-seed",
        type=int,
        default=None,
        help="judge a corpus freshly generated with this seed instead",
    )
    parser.add_argument(
        "--show-misses",
        action="store_true",
        help="print the corpus lines missed or wrongly touched (fake data only)",
    )
    args = parser.parse_args()
    q = quality(*holdout(args.holdout_seed)) if args.holdout_seed is not None else quality()
    c = cost(args.events)
    if args.json:
        print(
            json.dumps({"quality": {k: q[k] for k in ("recall", "touched")}, "cost": c}, indent=2)
        )
        return 0
    print(
        f"python {platform.python_version()} on {platform.machine()} "
        f"({platform.processor() or platform.platform()})"
    )
    print(f"\n{'category':<16} {'found':>8} {'recall':>8} {'category ok':>12}")
    tot = [0, 0]
    for category, (hit, ok, total) in sorted(q["recall"].items()):
        tot[0] += hit
        tot[1] += total
        print(
            f"{category:<16} {hit:>4}/{total:<4} {100 * hit / total:>7.1f}% "
            f"{100 * ok / total:>11.1f}%"
        )
    print(f"{'all':<16} {tot[0]:>4}/{tot[1]:<4} {100 * tot[0] / tot[1]:>7.1f}%")
    print(f"\n{'negative kind':<16} {'touched':>10} {'rate':>8}")
    neg = [0, 0]
    for kind, (hit, total) in sorted(q["touched"].items()):
        neg[0] += hit
        neg[1] += total
        print(f"{kind:<16} {hit:>4}/{total:<5} {100 * hit / total:>7.1f}%")
    print(f"{'all':<16} {neg[0]:>4}/{neg[1]:<5} {100 * neg[0] / neg[1]:>7.1f}%")
    print(
        f"\nchain cost over {c['events']} events ({c['plain_events']} outside text "
        f"boundaries, {c['boundary_events']} completing one):"
    )
    print(
        f"  outside boundaries: median {c['plain_median_us']:.2f} us, "
        f"p99 {c['plain_p99_us']:.2f} us"
    )
    print(
        f"  at boundaries:      median {c['boundary_median_us']:.2f} us, "
        f"p99 {c['boundary_p99_us']:.2f} us"
    )
    if args.show_misses:
        for category, texts in q["misses"].items():
            for text in texts:
                print(f"MISS {category}: {text!r}")
        for kind, texts in q["fp_examples"].items():
            for text in texts:
                print(f"FP {kind}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

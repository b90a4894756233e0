"""Score `privacy check-window --file SPLIT --json` output against the split's labels.

    capture-agent privacy check-window --file tests/privacy_windows/heldout.jsonl --json \\
      | python -m tests.privacy_windows.score tests/privacy_windows/heldout.jsonl

Prints, per category, how many sensitive windows were blocked (recall) and, for work
windows, how many were blocked (false positives), then the totals; ``--markdown``
prints the table docs/PRIVACY.md holds. Each input line is labelled ``"expect":
"sensitive"`` with its ``category``, or ``"expect": "work"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def score(labels: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per category and per language: (blocked, total) for sensitive windows,
    (blocked, total) for work windows, and the misses and false positives."""
    if len(labels) != len(results):
        raise SystemExit(f"{len(labels)} labelled windows but {len(results)} results")
    per_cat: dict[str, list[int]] = {}
    per_lang: dict[str, list[int]] = {}
    work = [0, 0]
    misses, false_pos = [], []
    for label, result in zip(labels, results, strict=True):
        blocked = not result.get("recorded", True)
        if label["expect"] == "sensitive":
            for key, table in ((label["category"], per_cat), (label.get("lang", "?"), per_lang)):
                row = table.setdefault(key, [0, 0])
                row[0] += blocked
                row[1] += 1
            if not blocked:
                misses.append(label)
        else:
            work[0] += blocked
            work[1] += 1
            if blocked:
                false_pos.append({**label, "blocked_as": result.get("category")})
    return {"categories": per_cat, "languages": per_lang, "work": work, "misses": misses,
            "false_positives": false_pos}  # fmt: skip


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} %" if b else "-"


def main(argv: list[str] | None = None) -> int:
    """Read the labels and the results, print the scores."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("split", type=Path, help="the labelled JSON-lines file")
    parser.add_argument("results", nargs="?", help="check-window's --json output (default stdin)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--show", action="store_true", help="list misses and false positives")
    args = parser.parse_args(argv)
    labels = [json.loads(line) for line in args.split.read_text("utf-8").splitlines() if line]
    text = Path(args.results).read_text("utf-8") if args.results else sys.stdin.read()
    results = [json.loads(line) for line in text.splitlines() if line.strip()]
    s = score(labels, results)
    cats, work = s["categories"], s["work"]
    blocked = sum(v[0] for v in cats.values())
    total = sum(v[1] for v in cats.values())
    if args.markdown:
        print("| category | sensitive blocked |")
        print("|---|---|")
        for cat, (b, n) in sorted(cats.items()):
            print(f"| {cat} | {b}/{n} ({_pct(b, n)}) |")
        langs = ", ".join(
            f"{k} {_pct(b, n)} of {n}" for k, (b, n) in sorted(s["languages"].items())
        )
        print(f"| **all sensitive** | **{blocked}/{total} ({_pct(blocked, total)})** |")
        print(f"| **work wrongly blocked** | **{work[0]}/{work[1]} ({_pct(*work)})** |")
        print(f"\nBy language (sensitive blocked): {langs}.")
    else:
        for cat, (b, n) in sorted(cats.items()):
            print(f"{cat:22} {b:4}/{n:<4} {_pct(b, n)}")
        print(f"{'sensitive blocked':22} {blocked:4}/{total:<4} {_pct(blocked, total)}")
        print(f"{'work blocked':22} {work[0]:4}/{work[1]:<4} {_pct(*work)}")
    if args.show:
        for m in s["misses"]:
            print("MISS", m["category"], m["title"], m.get("url", ""))
        for f in s["false_positives"]:
            print("FALSE POSITIVE", f["blocked_as"], f["title"], f.get("url", ""))
    counts = Counter(r.get("reason") for r in results)
    print("decided by: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

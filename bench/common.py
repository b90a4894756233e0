"""What every benchmark shares: figures, percentiles, machine details, a table."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Figure:
    """One measured figure, with its §11 target (if any) and whether it is met."""

    name: str
    value: str
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        """ "met", "missed" or "" (no target)."""
        if self.met is None:
            return ""
        return "met" if self.met else "missed"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def median(values: list[float]) -> float:
    """The median, NaN for an empty list."""
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, Python, kernel: the context every figure needs."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ram = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = int(fh.readline().split()[1])
        ram = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": str(os.cpu_count() or "?"),
        "ram": ram or "unknown",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "kernel": f"{platform.system()} {platform.release()}",
    }


def table(figures: list[Figure]) -> str:
    """A Markdown table of figures (also readable on a terminal)."""
    rows = [("figure", "value", "target", "verdict", "note")]
    rows += [(f.name, f.value, f.target, f.verdict, f.note) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)

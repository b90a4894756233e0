"""Helpers shared by the window-focus backends (plain values only)."""

from __future__ import annotations

import psutil


def process_name(pid: int | None) -> str | None:
    """The executable name of process ``pid``, or None if it is unknown or gone."""
    if pid is None or pid <= 0:
        return None
    try:
        return str(psutil.Process(pid).name())
    except (psutil.Error, OSError):
        return None

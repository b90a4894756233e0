"""The trajectory shape of `export --format trajectory` (folding lives in storage/trajectory.py).

The folding is shared with `org build` (org/build.py), which sits below agent/ and so
imports it from storage/; this module keeps the device side's import path.
"""

from __future__ import annotations

from storage.trajectory import to_trajectory as to_trajectory

__all__ = ["to_trajectory"]

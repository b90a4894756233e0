"""Canonical JSON bytes: the one serialisation that hashes and signatures are computed over.

Keys sorted, no whitespace, ASCII only, no NaN or infinity. Python's float repr
round-trips exactly, so parsing a canonical line and serialising it again gives the
same bytes, which is what lets a reader recompute a hash or check a signature.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 (ASCII) JSON bytes of ``value``; raises ValueError for NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")

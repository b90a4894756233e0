"""Canonical JSON bytes: the one serialisation every hash and signature is computed over.

Keys sorted, no whitespace, ASCII only (anything else escaped as ``\\uXXXX``), NaN and
infinity refused. Used by every signed or hash-chained format: the chunk manifest and
its metadata record, the head record (``storage``), the consent ledger and the fleet
policy (``consent``); docs/FORMAT.md, "Canonical JSON".

There used to be a second copy in ``storage.chunk`` writing UTF-8 unescaped and letting
NaN through. For everything the writer puts in a manifest or a head record (ASCII
identifiers, hex, base64, numbers from the clock) the two give the same bytes, so the
signatures of existing chunks and head records still verify; the policy and the ledger
may hold any text, and their bytes are this form's. Python's float repr round-trips, so
parsing canonical bytes and serialising them again gives the same bytes, which is what
lets a reader recompute a hash or check a signature.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """The canonical ASCII JSON bytes of ``value``; raises ValueError for NaN or infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")

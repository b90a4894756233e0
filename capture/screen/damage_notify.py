"""X DAMAGE's DamageNotify events read straight from their 32 bytes (issue 23).

python-xlib builds an event object for every report through its generic field
machinery (a dict of fields, a resource object for the drawable, an object for each
rectangle): about 60 µs a report, and a terminal scrolling a followed log sends ~300 a
second. ``report_event`` is registered with the connection in place of python-xlib's
DamageNotify class, so the connection's own reading (replies, errors, other events,
sequence numbers) is unchanged and only this one event is unpacked with ``struct``.

Layout (damageproto, in the client's byte order, which python-xlib sets to the
machine's): type, level (CARD8), sequence number (CARD16), drawable, damage,
timestamp (CARD32), area (INT16 x, y, CARD16 width, height), drawable geometry
(the same, not read).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

_LAYOUT = struct.Struct("=BBHIIIhhHH")
SIZE = 32
"""Bytes of a core or extension event on the wire."""


class DamageReport(NamedTuple):
    """One DamageNotify: which DAMAGE object, the server's millisecond, the area drawn."""

    sequence_number: int
    damage: int
    timestamp: int
    x: int
    y: int
    width: int
    height: int


def parse(data: bytes) -> DamageReport | None:
    """The report in one DamageNotify event's bytes, or None when they are too short
    to be one (never raises on any bytes)."""
    if len(data) < SIZE:
        return None
    _type, _level, sequence, _drawable, damage, timestamp, x, y, width, height = (
        _LAYOUT.unpack_from(data)
    )
    return DamageReport(sequence, damage, timestamp, x, y, width, height)


def report_event(display: object = None, binarydata: bytes = b"") -> DamageReport | None:
    """python-xlib's event-class interface (``estruct(display=..., binarydata=...)``):
    what the connection queues for a DamageNotify. None (queued, then ignored) for bytes
    that are not one; a report's ``sequence_number`` lets python-xlib drop the requests
    answered before it, as it does for its own event objects."""
    return parse(binarydata)

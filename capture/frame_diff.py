"""Where the screen changed since the last stored frame, without keeping that frame.

``ChangeTracker`` remembers CRC-32s of the last stored frame's raw BGRA pixels, not the
pixels: one per scanline (4.3 KB for 1080 lines) and one per scanline segment of
``BAND`` pixels (a grid of 1080 x 15 at 1920x1080, ~120 KB). A new grab is compared
line by line (the same ~5 ms as one CRC of the whole 8 MB buffer); only the lines that
changed are then compared segment by segment (~7 ms more when every line changed),
which gives the changed rectangle to ``BAND`` pixels horizontally and two lines
vertically. CRC-32 detects every change of
up to 32 bits in a segment and misses a random change with probability 2^-32.
"""

from __future__ import annotations

import zlib
from array import array
from typing import NamedTuple

BAND = 128
"""Width in pixels of the segments a changed line is compared by."""


class Box(NamedTuple):
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int


class Snapshot(NamedTuple):
    """The CRCs of one frame, remembered once the frame is stored (``commit``)."""

    width: int
    height: int
    lines: array[int]
    bands: list[array[int]]


def _line_crcs(view: memoryview, stride: int, height: int) -> array[int]:
    crc = zlib.crc32
    return array("I", [crc(view[o:o + stride]) for o in range(0, stride * height, stride)])


class ChangeTracker:
    """CRCs of the last stored frame, and the box that changed in a new one."""

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        self._lines: array[int] = array("I")
        self._bands: list[array[int]] = []
        self._bounds: list[tuple[int, int]] = []

    def reset(self) -> None:
        """Forget the last frame (the next one is compared with nothing)."""
        self.size = None
        self._lines = array("I")
        self._bands = []

    def compare(self, width: int, height: int,
                bgra: bytes | bytearray | memoryview) -> tuple[Box | None, Snapshot | None]:
        """The box that changed since the stored frame, and the snapshot to ``commit``.

        The box is None when nothing changed, the whole screen when the size changed
        or nothing is stored. Nothing is remembered until ``commit(snapshot)``: a frame
        that is not stored must not become the reference.
        """
        stride = width * 4
        if width <= 0 or height <= 0 or len(bgra) < stride * height:
            raise ValueError("pixel buffer smaller than its stated size")
        with memoryview(bgra) as view:
            lines = _line_crcs(view, stride, height)
            if self.size != (width, height):
                bands = [self._band_crcs(view, stride, width, row) for row in range(height)]
                return Box(0, 0, width, height), Snapshot(width, height, lines, bands)
            old = self._lines
            if lines == old:
                return None, None
            changed = [row for row in range(height) if lines[row] != old[row]]
            bands = list(self._bands)
            first_band, last_band = len(self._bounds), -1
            for row in changed:
                new = bands[row] = self._band_crcs(view, stride, width, row)
                before = self._bands[row]
                # Only segments outside the box found so far can widen it.
                for index in range(first_band):
                    if new[index] != before[index]:
                        first_band = index
                        break
                for index in range(len(new) - 1, last_band, -1):
                    if new[index] != before[index]:
                        last_band = index
                        break
        if last_band < 0:  # whole lines equal by segment but not whole: cannot happen
            first_band, last_band = 0, len(self._bounds) - 1
        left = self._bounds[first_band][0] // 4
        right = self._bounds[last_band][1] // 4
        top, bottom = changed[0], changed[-1] + 1
        # Even edges: lossy WebP stores colour at half resolution in both directions.
        top -= top % 2
        bottom = min(height, bottom + bottom % 2)
        return Box(left, top, right - left, bottom - top), Snapshot(width, height, lines, bands)

    def commit(self, snapshot: Snapshot | None) -> None:
        """Remember the frame ``compare`` returned ``snapshot`` for (it was stored)."""
        if snapshot is None:
            return
        self.size = (snapshot.width, snapshot.height)
        self._lines = snapshot.lines
        self._bands = snapshot.bands

    def _band_crcs(self, view: memoryview, stride: int, width: int, row: int) -> array[int]:
        bounds = self._bounds
        if not bounds or bounds[-1][1] != stride:
            bounds = self._bounds = [(start, min(start + BAND * 4, stride))
                                     for start in range(0, stride, BAND * 4)]
        base = row * stride
        crc = zlib.crc32
        return array("I", [crc(view[base + a:base + b]) for a, b in bounds])


def crop_bgra(bgra: bytes | bytearray | memoryview, width: int, box: Box) -> bytes:
    """The BGRA pixels of ``box`` out of a ``width``-pixel-wide buffer (a copy)."""
    stride = width * 4
    start, end = box.x * 4, (box.x + box.width) * 4
    with memoryview(bgra) as view:
        if box.x == 0 and box.width == width:
            return bytes(view[box.y * stride:(box.y + box.height) * stride])
        return b"".join([view[row * stride + start:row * stride + end]
                         for row in range(box.y, box.y + box.height)])

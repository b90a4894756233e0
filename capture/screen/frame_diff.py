"""Where the screen changed since the last stored frame, without keeping that frame.

``ChangeTracker`` remembers CRC-32s of the last stored frame's raw BGRA pixels, not the
pixels: one per scanline (4.3 KB for 1080 lines) and one per scanline segment of
``BAND`` pixels (a grid of 1080 x 15 at 1920x1080, ~120 KB). A new grab is compared
line by line (as cheap as one CRC of the whole buffer, docs/PERFORMANCE.md); only the
lines that changed are then compared segment by segment, which gives the changed
rectangle to ``BAND`` pixels horizontally and two lines vertically. CRC-32 detects
every change of up to 32 bits in a segment and misses a random change with probability 2^-32.

A region grabbed alone (where damage reports say what was drawn, ``capture.screen.damage``)
is compared segment by segment the same way (``compare_region``: the region must start
and end on segment edges) and, once stored, updates those segments; the lines it
touched are marked stale, so the next whole comparison checks their segments whatever
their line CRC says. The CRCs thus always describe the frames as stored.
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
    stale: frozenset[int] = frozenset()
    """Lines whose line CRC is still not the frame's (not read: ``compare``'s ``rows``)."""


def _line_crcs(view: memoryview, stride: int, height: int) -> array[int]:
    crc = zlib.crc32
    return array("I", [crc(view[o : o + stride]) for o in range(0, stride * height, stride)])


class RegionSnapshot(NamedTuple):
    """The segment CRCs of a region's lines, remembered once it is stored (``commit_region``)."""

    first_band: int
    top: int
    bands: list[array[int]]


def band_align(box: Box, width: int) -> Box:
    """``box`` widened to whole ``BAND``-pixel segments (as ``compare_region`` needs)."""
    left = box.x - box.x % BAND
    right = min(width, -(-(box.x + box.width) // BAND) * BAND)
    return Box(left, box.y, right - left, box.height)


class ChangeTracker:
    """CRCs of the last stored frame, and the box that changed in a new one."""

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        self._lines: array[int] = array("I")
        self._bands: list[array[int]] = []
        self._bounds: list[tuple[int, int]] = []
        self._stale: set[int] = set()  # lines whose line CRC is not the stored frame's

    def reset(self) -> None:
        """Forget the last frame (the next one is compared with nothing)."""
        self.size = None
        self._lines = array("I")
        self._bands = []
        self._stale = set()

    def compare(
        self,
        width: int,
        height: int,
        bgra: bytes | bytearray | memoryview,
        rows: tuple[int, int] | None = None,
    ) -> tuple[Box | None, Snapshot | None]:
        """The box that changed since the stored frame, and the snapshot to ``commit``.

        The box is None when nothing changed, the whole screen when the size changed
        or nothing is stored. Nothing is remembered until ``commit(snapshot)``: a frame
        that is not stored must not become the reference. (With no box, a snapshot may
        still come: the same pixels, with the line CRCs of regions stored since; it may
        be committed whether or not a frame is stored.)

        ``rows`` (``[top, bottom)``): only these lines can differ from the stored frame
        (damage reports say nothing was drawn elsewhere, as for a region grabbed alone),
        so only they are read; the others keep their CRCs.
        """
        stride = width * 4
        if width <= 0 or height <= 0 or len(bgra) < stride * height:
            raise ValueError("pixel buffer smaller than its stated size")
        if rows is not None and self.size == (width, height):
            return self._compare_rows(width, height, bgra, rows)
        with memoryview(bgra) as view:
            lines = _line_crcs(view, stride, height)
            if self.size != (width, height):
                bands = [self._band_crcs(view, stride, width, row) for row in range(height)]
                return Box(0, 0, width, height), Snapshot(width, height, lines, bands)
            old, stale = self._lines, self._stale
            if lines == old and not stale:
                return None, None
            changed = [row for row in range(height) if lines[row] != old[row] or row in stale]
            bands = list(self._bands)
            first_band, last_band = len(self._bounds), -1
            real: list[int] = []  # the lines whose pixels changed
            for row in changed:
                new = bands[row] = self._band_crcs(view, stride, width, row)
                before = self._bands[row]
                if row in stale and new == before:
                    continue  # a stale line CRC, the same pixels
                real.append(row)
                first_band, last_band = _widen(new, before, first_band, last_band)
        if not real:  # only stale lines, their pixels as stored: the snapshot refreshes them
            return None, Snapshot(width, height, lines, bands)
        return self._box(real, first_band, last_band, height), Snapshot(width, height, lines, bands)

    def _compare_rows(
        self, width: int, height: int, bgra: bytes | bytearray | memoryview, rows: tuple[int, int]
    ) -> tuple[Box | None, Snapshot | None]:
        """``compare`` reading only ``rows``; the stored frame is this size."""
        stride = width * 4
        top, bottom = max(0, rows[0]), min(height, rows[1])
        old, stale = self._lines, self._stale
        lines, bands, still = array("I", old), list(self._bands), set(stale)
        first_band, last_band = len(self._bounds), -1
        real: list[int] = []
        crc = zlib.crc32
        with memoryview(bgra) as view:
            for row in range(top, bottom):
                line = crc(view[row * stride : (row + 1) * stride])
                if line == old[row] and row not in stale:
                    continue
                lines[row] = line
                still.discard(row)
                new = bands[row] = self._band_crcs(view, stride, width, row)
                before = self._bands[row]
                if new == before:
                    continue  # a stale line CRC, the same pixels
                real.append(row)
                first_band, last_band = _widen(new, before, first_band, last_band)
        snapshot = Snapshot(width, height, lines, bands, frozenset(still))
        if not real:
            return None, snapshot
        return self._box(real, first_band, last_band, height), snapshot

    def _box(self, real: list[int], first_band: int, last_band: int, height: int) -> Box:
        """The box of the changed lines ``real`` between two segments, even edges."""
        if last_band < 0:  # whole lines equal by segment but not whole: cannot happen
            first_band, last_band = 0, len(self._bounds) - 1
        left = self._bounds[first_band][0] // 4
        right = self._bounds[last_band][1] // 4
        top, bottom = real[0], real[-1] + 1
        # Even edges: lossy WebP stores colour at half resolution in both directions.
        top -= top % 2
        bottom = min(height, bottom + bottom % 2)
        return Box(left, top, right - left, bottom - top)

    def commit(self, snapshot: Snapshot | None) -> None:
        """Remember the frame ``compare`` returned ``snapshot`` for (it was stored)."""
        if snapshot is None:
            return
        self.size = (snapshot.width, snapshot.height)
        self._lines = snapshot.lines
        self._bands = snapshot.bands
        self._stale = set(snapshot.stale)

    def compare_region(
        self, box: Box, bgra: bytes | bytearray | memoryview
    ) -> tuple[Box | None, RegionSnapshot]:
        """The box that changed within ``box`` (its pixels in ``bgra``) since the stored frame.

        ``box`` must lie on the stored frame's screen and start and end on segment edges
        (``band_align``). The box found is to segments across and two lines down, or
        None when the region's pixels are the stored ones. Nothing is remembered until
        ``commit_region(snapshot)``.
        """
        if self.size is None:
            raise ValueError("no stored frame to compare a region with")
        width, height = self.size
        stride = box.width * 4
        if (
            box.x % BAND
            or ((box.x + box.width) % BAND and box.x + box.width != width)
            or box.x < 0
            or box.y < 0
            or box.x + box.width > width
            or box.y + box.height > height
            or box.width <= 0
            or box.height <= 0
        ):
            raise ValueError("the region is not on segment edges of the stored screen")
        if len(bgra) < stride * box.height:
            raise ValueError("pixel buffer smaller than its stated size")
        if not self._bounds or self._bounds[-1][1] != width * 4:
            self._bounds = [
                (start, min(start + BAND * 4, width * 4)) for start in range(0, width * 4, BAND * 4)
            ]
        first = box.x // BAND
        offset = box.x * 4
        bounds = [(a - offset, b - offset) for a, b in self._bounds[first:] if b - offset <= stride]
        count = len(bounds)
        crc = zlib.crc32
        bands: list[array[int]] = []
        top = bottom = -1
        first_band, last_band = count, -1
        with memoryview(bgra) as view:
            for row in range(box.height):
                base = row * stride
                new = array("I", [crc(view[base + a : base + b]) for a, b in bounds])
                bands.append(new)
                before = self._bands[box.y + row]
                if new == before[first : first + count]:
                    continue
                if top < 0:
                    top = row
                bottom = row
                for index in range(first_band):
                    if new[index] != before[first + index]:
                        first_band = index
                        break
                for index in range(count - 1, last_band, -1):
                    if new[index] != before[first + index]:
                        last_band = index
                        break
        snapshot = RegionSnapshot(first, box.y, bands)
        if top < 0:
            return None, snapshot
        left = box.x + bounds[first_band][0] // 4
        right = box.x + bounds[last_band][1] // 4
        top, bottom = box.y + top, box.y + bottom + 1
        top -= top % 2
        bottom = min(height, bottom + bottom % 2)
        return Box(left, top, right - left, bottom - top), snapshot

    def commit_region(self, snapshot: RegionSnapshot) -> None:
        """Remember the region ``compare_region`` returned ``snapshot`` for (it was stored)."""
        first, top, rows = snapshot
        for offset, new in enumerate(rows):
            row = top + offset
            merged = array("I", self._bands[row])  # a copy: snapshots may share the old one
            merged[first : first + len(new)] = new
            self._bands[row] = merged
            self._stale.add(row)

    def _band_crcs(self, view: memoryview, stride: int, width: int, row: int) -> array[int]:
        bounds = self._bounds
        if not bounds or bounds[-1][1] != stride:
            bounds = self._bounds = [
                (start, min(start + BAND * 4, stride)) for start in range(0, stride, BAND * 4)
            ]
        base = row * stride
        crc = zlib.crc32
        return array("I", [crc(view[base + a : base + b]) for a, b in bounds])


def _widen(new: array[int], before: array[int], first_band: int, last_band: int) -> tuple[int, int]:
    """The first and last segment of a line that differ, widening ``first_band`` ..
    ``last_band``: only segments outside the box found so far can widen it."""
    for index in range(first_band):
        if new[index] != before[index]:
            first_band = index
            break
    for index in range(len(new) - 1, last_band, -1):
        if new[index] != before[index]:
            last_band = index
            break
    return first_band, last_band


def crop_bgra(bgra: bytes | bytearray | memoryview, width: int, box: Box) -> bytes:
    """The BGRA pixels of ``box`` out of a ``width``-pixel-wide buffer (a copy)."""
    stride = width * 4
    start, end = box.x * 4, (box.x + box.width) * 4
    with memoryview(bgra) as view:
        if box.x == 0 and box.width == width:
            return bytes(view[box.y * stride : (box.y + box.height) * stride])
        return b"".join(
            [
                view[row * stride + start : row * stride + end]
                for row in range(box.y, box.y + box.height)
            ]
        )

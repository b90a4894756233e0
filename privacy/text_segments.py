"""Where the text of a screen image lies: line segments found by recursive XY-cuts.

The OCR engine's cost grows with the width of text it is given (measured here: ~0.1 ms of
CPU per column of a terminal line, ~3 ms per call), and a frame changes one line of one
window far more often than anything else. So the scrub does not read the changed rows
whole: it cuts the image into *segments*, the pieces of one text line between wide gaps
(another window, another column of a table), and reads and caches each segment on its
own. A typed character then costs one segment, a scroll or a window raised again costs
cache look-ups, and a line is still read whole between its words (read alone, ``1111``
came back as ``un``: the engine needs the line's context).

Ink is where the grey level steps by ``EDGE`` or more between neighbouring pixels, so
any background colour, flat or gently shaded, counts as empty. The image is cut at rows
without ink, then each band at columns without ink over a gap that grows with the
band's height, recursively (Nagy's XY-cut). Lines that touch (no blank row between
them: a terminal's lines at its cell height) are cut at the thin rows between them
(``line_cuts``). A band that stays taller than ``MAX_LINE`` (a picture, text over one)
is a *block*: the scrub reads it in overlapping strips. Thin pieces (a window border,
a rule) are dropped: they hold no text.

Pure Pillow: numpy would add ~10 MB to the agent's resident memory for this alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise

from PIL import Image, ImageChops

EDGE = 24
"""Grey-level step between neighbouring pixels that counts as the edge of ink."""
MIN_HEIGHT = 5
"""Rows below this hold no legible text (a rule, a speck)."""
THIN = 3
"""Columns at or below this, the full height of a piece, are a border, not text."""
MAX_LINE = 64
"""A piece taller than this that no blank row cuts is read as a block, in strips."""
MIN_GAP = 12
"""Fewest blank columns that separate two segments of one line."""
LINE_ROWS = 8
"""Rows a line cut from touching lines keeps at least (``line_cuts``)."""
BODY_ROWS = 3
"""Rows of at least half the fullest row's ink a cut line holds at least: its letters'
bodies, not a row of descenders or the tops of capitals."""
VALLEY = 0.15
"""A row holding at most this share of the ink of the fullest rows around it may part
two lines (a picture's rows between its edges hold a third or more)."""
GAP_PER_HEIGHT = 1.2
"""Blank columns per row of line height that separate segments (two spaces or more)."""
BORDER_ROWS = 96
"""An edge straight down for this many rows is a border, not a glyph (above ``MAX_LINE``)."""
BORDER_COLUMNS = 256
"""An edge straight across for this many columns is a border, not a line of glyphs."""
MAX_SEGMENTS = 4096
"""Pieces examined at most in one image; past it what is left is read as one block
(bounded work on hostile content, a screen of noise)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of the image to read on its own: one line's run of text, or a block."""

    x: int
    y: int
    width: int
    height: int
    block: bool = False
    """True: taller than one line and not cut by a blank row; read in strips."""

    @property
    def right(self) -> int:
        """The first column after the segment."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """The first row below the segment."""
        return self.y + self.height


_EDGE_LEVELS = [255 if level >= EDGE else 0 for level in range(256)]
"""A grey step of ``EDGE`` or more is an edge (255), a smaller one none (0)."""
_FULL_LEVELS = [255 if level == 255 else 0 for level in range(256)]
"""A block whose every pixel is an edge stays (255), any other goes (0)."""


def ink_of(image: Image.Image) -> Image.Image:
    """A mode ``L`` image, non-zero where ``image`` has an edge of text-like ink.

    Edges are steps of ``EDGE`` grey levels between neighbours; an edge running straight
    for longer than ``BORDER_ROWS`` rows or ``BORDER_COLUMNS`` columns is a window's
    border, a rule or a highlight's outline and is removed, so that windows side by side
    and boxes around text do not join what they hold into one piece.
    """
    grey = image.convert("L")
    width, height = grey.size
    # Each pixel against its right and lower neighbour; the last column and row compare
    # with themselves (offset wraps, so they are cut off, not compared with the far side).
    right = ImageChops.offset(grey, -1, 0)
    below = ImageChops.offset(grey, 0, -1)
    steps = ImageChops.lighter(
        ImageChops.difference(grey, right), ImageChops.difference(grey, below)
    )
    del grey, right, below
    steps.paste(0, (width - 1, 0, width, height))
    steps.paste(0, (0, height - 1, width, height))
    edges = steps.point(_EDGE_LEVELS)
    del steps
    long_runs = ImageChops.lighter(
        _long_runs(edges, BORDER_ROWS, vertical=True),
        _long_runs(edges, BORDER_COLUMNS, vertical=False),
    )
    # ``edges`` less ``long_runs`` (both 0 or 255): Pillow's ``subtract`` computes in
    # floating point, these two whole-image steps cost half of it (the same pixels).
    return ImageChops.difference(edges, ImageChops.darker(edges, long_runs))


def _long_runs(edges: Image.Image, length: int, *, vertical: bool) -> Image.Image:
    """The pixels around straight runs of ``edges`` along one axis that are about
    ``length`` long or longer (at least ``length // 2``, always from ``length``).

    A run that long holds a whole block of ``k = length // 2`` pixels aligned on the
    grid of ``k``; the image is averaged in such blocks (one pass), full blocks kept,
    grown by one block either way while still one pixel per block, and drawn back at
    full size (one pass). Measured: a fifth of the CPU of doubling erosions and
    dilations, and 2 ms against 9 for growing at full size (a 1920x1080 screen with
    window borders); the same segments but a pixel at a window icon's edge."""
    k = max(1, length // 2)
    width, height = edges.size
    along = height if vertical else width
    whole = (along // k) * k
    if whole == 0:
        return Image.new("L", (width, height), 0)
    # The whole blocks only (``box``), with no cropped copy of them first.
    blocks = edges.reduce(
        (1, k) if vertical else (k, 1),
        box=(0, 0, width, whole) if vertical else (0, 0, whole, height),
    )
    blocks = blocks.point(_FULL_LEVELS)
    if blocks.getbbox() is None:
        return Image.new("L", (width, height), 0)
    # One block more where the image ends in a partial block (never full: stays 0).
    count = -(-along // k)
    small = Image.new("L", (width, count) if vertical else (count, height), 0)
    small.paste(blocks, (0, 0))
    grown = small
    for by in (1, -1):
        moved = ImageChops.offset(small, 0, by) if vertical else ImageChops.offset(small, by, 0)
        # offset wraps around: what wrapped is no neighbour.
        edge = 0 if by > 0 else count - 1
        moved.paste(0, (0, edge, width, edge + 1) if vertical else (edge, 0, edge + 1, height))
        grown = ImageChops.lighter(grown, moved)
    # Drawn back at exactly the image's size: the blocks covering it (``box``, in
    # blocks) stretched ``k`` times, with no larger image cropped after.
    box = (0.0, 0.0, float(width), height / k) if vertical else (0.0, 0.0, width / k, float(height))
    return grown.resize((width, height), Image.Resampling.NEAREST, box=box)


def projections(ink: Image.Image) -> tuple[bytes, bytes]:
    """(columns, rows) of ``ink``: a non-zero byte where the column/row holds ink."""
    project = getattr(ink.im, "getprojection", None)
    if project is not None:
        columns, rows = project()
        return bytes(columns), bytes(rows)
    # Pillow without the core projection: the same from bounding boxes, row by row.
    width, height = ink.size
    rows = bytes(
        ink.crop((0, y, width, y + 1)).getbbox() is not None for y in range(height)
    )  # pragma: no cover - every Pillow this project pins has getprojection
    columns = bytes(
        ink.crop((x, 0, x + 1, height)).getbbox() is not None for x in range(width)
    )  # pragma: no cover
    return columns, rows


_GAPS: dict[int, re.Pattern[bytes]] = {}


def runs(profile: bytes, min_gap: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of non-zero bytes in ``profile``; runs separated by
    fewer than ``min_gap`` zero bytes are one run."""
    end = len(profile.rstrip(b"\x00"))
    if end == 0:
        return []
    start = len(profile) - len(profile.lstrip(b"\x00"))
    gap = _GAPS.get(min_gap)
    if gap is None:
        # The gaps are found, not the runs: a line of text has a run per glyph, and
        # walking those in Python cost a fifth of finding a screen's segments.
        gap = _GAPS[min_gap] = re.compile(b"\x00{%d,}" % max(1, min_gap))
    out: list[tuple[int, int]] = []
    for match in gap.finditer(profile, start, end):
        out.append((start, match.start()))
        start = match.end()
    out.append((start, end))
    return out


def segment_gap(height: int) -> int:
    """Blank columns that separate two segments of a line ``height`` rows high."""
    return max(MIN_GAP, math.ceil(GAP_PER_HEIGHT * min(height, MAX_LINE)))


def segments(image: Image.Image, rows: tuple[int, int] | None = None) -> list[Segment]:
    """The text segments of ``image``, top to bottom; only those reaching into ``rows``
    (``[top, bottom)``) when given. Blank images have none."""
    ink = ink_of(image)
    core = ink.im
    if hasattr(core, "getprojection"):
        # Pillow's core objects directly: a screen is cut into ~100 pieces, and the
        # Image wrappers around each crop cost more than the projection itself.
        def project(box: tuple[int, int, int, int]) -> tuple[bytes, bytes]:
            columns, rows = core.crop(box).getprojection()
            return bytes(columns), bytes(rows)
    else:  # pragma: no cover - every Pillow this project pins has getprojection

        def project(box: tuple[int, int, int, int]) -> tuple[bytes, bytes]:
            return projections(ink.crop(box))

    out: list[Segment] = []
    pending = [(0, 0, image.width, image.height)]
    examined = 0
    while pending:
        x0, y0, x1, y1 = pending.pop()
        if rows is not None and (y1 <= rows[0] or y0 >= rows[1]):
            continue
        examined += 1
        if examined > MAX_SEGMENTS:
            # What is left is read as one block around it all: bounded work either way.
            left = min([x0] + [p[0] for p in pending])
            top = min([y0] + [p[1] for p in pending])
            right = max([x1] + [p[2] for p in pending])
            bottom = max([y1] + [p[3] for p in pending])
            out.append(Segment(left, top, right - left, bottom - top, block=True))
            break
        columns, lines = project((x0, y0, x1, y1))
        row_runs = runs(lines, 1)
        if not row_runs:
            continue  # no ink
        if len(row_runs) > 1:
            pending.extend((x0, y0 + a, x1, y0 + b) for a, b in reversed(row_runs))
            continue
        # Blank rows and columns around the ink are trimmed: they hold ink of neither
        # projection, so the trimmed piece projects the same.
        top, bottom = y0 + row_runs[0][0], y0 + row_runs[0][1]
        height = bottom - top
        if height >= 2 * LINE_ROWS:
            cuts = line_cuts(ink.crop((x0, top, x1, bottom)))
            if cuts:
                edges = [0, *cuts, height]
                pending.extend(
                    (x0, top + a, x1, top + b) for a, b in reversed(list(pairwise(edges)))
                )
                continue
        if height > MAX_LINE:
            ink_runs = runs(columns, 1)
            parts = _split_tall(ink_runs)
            if not parts:
                continue  # borders only
            if len(parts) == 1 and parts[0] == (ink_runs[0][0], ink_runs[-1][1]):
                left, right = x0 + parts[0][0], x0 + parts[0][1]
                out.append(Segment(left, top, right - left, height, block=True))
            else:
                pending.extend((x0 + a, top, x0 + b, bottom) for a, b in reversed(parts))
            continue
        column_runs = runs(columns, segment_gap(height))
        if len(column_runs) > 1:
            pending.extend((x0 + a, top, x0 + b, bottom) for a, b in reversed(column_runs))
            continue
        left, right = x0 + column_runs[0][0], x0 + column_runs[0][1]
        if height < MIN_HEIGHT or right - left <= THIN:
            continue  # a rule, a border, a speck
        out.append(Segment(left, top, right - left, height))
    out.sort(key=lambda s: (s.y, s.x))
    return out


def line_cuts(ink: Image.Image) -> list[int]:
    """Rows at which a piece of touching lines is cut into its lines (none: one line).

    Terminals draw lines at the font's cell height, and a descender (``g``, ``y``) or the
    cursor touches the glyphs of the line below: no blank row parts them, and read as one
    piece (or as a block in strips), a typed line made the engine read every line it
    touched again (docs/PERFORMANCE.md). Between two lines the ink thins to a few
    descenders; inside a line it does so only at its top and bottom. So a piece is cut
    at the thinnest row of each run of rows holding at most ``VALLEY`` of the fullest
    row within ``LINE_ROWS`` above and below it (both sides: a dip, not a line's edge),
    where both parts keep ``LINE_ROWS`` rows and a body (``BODY_ROWS`` rows of at least
    half their fullest row's ink). A picture has ink in every row and is not cut."""
    width, height = ink.size
    profile = ink.reduce((width, 1)).tobytes()  # each row's mean ink, 0-255

    def dip(y: int) -> bool:
        above = max(profile[max(0, y - LINE_ROWS) : y], default=0)
        below = max(profile[y + 1 : y + 1 + LINE_ROWS], default=0)
        return profile[y] <= VALLEY * min(above, below)

    def whole(a: int, b: int) -> bool:
        if b - a < LINE_ROWS:
            return False
        part = profile[a:b]
        peak = max(part)
        return peak > 0 and sum(1 for v in part if 2 * v >= peak) >= BODY_ROWS

    cuts: list[int] = []
    start = y = 0
    while y < height:
        if not dip(y):
            y += 1
            continue
        end = y
        while end < height and dip(end):
            end += 1
        cut = min(range(y, end), key=lambda row: profile[row])
        if whole(start, cut) and whole(cut, height):
            cuts.append(cut)
            start = cut
        y = end
    return cuts


def _split_tall(column_runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of a tall piece (no blank row cuts it) between its thin runs: a
    window's border or a rule, full height, separates what is beside it and is dropped.
    Other runs closer than ``MIN_GAP`` stay joined: monospace text leaves blank columns
    between aligned glyphs through every row, and cutting there would read slivers."""
    parts: list[tuple[int, int]] = []
    joined = False  # whether the last part may take the next run
    for a, b in column_runs:
        if b - a <= THIN:
            joined = False
            continue
        if joined and a - parts[-1][1] < MIN_GAP:
            parts[-1] = (parts[-1][0], b)
        else:
            parts.append((a, b))
        joined = True
    return parts

"""Where each composed frame was masked, for `view` to draw (read from the chunk, untrusted).

Since the screen mask records where it painted (a frame record's ``masks``, docs/FORMAT.md),
`view` can tell a masked region from a black screen. A stored frame is either a key frame
(the whole screen: its own ``masks`` are all there is) or a changed region pasted onto
the frame before it; then the composed frame shows the region's masks plus those of the
frame before that lie outside the region (their pixels were kept). Older chunks have no
``masks``: nothing is drawn, and the frames show as stored.

Everything here comes from a chunk: values of the wrong type are skipped, counts are
bounded, and categories are plain strings the page escapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

MAX_MASKS = 512
"""Masks kept per composed frame (a hostile chunk could list millions)."""
MAX_LABEL = 40
"""Characters of a category name shown."""


@dataclass(frozen=True, slots=True)
class MaskBox:
    """A masked rectangle in the frame's pixels (0,0 = the frame's top-left corner)."""

    stage: str
    category: str
    x: int
    y: int
    width: int
    height: int

    def minus(self, x: int, y: int, width: int, height: int) -> list[MaskBox]:
        """The parts of this box outside the rectangle (x, y, width, height)."""
        x1, y1 = self.x + self.width, self.y + self.height
        rx1, ry1 = x + width, y + height
        if rx1 <= self.x or x >= x1 or ry1 <= self.y or y >= y1:
            return [self]
        parts: list[tuple[int, int, int, int]] = []
        if y > self.y:  # above the rectangle
            parts.append((self.x, self.y, self.width, y - self.y))
        if ry1 < y1:  # below
            parts.append((self.x, ry1, self.width, y1 - ry1))
        top, bottom = max(self.y, y), min(y1, ry1)
        if x > self.x:  # left, between the two
            parts.append((self.x, top, x - self.x, bottom - top))
        if rx1 < x1:  # right
            parts.append((rx1, top, x1 - rx1, bottom - top))
        return [MaskBox(self.stage, self.category, *p) for p in parts]

    def inside(self, other: MaskBox) -> bool:
        """Whether this box lies wholly inside ``other``."""
        return (
            other.x <= self.x
            and other.y <= self.y
            and self.x + self.width <= other.x + other.width
            and self.y + self.height <= other.y + other.height
        )


def _int(value: object) -> int | None:
    return value if type(value) is int else None


def _label(value: object) -> str:
    return value[:MAX_LABEL] if isinstance(value, str) and value else "masked"


def record_masks(record: Mapping[str, Any]) -> list[MaskBox]:
    """The frame record's ``masks`` in frame pixels, clipped to the frame; bad entries
    skipped."""
    raw = record.get("masks")
    width, height = _int(record.get("width")), _int(record.get("height"))
    left, top = _int(record.get("left", 0)), _int(record.get("top", 0))
    if not isinstance(raw, list) or not width or not height or left is None or top is None:
        return []
    out: list[MaskBox] = []
    for entry in raw[:MAX_MASKS]:
        if not isinstance(entry, dict):
            continue
        x, y = _int(entry.get("x")), _int(entry.get("y"))
        w, h = _int(entry.get("width")), _int(entry.get("height"))
        if x is None or y is None or w is None or h is None:
            continue
        x0, y0 = max(0, x - left), max(0, y - top)
        x1, y1 = min(width, x - left + w), min(height, y - top + h)
        if x0 < x1 and y0 < y1:
            out.append(
                MaskBox(
                    _label(entry.get("stage")),
                    _label(entry.get("category")),
                    x0,
                    y0,
                    x1 - x0,
                    y1 - y0,
                )
            )
    return out


def _image_size(image: bytes) -> tuple[int, int] | None:
    """An image's size from its header (nothing decoded)."""
    from PIL import Image

    try:
        with Image.open(BytesIO(image)) as opened:
            return opened.size
    except Exception:  # a member that is not an image: the caller composes nothing either
        return None


def region_of(
    record: Mapping[str, Any], members: Mapping[str, bytes]
) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) a region frame's stored image covers, None if unknown."""
    x, y = _int(record.get("x", 0)), _int(record.get("y", 0))
    names = [record.get("file"), *(record.get("bands") or [])]
    if x is None or y is None or not all(isinstance(n, str) and n in members for n in names):
        return None
    width = height = 0
    for name in names:
        size = _image_size(members[str(name)])
        if size is None:
            return None
        width, height = size[0], height + size[1]
    return x, y, width, height


def chunk_masks(
    records: Iterable[Mapping[str, Any]], members: Mapping[str, bytes]
) -> dict[str, list[MaskBox]]:
    """The masks shown on each composed frame of one chunk, by its ``file`` member name.

    ``records`` are the chunk's event records in order (before the viewer renames their
    files). A region whose area cannot be told keeps every mask of the frame before it
    (an outline too many rather than a masked area shown as black screen).
    """
    out: dict[str, list[MaskBox]] = {}
    shown: list[MaskBox] = []
    for record in records:
        if record.get("type") != "frame" or not isinstance(record.get("file"), str):
            continue
        own = record_masks(record)
        if record.get("key", True) is not False:
            shown = own
        else:
            area = region_of(record, members)
            kept: Sequence[MaskBox] = (
                shown if area is None else [p for box in shown for p in box.minus(*area)]
            )
            shown = own + [box for box in kept if not any(box.inside(o) for o in own)]
            shown = shown[:MAX_MASKS]
        if shown:
            out[str(record["file"])] = shown
    return out


def count_masks(boxes: Iterable[MaskBox]) -> dict[str, int]:
    """Masked regions per category."""
    counts: dict[str, int] = {}
    for box in boxes:
        counts[box.category] = counts.get(box.category, 0) + 1
    return counts

"""Screen masking: paint denied windows over before a frame is encoded.

The screen source lists the windows visible on the screen (``VisibleWindow``, plain
values; the enumeration itself lives in ``capture``), asks ``denied_windows`` which
of them the denylist covers, and hands the raw pixels and that list to ``mask_image``
or ``mask_pixels`` before encoding. A denied window anywhere on the virtual screen,
focused or not, becomes a solid rectangle. The frame must be dropped (the functions
return None / False) when masking cannot be trusted: a denied window whose geometry is
unknown, or a denied window that has the focus (then nothing of the screen is kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from privacy.denylist import Denylist

MASK_RGB = (0, 0, 0)
"""The colour denied windows are painted with."""


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in virtual-screen coordinates (may be partly off screen)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class VisibleWindow:
    """A window mapped on the screen, as the capture backend enumerates it.

    ``geometry`` is the window's outer rectangle including decorations, or None when the
    backend could not tell; ``focused`` is True for the window with the input focus.
    """

    title: str
    app: str
    process: str | None = None
    geometry: Rect | None = None
    focused: bool = False


def denied_windows(windows: Iterable[VisibleWindow], denylist: Denylist) -> list[VisibleWindow]:
    """The windows of ``windows`` that the denylist covers."""
    return [w for w in windows if denylist.match(w.title, w.app, w.process) is not None]


def must_drop(denied: Sequence[VisibleWindow]) -> bool:
    """Whether a frame showing these denied windows must be dropped rather than masked."""
    return any(w.focused or w.geometry is None for w in denied)


def _local_boxes(denied: Sequence[VisibleWindow], left: int, top: int, width: int,
                 height: int) -> list[tuple[int, int, int, int]]:
    boxes = []
    for w in denied:
        g = w.geometry
        assert g is not None
        x0, y0 = max(0, g.x - left), max(0, g.y - top)
        x1, y1 = min(width, g.x - left + g.width), min(height, g.y - top + g.height)
        if x0 < x1 and y0 < y1:
            boxes.append((x0, y0, x1, y1))
    return boxes


def mask_image(image: Image.Image, denied: Sequence[VisibleWindow], left: int = 0,
               top: int = 0) -> Image.Image | None:
    """Paint each denied window on ``image`` (changed in place and returned), or None to drop.

    ``left`` and ``top`` are the virtual-screen coordinates of the image's top-left pixel
    (a frame's ``left``/``top``: negative when a monitor sits left of or above the
    primary one).
    """
    if must_drop(denied):
        return None
    boxes = _local_boxes(denied, left, top, image.width, image.height)
    if boxes:
        draw = ImageDraw.Draw(image)
        fill: int | tuple[int, ...] = 0 if image.mode in ("L", "1") else (
            (*MASK_RGB, 255) if image.mode == "RGBA" else MASK_RGB)
        for x0, y0, x1, y1 in boxes:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
    return image


def mask_pixels(pixels: bytearray, width: int, height: int, denied: Sequence[VisibleWindow],
                left: int = 0, top: int = 0, bytes_per_pixel: int = 4) -> bool:
    """Paint each denied window into raw pixels in place; False means drop the frame.

    ``pixels`` is row-major, ``bytes_per_pixel`` bytes per pixel with no row padding
    (mss gives BGRA, 4 bytes; RGB is 3). Every byte of a masked pixel is set to 0.
    """
    if must_drop(denied):
        return False
    if len(pixels) < width * height * bytes_per_pixel:
        raise ValueError("pixel buffer is smaller than width * height * bytes_per_pixel")
    stride = width * bytes_per_pixel
    for x0, y0, x1, y1 in _local_boxes(denied, left, top, width, height):
        row = bytes((x1 - x0) * bytes_per_pixel)
        for y in range(y0, y1):
            start = y * stride + x0 * bytes_per_pixel
            pixels[start:start + len(row)] = row
    return True

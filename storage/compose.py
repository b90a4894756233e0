"""Full-resolution frames from a chunk's key frames and changed regions (formats 1-3).

Since chunk format 2 a frame record is either a key frame (``key`` true or absent, as
in every version-1 chunk: the image is the whole screen) or a changed region (``key``
false: the image is the rectangle at ``x``, ``y`` of a ``width`` x ``height`` screen
that changed since frame ``base``, the frame stored just before it in the same chunk).
Since format 3 a record's image may be stored in horizontal bands: ``file`` is the top
one, ``bands`` names the members below it, top to bottom, each as wide as ``file``.
Every chunk starts its frames with a key frame, so one chunk composes alone. Export,
the viewer and the organisation's pull all read frames through ``full_frames``.

A key frame in one piece is passed on as stored (its WebP bytes, nothing decoded).
Anything else (a key frame in bands, a region pasted onto the last full frame) is
encoded as lossless WebP: the pixels are exactly what the stored images decode to, with
no second loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from typing import Any

from PIL import Image

LOSSLESS = {"lossless": True, "quality": 25, "method": 1}
"""WebP settings of composed frames (lossless; effort chosen for speed, docs/PERFORMANCE.md)."""


def decode(image: bytes) -> Image.Image:
    """Decode a stored frame image to RGB pixels."""
    with Image.open(BytesIO(image)) as opened:
        return opened.convert("RGB")


def stack(images: list[Image.Image]) -> Image.Image:
    """Bands of one image, top to bottom, as one image; ValueError if widths differ."""
    if len(images) == 1:
        return images[0]
    width = images[0].width
    if any(band.width != width for band in images):
        raise ValueError("the bands of a frame differ in width")
    out = Image.new("RGB", (width, sum(band.height for band in images)))
    top = 0
    for band in images:
        out.paste(band, (0, top))
        top += band.height
    return out


def decode_frame(image: bytes, bands: Sequence[bytes] = ()) -> Image.Image:
    """Decode a stored frame image and the bands stored below it, as one RGB image."""
    return stack([decode(band) for band in (image, *bands)])


def paste_region(canvas: Image.Image, region: Image.Image, x: int, y: int) -> None:
    """Paste ``region`` onto ``canvas`` at (``x``, ``y``), in place; ValueError if it
    does not fit."""
    if x < 0 or y < 0 or x + region.width > canvas.width or y + region.height > canvas.height:
        raise ValueError("the region does not fit in the frame")
    canvas.paste(region, (x, y))


def compose(base: Image.Image, region: Image.Image, x: int, y: int) -> Image.Image:
    """``base`` with ``region`` pasted at (``x``, ``y``), as a new image."""
    out = base.copy()
    paste_region(out, region, x, y)
    return out


def encode_lossless(image: Image.Image) -> bytes:
    """A composed frame as lossless WebP."""
    out = BytesIO()
    image.save(out, format="WEBP", **LOSSLESS)
    return out.getvalue()


def _int(record: Mapping[str, Any], name: str, default: int) -> int | None:
    value = record.get(name, default)
    return value if type(value) is int else None


class FrameComposer:
    """Rebuilds the full frames of one chunk, fed its frame records in order."""

    def __init__(self) -> None:
        self._key: bytes | None = None  # the last key frame, not decoded until needed
        self._canvas: Image.Image | None = None
        self._size: tuple[int, int] | None = None
        self._number: int | None = None

    def forget(self) -> None:
        """A frame could not be read: nothing after it composes until a key frame."""
        self._key = self._canvas = None
        self._size = None
        self._number = None

    def add(
        self, record: Mapping[str, Any], image: bytes, bands: tuple[bytes, ...] = ()
    ) -> bytes | None:
        """The full frame (WebP bytes) for this frame record and its stored image (with
        the bands below it, if it was stored in bands).

        None when it cannot be composed: a region whose base frame is not the one fed
        just before, or that does not fit its frame, or an image that does not decode.
        """
        width, height = _int(record, "width", 0), _int(record, "height", 0)
        number = record.get("number")
        if record.get("key", True) is not False:
            self._key, self._canvas = image, None
            self._size = (width, height) if width and height else None
            self._number = number if type(number) is int else None
            if not bands:
                return image
            try:
                whole = decode_frame(image, bands)
                if whole.size != self._size:
                    raise ValueError("key frame size differs from its record")
            except Exception:  # undecodable band, wrong size: this frame and its regions
                self.forget()
                return None
            self._canvas = whole
            return encode_lossless(whole)
        x, y, base = _int(record, "x", 0), _int(record, "y", 0), record.get("base")
        if (
            x is None
            or y is None
            or self._size is None
            or self._size != (width, height)
            or type(base) is not int
            or base != self._number
        ):
            self._key = self._canvas = None
            return None
        try:
            canvas = self._canvas
            if canvas is None:
                assert self._key is not None
                canvas = decode(self._key)
                if canvas.size != self._size:
                    raise ValueError("key frame size differs from its record")
            paste_region(canvas, decode_frame(image, bands), x, y)
        except Exception:  # undecodable image, wrong size: this frame and what builds on it
            self.forget()
            return None
        self._canvas = canvas
        self._number = number if type(number) is int else None
        return encode_lossless(canvas)


def full_frames(
    records: Iterable[Mapping[str, Any]], members: Mapping[str, bytes]
) -> dict[str, bytes]:
    """Full-resolution frame images of one chunk, by the member name in each ``file``.

    ``records`` are the chunk's event records in order. A frame that cannot be composed
    is left out (the caller shows it as missing, as it would a missing member).
    """
    composer = FrameComposer()
    out: dict[str, bytes] = {}
    for record in records:
        if record.get("type") != "frame":
            continue
        member = record.get("file")
        if not isinstance(member, str) or member not in members:
            continue
        names = record.get("bands", [])
        if not isinstance(names, list) or not all(
            isinstance(n, str) and n in members for n in names
        ):
            composer.forget()  # a band is missing: this frame and the regions drawn on it
            continue
        full = composer.add(record, members[member], tuple(members[n] for n in names))
        if full is not None:
            out[member] = full
    return out

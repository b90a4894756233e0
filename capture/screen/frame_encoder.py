"""Frame pixels to WebP, lossless or lossy, chosen per frame.

Screens are mostly text, UI and flat colour: lossless WebP stores them exactly (every
glyph as drawn) in about a third of the bytes of lossy quality 50, at about the same
CPU. Photographs and video are the opposite: lossless costs up to thirty times the
bytes and several times the CPU. So ``auto`` looks first: a screen of text has few
distinct colours, a photograph thousands. The colours of every fourth pixel of every
fourth row are counted (under a millisecond at 1920x1080); few colours → lossless. A lossless
result that still comes out larger than ``LOSSLESS_BUDGET`` bytes a pixel (a picture
the count misjudged) is encoded lossy as well and the smaller kept. Measurements are in
docs/PERFORMANCE.md (Storage).

An image larger than ``BAND_PIXELS`` is encoded in horizontal bands, each its own WebP
file and its own choice (a photo in one band leaves the others lossless). libwebp's
lossless encoder holds about three copies of what it encodes (the picture, its
transform buffer, a hash chain): a whole 1920x1080 screen costs ~24 MB for ~50 ms
(lossy ~8 MB), a band of 128 rows ~1.5 MB. Bands also come out smaller on
screens of text (~16 KB against ~23 KB a screen). Readers stack the bands back
(``storage.compose``); either encoding is WebP, so readers need not know which was
chosen.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from io import BytesIO
from typing import cast

# WebPImagePlugin by name registers WebP: else the first save imports every Pillow
# plugin to find it (docs/PERFORMANCE.md, Figures behind choices in the code).
from PIL import Image, WebPImagePlugin  # noqa: F401

from capture.screen.options import ENCODINGS, Encoding

SAMPLE_STEP = 4
"""Every this-many pixels across and down are sampled for the colour count."""
FEW_COLOURS = 2048
"""At most this many distinct colours in the sample: encode lossless."""
LOSSLESS_BUDGET = 0.125
"""Bytes a pixel (1 bit) a lossless frame may take before lossy is tried as well."""
BAND_PIXELS = 1 << 18
"""Images of more pixels than this are encoded in bands of about this many pixels."""
BAND_ROWS_STEP = 16
"""Band heights are a multiple of this (lossy WebP's macroblock), so lossy bands meet on
the block grid a whole-image encode would use."""
LOSSLESS_METHOD = 1
"""libwebp effort for lossless: method 1 is as small as methods 2-4 on screens of text;
method 0, at half the CPU, is 2.4 times larger (docs/PERFORMANCE.md, Storage)."""


def band_rows(width: int, height: int) -> int:
    """Rows of each band for a ``width`` x ``height`` image (all of them when small)."""
    if width * height <= BAND_PIXELS:
        return height
    return max(BAND_ROWS_STEP, BAND_PIXELS // width // BAND_ROWS_STEP * BAND_ROWS_STEP)


def _spans(width: int, height: int) -> list[tuple[int, int]]:
    rows = band_rows(width, height)
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


def few_colours(image: Image.Image, limit: int = FEW_COLOURS) -> bool:
    """Whether a sample of ``image`` has at most ``limit`` distinct colours."""
    width, height = image.size
    sample = image.resize(
        (max(1, width // SAMPLE_STEP), max(1, height // SAMPLE_STEP)), Image.Resampling.NEAREST
    )
    return sample.getcolors(limit) is not None


@dataclass(slots=True)
class KeptBands:
    """The bands of the last key frame, each with the CRC-32 of its pixels: a band whose
    pixels are the same in the next key frame is not encoded again (the same pixels give
    the same file; a key frame is mostly what the last one showed). Holds encoded bands
    only (tens of KB), in memory; ``reused`` counts the bands not encoded again."""

    bands: dict[tuple[int, int, int], tuple[int, bytes]] = field(default_factory=dict)
    reused: int = 0

    def clear(self) -> None:
        """Forget the bands (capture restarts)."""
        self.bands = {}


@dataclass(frozen=True, slots=True)
class FrameEncoder:
    """Encodes RGB images as WebP: ``encoding`` says lossless, lossy or ``auto`` (above)."""

    quality: int = 50
    """Lossy WebP quality, 1-100."""
    method: int = 0
    """Lossy WebP effort, 0-6."""
    encoding: Encoding = "auto"

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}")

    def encode(self, image: Image.Image) -> list[bytes]:
        """``image`` as WebP files, in memory: its bands from top to bottom
        (``band_rows``), each the image's full width; one file for a small image."""
        width, height = image.size
        if band_rows(width, height) >= height:
            return [self.encode_one(image)]
        return [
            self.encode_one(image.crop((0, top, width, bottom)))
            for top, bottom in _spans(width, height)
        ]

    def encode_bgra(
        self,
        width: int,
        height: int,
        bgra: bytes | bytearray | memoryview,
        kept: KeptBands | None = None,
    ) -> list[bytes]:
        """Raw pixels (BGRX, rows of ``width`` without padding) as WebP bands, like
        ``encode``; each band is converted on its own, so no whole RGB copy is made.

        With ``kept`` (a key frame's), a band whose pixels have the CRC-32 of the same
        band of the last key frame is taken from there, not encoded again (a CRC of a
        band costs under a tenth of encoding it); ``kept`` then holds this frame's.
        """
        view, stride = memoryview(bgra), 4 * width
        if len(view) != stride * height:
            raise ValueError("the pixel buffer does not match its size")
        before = {} if kept is None else kept.bands
        now: dict[tuple[int, int, int], tuple[int, bytes]] = {}
        out: list[bytes] = []
        for top, bottom in _spans(width, height):
            # A memoryview slice is no copy; Pillow reads any buffer (its stubs say bytes).
            pixels = view[top * stride : bottom * stride]
            if kept is not None:
                crc = zlib.crc32(pixels)
                same = before.get((width, top, bottom))
                if same is not None and same[0] == crc:
                    kept.reused += 1
                    encoded = same[1]
                else:
                    encoded = self._encode_rows(width, bottom - top, pixels)
                now[width, top, bottom] = (crc, encoded)
            else:
                encoded = self._encode_rows(width, bottom - top, pixels)
            out.append(encoded)
        if kept is not None:
            kept.bands = now
        return out

    def _encode_rows(self, width: int, rows: int, pixels: memoryview) -> bytes:
        image = Image.frombuffer("RGB", (width, rows), cast(bytes, pixels), "raw", "BGRX", 0, 1)
        return self.encode_one(image)

    def encode_one(self, image: Image.Image) -> bytes:
        """``image`` as one WebP file, lossless or lossy as ``encoding`` says."""
        if self.encoding == "lossy" or (self.encoding == "auto" and not few_colours(image)):
            return self.lossy(image)
        exact = self.lossless(image)
        if self.encoding == "lossless":
            return exact
        width, height = image.size
        if len(exact) <= LOSSLESS_BUDGET * width * height:
            return exact
        lossy = self.lossy(image)
        return exact if len(exact) <= len(lossy) else lossy

    def lossy(self, image: Image.Image) -> bytes:
        """``image`` as lossy WebP at the encoder's quality and method."""
        out = BytesIO()
        image.save(out, format="WEBP", quality=self.quality, method=self.method)
        return out.getvalue()

    @staticmethod
    def lossless(image: Image.Image) -> bytes:
        """``image`` as lossless WebP (decodes to exactly these pixels)."""
        out = BytesIO()
        image.save(out, format="WEBP", lossless=True, quality=0, method=LOSSLESS_METHOD)
        return out.getvalue()

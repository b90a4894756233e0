"""Frame pixels to WebP, lossless or lossy, chosen per frame.

Screens are mostly text, UI and flat colour: lossless WebP stores them exactly (every
glyph as drawn) in about a third of the bytes of lossy quality 50, and encodes faster.
Photographs and video are the opposite: lossless costs ten to thirty times the bytes
and the time. So ``auto`` looks first: a screen of text has few distinct colours, a
photograph thousands. The colours of every fourth pixel of every fourth row are
counted (well under a millisecond at 1920x1080); few colours → lossless. A lossless
result that still comes out larger than ``LOSSLESS_BUDGET`` bytes a pixel (a picture
the count misjudged) is encoded lossy as well and the smaller kept. Measurements are in
docs/PERFORMANCE.md ("Frame encoding").

Readers need not know which was chosen: both are WebP.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from PIL import Image

from capture.screen_options import ENCODINGS, Encoding

SAMPLE_STEP = 4
"""Every this-many pixels across and down are sampled for the colour count."""
FEW_COLOURS = 2048
"""At most this many distinct colours in the sample: encode lossless."""
LOSSLESS_BUDGET = 0.125
"""Bytes a pixel (1 bit) a lossless frame may take before lossy is tried as well."""
LOSSLESS_METHOD = 1
"""libwebp effort for lossless: method 1 is as small as 2-4 on screens of text and
~half their CPU; method 0 is four times larger on a full screen."""


def few_colours(image: Image.Image, limit: int = FEW_COLOURS) -> bool:
    """Whether a sample of ``image`` has at most ``limit`` distinct colours."""
    width, height = image.size
    sample = image.resize((max(1, width // SAMPLE_STEP), max(1, height // SAMPLE_STEP)),
                          Image.Resampling.NEAREST)
    return sample.getcolors(limit) is not None


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

    def encode(self, image: Image.Image) -> bytes:
        """``image`` as a WebP file, in memory."""
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

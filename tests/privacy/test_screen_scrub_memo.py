"""The scrub's memory of rows already judged keeps a mask its shot could not read again.

``FrameScrubber`` remembers each row it judged and the masks found there, and reads only
rows that changed (with a margin). A region that begins inside a line (under an e-mail
address, where a new line was drawn) cannot read that line; the mask found there before
must stay, or the next region covering the line, its rows unchanged, stores it unmasked
(issue 18's e2e test failed so: a terminal's address readable after a line was typed
under it). Real Tesseract, a rendered screen.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from capture.ocr.tesseract import TesseractOcr
from capture.screen.frame_maker import RawShot
from capture.window.visible import Rect
from privacy.screen_scrub import FrameScrubber, ScreenScrubber

W, H = 640, 200
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
ADDRESS = "kqzvbn.quill37@example.org"


def shot_of(image: Image.Image, top: int) -> RawShot:
    """Rows ``top``.. of ``image`` as the screen source grabs them (BGRA)."""
    part = image.crop((0, top, W, H))
    return RawShot(0, top, W, H - top, bytearray(part.convert("RGBA").tobytes("raw", "BGRA")))


def covers(masks: tuple[Rect, ...], x: int, y: int) -> bool:
    return any(r.x <= x < r.x + r.width and r.y <= y < r.y + r.height for r in masks)


@pytest.fixture
def scrubber() -> FrameScrubber:
    return FrameScrubber(ScreenScrubber(TesseractOcr()))


def test_a_mask_whose_line_a_region_cut_is_kept_for_the_next_region(
    scrubber: FrameScrubber,
) -> None:
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 14)
    draw.text((10, 40), "patient seen in the cardiology ward", font=font, fill="black")
    line = f"please contact {ADDRESS} about the report"
    draw.text((10, 60), line, font=font, fill="black")
    _, top, _, bottom = (round(v) for v in draw.textbbox((10, 60), line, font=font))
    at = round(draw.textbbox((10, 60), "please contact ", font=font)[2])
    middle = (at + 40, (top + bottom) // 2)  # inside the address's name
    try:
        first = scrubber(shot_of(image, 0), 0, H)
        assert first is not None and covers(first, *middle)

        # A line typed right under the address; the region grabbed for it starts inside
        # the address's line (its last rows), so the scrub cannot read the address.
        typed = "the file is shown above"
        ink_top = round(draw.textbbox((10, 0), typed, font=font)[1])
        draw.text((10, bottom + 1 - ink_top), typed, font=font, fill="black")
        cut = bottom - 3
        second = scrubber(shot_of(image, cut), 0, H - cut)
        assert second is not None

        # The next region covers the whole address again, its rows unchanged since they
        # were judged: the mask found in the first shot still covers it.
        third = scrubber(shot_of(image, 20), 0, H - 20)
        assert third is not None and covers(third, *middle), third
    finally:
        scrubber.close()

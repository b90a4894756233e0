"""The scrub's memory of rows already judged keeps a mask its shot could not read again.

``FrameScrubber`` remembers each row it judged and the masks found there, and reads only
rows that changed (with a margin). A region that begins inside a line (under an e-mail
address, where a new line was drawn) cannot read that line; the mask found there before
must stay, or the next region covering the line, its rows unchanged, stores it unmasked
(issue 18's e2e test failed so: a terminal's address readable after a line was typed
under it). Real Tesseract, a rendered screen.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

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
def scrubber() -> Iterator[FrameScrubber]:
    scrub = FrameScrubber(ScreenScrubber(TesseractOcr()))
    yield scrub
    scrub.close()


def changed_rows(a: Image.Image, b: Image.Image) -> tuple[int, int]:
    """[first, last + 1) of the rows that differ between two screens."""
    box = ImageChops.difference(a, b).getbbox()
    assert box is not None
    return box[1], box[3]


@pytest.mark.parametrize("cut", [True, False], ids=["region-from-the-change", "with-rows-above"])
def test_a_mask_beside_a_typed_line_is_kept_for_the_next_region(
    scrubber: FrameScrubber, cut: bool
) -> None:
    # A terminal: the cursor a block filling the cell under the address's line.
    font = ImageFont.truetype(FONT, 14)
    before = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(before)
    line = f"please contact {ADDRESS} about the report"
    draw.text((10, 30), "patient seen in the cardiology ward", font=font, fill="black")
    draw.text((10, 50), line, font=font, fill="black")
    _, top, _, bottom = (round(v) for v in draw.textbbox((10, 50), line, font=font))
    cell = (bottom + 1, bottom + 17)  # the next line's rows
    draw.rectangle((10, cell[0], 18, cell[1] - 1), fill="black")
    at = round(draw.textbbox((10, 50), "please contact ", font=font)[2])
    middle = (at + 30, (top + bottom) // 2)  # inside the address's name
    first = scrubber(shot_of(before, 0), 0, H)
    assert first is not None and covers(first, *middle)

    # A line typed where the cursor was: the rows that changed begin right under the
    # address, and its mask (padded) reaches into them; the address's line itself did
    # not change, so the scrub does not read it again. The region grabbed for the change
    # starts at it, or has rows above (the whole line of context the source grabs).
    after = before.copy()
    draw = ImageDraw.Draw(after)
    draw.rectangle((10, cell[0], 18, cell[1] - 1), fill="white")
    typed = "the file is shown above"
    ink_top = round(draw.textbbox((10, 0), typed, font=font)[1])
    draw.text((10, cell[0] + 2 - ink_top), typed, font=font, fill="black")
    draw.rectangle((10, cell[1], 18, cell[1] + 15), fill="black")
    a, b = changed_rows(before, after)
    top = a if cut else a - 24
    second = scrubber(shot_of(after, top), a - top, b - top)
    assert second is not None

    # The next region covers the whole address again, its rows unchanged since they
    # were judged: the mask found in the first shot still covers it.
    third = scrubber(shot_of(after, 20), 0, H - 20)
    assert third is not None and covers(third, *middle), third


def test_a_mask_over_a_line_that_was_cleared_is_dropped(scrubber: FrameScrubber) -> None:
    font = ImageFont.truetype(FONT, 14)
    before = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(before)
    line = f"please contact {ADDRESS} about the report"
    draw.text((10, 50), line, font=font, fill="black")
    _, top, _, bottom = (round(v) for v in draw.textbbox((10, 50), line, font=font))
    at = round(draw.textbbox((10, 50), "please contact ", font=font)[2])
    middle = (at + 30, (top + bottom) // 2)
    first = scrubber(shot_of(before, 0), 0, H)
    assert first is not None and covers(first, *middle)
    # The terminal cleared: nothing is left to read where the address was, and a mask
    # kept there would cover whatever comes next.
    cleared = Image.new("RGB", (W, H), "white")
    a, b = changed_rows(before, cleared)
    second = scrubber(shot_of(cleared, a - 24), 24, 24 + b - a)
    assert second is not None and not covers(second, *middle)
    third = scrubber(shot_of(cleared, 20), 0, H - 20)
    assert third is not None and not covers(third, *middle), third

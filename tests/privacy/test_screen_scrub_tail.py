"""A line that changed only towards its end (a line being typed) is read from a gap
before its change, with the words just before it; anything else is read whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFont

from capture.ocr.base import OcrWord
from capture.ocr.fake import FakeOcr
from capture.ocr.tesseract import TesseractOcr
from privacy.screen_scrub import ScreenScrubber
from privacy.text_segments import projections

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
LINE = "deploy the build to staging after the tests pass tonight and tell the team in the morning"


def typed(text: str, size: int = 14) -> Image.Image:
    """``text`` as a light terminal shows it while it is typed: a block cursor after it."""
    font = ImageFont.truetype(FONT, size)
    image = Image.new("RGB", (1000, 40), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 12), text, font=font, fill="black")
    right = 10 + font.getlength(text)
    draw.rectangle((right + 1, 12, right + size // 2 + 1, 12 + size), fill="black")
    return image


class InkWords(FakeOcr):
    """A fake engine that finds a word at each run of ink between blank gaps of at
    least ``gap`` columns (the engine's image: dark on light, upscaled), and remembers
    the width of each image it was given."""

    def __init__(self, gap: int = 8) -> None:
        super().__init__()
        self.gap = gap
        self.widths: list[int] = []

    def read(self, image: Image.Image) -> list[OcrWord]:
        self.calls += 1
        self.widths.append(image.width)
        ink = image.convert("L").point(lambda v: 255 if v < 128 else 0)
        columns, rows = projections(ink)
        top = rows.index(next(v for v in rows if v))
        bottom = len(rows) - rows[::-1].index(next(v for v in rows[::-1] if v))
        words: list[OcrWord] = []
        start = None
        blank = 0
        for x, on in enumerate([*columns, *([0] * self.gap)]):
            if on:
                if start is None:
                    start = x
                blank = 0
            elif start is not None:
                blank += 1
                if blank >= self.gap:
                    end = x - blank + 1
                    words.append(OcrWord("w", start, top, end - start, bottom - top, 90.0))
                    start, blank = None, 0
        return words


def test_a_line_that_grew_is_read_from_a_gap_before_its_change() -> None:
    ocr = InkWords()
    scrubber = ScreenScrubber(ocr)
    short, long = LINE[:62], LINE
    first = scrubber.read(typed(short))
    assert ocr.widths and len(first) == len(short.split())  # the cursor joins the last
    words = scrubber.read(typed(long))
    assert scrubber.stats.tails_read == 1
    whole = InkWords()
    fresh = ScreenScrubber(whole).read(typed(long))
    # The engine was given the end of the line only, from a gap before the words
    # last read at the line's end ("an" beside the cursor: read again) ...
    assert ocr.widths[-1] < 0.6 * whole.widths[-1]
    # ... and the words are the line's: those kept, then those read, none twice (a
    # pixel apart at most: the engine's image is upscaled from another column).
    assert len(words) == len(fresh)
    for got, want in zip(words, fresh, strict=True):
        assert abs(got.left - want.left) <= 1 and abs(got.right - want.right) <= 1


def test_a_line_changed_near_its_start_is_read_whole() -> None:
    ocr = InkWords()
    scrubber = ScreenScrubber(ocr)
    scrubber.read(typed(LINE))
    scrubber.read(typed("X" + LINE[1:]))
    assert scrubber.stats.tails_read == 0
    assert ocr.widths[1] == ocr.widths[0]


def test_another_line_at_the_same_place_is_read_whole() -> None:
    ocr = InkWords()
    scrubber = ScreenScrubber(ocr)
    scrubber.read(typed(LINE))
    scrubber.read(typed(LINE, size=18))  # taller: another segment, read whole
    assert scrubber.stats.tails_read == 0
    scrubber.read(typed("a different line of about the same length as before it"))
    assert scrubber.stats.tails_read == 0


def test_reading_tails_can_be_turned_off() -> None:
    ocr = InkWords()
    scrubber = ScreenScrubber(ocr, read_tails=False)
    scrubber.read(typed(LINE[:62]))
    scrubber.read(typed(LINE))
    assert scrubber.stats.tails_read == 0 and ocr.widths[1] > ocr.widths[0]


def test_tails_are_forgotten_with_the_cache() -> None:
    ocr = InkWords()
    scrubber = ScreenScrubber(ocr)
    scrubber.read(typed(LINE[:62]))
    scrubber.clear()
    scrubber.read(typed(LINE))
    assert scrubber.stats.tails_read == 0 and len(scrubber._lines) == 1


@pytest.fixture(scope="module")
def tesseract() -> Iterator[TesseractOcr]:
    ocr = TesseractOcr()
    yield ocr
    ocr.close()


@pytest.mark.parametrize(
    ("line", "secret", "category"),
    [
        ("pay the invoice with card 4111 1111 1111 1111 by friday", "4111 1111 1111 1111",
         "payment_card"),
        ("the new contact is jane.doe47@example.org from monday on", "jane.doe47@example.org",
         "email"),
        ("her ssn is 536-22-8726 and the form is due", "536-22-8726", "ssn"),
    ],
)  # fmt: skip
def test_a_secret_typed_into_a_line_is_masked_in_every_frame_that_shows_it(
    tesseract: TesseractOcr, line: str, secret: str, category: str
) -> None:
    """Real Tesseract, the line typed four characters a frame: every frame showing the
    whole secret masks it (its characters' middles under a mask), tails read or not."""
    font = ImageFont.truetype(FONT, 14)
    start = line.index(secret)
    end = start + len(secret)
    scrubber = ScreenScrubber(tesseract)
    for n in [*range(4, len(line), 4), len(line)]:
        result = scrubber.scrub(typed(line[:n]))
        assert result.withheld_reason is None
        if n < end:
            continue
        assert category in result.counts, (n, dict(result.counts))
        for k in range(start, end):
            if line[k] == " ":
                continue
            x = 10 + font.getlength(line[:k]) + font.getlength(line[k]) / 2
            assert any(r.x <= x < r.x + r.width and r.y <= 19 < r.y + r.height
                       for r in result.masks), (n, k)  # fmt: skip
    assert scrubber.stats.tails_read > 0

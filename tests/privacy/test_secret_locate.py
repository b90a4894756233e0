"""The mask reads under a typed secret's mask before painting it: the mask shrinks from
everything drawn while the secret was typed to the secret's own words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFont

from capture.ocr.tesseract import TesseractOcr
from capture.screen.frame_maker import RawShot
from capture.window.visible import Rect, StaticWindowLister, VisibleWindow
from privacy.denylist import Denylist
from privacy.known_secrets import KnownSecrets
from privacy.masking import MASK_RGB, WindowMasker
from privacy.screen_scrub import FrameScrubber, ScreenScrubber

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
CARD = "4111 1111 1111 1111"
SENTENCE = "the otter paddles upstream"
TERM = VisibleWindow("Terminal", "xterm", geometry=Rect(0, 0, 640, 120), focused=True)
DAMAGE = Rect(0, 0, 640, 80)  # drawn while the card was typed: both lines


@pytest.fixture(scope="module")
def tesseract() -> Iterator[TesseractOcr]:
    ocr = TesseractOcr()
    yield ocr
    ocr.close()


def screen() -> RawShot:
    image = Image.new("RGB", (640, 120), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 16)
    draw.text((8, 10), SENTENCE, font=font, fill="black")
    draw.text((8, 40), f"card {CARD}", font=font, fill="black")
    bgra = bytearray(image.convert("RGBA").tobytes("raw", "BGRA"))
    return RawShot(0, 0, image.width, image.height, bgra)


def pixel(shot: RawShot, x: int, y: int) -> tuple[int, int, int]:
    """The RGB colour at (``x``, ``y``) of ``shot``."""
    at = 4 * (y * shot.width + x)
    b, g, r = shot.bgra[at : at + 3]
    return r, g, b


def known_card() -> KnownSecrets:
    known = KnownSecrets()
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    known.note_damage(DAMAGE, 1.0, 2.5)
    return known


def test_without_reading_under_it_the_whole_damage_is_masked() -> None:
    shot = screen()
    masker = WindowMasker(StaticWindowLister([TERM]), Denylist(), known_card())
    assert masker(shot)
    # The sentence's line is covered along with the card's: its background is fill.
    assert pixel(shot, 400, 18) == MASK_RGB
    assert pixel(shot, 600, 48) == MASK_RGB


def test_reading_under_it_masks_the_card_and_leaves_the_sentence(tesseract: TesseractOcr) -> None:
    shot = screen()
    known = known_card()
    scrub = FrameScrubber(ScreenScrubber(tesseract, None, known))
    masker = WindowMasker(StaticWindowLister([TERM]), Denylist(), known, locate=scrub.locate)
    assert masker(shot)
    assert not known.needs_locating()
    painted = known.masks([TERM], True).rects
    assert painted and all(r.y >= 30 for r in painted)  # on the card's line only
    assert pixel(shot, 400, 18) == (255, 255, 255)  # beside the sentence: as drawn
    middle = painted[0]
    assert pixel(shot, middle.x + middle.width // 2, middle.y + middle.height // 2) == MASK_RGB

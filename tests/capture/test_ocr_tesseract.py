"""The Tesseract backend reads real rendered text with boxes (Debian tesseract-ocr)."""

from __future__ import annotations

import itertools

import pytest
from PIL import Image, ImageDraw, ImageFont

from capture.backends import choose, ocr_backend
from capture.errors import BackendChoiceError
from capture.ocr.base import OcrBackend, OcrUnavailable
from capture.ocr.tesseract import TesseractOcr, find_tessdata

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def render(text: str, size: int = 16) -> tuple[Image.Image, int]:
    """``text`` in black on white, and the x where it starts."""
    image = Image.new("RGB", (40 + 11 * len(text), 40), "white")
    ImageDraw.Draw(image).text((20, 10), text, font=ImageFont.truetype(FONT, size), fill="black")
    return image, 20


def test_reads_a_rendered_line_with_word_boxes() -> None:
    ocr = TesseractOcr()
    try:
        assert isinstance(ocr, OcrBackend)
        assert ocr.version.startswith("tesseract ")
        image, left = render("the quick brown fox jumps")
        words = ocr.read(image)
    finally:
        ocr.close()
    assert [w.text for w in words] == ["the", "quick", "brown", "fox", "jumps"]
    # Boxes run left to right inside the drawn text, on the same baseline band.
    assert words[0].left >= left - 2
    assert all(a.right < b.left for a, b in itertools.pairwise(words))
    assert all(8 <= w.top <= 16 and w.bottom <= 32 for w in words)
    assert all(w.confidence > 50 for w in words)


def test_the_table_chooses_tesseract_on_linux() -> None:
    assert choose("ocr", {}, "linux").name == "tesseract"
    ocr = ocr_backend({})
    try:
        assert ocr.name == "tesseract"
    finally:
        ocr.close()


def test_an_override_cannot_switch_the_scrub_off() -> None:
    # No row reads nothing: "fake" is refused like any typo.
    with pytest.raises(BackendChoiceError, match="tesseract"):
        choose("ocr", {"CAPTURE_AGENT_BACKEND_OCR": "fake"}, "linux")


def test_missing_language_data_says_what_to_install(tmp_path: object) -> None:
    with pytest.raises(OcrUnavailable, match="apt-get install tesseract-ocr"):
        find_tessdata("xx-none", {"TESSDATA_PREFIX": str(tmp_path)})


def test_a_closed_engine_refuses_to_read() -> None:
    ocr = TesseractOcr()
    ocr.close()
    with pytest.raises(OcrUnavailable):
        ocr.read(render("hello")[0])


def test_a_blank_image_reads_as_no_words() -> None:
    ocr = TesseractOcr()
    try:
        assert ocr.read(Image.new("RGB", (720, 24), "white")) == []
    finally:
        ocr.close()

"""The screen scrub masks identifiers in rendered text, keeps ordinary words readable,
reads a static screen once, and withholds what it cannot judge."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFont

from capture.events import Event, Frame
from capture.ocr.base import OcrWord
from capture.ocr.fake import FakeOcr
from capture.ocr.tesseract import TesseractOcr
from capture.screen.frame_maker import RawShot
from capture.screen.mss_source import ScreenSource
from capture.screen.options import ScreenOptions
from privacy.screen_scrub import NO_OCR, OCR_FAILED, FrameScrubber, ScreenScrubber, fill_image
from privacy.spans import Span
from tests.waiting import wait_for

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
SENTENCE = "please review the quarterly report before lunch"
LINES = [
    ("payment_card", "card 4111 1111 1111 1111 ok"),
    ("ssn", "ssn 536-22-8726 filed"),
    ("iban", "iban GB82 WEST 1234 5698 7654 32"),
    ("email", "write to jane.doe@example.org today"),
    ("phone", "call +1 415 555 0132 now"),
    ("aws_key", "key AKIAIOSFODNN7EXAMPLE set"),
]
SECRETS = ["4111", "536-22-8726", "GB82", "jane.doe", "0132", "AKIA"]


def render(lines: list[str]) -> Image.Image:
    font = ImageFont.truetype(FONT, 16)
    image = Image.new("RGB", (720, 30 + 30 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(lines):
        draw.text((12, 12 + 30 * i), text, font=font, fill="black")
    return image


@pytest.fixture(scope="module")
def tesseract() -> Iterator[TesseractOcr]:
    ocr = TesseractOcr()
    yield ocr
    ocr.close()


def test_masks_each_identifier_and_keeps_the_sentence_readable(tesseract: TesseractOcr) -> None:
    image = render([SENTENCE] + [text for _, text in LINES])
    result = ScreenScrubber(tesseract).scrub(image)
    assert result.withheld_reason is None
    for category, _ in LINES:
        assert result.counts.get(category, 0) >= 1, (category, dict(result.counts))
    masked = fill_image(image, result.masks)
    # Every pixel under a mask is solid fill.
    for r in result.masks:
        box = masked.crop((max(0, r.x), max(0, r.y), r.x + r.width, r.y + r.height))
        assert box.getcolors() == [(box.width * box.height, (0, 0, 0))]
    # Read again with the same engine: no identifier left, the ordinary words are.
    after = " ".join(w.text for w in ScreenScrubber(tesseract).read(masked))
    for secret in SECRETS:
        assert secret not in after, secret
    for word in SENTENCE.split():
        assert word in after.lower(), word  # the engine reads "lunch" as "Lunch" at times
    # The words beside each identifier stay unmasked (re-reading them beside a black box
    # is less sure, so their boxes are checked instead).
    beside = {"card", "ok", "ssn", "filed", "iban", "write", "to", "today", "call", "now", "key"}
    kept = [w for w in ScreenScrubber(tesseract).read(image) if w.text in beside]
    assert {w.text for w in kept} == beside
    for w in kept:
        for r in result.masks:
            assert (
                w.right <= r.x
                or r.x + r.width <= w.left
                or w.bottom <= r.y
                or r.y + r.height <= w.top
            ), w.text


def test_nothing_masked_in_ordinary_text(tesseract: TesseractOcr) -> None:
    image = render([SENTENCE, "the build finished in 42 seconds on 3 cores"])
    result = ScreenScrubber(tesseract).scrub(image)
    assert result.masks == () and result.withheld_reason is None


def test_masks_are_in_screen_coordinates(tesseract: TesseractOcr) -> None:
    image = render([LINES[0][1]])
    here = ScreenScrubber(tesseract).scrub(image)
    there = ScreenScrubber(tesseract).scrub(image, (100, 200))
    assert [(r.x + 100, r.y + 200) for r in here.masks] == [(r.x, r.y) for r in there.masks]


def test_an_unchanged_line_is_read_once_even_after_it_moved() -> None:
    word = OcrWord("4111111111111111", 10, 2, 160, 16, 95.0)
    ocr = FakeOcr([word])
    scrubber = ScreenScrubber(ocr)
    lines = [f"line {i}: {'x' * (i + 1)} the build log" for i in range(8)]
    screen = render(lines)
    first = scrubber.scrub(screen, (0, 0))
    assert ocr.calls == len(lines) and scrubber.stats.strips_read == len(lines)
    second = scrubber.scrub(screen.copy(), (0, 0))
    assert ocr.calls == len(lines)  # every line came from the cache
    assert scrubber.stats.strips_cached == len(lines)
    assert second.masks == first.masks and second.counts == first.counts
    # Scrolled by three lines: what was read before is not read again, wherever it is.
    scrolled = render([*lines[3:], "a new line at the bottom"])
    scrubber.scrub(scrolled, (0, 0))
    assert ocr.calls == len(lines) + 1
    # One character typed into one line: that line is read again, the others are not.
    ImageDraw.Draw(scrolled).text((600, 12), "z", font=ImageFont.truetype(FONT, 16), fill="black")
    scrubber.scrub(scrolled, (0, 0))
    assert ocr.calls == len(lines) + 2


def test_only_lines_reaching_into_the_changed_rows_are_read() -> None:
    ocr = FakeOcr([])
    scrubber = ScreenScrubber(ocr)
    screen = render([f"line number {i} of the log" for i in range(6)])  # lines 30 px apart
    scrubber.scrub(screen, (0, 0), rows=(75, 80))  # inside the third line only
    assert ocr.calls == 1
    scrubber.scrub(screen, (0, 0), rows=(40, 80))  # the second and third
    assert ocr.calls == 2  # the third came from the cache


def test_no_backend_withholds_and_counts() -> None:
    scrubber = ScreenScrubber(None)
    result = scrubber.scrub(render([SENTENCE]))
    assert result.withheld_reason == NO_OCR and result.masks == ()
    scrubber.scrub(render([SENTENCE]))
    assert scrubber.stats.withheld == {NO_OCR: 2}


def test_a_failing_backend_withholds_and_counts() -> None:
    ocr = FakeOcr()
    ocr.fail = "engine crashed"
    scrubber = ScreenScrubber(ocr)
    assert scrubber.scrub(render([SENTENCE])).withheld_reason == OCR_FAILED
    assert scrubber.stats.withheld == {OCR_FAILED: 1}


def test_a_crashing_detector_withholds() -> None:
    def broken(text: str) -> list[object]:
        raise KeyError(text)

    scrubber = ScreenScrubber(FakeOcr([OcrWord("x", 0, 0, 5, 5, 90.0)]), [broken])  # type: ignore[list-item]
    assert scrubber.scrub(render([SENTENCE])).withheld_reason == OCR_FAILED


# -- inline on the screen thread ------------------------------------------------------------


class ImageGrabber:
    """A grabber showing ``image`` (BGRA), a fresh buffer per shot."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image

    def grab(self) -> RawShot:
        r, g, b = self.image.convert("RGB").split()
        bgra = Image.merge("RGBA", (b, g, r, Image.new("L", self.image.size, 255))).tobytes()
        return RawShot(0, 0, self.image.width, self.image.height, bytearray(bgra))

    def close(self) -> None:
        pass


def frame_image(frame: Frame) -> Image.Image:
    image = Image.open(io.BytesIO(frame.image)).convert("RGB")
    image.load()
    return image


def test_the_screen_source_stores_only_scrubbed_frames(tesseract: TesseractOcr) -> None:
    screen = render([SENTENCE, LINES[0][1]])
    out: list[Event] = []
    source = ScreenSource(
        ScreenOptions(min_interval=0.05, debounce=0.0, encoding="lossless"),
        grabber_factory=lambda: ImageGrabber(screen),
        damage_factory=lambda: None,
        # The source closes its scrub's engine when it stops: its own engine.
        scrub_factory=lambda: FrameScrubber(ScreenScrubber(TesseractOcr())),
    )
    source.start(out.append)
    try:
        wait_for(lambda: len(out) == 1, "the start-up frame")
    finally:
        source.stop()
    assert isinstance(out[0], Frame) and source.scrub_masked == 1
    stored = frame_image(out[0])
    after = " ".join(w.text for w in ScreenScrubber(tesseract).read(stored))
    assert "4111" not in after and "1111" not in after
    assert all(word in after.lower() for word in SENTENCE.split())


def test_without_ocr_no_frame_is_stored_and_each_is_counted() -> None:
    out: list[Event] = []
    source = ScreenSource(
        ScreenOptions(min_interval=0.05, debounce=0.0),
        grabber_factory=lambda: ImageGrabber(render([SENTENCE])),
        damage_factory=lambda: None,
        scrub_factory=lambda: FrameScrubber(ScreenScrubber(None)),
    )
    source.start(out.append)
    try:
        source.grab_now()
        wait_for(lambda: source.scrub_withheld >= 2, "two frames withheld")
    finally:
        source.stop()
    assert out == [] and source.frames == 0


class SizeOcr(FakeOcr):
    """A fake engine that remembers the size of each image it was given."""

    def __init__(self) -> None:
        super().__init__([])
        self.sizes: list[tuple[int, int]] = []

    def read(self, image: Image.Image) -> list[OcrWord]:
        self.sizes.append(image.size)
        return super().read(image)


def test_a_flat_region_is_not_read_and_only_the_ink_is() -> None:
    ocr = SizeOcr()
    scrubber = ScreenScrubber(ocr)
    blank = Image.new("RGB", (1920, 40), (30, 30, 30))
    assert scrubber.scrub(blank).withheld_reason is None
    assert ocr.sizes == []  # background only: nothing to read, nothing to mask
    # A speck one grey level off the background is no text.
    blank.putpixel((1919, 20), (31, 30, 30))
    scrubber.scrub(blank)
    assert ocr.sizes == []
    # A glyph at the far right edge: the engine is given that glyph (plus a margin of
    # background), not the blank width before it.
    draw = ImageDraw.Draw(blank)
    font = ImageFont.truetype(FONT, 16)
    draw.text((1900, 10), "7", font=font, fill=(230, 230, 230))
    scrubber.scrub(blank)
    assert len(ocr.sizes) == 1 and ocr.sizes[0][0] < 80  # at twice its size (small text)
    # Text at both edges: each is read alone, the blank between never.
    draw.text((2, 10), "ok", font=font, fill=(230, 230, 230))
    scrubber.scrub(blank)
    assert len(ocr.sizes) == 2 and ocr.sizes[-1][0] < 120  # the "7" came from the cache


def _shot(image: Image.Image) -> RawShot:
    return ImageGrabber(image).grab()


def test_rows_already_judged_keep_their_masks_and_are_not_cut_again(
    tesseract: TesseractOcr,
) -> None:
    from privacy.known_secrets import KnownSecrets

    lines = [f"line {i} of the build log" for i in range(30)]
    lines[2] = "card 4111 1111 1111 1111 ok"
    frames = FrameScrubber(ScreenScrubber(tesseract))
    screen = render(lines)
    first = frames(_shot(screen), 0, screen.height)
    assert first is not None and len(first) == 1  # the card
    read, looked_up = frames.stats.strips_read, frames.stats.strips_cached
    # A line far below changes; the whole screen is asked for (a key frame).
    lines[25] = "a new line far below"
    again = frames(_shot(render(lines)), 0, screen.height)
    assert again == first  # the card's mask, remembered with its rows
    assert frames.stats.strips_read == read + 1  # only the new line was read
    assert frames.stats.strips_cached - looked_up < 12  # only lines near it were cut out
    # The card's own line changes: it is judged again.
    lines[2] = "card 5500 0000 0000 0004 ok"
    third = frames(_shot(render(lines)), 0, screen.height)
    assert third is not None and len(third) == 1 and third != first
    assert frames.stats.strips_read == read + 2
    # While typed secrets are looked for, every line is looked at again (from the cache).
    secrets = KnownSecrets()
    secrets.add("password", "hunter2hunter2", "xterm", "shell", 0.0, 0.0)
    frames.scrubber.known_secrets = secrets
    looked_up = frames.stats.strips_cached
    assert frames(_shot(render(lines)), 0, screen.height) == third
    assert frames.stats.strips_cached - looked_up >= len(lines)


def _word(text: str, left: int, width: int) -> OcrWord:
    return OcrWord(text, left, 0, width, 16, 90.0)


def test_words_a_proportional_space_apart_are_read_apart_and_split_tokens_joined() -> None:
    from privacy.screen_scrub import line_text

    # "Hx of HIV" in a 13 px sans: words 3-4 px apart (0.25 of the height joined them).
    line = [_word("Hx", 0, 16), _word("of", 20, 12), _word("HIV", 36, 22)]
    assert line_text(line)[0] == "Hx of HIV"
    # An address the engine split after its dot: joined, strict or loose.
    split = [_word("bob@example.", 0, 90), _word("com", 93, 24)]
    assert line_text(split)[0] == "bob@example.com"
    # Monospace: a narrow glyph's bearings (6 px) apart inside a token; only the loose
    # reading joins it, and the scrub runs the detectors over both.
    mono = [_word("hana.", 0, 38), _word("castillo@example.com", 44, 160)]
    assert line_text(mono)[0] == "hana. castillo@example.com"
    assert line_text(mono, loose=True)[0] == "hana.castillo@example.com"


def test_an_address_split_inside_is_masked_whole() -> None:
    from privacy.screen_scrub import _matches

    words = [_word("mail", 0, 32), _word("hana.", 42, 38), _word("castillo@example.com", 86, 160)]
    found = list(_matches(words, (0, 0), None))
    assert {category for _, category in found} == {"email"}
    # Read apart, only the second part is an address; joined, both parts are under it.
    assert any(m.x <= 42 and m.x + m.width >= 86 + 160 for m, _ in found)


def _lines(n: int) -> list[Image.Image]:
    """``n`` images of one line each, all different (each one cache entry)."""
    return [render([f"line {i} of the build log {'x' * i}"]) for i in range(n)]


def _entry_bytes(words: list[OcrWord]) -> int:
    """What one segment's cache entry of ``words`` costs against the byte budget."""
    from privacy.screen_scrub import _cache_cost, _pack

    return _cache_cost(bytes(16), _pack(words))  # the key is a 16-byte digest


def test_the_segment_cache_never_holds_more_bytes_than_its_budget() -> None:
    # Three words a read, room for three such entries: three lines are remembered,
    # whatever came before.
    words = [_word("some", 0, 30), _word("words", 40, 40), _word("here", 90, 30)]
    ocr = FakeOcr(words)
    budget = 3 * _entry_bytes(words)
    scrubber = ScreenScrubber(ocr, cache_bytes=budget)
    images = _lines(12)
    for i, image in enumerate(images):
        scrubber.scrub(image)
        assert scrubber._cache.held <= budget
        assert len(scrubber._cache) == min(i + 1, 3)
    assert ocr.calls == 12
    for image in images[-3:]:  # the last three are still there
        scrubber.scrub(image)
    assert ocr.calls == 12 and scrubber.stats.strips_cached == 3
    scrubber.scrub(images[0])  # the first was forgotten: read again
    assert ocr.calls == 13


def test_a_hit_returns_the_words_first_read() -> None:
    # The engine would read something else a second time: a hit must not ask it.
    reads = iter([[_word("4111111111111111", 10, 160)], [_word("nothing", 10, 60)]])
    ocr = FakeOcr(reader=lambda _image: next(reads))
    scrubber = ScreenScrubber(
        ocr, cache_bytes=2 * _entry_bytes([_word("4111111111111111", 10, 160)])
    )
    image = render(["a card number here"])
    first = scrubber.scrub(image)
    second = scrubber.scrub(image.copy())
    assert ocr.calls == 1
    assert first.counts == second.counts == {"payment_card": 1}
    assert second.masks == first.masks
    assert [w.text for w in scrubber.read(image)] == ["4111111111111111"]


def test_the_least_recently_used_segment_is_forgotten_first() -> None:
    words = [_word("two", 0, 30), _word("words", 40, 40)]
    ocr = FakeOcr(words)
    scrubber = ScreenScrubber(ocr, cache_bytes=2 * _entry_bytes(words))  # room for two lines
    a, b, c = _lines(3)
    scrubber.scrub(a)
    scrubber.scrub(b)
    scrubber.scrub(a)  # a is used again: b is now the least recently used
    assert ocr.calls == 2
    scrubber.scrub(c)  # b goes
    scrubber.scrub(a)
    assert ocr.calls == 3
    scrubber.scrub(b)
    assert ocr.calls == 4


def test_a_segment_with_more_words_than_the_whole_budget_is_not_kept() -> None:
    words = [_word(f"w{i}", 30 * i, 20) for i in range(10)]
    ocr = FakeOcr(words)
    scrubber = ScreenScrubber(ocr, cache_bytes=_entry_bytes(words) - 1)
    (image,) = _lines(1)
    scrubber.scrub(image)
    scrubber.scrub(image)
    assert ocr.calls == 2 and scrubber._cache.held == 0 and len(scrubber._cache) == 0


def test_a_bounded_cache_keeps_within_its_budget() -> None:
    from privacy.screen_scrub import _Lru

    found: _Lru[str, list[object]] = _Lru(100, 10, lambda text, _spans: len(text))
    for text in ["abcd", "efgh", "ijkl"]:  # 12 characters: the first goes
        found.put(text, [])
        assert found.held <= 10
    assert found.keys() == ["efgh", "ijkl"]
    assert found.get("efgh") == [] and found.keys() == ["ijkl", "efgh"]
    found.put("mn", [])  # 10 characters: fits, nothing goes
    assert found.keys() == ["ijkl", "efgh", "mn"] and found.held == 10
    found.put("ijkl", [])  # put again: counted once
    assert found.held == 10 and found.get("abcd") is None
    found.put("x" * 11, [])  # longer than the whole budget: not kept, nothing lost
    assert found.keys() == ["efgh", "mn", "ijkl"]
    found.clear()
    assert found.held == 0 and len(found) == 0


def test_the_findings_of_a_line_come_from_its_text_once() -> None:
    calls: list[str] = []

    def counting(text: str) -> list[Span]:
        calls.append(text)
        return []

    ocr = FakeOcr([_word("the", 0, 30), _word("build", 40, 40)])
    scrubber = ScreenScrubber(ocr, detectors=[counting])
    for image in _lines(3):  # three segments read the same words: one line of text
        scrubber.scrub(image)
    assert calls == ["the build"]
    from privacy.screen_scrub import _found_cost

    assert len(scrubber._found) == 1 and scrubber._found.held == _found_cost("the build", ())

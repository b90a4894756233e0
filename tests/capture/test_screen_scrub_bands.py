"""The screen source hands a large change to the OCR scrub band by band (bounded memory),
and what a band edge cuts is still judged."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from PIL import Image, ImageDraw, ImageFont

from capture.events import Event, Frame
from capture.ocr.tesseract import TesseractOcr
from capture.screen.frame_maker import RawShot
from capture.screen.mss_source import SCRUB_MIN_ROWS, SCRUB_PIXELS, ScreenSource, scrub_bands
from capture.screen.options import ScreenOptions
from capture.window.visible import Rect
from privacy.screen_scrub import FrameScrubber, ScreenScrubber
from storage.compose import decode_frame
from tests.privacy.test_screen_scrub import ImageGrabber
from tests.waiting import wait_for

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
WIDTH = 2048  # SCRUB_PIXELS // WIDTH = 512 rows a band
CARD = "card 4111 1111 1111 1111 ok"


class RecordingScrub:
    """A scrub that remembers the rows it was given and masks ``mask`` in the band that
    holds its top."""

    def __init__(self, mask: Rect) -> None:
        self.mask = mask
        self.calls: list[tuple[int, int, int]] = []  # (width, top, bottom)

    def __call__(
        self, shot: RawShot, top: int, bottom: int, columns: tuple[int, int] | None = None
    ) -> Sequence[Rect] | None:
        self.calls.append((shot.width, top, bottom))
        return [self.mask] if top <= self.mask.y - shot.top < bottom else []

    def close(self) -> None:
        pass


def first_frame(image: Image.Image, scrub: object) -> Frame:
    out: list[Event] = []
    source = ScreenSource(
        ScreenOptions(min_interval=0.05, debounce=0.0, encoding="lossless"),
        grabber_factory=lambda: ImageGrabber(image),
        damage_factory=lambda: None,
        scrub_factory=lambda: scrub,  # type: ignore[return-value,arg-type]
    )
    source.start(out.append)
    try:
        frame = wait_for(
            lambda: next((e for e in out if isinstance(e, Frame)), None), "the start-up frame"
        )
    finally:
        source.stop()
    return frame


def test_bands_cover_the_rows_once_within_the_budget_on_a_grid_fixed_to_the_screen() -> None:
    for width, top, bottom, offset in [(1920, 0, 1080, 0), (3840, 37, 2160, 0), (800, 5, 900, 300)]:
        bands = scrub_bands(top, bottom, width, offset)
        rows = max(SCRUB_MIN_ROWS, SCRUB_PIXELS // width)
        assert bands[0][0] == top and bands[-1][1] == bottom
        assert all(a[1] == b[0] for a, b in pairwise(bands))
        assert all(0 < b - a <= rows for a, b in bands)
        # Every inner edge is on the screen's grid, wherever the shot starts.
        assert all((b + offset) % rows == 0 for _, b in bands[:-1])
    # Very wide screens still get bands of some height.
    assert scrub_bands(0, 200, 40_000, 0)[0] == (0, SCRUB_MIN_ROWS)
    assert scrub_bands(10, 10, 1920, 0) == []


def test_a_whole_large_screen_is_scrubbed_band_by_band_and_every_band_mask_is_painted() -> None:
    image = Image.new("RGB", (WIDTH, 1536), "white")
    mask = Rect(100, 1100, 300, 40)  # in the third band
    scrub = RecordingScrub(mask)
    frame = first_frame(image, scrub)
    assert frame.key and scrub.calls == [(WIDTH, 0, 512), (WIDTH, 512, 1024), (WIDTH, 1024, 1536)]
    assert all(w * (b - t) <= SCRUB_PIXELS for w, t, b in scrub.calls)
    stored = decode_frame(frame.image, frame.bands).convert("RGB")
    inside = stored.crop((mask.x, mask.y, mask.x + mask.width, mask.y + mask.height))
    assert inside.getcolors() == [(mask.width * mask.height, (0, 0, 0))]
    assert stored.getpixel((50, 50)) == (255, 255, 255)


def test_a_card_number_on_a_band_edge_is_masked() -> None:
    # 512 rows a band at this width: the card's line straddles the first edge.
    image = Image.new("RGB", (WIDTH, 1024), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 16)
    draw.text((40, 200), "please review the quarterly report before lunch", font=font, fill="black")
    draw.text((40, 503), CARD, font=font, fill="black")
    top, bottom = draw.textbbox((40, 503), CARD, font=font)[1::2]
    assert top < 512 < bottom
    frame = first_frame(image, FrameScrubber(ScreenScrubber(TesseractOcr())))
    stored = decode_frame(frame.image, frame.bands).convert("RGB")
    ocr = TesseractOcr()
    try:
        after = " ".join(w.text for w in ScreenScrubber(ocr).read(stored))
    finally:
        ocr.close()
    assert "4111" not in after and "1111" not in after
    assert "quarterly" in after

"""A region frame's scrub reads every line its change cuts whole, across the screen.

X DAMAGE reports what was drawn as it is drawn: a region grabbed between two reports can
show a line whose rest was drawn but not yet reported. Scrubbed alone, such a region
showed ``name.surname@exa``: no address, and the name was stored readable (the e2e
test of issue 18 failed so in CI). The source runs its real thread over an in-memory
screen, ``ScriptedDamage`` and the real scrub (Tesseract); the stored region is read
back with Tesseract.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Sequence

from PIL import Image, ImageDraw, ImageFont

from capture.events import Event, Frame, Key
from capture.ocr.tesseract import TesseractOcr
from capture.screen.damage import ScriptedDamage
from capture.screen.frame_diff import BAND, Box
from capture.screen.frame_maker import RawShot
from capture.screen.mss_source import FrameScrub, ScreenSource
from capture.screen.options import ScreenOptions
from capture.window.visible import Rect
from privacy.screen_scrub import FrameScrubber, ScreenScrubber
from storage.compose import decode_frame
from tests.image_screen import ImageScreen
from tests.waiting import wait_for

W, H = 1024, 240
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def text_screen() -> ImageScreen:
    """A white screen in memory."""
    return ImageScreen(Image.new("RGB", (W, H), "white"))


def scrubbing(
    screen: ImageScreen, damage: ScriptedDamage, scrub: FrameScrub, debounce: float = 0.0
) -> ScreenSource:
    """A screen source over ``screen`` and ``damage`` whose frames ``scrub`` judges (the
    source closes it when it stops: a scrub with its own engine)."""
    return ScreenSource(
        ScreenOptions(
            min_interval=0.01, debounce=debounce, idle_interval=3600.0, encoding="lossless"
        ),
        grabber_factory=lambda: screen,
        damage_factory=lambda: damage,
        scrub_factory=lambda: scrub,
    )


def region_frame_after(
    source: ScreenSource, screen: ImageScreen, draw: Callable[[], object]
) -> tuple[Frame, Image.Image]:
    """Start ``source``; after its start-up frame, ``draw`` (on ``screen``, locked) and
    ask for a frame: the region frame stored, and its pixels."""
    out: list[Event] = []
    source.start(out.append)
    try:
        wait_for(lambda: len(out) == 1, "the start-up frame")
        with screen.lock:
            draw()
        source.grab_now("manual")
        wait_for(lambda: len(out) == 2, "a region frame after the drawing")
    finally:
        source.stop()
    frame = out[1]
    assert isinstance(frame, Frame) and not frame.key
    return frame, decode_frame(frame.image, frame.bands).convert("RGB")


def read(image: Image.Image) -> str:
    ocr = TesseractOcr()
    try:
        return " ".join(w.text for w in ScreenScrubber(ocr).read(image))
    finally:
        ocr.close()


def test_an_address_drawn_past_the_reported_damage_is_masked_whole() -> None:
    name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6)) + ".quill42"
    before, address = "please contact ", f"{name}@example.org"
    font = ImageFont.truetype(FONT, 16)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    # Place the line so that a band edge (where a reported box is widened to) falls
    # just after "@ex": the region grabbed for the report shows the whole name and
    # no domain.
    cut = probe.textlength(before + name + "@ex", font=font)
    x = 3 * BAND - round(cut)
    y = 120
    screen, damage = text_screen(), ScriptedDamage(W, H)
    source = scrubbing(screen, damage, FrameScrubber(ScreenScrubber(TesseractOcr())))

    def drawn() -> None:
        draw = ImageDraw.Draw(screen.image)
        draw.text((x, y), before + address + " about the report", font=font, fill="black")
        # Drawn whole, reported up to "@ex" (the rest's report not read yet).
        damage.draw(Box(x, y - 4, round(cut), 28))

    _, stored = region_frame_after(source, screen, drawn)
    text = read(stored)
    assert name.split(".")[0] not in text and "quill42" not in text, text
    # Only the address is masked: the words before it are stored readable.
    assert "contact" in text, text


class RectScrub:
    """A scrub that "finds" fixed rectangles: those reaching into the rows (and the
    columns, when given) it is asked about, as ``FrameScrubber`` answers."""

    def __init__(self, found: list[Rect]) -> None:
        self.found = found

    def __call__(
        self, shot: RawShot, top: int, bottom: int, columns: tuple[int, int] | None = None
    ) -> Sequence[Rect] | None:
        y0, y1 = shot.top + top, shot.top + bottom
        out = [r for r in self.found if r.y < y1 and r.y + r.height > y0]
        if columns is not None:
            x0, x1 = shot.left + columns[0], shot.left + columns[1]
            out = [r for r in out if r.x < x1 and r.x + r.width > x0]
        return out

    def close(self) -> None:
        pass


def test_a_secret_the_widened_region_reaches_is_masked_too() -> None:
    # An identifier completed by the change (its mask reaches past the change: the
    # region widens to hide where it was drawn before) ends beside another one: the
    # widened region stores part of the second, which must be masked as well.
    completed, beside = Rect(120, 100, 200, 20), Rect(300, 125, 60, 15)
    screen, damage = text_screen(), ScriptedDamage(W, H)
    with screen.lock:
        ImageDraw.Draw(screen.image).rectangle((290, 120, 369, 144), fill=(200, 30, 30))
    scrub = RectScrub([])
    source = scrubbing(screen, damage, scrub)

    def drawn() -> None:
        scrub.found = [completed, beside]
        ImageDraw.Draw(screen.image).rectangle((100, 100, 139, 139), fill=(90, 90, 90))
        damage.draw(Box(100, 100, 40, 40))

    frame, stored = region_frame_after(source, screen, drawn)
    assert frame.x <= completed.x and frame.x + stored.width >= completed.x + completed.width
    # The part of the second secret inside the stored region is painted over.
    for x in range(beside.x, min(beside.x + beside.width, frame.x + stored.width)):
        for y in range(
            max(beside.y, frame.y), min(beside.y + beside.height, frame.y + stored.height)
        ):
            assert stored.getpixel((x - frame.x, y - frame.y)) == (0, 0, 0), (x, y)


def test_a_hold_cut_through_an_address_is_stored_with_the_address_masked() -> None:
    # Typing holds the region drawn at each key's release, without the rows and columns
    # around it; they are grabbed when the hold is stored, at the next action.
    name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6)) + ".quill42"
    before, address = "please contact ", f"{name}@example.org"
    font = ImageFont.truetype(FONT, 16)
    cut = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(before + name + "@ex", font=font)
    x, y = 3 * BAND - round(cut), 120
    screen, damage = text_screen(), ScriptedDamage(W, H)
    out: list[Event] = []
    # No debounced frame before the next key: the hold is what is stored.
    source = scrubbing(screen, damage, FrameScrubber(ScreenScrubber(TesseractOcr())), 5.0)
    source.start(out.append)
    try:
        wait_for(lambda: len(out) == 1, "the start-up frame")
        press = time.monotonic()
        with screen.lock:
            draw = ImageDraw.Draw(screen.image)
            draw.text((x, y), before + address + " about the report", font=font, fill="black")
        damage.draw(Box(x, y - 4, round(cut), 28), at=press)
        source.on_input(Key(ts=time.time(), mono=press, key="x", pressed=True, char="x"))
        release = time.monotonic()
        source.on_input(Key(ts=time.time(), mono=release, key="x", pressed=False, char="x"))
        wait_for(lambda: source.holds == 1, "a hold at the release")
        enter = max(time.monotonic(), release) + 0.05
        source.on_input(Key(ts=time.time(), mono=enter, key="Return", pressed=True))
        wait_for(lambda: source.holds_stored == 1, "the hold stored at the next key")
    finally:
        source.stop()
    frame = out[-1]
    assert isinstance(frame, Frame) and frame.trigger == "action" and not frame.key
    text = read(decode_frame(frame.image, frame.bands).convert("RGB"))
    assert name.split(".")[0] not in text and "quill42" not in text, text
    assert "contact" in text, text

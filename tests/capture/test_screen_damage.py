"""Damage-driven frames (no display): what is grabbed, what is stored, nothing lost.

The screen source runs its real thread with ``ScriptedDamage`` (the fake next to the
``DamageSource`` interface) and an in-memory screen that can grab regions. Frames are
encoded losslessly, so composing them (``storage.compose``) must give back exactly the
screen as it was at each grab: every change reported or not must be in the frames.
"""

from __future__ import annotations

import io
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw

from capture.events import Frame
from capture.screen.damage import Damage, DamageBox, ScriptedDamage, clip_even, union
from capture.screen.frame_diff import Box
from capture.screen.frame_maker import RawShot
from capture.screen.mss_source import ScreenSource
from capture.screen.options import ScreenOptions
from capture.screen.pixel_stats import PixelStats
from capture.window.visible import Rect, StaticWindowLister, VisibleWindow
from privacy.denylist import Denylist
from privacy.masking import WindowMasker
from storage.compose import decode_frame, full_frames
from storage.writer import frame_record
from tests.waiting import wait_for

W, H = 640, 360


class FakeScreen:
    """An RGB screen in memory that grabs whole or by region; counts both."""

    def __init__(self, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.image = Image.new("RGB", (W, H), (40, 44, 52))
        draw = ImageDraw.Draw(self.image)
        for _ in range(60):
            x, y = rng.randrange(W), rng.randrange(H)
            draw.rectangle(
                (x, y, x + rng.randrange(5, 120), y + rng.randrange(5, 60)),
                fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
            )
        self.whole: list[int] = []
        self.regions: list[Box] = []
        self.fail_next = False
        self.closed = False

    def paint(self, box: Box, colour: int) -> None:
        ImageDraw.Draw(self.image).rectangle(
            (box.x, box.y, box.x + box.width - 1, box.y + box.height - 1),
            fill=(colour, 255 - colour, colour // 2),
        )

    def _shot(self, box: Box) -> RawShot:
        if self.fail_next:
            self.fail_next = False
            raise OSError("grab failed")
        part = self.image.crop((box.x, box.y, box.x + box.width, box.y + box.height))
        return RawShot(
            box.x,
            box.y,
            box.width,
            box.height,
            bytearray(part.convert("RGBA").tobytes("raw", "BGRA")),
        )

    def grab(self) -> RawShot:
        self.whole.append(1)
        return self._shot(Box(0, 0, W, H))

    def grab_region(self, box: Box) -> RawShot:
        self.regions.append(box)
        return self._shot(box)

    def close(self) -> None:
        self.closed = True


class Rig:
    """A screen source over a fake screen and fake damage, stepped one grab at a time."""

    def __init__(self, mask_factory: Callable[[], Any] | None = None) -> None:
        self.screen = FakeScreen()
        self.damage = ScriptedDamage(W, H)
        self.frames: list[Frame] = []
        self.expected: list[Image.Image] = []  # the screen as each stored frame saw it
        self.pixels: list[PixelStats] = []
        self.source = ScreenSource(
            ScreenOptions(
                min_interval=0.01, debounce=0.0, idle_interval=3600.0, encoding="lossless"
            ),
            grabber_factory=lambda: self.screen,
            damage_factory=lambda: self.damage,
            on_pixels=lambda ts, stats: self.pixels.append(stats),
            mask_factory=mask_factory,
        )
        self._lock = threading.Lock()
        self.source.start(self._emit)
        wait_for(lambda: self.attempts() == 1, "self.attempts() == 1")

    def _emit(self, event: Any) -> None:
        assert isinstance(event, Frame)
        self.frames.append(event)

    def attempts(self) -> int:
        s = self.source
        return s.frames + s.maker.skipped_unchanged + s.suppressed + s.errors

    def step(self, mask_view: Callable[[Image.Image], Image.Image] | None = None) -> None:
        """One grab; remembers what the screen looked like (masked) if a frame came."""
        before, frames = self.attempts(), len(self.frames)
        view = self.screen.image.copy()
        self.source.grab_now("manual")
        wait_for(lambda: self.attempts() == before + 1, "self.attempts() == before + 1")
        if len(self.frames) > frames:
            self.expected.append(mask_view(view) if mask_view else view)

    def paint(self, box: Box, colour: int, report: bool = True) -> None:
        self.screen.paint(box, colour)
        if report:
            self.damage.draw(box)

    def stop(self) -> None:
        self.source.stop()

    def check_composed(self) -> None:
        """Every stored frame, composed, equals the screen it was grabbed from."""
        records: list[dict[str, Any]] = []
        members: dict[str, bytes] = {}
        for seq, frame in enumerate(self.frames):
            record, images = frame_record(seq, frame)
            records.append(record)
            members.update(images)
        full = full_frames(records, members)
        assert len(full) == len(self.frames)
        for record, want in zip(records, self.expected, strict=True):
            with Image.open(io.BytesIO(full[record["file"]])) as got:
                diff = ImageChops.difference(got.convert("RGB"), want).getbbox()
                assert diff is None, f"frame {record['number']} differs at {diff}"


@pytest.fixture
def rig() -> Any:
    made = Rig()
    made.expected.append(made.screen.image.copy())  # the start-up frame
    yield made
    made.stop()


# -- bookkeeping -----------------------------------------------------------------------


def test_damage_box_keeps_everything_until_a_frame_is_stored() -> None:
    dirty = DamageBox()
    assert dirty.resized and dirty.region(W, H) is None
    dirty.add(Damage(Box(10, 10, 5, 5), W, H))
    dirty.stored(whole=True)
    assert not dirty.resized and dirty.box is None
    dirty.add(Damage(Box(101, 51, 10, 3), W, H))
    dirty.add(Damage(None, W, H))  # a take with nothing new
    dirty.add(Damage(Box(300, 200, 4, 4), W, H))  # the frame before was dropped
    assert dirty.box == Box(101, 51, 203, 153)
    assert dirty.region(W, H) == Box(100, 50, 204, 154)  # even edges
    dirty.stored(whole=False)
    assert dirty.box is None
    dirty.add(Damage(None, W + 2, H))
    assert dirty.resized  # a new screen size wants a whole frame
    dirty.stored(whole=True)
    assert not dirty.resized


def test_clip_even_and_union() -> None:
    assert clip_even(Box(-5, -5, 10, 10), W, H) == Box(0, 0, 6, 6)
    assert clip_even(Box(W - 3, H - 1, 10, 10), W, H) == Box(W - 4, H - 2, 4, 2)
    assert clip_even(Box(W, 0, 10, 10), W, H) is None
    assert union(None, Box(1, 2, 3, 4)) == Box(1, 2, 3, 4)
    assert union(Box(0, 0, 1, 1), Box(5, 5, 1, 1)) == Box(0, 0, 6, 6)


def test_scripted_damage_hands_over_what_was_drawn_once() -> None:
    damage = ScriptedDamage(W, H)
    damage.draw(Box(1, 1, 2, 2))
    damage.draw(Box(5, 5, 2, 2))
    assert damage.take() == Damage(Box(1, 1, 6, 6), W, H)
    assert damage.take() == Damage(None, W, H)
    damage.error = OSError("gone")
    with pytest.raises(OSError, match="gone"):
        damage.take()


# -- the source ------------------------------------------------------------------------


def test_nothing_drawn_means_no_grab_and_a_region_grabs_only_itself(rig: Rig) -> None:
    assert rig.source.uses_damage and len(rig.screen.whole) == 1 and rig.frames[0].key
    rig.step()
    assert rig.source.maker.skipped_unchanged == 1 and len(rig.screen.whole) == 1
    assert rig.screen.regions == []
    rig.paint(Box(101, 41, 30, 11), 10)
    rig.step()
    # Grabbed: the damage with even edges, widened to whole 128-pixel segments.
    assert rig.screen.regions == [Box(0, 40, 256, 12)] and len(rig.screen.whole) == 1
    frame = rig.frames[-1]
    assert (frame.key, frame.x, frame.y, frame.base, frame.number) == (False, 0, 40, 1, 2)
    assert (frame.width, frame.height, frame.left, frame.top) == (W, H, 0, 0)
    rig.paint(Box(10, 300, 8, 8), 20)
    rig.paint(Box(300, 10, 8, 8), 30)  # two places: their bounding box
    rig.step()
    assert rig.screen.regions[-1] == Box(0, 10, 384, 298)
    # Drawn over a large area, changed in a small one: only that is stored.
    rig.damage.draw(Box(0, 0, 300, 290))
    rig.paint(Box(200, 201, 4, 4), 25)
    rig.step()
    assert rig.screen.regions[-1] == Box(0, 0, 384, 290)
    frame = rig.frames[-1]
    with decode_frame(frame.image, frame.bands) as image:
        assert (frame.x, frame.y, image.width, image.height) == (128, 200, 128, 6)
    # Drawn, but the same pixels: nothing stored.
    rig.damage.draw(Box(5, 5, 20, 20))
    rig.step()
    assert rig.source.maker.skipped_unchanged == 2 and len(rig.screen.regions) == 4
    assert len(rig.pixels) == 1  # only whole grabs are measured for silent failures
    rig.check_composed()


def test_a_screen_nothing_was_drawn_on_is_measured_again_without_a_grab(rig: Rig) -> None:
    # Silent-failure detection sees the whole screen every idle interval (here: every
    # grab). With nothing drawn since the last measured grab, its statistics stand for
    # the screen (an idle 4K screen was grabbed whole, 32 strips, every 30 s).
    rig.source.options = replace(rig.source.options, idle_interval=1e-6)
    measured = len(rig.pixels)
    assert measured == 1 and len(rig.screen.whole) == 1
    rig.step()
    rig.step()
    assert len(rig.screen.whole) == 1 and rig.screen.regions == []
    assert rig.pixels == [rig.pixels[0]] * 3  # told each time, the same figures
    rig.paint(Box(100, 60, 300, 200), 200)
    rig.step()
    # Drawn on: grabbed whole and measured anew.
    assert len(rig.screen.whole) == 2 and len(rig.pixels) == 4
    assert rig.pixels[-1] != rig.pixels[0]
    rig.step()
    assert len(rig.screen.whole) == 2 and rig.pixels[-1] == rig.pixels[-2]
    rig.check_composed()


def test_a_dropped_or_failed_frame_keeps_its_damage() -> None:
    lister = StaticWindowLister([])
    vault = VisibleWindow(
        "Passwords.kdbx - KeePassXC", "XTerm", "xterm", Rect(400, 200, 100, 80), focused=True
    )
    rig = Rig(mask_factory=lambda: WindowMasker(lister, Denylist.default()))
    try:
        rig.expected.append(rig.screen.image.copy())
        lister.windows = [vault]  # a denied window has the focus: frames are dropped
        rig.paint(Box(20, 20, 10, 10), 40)
        rig.step()
        assert rig.source.suppressed == 1 and len(rig.frames) == 1
        lister.windows = []
        rig.screen.fail_next = True  # then a grab fails
        rig.paint(Box(300, 100, 10, 10), 50)
        rig.step()
        assert rig.source.errors == 1 and len(rig.frames) == 1
        rig.step()  # both changes, in one region
        assert rig.screen.regions[-1] == Box(0, 20, 384, 90)
        rig.check_composed()
    finally:
        rig.stop()


def test_key_frames_grab_the_whole_screen(rig: Rig) -> None:
    rig.source.request_key_frame()  # a chunk starts: a key frame once something changes
    rig.step()
    assert rig.source.maker.skipped_unchanged == 1 and len(rig.screen.whole) == 1
    rig.paint(Box(50, 50, 4, 4), 60)
    rig.step()
    assert rig.frames[-1].key and len(rig.screen.whole) == 2
    rig.source.request_key_frame(urgent=True)  # forced: even with nothing drawn
    wait_for(lambda: len(rig.frames) == 3, "len(rig.frames) == 3")
    rig.expected.append(rig.screen.image.copy())
    assert rig.frames[-1].key and rig.frames[-1].trigger == "key"
    assert len(rig.pixels) == 3
    rig.check_composed()


def test_large_damage_is_checked_by_pixels_including_regions_stored_since(rig: Rig) -> None:
    before = rig.screen.image.crop((20, 20, 36, 36))
    rig.paint(Box(20, 20, 16, 16), 70)
    rig.step()  # a region, grabbed alone: the line CRCs do not know it
    assert rig.screen.regions == [Box(0, 20, 128, 16)]
    # Back to the pixels the line CRCs were taken from: only the segments know better.
    rig.screen.image.paste(before, (20, 20))
    rig.damage.draw(Box(0, 0, W, H))  # a GL compositor repaints everything...
    rig.paint(Box(500, 300, 10, 10), 80)  # ...where only this changed
    rig.step()
    frame = rig.frames[-1]
    assert len(rig.screen.whole) == 2 and not frame.key
    # The region found by comparing pixels, with the lines of the region stored since.
    assert frame.x <= 20 and frame.y <= 20
    with decode_frame(frame.image, frame.bands) as image:
        assert frame.x + image.width >= 510 and image.width * image.height < W * H
    rig.check_composed()


def test_failing_damage_falls_back_to_comparing_pixels(rig: Rig) -> None:
    rig.paint(Box(30, 30, 10, 10), 90)
    rig.step()
    rig.damage.error = OSError("connection lost")
    rig.paint(Box(200, 200, 10, 10), 100, report=False)
    rig.step()
    assert not rig.source.uses_damage and rig.damage.closed
    assert not rig.frames[-1].key and len(rig.screen.whole) == 2
    rig.step()  # unchanged: compared, skipped
    assert rig.source.maker.skipped_unchanged == 1
    rig.check_composed()


def test_a_window_denied_without_drawing_is_masked_in_the_next_frame() -> None:
    lister = StaticWindowLister([])
    rig = Rig(mask_factory=lambda: WindowMasker(lister, Denylist.default()))
    try:
        rig.expected.append(rig.screen.image.copy())
        vault = Rect(400, 200, 100, 80)
        # Renamed to a denied title: nothing drawn in the window, only elsewhere.
        lister.windows = [VisibleWindow("Passwords.kdbx - KeePassXC", "XTerm", "xterm", vault)]

        def masked(image: Image.Image) -> Image.Image:
            out = image.copy()
            ImageDraw.Draw(out).rectangle(
                (vault.x, vault.y, vault.x + vault.width - 1, vault.y + vault.height - 1),
                fill=(0, 0, 0),
            )
            return out

        rig.paint(Box(10, 10, 6, 6), 110)
        rig.step(masked)
        assert len(rig.screen.whole) == 2  # the mask changed outside the damage
        rig.paint(Box(20, 20, 6, 6), 120)
        rig.step(masked)  # the mask as before: a region alone
        assert rig.screen.regions[-1] == Box(0, 20, 128, 6)
        lister.windows = []  # allowed again: the window must come back
        rig.paint(Box(30, 30, 6, 6), 130)
        rig.step()
        rig.check_composed()
    finally:
        rig.stop()


def test_a_new_screen_size_takes_a_whole_frame(rig: Rig) -> None:
    rig.damage.width = W + 2  # the damage source reports another root size
    rig.step()
    assert len(rig.screen.whole) == 2
    rig.step()
    assert len(rig.screen.whole) == 2 and rig.source.maker.skipped_unchanged == 2
    rig.check_composed()


def test_region_crcs_follow_the_stored_frames() -> None:
    from capture.screen.frame_diff import BAND, ChangeTracker, band_align, crop_bgra

    screen = FakeScreen()

    def bgra() -> bytes:
        return bytes(screen.image.convert("RGBA").tobytes("raw", "BGRA"))

    tracker = ChangeTracker()
    tracker.commit(tracker.compare(W, H, bgra())[1])
    with pytest.raises(ValueError, match="not on segment edges"):
        tracker.compare_region(Box(3, 0, BAND, 4), bgra())  # not on a segment edge
    assert band_align(Box(130, 5, 10, 4), W) == Box(128, 5, BAND, 4)
    assert band_align(Box(600, 5, 10, 4), W) == Box(512, 5, W - 512, 4)
    region = Box(BAND, 10, 2 * BAND, 40)
    assert tracker.compare_region(region, crop_bgra(bgra(), W, region))[0] is None
    before = screen.image.crop((130, 20, 140, 24))
    screen.paint(Box(130, 20, 10, 4), 200)
    box, region_snapshot = tracker.compare_region(region, crop_bgra(bgra(), W, region))
    assert box == Box(BAND, 20, BAND, 4)
    tracker.commit_region(region_snapshot)  # stored: the segments know, the line CRCs do not
    assert tracker.compare(W, H, bgra())[0] is None
    screen.image.paste(before, (130, 20))  # back as it was before the region
    box, snapshot = tracker.compare(W, H, bgra())
    assert box == Box(BAND, 20, BAND, 4)
    tracker.commit(snapshot)
    assert tracker.compare(W, H, bgra()) == (None, None)

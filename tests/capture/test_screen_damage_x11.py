"""Damage-driven frames under a real X server: composed frames equal a fresh grab.

Xvfb + openbox + xterm, driven by xdotool. The screen source uses the real X DAMAGE
source, the real mss grabber and the real window mask; frames are encoded losslessly,
and after every step the frames stored so far, composed by ``storage.compose``, must
equal a whole grab of the screen taken right after (masked the same way): nothing
drawn was missed, and a window that becomes denied without drawing is painted over.
"""

from __future__ import annotations

import io
import time
from typing import Any

import mss
import pytest
from PIL import Image, ImageChops

from capture.backends import window_lister
from capture.events import Frame
from capture.screen.damage import X11Damage
from capture.screen.frame_diff import Box
from capture.screen.frame_maker import RawShot
from capture.screen.mss_source import MssGrabber, ScreenSource
from capture.screen.options import ScreenOptions
from privacy.denylist import Denylist
from privacy.masking import WindowMasker
from storage.compose import full_frames
from storage.writer import frame_record
from tests.conftest import XTerm
from tests.waiting import wait_for
from tests.xserver import XServer

DENIED_TITLE = "Passwords.kdbx - KeePassXC"


class CountingGrabber(MssGrabber):
    """The real grabber, counting whole-screen and region grabs."""

    def __init__(self) -> None:
        super().__init__()
        self.whole = 0
        self.regions: list[Box] = []

    def grab(self) -> RawShot:
        self.whole += 1
        return super().grab()

    def grab_region(self, box: Box) -> RawShot:
        self.regions.append(box)
        return super().grab_region(box)


def fresh_screen(masker: WindowMasker) -> Image.Image:
    """A whole grab now, masked like the source masks (in the test's own connection)."""
    with mss.MSS() as grab:
        shot = grab.grab(grab.monitors[0])
        raw = RawShot(shot.left, shot.top, shot.width, shot.height, shot.raw)
    assert masker(raw), "the test's own mask dropped the screen"
    return Image.frombytes("RGB", (raw.width, raw.height), bytes(raw.bgra), "raw", "BGRX")


@pytest.mark.x11
def test_damage_frames_compose_to_a_fresh_grab_of_the_screen(
    x_server: XServer, xterm: XTerm
) -> None:
    grabbers: list[CountingGrabber] = []

    def make_grabber() -> CountingGrabber:
        grabbers.append(CountingGrabber())
        return grabbers[0]

    denylist = Denylist.default()  # shared by the source's mask and the test's

    def make_mask() -> WindowMasker:
        return WindowMasker(window_lister(), denylist)

    frames: list[Any] = []
    source = ScreenSource(
        ScreenOptions(min_interval=0.05, debounce=0.0, idle_interval=3600.0, encoding="lossless"),
        grabber_factory=make_grabber,
        damage_factory=X11Damage,
        mask_factory=make_mask,
    )
    checker = make_mask()  # the test's own lister and mask, for the expected screens
    expected: list[Image.Image] = []

    def attempts() -> int:
        return source.frames + source.maker.skipped_unchanged + source.suppressed + source.errors

    def step(quiet: float = 0.5) -> None:
        """Let the screen settle, take one frame, and grab the screen as it is now."""
        # Settled: no pixel changed for ``quiet`` seconds (the clients finished drawing).
        # A busy machine draws late: each change restarts the wait, a fixed sleep would not.
        screen, since = fresh_screen(checker), time.monotonic()

        def calm() -> bool:
            nonlocal screen, since
            now = fresh_screen(checker)
            if ImageChops.difference(screen, now).getbbox() is not None:
                screen, since = now, time.monotonic()
                return False
            return time.monotonic() - since >= quiet

        wait_for(calm, "the screen to settle", timeout=30)
        before, stored = attempts(), len(frames)
        source.grab_now("manual")
        wait_for(lambda: attempts() == before + 1, "the grab")
        now = fresh_screen(checker)
        if len(frames) > stored:
            expected.append(now)
        else:  # nothing new stored: the last frame must still be the screen
            assert ImageChops.difference(expected[-1], now).getbbox() is None

    source.start(frames.append)
    try:
        wait_for(lambda: len(frames) == 1, "the start-up frame")
        expected.append(fresh_screen(checker))
        assert source.uses_damage
        grabber = grabbers[0]

        first = xterm("damage-first")
        second = xterm("damage-second")
        x_server.run("xdotool", "windowmove", "--sync", second, "500", "300")
        step()
        x_server.run("xdotool", "windowactivate", "--sync", first)
        step()
        whole = grabber.whole
        x_server.run("xdotool", "type", "--delay", "20", "echo hello damage")
        x_server.run("xdotool", "key", "Return")
        step()
        assert grabber.whole == whole and grabber.regions, "typing: a region alone"
        assert grabber.regions[-1].width * grabber.regions[-1].height < 1280 * 800 // 4

        regions, skipped = len(grabber.regions), source.maker.skipped_unchanged
        for x, y in ((100, 100), (700, 500), (1200, 50), (640, 400)):
            x_server.run("xdotool", "mousemove", str(x), str(y))
        step(quiet=0.2)
        # The pointer is not in the screen's pixels and draws no damage: no grab at all.
        assert (grabber.whole, len(grabber.regions)) == (whole, regions)
        assert source.maker.skipped_unchanged == skipped + 1

        x_server.run("xdotool", "windowmove", "--sync", second, "300", "420")
        step()
        x_server.run("xdotool", "windowactivate", "--sync", second)
        step()
        # The unfocused first window gets a denied title: only its title bar is drawn,
        # yet the whole window must be painted over from this frame on.
        x_server.run("xdotool", "set_window", "--name", DENIED_TITLE, first)
        step()
        x_server.run("xdotool", "set_window", "--name", "damage-first", first)
        step()
        # The person denies the first window: nothing is drawn there, only a character
        # typed into the second, yet the first must be painted over in this frame.
        denylist.add_person([{"titles": ["damage-first"]}])
        whole = grabber.whole
        x_server.run("xdotool", "type", "--delay", "20", "x")
        step()
        assert grabber.whole == whole + 1, "the mask changed outside the damage"
        x_server.run("xdotool", "type", "--delay", "20", "more typing")
        step()
        assert grabber.whole == whole + 1, "the same mask: a region alone"
    finally:
        source.stop()
        checker.close()
    assert source.errors == 0 and source.suppressed == 0 and source.region_grabs >= 3
    assert all(isinstance(f, Frame) for f in frames) and frames[0].key
    records: list[dict[str, Any]] = []
    members: dict[str, bytes] = {}
    for seq, frame in enumerate(frames):
        record, images = frame_record(seq, frame)
        records.append(record)
        members.update(images)
    full = full_frames(records, members)
    assert len(full) == len(frames) == len(expected)
    for record, want in zip(records, expected, strict=True):
        with Image.open(io.BytesIO(full[record["file"]])) as got:
            diff = ImageChops.difference(got.convert("RGB"), want).getbbox()
            assert diff is None, f"frame {record['number']} differs from the screen at {diff}"

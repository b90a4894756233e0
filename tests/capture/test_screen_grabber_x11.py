"""MssGrabber on a real X server: shots read strip by strip, each into a buffer of its own."""

from __future__ import annotations

import mss
import pytest

import capture.screen.mss_source as screen_mss
from capture.screen.frame_diff import Box
from capture.screen.mss_source import MssGrabber
from tests.conftest import XTerm
from tests.xserver import XServer


def _mss_region(left: int, top: int, width: int, height: int) -> bytes:
    with mss.MSS() as one:
        return bytes(one.grab({"left": left, "top": top, "width": width, "height": height}).raw)


@pytest.mark.x11
def test_a_grab_in_strips_is_the_screen_in_one_piece(
    x_server: XServer, xterm: XTerm, monkeypatch: pytest.MonkeyPatch
) -> None:
    xterm("grabber strips")
    # A strip of 37 rows at 1280 wide: many strips, the last one shorter.
    monkeypatch.setattr(screen_mss, "STRIP_BYTES", 37 * 1280 * 4 + 5)
    grabber = MssGrabber()
    try:
        shot = grabber.grab()
        assert (shot.width, shot.height) == (1280, 800)
        assert bytes(shot.bgra) == _mss_region(0, 0, 1280, 800)
        region = grabber.grab_region(Box(128, 40, 384, 90))
        assert (region.left, region.top, region.width, region.height) == (128, 40, 384, 90)
        assert bytes(region.bgra) == _mss_region(128, 40, 384, 90)
    finally:
        grabber.close()


@pytest.mark.x11
def test_each_grab_is_a_writable_buffer_of_its_own(x_server: XServer) -> None:
    # No screen-sized buffer is kept between frames (issue 23): a later grab leaves an
    # earlier shot's pixels as they were, painted over here as the mask would.
    grabber = MssGrabber()
    try:
        first = grabber.grab()
        assert isinstance(first.bgra, memoryview) and not first.bgra.readonly
        painted = b"\xab" * len(first.bgra)
        first.bgra[:] = painted
        region = grabber.grab_region(Box(0, 0, 256, 10))
        again = grabber.grab()
        assert isinstance(region.bgra, memoryview) and isinstance(again.bgra, memoryview)
        assert len(region.bgra) == 256 * 10 * 4
        assert again.bgra.obj is not first.bgra.obj and region.bgra.obj is not again.bgra.obj
        assert bytes(first.bgra) == painted and bytes(again.bgra) != painted
    finally:
        grabber.close()


class _SmallSegmentMss:
    """mss's X11 behaviour that matters here: a shared segment sized to the screen at
    construction, a grab larger than it refused, monitors read once."""

    def __init__(self) -> None:
        self.monitors = [{"left": 0, "top": 0, "width": 160, "height": 100}]
        self.segment = 160 * 100 * 4
        self.requests: list[int] = []

    def grab(self, box: dict[str, int]) -> object:
        size = 4 * box["width"] * box["height"]
        if size > self.segment:
            raise mss.exception.ScreenShotError("Requested capture size exceeds the buffer")
        self.requests.append(size)
        return type("Shot", (), {"raw": bytearray([box["top"] % 251]) * size})()

    def close(self) -> None:
        pass


def test_strips_fit_the_segment_of_a_screen_that_started_small(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mss, "MSS", _SmallSegmentMss)
    grabber = MssGrabber()
    fake = grabber._mss
    assert isinstance(fake, _SmallSegmentMss)
    # The monitors now say the screen is larger than the segment (a grown screen, were
    # they re-read): every strip still fits, and the shot is whole.
    fake.monitors[0] = {"left": 0, "top": 0, "width": 320, "height": 200}
    shot = grabber.grab()
    assert (shot.width, shot.height) == (320, 200)
    assert max(fake.requests) <= fake.segment and sum(fake.requests) == 320 * 200 * 4
    rows = bytes(shot.bgra)
    assert [rows[y * 1280] for y in (0, 49, 50, 199)] == [0, 0, 50, 150]

"""The screen mask: denied windows painted over in every grab, or the frame dropped (no display).

Real parts throughout: the shipped denylist, ``WindowMasker``, the screen source's thread;
only the window lister (``StaticWindowLister``, the fake next to its interface) and the
grabber are stand-ins for the window system.
"""

from __future__ import annotations

import threading

import pytest

from capture.errors import SourceUnavailable
from capture.events import Event, Frame, MouseButton
from capture.screen.frame_maker import RawShot
from capture.screen.mss_source import ScreenSource
from capture.screen.options import ScreenOptions
from capture.window.info import FocusInfo
from capture.window.visible import FocusOnlyLister, Rect, StaticWindowLister, VisibleWindow
from privacy.denylist import Denylist
from privacy.masking import WindowMasker
from tests.waiting import wait_for

WIDTH, HEIGHT = 64, 40
GREY = bytes((90, 120, 150, 255))

EDITOR = VisibleWindow("notes.txt - gedit", "gedit", "gedit", Rect(0, 0, 30, 20), focused=True)
VAULT = VisibleWindow("Passwords.kdbx - KeePassXC", "XTerm", "xterm", Rect(40, 10, 10, 8))


def shot(left: int = 0, top: int = 0) -> RawShot:
    return RawShot(left, top, WIDTH, HEIGHT, bytearray(GREY * (WIDTH * HEIGHT)))


def pixel(s: RawShot, x: int, y: int) -> bytes:
    i = (y * s.width + x) * 4
    return bytes(s.bgra[i : i + 4])


def masker(*windows: VisibleWindow) -> tuple[WindowMasker, StaticWindowLister]:
    lister = StaticWindowLister(windows)
    return WindowMasker(lister, Denylist.default()), lister


def test_an_unfocused_denied_window_is_painted_over_and_nothing_else() -> None:
    mask, _ = masker(EDITOR, VAULT)
    s = shot()
    assert mask(s) is True
    for x, y in ((40, 10), (49, 17), (45, 13)):
        assert pixel(s, x, y) == b"\0\0\0\0"
    for x, y in ((39, 10), (50, 17), (40, 18), (0, 0), (63, 39)):
        assert pixel(s, x, y) == GREY
    assert mask.masked == 1 and mask.dropped == {}


def test_the_mask_follows_the_frame_origin() -> None:
    # The virtual screen starts at x = -20 (a monitor left of the primary one).
    mask, _ = masker(VAULT)
    s = shot(left=-20, top=0)
    assert mask(s) is True
    assert pixel(s, 60, 10) == b"\0\0\0\0" and pixel(s, 59, 10) == GREY


def test_nothing_denied_leaves_the_pixels_alone() -> None:
    mask, _ = masker(EDITOR)
    s = shot()
    assert mask(s) is True
    assert bytes(s.bgra) == GREY * (WIDTH * HEIGHT)
    assert mask.masked == 0


@pytest.mark.parametrize(
    ("windows", "reason"),
    [
        (
            (
                VisibleWindow(
                    "Example Bank - Online Banking", "firefox", None, Rect(0, 0, 9, 9), focused=True
                ),
            ),
            "denied_focused",
        ),
        (
            (EDITOR, VisibleWindow("Passwords.kdbx - KeePassXC", "XTerm", None, None)),
            "unknown_geometry",
        ),
    ],
)
def test_frames_that_cannot_be_masked_are_dropped(
    windows: tuple[VisibleWindow, ...], reason: str
) -> None:
    mask, _ = masker(*windows)
    assert mask(shot()) is False
    assert mask.dropped == {reason: 1}


def test_a_failing_lister_drops_the_frame() -> None:
    mask, lister = masker(EDITOR)
    lister.error = OSError("connection lost")
    assert mask(shot()) is False
    assert mask.dropped == {"error": 1}


@pytest.mark.parametrize("frozen", [GREY * (WIDTH * HEIGHT), memoryview(GREY * (WIDTH * HEIGHT))])
def test_pixels_that_cannot_be_changed_in_place_are_dropped_when_a_mask_is_needed(
    frozen: bytes | memoryview,
) -> None:
    mask, _ = masker(VAULT)
    assert mask(RawShot(0, 0, WIDTH, HEIGHT, frozen)) is False
    assert mask.dropped == {"immutable_pixels": 1}


def test_a_view_of_the_grabbers_buffer_is_masked_in_place() -> None:
    # MssGrabber hands out a memoryview of its buffer, not the bytearray itself.
    buffer = bytearray(GREY * (WIDTH * HEIGHT + 10))
    view = memoryview(buffer)[: WIDTH * HEIGHT * 4]
    mask, _ = masker(VAULT)
    assert mask(RawShot(0, 0, WIDTH, HEIGHT, view)) is True
    assert VAULT.geometry is not None
    x, y = VAULT.geometry.x + 1, VAULT.geometry.y + 1
    assert buffer[(y * WIDTH + x) * 4 : (y * WIDTH + x) * 4 + 4] == bytes(4)
    assert buffer[:4] == GREY


def test_close_closes_the_lister() -> None:
    mask, lister = masker()
    mask.close()
    assert lister.closed


def test_focus_only_lister_reports_the_focused_window_as_focused() -> None:
    focus: list[FocusInfo | None] = [
        FocusInfo("Example Bank - Online Banking", "Safari", None, 5, 6, 70, 80)
    ]
    lister = FocusOnlyLister(lambda: focus[0])
    assert not lister.complete
    assert lister.list_windows() == [
        VisibleWindow(
            "Example Bank - Online Banking", "Safari", None, Rect(5, 6, 70, 80), focused=True
        )
    ]
    mask = WindowMasker(lister, Denylist.default())
    assert mask(shot()) is False  # a denied window has the focus
    focus[0] = FocusInfo("notes", "TextEdit")  # bounds unknown, not denied
    assert lister.list_windows()[0].geometry is None
    assert mask(shot()) is True
    focus[0] = None
    assert lister.list_windows() == []


# -- the screen source's hook ----------------------------------------------------------------


class ChangingGrabber:
    """A grabber whose every shot has new pixels (so none is skipped as unchanged)."""

    def __init__(self) -> None:
        self.shots: list[RawShot] = []
        self.closed = threading.Event()

    def grab(self) -> RawShot:
        pixels = bytearray(GREY * (WIDTH * HEIGHT))
        pixels[0] = len(self.shots) % 256
        s = RawShot(0, 0, WIDTH, HEIGHT, pixels)
        self.shots.append(s)
        return s

    def close(self) -> None:
        self.closed.set()


def click() -> MouseButton:
    return MouseButton(ts=0.0, mono=0.0, x=1, y=1, button="left", pressed=True)


def test_the_source_masks_every_grab_before_encoding_and_drops_what_it_must() -> None:
    grabber = ChangingGrabber()
    lister = StaticWindowLister([EDITOR, VAULT])
    made: list[WindowMasker] = []

    def make_mask() -> WindowMasker:
        made.append(WindowMasker(lister, Denylist.default()))
        return made[0]

    out: list[Event] = []
    source = ScreenSource(
        ScreenOptions(min_interval=0.05, debounce=0.0),
        grabber_factory=lambda: grabber,
        mask_factory=make_mask,
    )
    source.start(out.append)
    try:
        wait_for(lambda: len(out) == 1, "len(out) == 1")  # the start-up frame, masked
        assert pixel(grabber.shots[0], 45, 13) == b"\0\0\0\0"
        lister.windows = [VisibleWindow(VAULT.title, VAULT.app, None, VAULT.geometry, focused=True)]
        source.on_stored(click())
        wait_for(lambda: source.suppressed == 1, "source.suppressed == 1")
        lister.windows = [EDITOR]
        source.on_stored(click())
        wait_for(lambda: len(out) == 2, "len(out) == 2")
    finally:
        source.stop()
    assert all(isinstance(f, Frame) for f in out) and source.frames == 2
    assert made[0].dropped == {"denied_focused": 1} and made[0].masked == 1
    assert lister.calls == 3 and lister.closed and grabber.closed.is_set()


def test_a_mask_that_cannot_be_made_keeps_the_source_from_starting() -> None:
    grabber = ChangingGrabber()

    def no_windows() -> WindowMasker:
        raise SourceUnavailable("screen", "cannot open the X display to list windows")

    source = ScreenSource(grabber_factory=lambda: grabber, mask_factory=no_windows)
    with pytest.raises(SourceUnavailable, match="cannot list the windows on screen"):
        source.start(lambda event: None)
    assert grabber.closed.is_set() and grabber.shots == []

"""When the screen source takes frames, and what it does with the pixels (no display)."""

from __future__ import annotations

import threading
from io import BytesIO

import pytest
from PIL import Image

from capture.events import Event, Frame, Key, MouseButton, MouseMove, Scroll, Window
from capture.screen.frame_encoder import FrameEncoder
from capture.screen.frame_maker import FrameMaker, RawShot
from capture.screen.mss_source import ScreenSource
from capture.screen.options import ScreenOptions
from capture.screen.policy import FramePolicy
from tests.waiting import wait_for

OPTS = ScreenOptions(
    debounce=0.3, typing_gap=0.7, max_wait=5.0, min_interval=1.0, idle_interval=30.0
)


def _key(pressed: bool = True) -> Key:
    return Key(ts=0.0, mono=0.0, key="a", pressed=pressed, char="a")


def _click(pressed: bool = True) -> MouseButton:
    return MouseButton(ts=0.0, mono=0.0, x=1, y=2, button="left", pressed=pressed)


def _window() -> Window:
    return Window(ts=0.0, mono=0.0, title="t", app="A")


def _started(now: float = 0.0) -> FramePolicy:
    """A policy that has just taken its start-up (idle) frame at ``now``."""
    policy = FramePolicy(OPTS)
    assert policy.poll(now) == ("idle", 0.0)
    return policy


def test_first_poll_takes_a_frame_at_once() -> None:
    assert FramePolicy(OPTS).poll(1000.0) == ("idle", 0.0)


def test_click_frame_after_debounce() -> None:
    policy = _started()
    assert policy.notice(_click(), now=5.0) is True
    trigger, wait = policy.poll(5.1)
    assert trigger is None and wait == pytest.approx(0.2)
    assert policy.poll(5.3) == ("click", 0.0)
    assert policy.poll(5.4)[0] is None  # consumed


def test_releases_and_moves_do_not_trigger() -> None:
    policy = _started()
    for event in (_click(pressed=False), MouseMove(0.0, 0.0, 1, 1)):
        assert policy.notice(event, now=5.0) is False
    trigger, wait = policy.poll(5.5)
    assert trigger is None and wait == pytest.approx(24.5)  # only the idle fallback remains


def test_a_frame_follows_scrolling_once_it_stops() -> None:
    policy = _started()
    for i in range(5):  # wheel steps 0.1 s apart push the frame back
        policy.notice(Scroll(0.0, 0.0, 1, 1, 0, 1), now=5.0 + i * 0.1)
    assert policy.poll(5.4 + OPTS.debounce - 0.01)[0] is None
    assert policy.poll(5.4 + OPTS.debounce) == ("scroll", 0.0)


def test_typing_does_not_put_off_the_frame_of_a_window_change() -> None:
    policy = _started()
    policy.notice(_window(), now=5.0)
    for now in (5.05, 5.15, 5.25):  # typing into the window just focused
        policy.notice(_key(), now=now)
    assert policy.poll(5.0 + OPTS.debounce) == ("window", 0.0)
    policy.notice(_key(), now=6.5)  # the keys after it get their own frame
    assert policy.poll(6.5 + OPTS.typing_gap) == ("typing", 0.0)


def test_typing_frame_after_the_burst_ends() -> None:
    policy = _started()
    for i in range(10):  # a key every 0.2 s keeps pushing the frame back
        policy.notice(_key(), now=5.0 + i * 0.2)
        assert policy.poll(5.0 + i * 0.2 + 0.1)[0] is None
    last = 5.0 + 9 * 0.2
    assert policy.poll(last + 0.69)[0] is None
    assert policy.poll(last + 0.7) == ("typing", 0.0)


def test_continuous_activity_still_gets_a_frame_after_max_wait() -> None:
    policy = _started()
    now = 5.0
    while now < 5.0 + OPTS.max_wait:
        policy.notice(_key(), now=now)
        now += 0.1
    assert policy.poll(5.0 + OPTS.max_wait) == ("typing", 0.0)


def test_window_trigger_and_latest_trigger_names_the_frame() -> None:
    policy = _started()
    policy.notice(_click(), now=5.0)
    policy.notice(_window(), now=5.1)
    assert policy.poll(5.35)[0] is None  # pushed back by the window change
    assert policy.poll(5.4) == ("window", 0.0)


def test_rate_cap_between_grabs() -> None:
    policy = _started(now=10.0)
    policy.notice(_click(), now=10.0)
    trigger, wait = policy.poll(10.3)
    assert trigger is None and wait == pytest.approx(0.7)  # capped by min_interval
    assert policy.poll(11.0) == ("click", 0.0)


def test_idle_fallback_without_events() -> None:
    policy = _started(now=0.0)
    trigger, wait = policy.poll(1.0)
    assert trigger is None and wait == pytest.approx(29.0)
    assert policy.poll(30.0) == ("idle", 0.0)


def test_earlier_trigger_asks_the_thread_to_wake() -> None:
    policy = _started()
    assert policy.notice(_key(), now=5.0) is True  # due 5.7
    assert policy.notice(_click(), now=5.1) is True  # due 5.4: earlier
    assert policy.notice(_key(), now=5.2) is False  # due 5.9: later, no wake needed


def test_request_ignores_debounce_but_not_rate_cap() -> None:
    policy = _started(now=0.0)
    policy.request("manual", now=0.5)
    assert policy.poll(0.5)[0] is None
    assert policy.poll(1.0) == ("manual", 0.0)


def _shot(color: int, width: int = 64, height: int = 40) -> RawShot:
    pixel = bytes((color, 128, 255 - color, 255))
    return RawShot(left=0, top=0, width=width, height=height, bgra=pixel * (width * height))


def test_unchanged_screen_is_skipped_and_changed_one_encoded() -> None:
    maker = FrameMaker(FrameEncoder(encoding="lossy"))
    first = maker.make(_shot(10), "click", ts=1.0, mono=2.0)
    assert isinstance(first, Frame)
    assert maker.make(_shot(10), "idle", ts=1.5, mono=2.5) is None
    assert maker.skipped_unchanged == 1
    second = maker.make(_shot(200), "typing", ts=3.0, mono=4.0)
    assert isinstance(second, Frame) and second.trigger == "typing"
    image = Image.open(BytesIO(second.image))
    assert image.format == "WEBP" and image.size == (64, 40)
    red, green, blue = image.convert("RGB").getpixel((5, 5))  # type: ignore[misc]
    # BGRA (200, 128, 55) is RGB (55, 128, 200); lossy, so approximately.
    assert abs(red - 55) < 12 and abs(green - 128) < 12 and abs(blue - 200) < 12


class FakeGrabber:
    """Returns a fixed shot, alternating colour on demand; records close()."""

    def __init__(self) -> None:
        self.color = 0
        self.closed = threading.Event()

    def grab(self) -> RawShot:
        return _shot(self.color)

    def close(self) -> None:
        self.closed.set()


def test_source_thread_emits_frames_and_stops() -> None:
    grabber = FakeGrabber()
    out: list[Event] = []
    source = ScreenSource(
        ScreenOptions(min_interval=0.1, debounce=0.0), grabber_factory=lambda: grabber
    )
    source.start(out.append)
    try:
        wait_for(lambda: len(out) == 1, "len(out) == 1")  # the start-up frame
        grabber.color = 99
        source.on_stored(_click())
        wait_for(lambda: len(out) == 2, "len(out) == 2")
        source.grab_now()  # unchanged pixels: skipped, not emitted
        wait_for(lambda: source.maker.skipped_unchanged == 1, "source.maker.skipped_unchanged == 1")
    finally:
        source.stop()
    assert grabber.closed.is_set()
    assert [f.trigger for f in out] == ["idle", "click"]  # type: ignore[union-attr]
    assert source.frames == 2


def test_source_reports_a_grabber_that_cannot_start() -> None:
    from capture.errors import SourceUnavailable

    def broken() -> FakeGrabber:
        raise OSError("no screen")

    source = ScreenSource(grabber_factory=broken)
    with pytest.raises(SourceUnavailable, match="cannot open the screen"):
        source.start(lambda event: None)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="webp_quality must be between 0 and 100"):
        ScreenOptions(webp_quality=101)
    with pytest.raises(ValueError, match="min_interval and idle_interval must be positive"):
        ScreenOptions(min_interval=0)
    assert ScreenSource(ScreenOptions(webp_quality=70)).options.webp_quality == 70


def _press(key: str, char: str | None = None, mono: float = 0.0, pressed: bool = True) -> Key:
    return Key(ts=0.0, mono=mono, key=key, pressed=pressed, char=char)


def test_an_action_start_is_grabbed_at_once_when_damage_is_reported() -> None:
    policy = _started()
    assert policy.notice_input(_click(), now=5.0) is False
    assert policy.notice(_click(), now=5.0) is True
    assert policy.poll(5.0)[0] is None  # without damage reports: only the debounced frame
    policy = _started()
    policy.at_action_start = True
    assert policy.notice_input(_click(), now=5.0) is True
    policy.notice(_click(), now=5.0)  # stored later: the debounced frame only
    assert policy.poll(5.0) == ("action", 0.0)  # inside the rate cap's second: still at once
    assert policy.action_fresh is True  # a press may be grabbed anew (apps act on release)
    assert policy.poll(5.1)[0] is None
    assert policy.poll(5.3) == ("click", 0.0)  # the settled frame is not moved by it
    policy.notice_input(_click(pressed=False), now=5.4)
    assert policy.poll(5.4) == ("hold", 0.0)
    # ctrl starts a shortcut and draws nothing: grabbed at once, before the shortcut's key.
    ctrl = _press("ctrl_l", mono=12.0)
    assert policy.notice_input(ctrl, now=12.0) is True
    assert policy.poll(12.0) == ("action", 0.0)
    assert policy.action_since == 12.0 and policy.action_fresh is True
    policy.notice_input(ctrl, now=12.5)  # held down: auto-repeat is no new shortcut
    assert policy.poll(12.5)[0] != "action"
    assert policy.notice_input(_press("c", "c"), now=12.55) is False  # the shortcut's key
    policy.notice_input(_press("c", "c", pressed=False), now=12.58)
    policy.notice_input(_press("ctrl_l", pressed=False), now=12.6)
    assert policy.poll(12.6) == ("hold", 0.0)
    assert policy.notice_input(ctrl, now=14.0) is True  # released and pressed again
    assert policy.poll(14.0) == ("action", 0.0)


def test_releases_hold_and_the_next_action_start_may_store_the_hold() -> None:
    """Issue 22: the observation of Enter (or a click) after typing is a hold grabbed at
    the last release, so every release asks for one; the press that begins an action
    (the first character of a run, Enter, a click, the first wheel step) asks for the
    hold to be stored; a character within a run, shift and the shortcut's key do not."""
    policy = _started()
    policy.at_action_start = True
    assert policy.notice_input(_press("a", "a", mono=3.0), now=3.0) is True  # a run starts
    assert policy.poll(3.0) == ("action", 0.0)
    assert policy.action_since == 3.0 and policy.action_fresh is False  # held only
    assert policy.notice_input(_press("a", "a", pressed=False), now=3.05) is True
    assert policy.poll(3.05) == ("hold", 0.0)
    assert policy.notice_input(_press("shift_l"), now=3.1) is False
    assert policy.notice_input(_press("b", "B"), now=3.12) is False  # the run goes on
    assert policy.poll(3.12)[0] is None
    policy.notice_input(_press("b", "B", pressed=False), now=3.15)
    # Enter pressed before the release's hold was taken: that hold would be grabbed
    # after the press, so it is not taken; the action is.
    assert policy.notice_input(_press("enter", mono=3.2), now=3.2) is True
    assert policy.poll(3.2) == ("action", 0.0)
    assert policy.action_since == 3.2 and policy.action_fresh is False
    assert policy.poll(3.2)[0] is None
    policy.notice_input(_press("enter", pressed=False), now=3.25)
    assert policy.poll(3.25) == ("hold", 0.0)
    assert policy.notice_input(_press("c", "c", mono=3.5), now=3.5) is True  # a new run
    assert policy.poll(3.5) == ("action", 0.0)
    wheel = Scroll(ts=0.0, mono=4.0, x=1, y=2, dx=0, dy=-1)
    assert policy.notice_input(wheel, now=4.0) is True
    assert policy.poll(4.0) == ("action", 0.0)
    policy.notice_input(wheel, now=4.1)  # the same scroll: its frame put off, no action
    assert policy.poll(4.1)[0] is None
    assert policy.notice_input(_click(pressed=False), now=4.5) is True
    assert policy.poll(4.5) == ("hold", 0.0)
    # A key released while a button is down: no hold (it would be taken for the
    # press's own start grab); the button's release holds.
    policy.notice_input(_click(), now=5.0)
    assert policy.poll(5.0) == ("action", 0.0)
    assert policy.notice_input(_press("a", "a", pressed=False), now=5.1) is False
    assert policy.poll(5.1)[0] is None
    assert policy.notice_input(_click(pressed=False), now=5.2) is True
    assert policy.poll(5.2) == ("hold", 0.0)


def test_a_window_change_is_grabbed_once_drawing_settles_within_the_debounce() -> None:
    from capture.screen.policy import SETTLE

    policy = _started()
    policy.at_action_start = True
    assert policy.notice_input(_window(), now=5.0) is True
    trigger, wait = policy.poll(5.0)
    assert trigger is None and wait == pytest.approx(SETTLE)
    assert policy.poll(5.0 + SETTLE) == ("settle", 0.0)
    policy.settle_later(5.0 + SETTLE)  # still drawing: look again
    assert policy.poll(5.0 + 2 * SETTLE) == ("settle", 0.0)
    policy.settle_later(5.0 + OPTS.debounce)  # the debounced frame is due by then
    assert policy.poll(5.0 + OPTS.debounce + SETTLE) == ("window", 0.0)
    # Armed as it happened: stored a pipeline tick later, it does not put the frame off.
    assert policy.notice(_window(), now=5.2) is False
    assert policy.notice(_window(), now=7.0) is True  # a change not told as it happened
    # A key pressed before the new window was grabbed: a grab now would show its echo.
    policy.notice_input(_window(), now=8.0)
    policy.notice_input(_press("x", "x", mono=8.01), now=8.01)
    assert policy.poll(8.01) == ("action", 0.0)
    assert policy.poll(8.0 + SETTLE)[0] is None


def test_frames_after_clicks_wheels_and_switches_are_armed_as_they_happen() -> None:
    """A wheel step stored a pipeline tick late must not put the frame of the window
    switched to after it past the typing that follows (issue 22)."""
    policy = _started()
    policy.at_action_start = True
    wheel = Scroll(ts=0.0, mono=10.0, x=1, y=2, dx=0, dy=-1)
    policy.notice_input(wheel, now=10.0)
    assert policy.poll(10.0) == ("action", 0.0)
    policy.notice_input(_window(), now=10.5)
    assert policy.notice(wheel, now=10.6) is False  # the same step, stored: armed already
    assert policy.notice(_window(), now=10.7) is False
    assert policy.poll(10.52) == ("settle", 0.0)  # the new window held once drawn
    assert policy.poll(10.5 + OPTS.debounce) == ("window", 0.0)


def test_after_a_release_drawing_is_looked_at_until_the_rate_cap_has_passed() -> None:
    """An effect drawn after a button's (or Enter's) release is held once drawing pauses:
    looked at ``SETTLE`` after the release, every ``SETTLE`` while drawing goes on, then
    after twice the last wait each time, until ``min_interval`` (the longest the rate cap
    can put the action's own frame off). A character's release does not start it (its
    echo is drawn at the press), and the next action's start ends it."""
    from capture.screen.policy import SETTLE

    policy = _started()
    policy.at_action_start = True
    policy.notice_input(_click(), now=5.0)
    assert policy.poll(5.0) == ("action", 0.0)
    assert policy.notice_input(_click(pressed=False), now=5.1) is True
    assert policy.poll(5.1) == ("hold", 0.0)
    assert policy.poll(5.1)[1] == pytest.approx(SETTLE)
    assert policy.poll(5.1 + SETTLE) == ("settle", 0.0)
    policy.settle_later(5.1 + SETTLE)  # still drawing
    t = 5.1 + 2 * SETTLE
    assert policy.poll(t) == ("settle", 0.0)
    policy.settled(t)  # drawing paused: held, then looked at again ever later
    last, looks = t, []
    while True:
        trigger, wait = policy.poll(t)
        if trigger is None:
            if t + wait > 5.1 + OPTS.min_interval:
                break
            t += wait
        elif trigger == "settle":
            looks.append(round(t - last, 3))
            last = t
            policy.settled(t)
        else:
            assert trigger == "click"  # the click's own frame, due meanwhile
    assert looks == [0.04, 0.08, 0.16, 0.32]  # then 0.64 would pass the rate cap
    # Enter's release starts it too; a character's does not.
    policy.notice_input(_press("enter", mono=8.0), now=8.0)
    assert policy.poll(8.0) == ("action", 0.0)
    policy.notice_input(_press("enter", pressed=False), now=8.1)
    assert policy.poll(8.1) == ("hold", 0.0)
    assert policy.poll(8.1 + SETTLE) == ("settle", 0.0)
    policy.notice_input(_press("a", "a", mono=9.0), now=9.0)
    assert policy.poll(9.0) == ("action", 0.0)
    policy.notice_input(_press("a", "a", pressed=False), now=9.1)
    assert policy.poll(9.1) == ("hold", 0.0)
    assert policy.poll(9.1 + SETTLE)[0] is None
    # A press ends the looking: what it draws is its own effect.
    policy.notice_input(_click(pressed=False), now=10.0)
    assert policy.poll(10.0) == ("hold", 0.0)
    policy.notice_input(_click(), now=10.01)
    assert policy.poll(10.01) == ("action", 0.0)
    assert policy.poll(10.0 + SETTLE)[0] is None


def test_a_frame_asked_for_now_is_taken_outside_the_rate_cap() -> None:
    """The whole frame the stored frames' chain needs (a frame was dropped after the
    source took it as stored) is taken at the next poll, not a rate cap away, and the
    frame already pending keeps its time."""
    policy = _started(now=10.0)
    policy.notice(_click(), now=10.1)  # its frame: due at 10.4, capped to 11.0
    policy.request_now("key")
    assert policy.poll(10.2) == ("key", 0.0)
    assert policy.poll(10.2)[0] is None
    assert policy.poll(11.0) == ("click", 0.0)

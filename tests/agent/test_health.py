"""Silent-failure checks: black frames, dead input hooks, a writer that stopped sealing."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw

from agent.runtime.health import (
    HealthTracker,
    check_frames,
    check_input,
    check_writer,
    frame_problem,
    pixel_stats,
    screen_changed,
)
from capture.screen.pixel_stats import PixelStats, measure_bgra


def webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=50)
    return out.getvalue()


def desktop(seed: int = 0) -> bytes:
    """A frame that looks like a desktop: a background, windows, lines of text."""
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 200), (40, 90, 140))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(0, 200), rng.randrange(0, 120)
        draw.rectangle((x, y, x + 110, y + 70), fill=(235, 235, 235), outline=(0, 0, 0))
        for line in range(5):
            draw.line(
                (x + 5, y + 8 + line * 12, x + rng.randrange(40, 100), y + 8 + line * 12),
                fill=(20, 20, 20),
                width=2,
            )
    return webp(image)


BLACK = webp(Image.new("RGB", (320, 200), (0, 0, 0)))
WHITE = webp(Image.new("RGB", (320, 200), (255, 255, 255)))


def test_pixel_stats_tell_black_blank_and_real_frames_apart() -> None:
    assert frame_problem(pixel_stats(BLACK)) == "black"
    assert frame_problem(pixel_stats(WHITE)) == "blank"
    assert frame_problem(pixel_stats(desktop())) is None


def test_pixel_stats_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a decodable image"):
        pixel_stats(b"not an image")


def test_check_frames_needs_several_uniform_frames_in_a_row() -> None:
    black, real = pixel_stats(BLACK), pixel_stats(desktop())
    assert check_frames([black, black]) is None  # too few to judge
    assert check_frames([black, real, black]) is None
    reason = check_frames([real, black, black, black])
    assert reason is not None and "black frames" in reason and "Screen Recording" in reason
    mixed = check_frames([black, pixel_stats(WHITE), black])
    assert mixed is not None and "blank frames" in mixed


def test_screen_changed_compares_thumbnails() -> None:
    a, b = pixel_stats(desktop(1)), pixel_stats(desktop(2))
    assert screen_changed(a, b)
    assert not screen_changed(a, pixel_stats(desktop(1)))
    # Without thumbnails, the mean and spread decide.
    assert screen_changed(PixelStats(10, 5), PixelStats(100, 5))
    assert not screen_changed(PixelStats(10, 5), PixelStats(11, 5))


def test_check_input_flags_dead_hooks_only_while_the_screen_changes() -> None:
    # Quiet, but the screen did not change: the person is away, not a failure.
    assert check_input(1000.0, 100.0, 0.0, screen_changes_since_input=0) is None
    # The screen changes, but input arrived recently.
    assert check_input(1000.0, 900.0, 0.0, screen_changes_since_input=50) is None
    reason = check_input(1000.0, 100.0, 0.0, screen_changes_since_input=6)
    assert reason is not None and "900 s" in reason and "6 times" in reason
    # Never any input since the hooks started 400 s ago.
    assert check_input(1000.0, None, 600.0, screen_changes_since_input=6) is not None
    # Hooks restarted recently (resume): the stall clock restarted too.
    assert check_input(1000.0, 100.0, 900.0, screen_changes_since_input=6) is None


def test_check_writer_flags_a_stuck_writer_with_pending_events() -> None:
    assert check_writer(1000.0, 950.0, 950.0, pending_events=10, chunk_seconds=30) is None
    assert check_writer(1000.0, 100.0, 100.0, pending_events=0, chunk_seconds=30) is None
    reason = check_writer(1000.0, 100.0, 100.0, pending_events=12, chunk_seconds=30)
    assert reason is not None and "900 s" in reason and "12 events" in reason
    # A long quiet gap after the last seal is fine: the open chunk began recently.
    assert check_writer(1000.0, 100.0, 990.0, pending_events=3, chunk_seconds=30) is None
    # Never sealed: measured from when the open chunk began.
    assert check_writer(1000.0, None, 0.0, pending_events=3, chunk_seconds=30) is not None
    assert check_writer(1000.0, None, 950.0, pending_events=3, chunk_seconds=30) is None


def test_tracker_reports_each_failure_and_recovers() -> None:
    tracker = HealthTracker(started_ts=0.0, chunk_seconds=30)
    tracker.input_started(0.0)
    tracker.on_input(1.0)
    tracker.on_writer(None, 1.0)  # the open chunk's first event
    for i in range(3):
        tracker.on_frame(2.0 + i, pixel_stats(desktop(i)))
    assert tracker.problems(now=10.0, pending_events=5) == []

    for i in range(3):
        tracker.on_frame(5.0 + i, pixel_stats(BLACK))
    assert any("black frames" in p for p in tracker.problems(now=10.0, pending_events=5))
    tracker.on_frame(9.0, pixel_stats(desktop(9)))
    assert tracker.problems(now=10.0, pending_events=5) == []

    # The screen keeps changing for six minutes, no input arrives, nothing is sealed.
    for i in range(8):
        tracker.on_frame(20.0 + i * 40, pixel_stats(desktop(100 + i)))
    problems = tracker.problems(now=400.0, pending_events=5)
    assert len(problems) == 2
    assert "input hooks" in problems[0] and "no chunk sealed" in problems[1]

    tracker.on_input(401.0)
    tracker.on_writer(401.0, None)  # sealed; the new chunk is empty
    assert tracker.problems(now=402.0, pending_events=0) == []

    # A pause tears the hooks down on purpose: silence is then expected.
    tracker.capture_stopped()
    for i in range(8):
        tracker.on_frame(500.0 + i * 40, pixel_stats(desktop(200 + i)))
    assert tracker.problems(now=900.0, pending_events=0) == []


def bgra_of(encoded: bytes) -> tuple[int, int, bytes]:
    """Raw BGRA pixels of an encoded frame, as a screen grabber hands them over."""
    with Image.open(io.BytesIO(encoded)) as opened:
        rgb = opened.convert("RGB")
    r, g, b = rgb.split()
    alpha = Image.new("L", rgb.size, 255)
    return rgb.width, rgb.height, Image.merge("RGBA", (b, g, r, alpha)).tobytes()


def test_raw_grab_statistics_match_the_decoded_frame_verdicts() -> None:
    # measure_bgra samples the raw grab (no decode): same verdicts as the decoded frame.
    assert frame_problem(measure_bgra(*bgra_of(BLACK))) == "black"
    assert frame_problem(measure_bgra(*bgra_of(WHITE))) == "blank"
    real = measure_bgra(*bgra_of(desktop(3)))
    assert frame_problem(real) is None
    assert abs(real.mean - pixel_stats(desktop(3)).mean) < 8
    assert screen_changed(real, measure_bgra(*bgra_of(desktop(4))))
    # Blue must not be read as red: a pure-blue screen is dark, a pure-red one brighter.
    blue = Image.new("RGB", (64, 64), (0, 0, 255))
    red = Image.new("RGB", (64, 64), (255, 0, 0))
    assert measure_bgra(*bgra_of(webp(blue))).mean < measure_bgra(*bgra_of(webp(red))).mean


def test_raw_grab_statistics_refuse_a_short_buffer() -> None:
    with pytest.raises(ValueError, match="smaller than its stated size"):
        measure_bgra(100, 100, bytes(10))

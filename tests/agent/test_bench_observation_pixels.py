"""``bench.observation_pixels``: is a stale observation's frame what the screen showed?"""

from __future__ import annotations

from PIL import Image, ImageDraw

from bench.observation_pixels import MARGIN, Draw, Grab, grab_before, pixel_verdict
from bench.screen_changes import draw_times

CURSOR = (40, 20, 8, 16)  # x, y, width, height of a terminal's cursor cell


def screen(dialog: bool = False, size: tuple[int, int] = (200, 100)) -> Image.Image:
    """A synthetic screen: a grey desktop, a cursor cell, and a dialog if asked."""
    image = Image.new("RGB", size, (90, 90, 90))
    draw = ImageDraw.Draw(image)
    x, y, w, h = CURSOR
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=(0, 0, 0))
    if dialog:
        draw.rectangle((100, 50, 179, 89), fill=(250, 250, 250))
    return image


def test_a_redraw_that_changed_no_pixel_is_not_stale_and_any_change_in_a_box_is() -> None:
    frame, grab = screen(), Grab.of(5.0, 5.004, screen(dialog=True))
    redrawn = [Draw(2.0, 128, CURSOR)]
    assert pixel_verdict(frame, (0, 0), redrawn, grab) == "same_pixels"
    # The dialog's box: its pixels in the frame are the desktop's, in the grab white.
    opened = [Draw(2.0, 128, CURSOR), Draw(3.0, 3_200, (100, 50, 80, 40))]
    assert pixel_verdict(frame, (0, 0), opened, grab) == "pixels_differ"
    # One changed pixel at a box's last row and column is enough.
    grab_one = screen()
    grab_one.putpixel((47, 35), (1, 0, 0))
    assert pixel_verdict(frame, (0, 0), redrawn, Grab.of(5.0, 5.004, grab_one)) == "pixels_differ"


def test_only_the_drawn_boxes_are_compared() -> None:
    # The dialog is in the grab but nothing was drawn there after the frame (it was
    # already on screen, masked in the stored frame, say): the cursor box decides.
    grab = Grab.of(5.0, 5.004, screen(dialog=True))
    assert pixel_verdict(screen(), (0, 0), [Draw(2.0, 128, CURSOR)], grab) == "same_pixels"


def test_the_frame_is_placed_at_its_origin_on_the_screen() -> None:
    # A frame of the right monitor (origin 200, 0) against a grab of the whole desktop.
    desktop = Image.new("RGB", (400, 100), (10, 10, 10))
    desktop.paste(screen(), (200, 0))
    x, y, w, h = CURSOR
    drawn = [Draw(2.0, 128, (200 + x, y, w, h))]
    grab = Grab.of(5.0, 5.004, desktop)
    assert pixel_verdict(screen(), (200, 0), drawn, grab) == "same_pixels"
    assert pixel_verdict(screen(), (0, 0), drawn, grab) == "outside_frame"
    assert pixel_verdict(screen(), (100, 0), drawn, grab) == "pixels_differ"


def test_what_the_grab_cannot_vouch_for_counts_as_stale() -> None:
    frame = screen()
    grab = Grab.of(5.0, 5.004, screen())
    cursor = Draw(2.0, 128, CURSOR)
    assert pixel_verdict(frame, (0, 0), [cursor], None) == "no_grab"
    assert pixel_verdict(None, (0, 0), [cursor], grab) == "no_frame"
    assert pixel_verdict(frame, (0, 0), [Draw(2.0, 128)], grab) == "no_box"
    # A draw after the grab began, or so close before it that its whole millisecond
    # may lie after: the grab may not show it, whatever the pixels say.
    for late in (5.0 - MARGIN, 5.002, 5.010):
        assert pixel_verdict(frame, (0, 0), [cursor, Draw(late, 128, CURSOR)], grab) == (
            "drawn_after_grab"
        )
    assert pixel_verdict(frame, (0, 0), [Draw(5.0 - 2 * MARGIN, 128, CURSOR)], grab) == (
        "same_pixels"
    )
    wide = Draw(2.0, 128, (196, 0, 8, 8))  # past the screen's right edge
    assert pixel_verdict(frame, (0, 0), [wide], grab) == "outside_frame"


def test_an_action_is_checked_against_the_last_grab_begun_before_it() -> None:
    grabs = [Grab.of(t, t + 0.004, screen()) for t in (1.0, 2.0, 3.0)]
    assert grab_before(grabs, 0.5) is None
    assert grab_before(grabs, 2.003) is grabs[1]
    assert grab_before(grabs, 2.0) is grabs[0]  # begun at the action: not before it
    assert grab_before(grabs, 9.0) is grabs[2]


def test_mss_pixels_are_read_in_their_byte_order() -> None:
    # mss grabs blue, green, red, padding: a red pixel must read back red.
    raw = bytes([0, 0, 255, 0, 255, 0, 0, 0])  # red, then blue
    import zlib

    grab = Grab(1.0, 1.004, (2, 1), zlib.compress(raw), "BGRX")
    image = grab.image()
    assert [image.getpixel((0, 0)), image.getpixel((1, 0))] == [(255, 0, 0), (0, 0, 255)]


def test_draws_keep_their_boxes_in_time_order() -> None:
    # Two reads of one server millisecond clock: the smaller gap maps the times.
    draws = draw_times([(2_000, 10.0009, (0, 0, 4, 4)), (1_000, 9.0002, (5, 6, 7, 8))])
    assert [d.box for d in draws] == [(5, 6, 7, 8), (0, 0, 4, 4)]
    assert [d.area for d in draws] == [56, 16]
    assert abs(draws[0].t - 9.0002) < 1e-9 and abs(draws[1].t - 10.0002) < 1e-9

"""Screen masking: denied windows painted solid, frames dropped when masking is impossible."""

from __future__ import annotations

from PIL import Image

from privacy.denylist import Denylist
from privacy.masking import (
    Rect,
    VisibleWindow,
    denied_windows,
    mask_image,
    mask_pixels,
    must_drop,
)

BANK = VisibleWindow("Online Banking - Firefox", "firefox", None, Rect(10, 10, 20, 10))


def test_denied_windows_picks_only_covered_ones() -> None:
    editor = VisibleWindow("notes.txt - gedit", "gedit", None, Rect(0, 0, 50, 50), focused=True)
    assert denied_windows([editor, BANK], Denylist.default()) == [BANK]


def test_mask_image_paints_a_solid_rectangle_and_nothing_else() -> None:
    image = Image.new("RGB", (64, 48), (200, 100, 50))
    out = mask_image(image, [BANK])
    assert out is not None
    region = out.crop((10, 10, 30, 20))
    assert region.getcolors() == [(200, (0, 0, 0))]
    assert out.getpixel((9, 9)) == (200, 100, 50)
    assert out.getpixel((30, 20)) == (200, 100, 50)


def test_mask_uses_the_frame_offset_and_clips_to_the_image() -> None:
    # A monitor left of the primary one: the frame starts at x = -100.
    image = Image.new("RGB", (200, 50), (255, 255, 255))
    window = VisibleWindow("Signal", "Signal", None, Rect(-110, 0, 20, 50))
    out = mask_image(image, [window], left=-100, top=0)
    assert out is not None
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((9, 49)) == (0, 0, 0)
    assert out.getpixel((10, 0)) == (255, 255, 255)


def test_unknown_geometry_or_focused_denied_window_drops_the_frame() -> None:
    image = Image.new("RGB", (8, 8))
    unknown = VisibleWindow("KeePassXC", "KeePassXC", None, None)
    focused = VisibleWindow("KeePassXC", "KeePassXC", None, Rect(0, 0, 4, 4), focused=True)
    assert mask_image(image, [BANK, unknown]) is None
    assert mask_image(image, [focused]) is None
    assert must_drop([unknown]) and not must_drop([BANK])
    assert mask_pixels(bytearray(8 * 8 * 4), 8, 8, [focused]) is False


def test_mask_pixels_zeroes_the_window_in_a_bgra_buffer() -> None:
    width, height = 40, 30
    pixels = bytearray(b"\xff" * width * height * 4)
    assert mask_pixels(pixels, width, height, [BANK]) is True

    def px(x: int, y: int) -> bytes:
        i = (y * width + x) * 4
        return bytes(pixels[i : i + 4])

    assert px(10, 10) == b"\0\0\0\0" and px(29, 19) == b"\0\0\0\0"
    assert px(30, 19) == b"\xff" * 4 and px(9, 10) == b"\xff" * 4

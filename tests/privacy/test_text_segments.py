"""Text segments: where the scrub gives the OCR engine text to read (privacy.text_segments)."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageFont

from privacy.text_segments import MAX_SEGMENTS, Segment, ink_of, line_cuts, runs, segments

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def window(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], lines: list[str]) -> None:
    """A white window with a black 1-px border and a title bar, holding ``lines``."""
    font = ImageFont.truetype(FONT, 13)
    x0, y0, x1, _ = box
    draw.rectangle(box, fill="white", outline="black")
    draw.rectangle((x0, y0, x1, y0 + 20), fill=(120, 150, 200), outline="black")
    draw.text((x0 + 8, y0 + 3), "terminal", font=font, fill="white")
    for i, text in enumerate(lines):
        draw.text((x0 + 4, y0 + 26 + 16 * i), text, font=font, fill="black")


def inside(segment: Segment, box: tuple[int, int, int, int]) -> bool:
    return (
        box[0] <= segment.x
        and segment.right <= box[2]
        and box[1] <= segment.y
        and segment.bottom <= box[3]
    )


def test_runs_join_across_gaps_narrower_than_the_minimum() -> None:
    assert runs(bytes([0, 1, 1, 0, 1, 0, 0, 0, 1, 0]), 2) == [(1, 5), (8, 9)]
    assert runs(bytes([1, 0, 1]), 1) == [(0, 1), (2, 3)]
    assert runs(bytes(5), 1) == []


def test_windows_side_by_side_give_one_segment_per_line_each() -> None:
    screen = Image.new("RGB", (900, 300), (40, 40, 40))
    draw = ImageDraw.Draw(screen)
    left, right = (10, 10, 440, 290), (443, 40, 890, 290)  # borders 3 px apart
    window(draw, left, ["$ make test", "card 4111 1111 1111 1111 ok", "done"])
    window(draw, right, ["please review the draft", "before friday"])
    found = segments(screen)
    assert not any(s.block for s in found)
    in_left = [s for s in found if inside(s, left)]
    in_right = [s for s in found if inside(s, right)]
    # Every segment lies inside one window: no border joined the two.
    assert len(in_left) + len(in_right) == len(found)
    # Title + 3 lines, title + 2 lines; the card's groups stay one segment (single spaces).
    assert len(in_left) == 4 and len(in_right) == 3
    assert all(s.height <= 20 for s in found)


def test_only_segments_reaching_into_the_rows_are_given() -> None:
    screen = Image.new("RGB", (400, 200), "white")
    draw = ImageDraw.Draw(screen)
    font = ImageFont.truetype(FONT, 13)
    for i in range(5):
        draw.text((5, 5 + 30 * i), f"line {i}", font=font, fill="black")
    every = segments(screen)
    assert len(every) == 5
    some = segments(screen, rows=(40, 70))  # the second and third lines only
    assert [s.y for s in some] == [s.y for s in every[1:3]]


def test_lines_that_touch_are_one_block_read_in_strips() -> None:
    screen = Image.new("RGB", (300, 200), "white")
    draw = ImageDraw.Draw(screen)
    shade = random.Random(5)
    for y in range(10, 190, 3):  # a picture: contrast in every row
        for x in range(20, 200, 3):
            draw.rectangle((x, y, x + 2, y + 2), fill=(shade.randrange(256),) * 3)
    draw.text((30, 20), "text over a picture", font=ImageFont.truetype(FONT, 13), fill="white")
    found = segments(screen)
    assert len(found) == 1 and found[0].block and found[0].height > 100


def test_noise_is_bounded_work() -> None:
    # Hostile content (a screen of glyph-sized specks, each its own segment) is cut
    # into at most MAX_SEGMENTS pieces; the rest is given as blocks, never dropped.
    screen = Image.new("RGB", (1600, 800), "white")
    draw = ImageDraw.Draw(screen)
    for y in range(0, 800, 9):
        for x in range(0, 1600, 18):
            draw.rectangle((x, y, x + 4, y + 6), fill="black")
    found = segments(screen)
    assert sum(1 for s in found if not s.block) <= MAX_SEGMENTS
    assert any(s.block for s in found)


TOUCHING = [
    "please review the draft before friday",
    "meeting moved to three, room four",
    "ls -la and then grep for the error",
    "deploy after the tests pass",
]
GLYPHS = ["typing quickly: jumpy gpq yes", "Below the fold: bold Kb lift", "Jumping gypsy quay"]


def test_lines_that_touch_are_cut_into_their_lines() -> None:
    # A terminal's lines at its font's cell height: descenders touch the capitals and
    # ascenders of the line below, no blank row between. Each line is its own segment,
    # so a change to one does not make the engine read its neighbours again.
    for pitch in (14, 15):
        screen = Image.new("RGB", (500, 20 + pitch * len(TOUCHING)), "white")
        draw = ImageDraw.Draw(screen)
        font = ImageFont.truetype(FONT, 14)
        for i, text in enumerate(TOUCHING):
            draw.text((10, 6 + pitch * i), text, font=font, fill="black")
        found = segments(screen)
        assert len(found) == len(TOUCHING), (pitch, found)
        for i, segment in enumerate(found):
            # Each holds one line: its glyphs' middle row, no other's.
            middle = 6 + pitch * i + 9
            assert segment.y <= middle < segment.bottom, (pitch, i, segment)
            assert segment.height <= pitch + 3


def test_a_line_with_tall_and_deep_glyphs_is_not_cut() -> None:
    font = ImageFont.truetype(FONT, 14)
    for text in [*TOUCHING, *GLYPHS, "|[]{}()", "gggg yyyy pppp", "TTTT llll"]:
        screen = Image.new("RGB", (500, 40), "white")
        draw = ImageDraw.Draw(screen)
        draw.text((10, 10), text, font=font, fill="black")
        right = 10 + font.getlength(text)
        draw.rectangle((right + 1, 10, right + 8, 27), fill="black")  # a block cursor
        assert len(segments(screen)) == 1, text
        assert line_cuts(ink_of(screen).crop(ink_of(screen).getbbox())) == []

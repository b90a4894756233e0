"""The tray's icons, drawn with Pillow: one distinct shape per measured state.

Shapes differ, not only colours, so the state reads in a monochrome panel and for
people who do not tell red from amber:

    recording   filled red dot             quiet    red ring (recording, nothing written lately)
    snoozed     grey pause bars (+ minutes) opted_out / no_consent   hollow grey circle
    blocked     amber triangle with "!"     error    red-orange triangle with a cross
    not_recorded  red ring crossed by a bar (a denied window has the focus)
    stopped     grey square outline (the agent is not running)
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from agent.tray.app import Look

SIZE = 64
RED = (214, 40, 40, 255)
GREY = (120, 120, 120, 255)
AMBER = (240, 170, 20, 255)
ERROR = (226, 86, 30, 255)
WHITE = (255, 255, 255, 255)
DARK = (30, 30, 30, 255)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def draw_icon(look: Look, minutes_left: int | None = None, size: int = SIZE) -> Image.Image:
    """The icon for ``look`` (RGBA, ``size`` square); snoozed shows the minutes left."""
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if look is Look.RECORDING:
        draw.ellipse((8, 8, 56, 56), fill=RED)
    elif look is Look.QUIET:
        draw.ellipse((8, 8, 56, 56), outline=RED, width=8)
    elif look is Look.SNOOZED:
        if minutes_left is None:
            draw.rectangle((14, 10, 26, 54), fill=GREY)
            draw.rectangle((38, 10, 50, 54), fill=GREY)
        else:
            draw.rectangle((14, 4, 24, 30), fill=GREY)
            draw.rectangle((40, 4, 50, 30), fill=GREY)
            draw.text(
                (32, 48),
                str(min(minutes_left, 99)),
                fill=DARK,
                font=_font(30),
                anchor="mm",
                stroke_width=2,
                stroke_fill=WHITE,
            )
    elif look is Look.NOT_RECORDED:
        draw.ellipse((8, 8, 56, 56), outline=RED, width=7)
        draw.line((16, 48, 48, 16), fill=RED, width=8)  # "not": a bar across the ring
    elif look is Look.STOPPED:
        draw.rectangle((12, 12, 52, 52), outline=GREY, width=7)
    elif look in (Look.OPTED_OUT, Look.NO_CONSENT):
        draw.ellipse((10, 10, 54, 54), outline=GREY, width=6)
    else:
        colour = AMBER if look is Look.BLOCKED else ERROR
        draw.polygon([(32, 4), (62, 58), (2, 58)], fill=colour)
        if look is Look.BLOCKED:
            draw.rectangle((29, 22, 35, 42), fill=DARK)  # "!"
            draw.rectangle((29, 47, 35, 53), fill=DARK)
        else:
            draw.line((22, 28, 42, 50), fill=WHITE, width=6)  # a cross
            draw.line((42, 28, 22, 50), fill=WHITE, width=6)
    return image if size == SIZE else image.resize((size, size), Image.Resampling.LANCZOS)


def fit_icon(
    image: Image.Image,
    width: int,
    height: int,
    background: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> Image.Image:
    """``image`` (square) centred and unstretched on a ``width`` x ``height`` canvas.

    A tray host can hand the icon a window that is not square (trayer in a 48 px panel
    gives 24 x 46); stretching the picture to it turned the dot into an oval and the
    square into a bar. The icon takes the shorter side; the rest is ``background``.
    """
    side = max(1, min(width, height))
    canvas = Image.new("RGBA", (max(1, width), max(1, height)), background)
    icon = image.convert("RGBA").resize((side, side), Image.Resampling.LANCZOS)
    canvas.alpha_composite(icon, ((canvas.width - side) // 2, (canvas.height - side) // 2))
    return canvas

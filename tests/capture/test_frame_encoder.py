"""Frame encoding: lossless WebP for screens of text, lossy for pictures, chosen per frame."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from capture.screen import frame_encoder
from capture.screen.frame_encoder import FrameEncoder, KeptBands, band_rows, few_colours
from capture.screen.options import ScreenOptions
from storage.compose import decode_frame


def kind(webp: bytes) -> str:
    """'lossless' or 'lossy', from the WebP file's first chunk (VP8L or VP8)."""
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    return {b"VP8L": "lossless", b"VP8 ": "lossy"}[webp[12:16]]


def decoded(webp: bytes) -> Image.Image:
    with Image.open(io.BytesIO(webp)) as image:
        return image.convert("RGB")


def terminal(width: int = 960, height: int = 540) -> Image.Image:
    """A screen of text: a dark terminal full of lines, a title bar, a light panel."""
    image = Image.new("RGB", (width, height), (30, 30, 36))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 18), fill=(70, 90, 140))
    draw.rectangle((width * 2 // 3, 30, width - 10, height - 10), fill=(235, 235, 230))
    rng = random.Random(3)
    words = ["deploy", "after", "the", "tests", "pass", "ls", "-la", "grep", "error", "draft"]
    for row in range(24, height - 12, 14):
        line = " ".join(rng.choice(words) for _ in range(12))
        draw.text((6, row), line, fill=(200, 220, 200))
    return image


def photograph(width: int = 960, height: int = 540) -> Image.Image:
    """Smooth noise in every channel: thousands of colours, like a photo or a video."""
    channels = [
        Image.effect_noise((width, height), sigma).filter(ImageFilter.GaussianBlur(2))
        for sigma in (40, 60, 80)
    ]
    return Image.merge("RGB", channels)


def test_a_screen_of_text_is_stored_lossless_smaller_than_lossy_and_exact() -> None:
    screen = terminal()
    assert few_colours(screen)
    auto = FrameEncoder().encode_one(screen)
    lossy = FrameEncoder(encoding="lossy").encode_one(screen)
    assert kind(auto) == "lossless" and kind(lossy) == "lossy"
    assert len(auto) < len(lossy)
    assert ImageChops.difference(decoded(auto), screen).getbbox() is None


def test_a_photograph_is_stored_lossy_without_trying_lossless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picture = photograph()
    assert not few_colours(picture)

    def refuse(image: Image.Image) -> bytes:
        raise AssertionError("lossless tried on a picture of many colours")

    monkeypatch.setattr(FrameEncoder, "lossless", staticmethod(refuse))
    assert kind(FrameEncoder().encode_one(picture)) == "lossy"


def test_few_colours_that_still_compress_badly_fall_back_to_the_smaller_lossy() -> None:
    # 1,500 colours scattered at random: passes the colour count, yet costs lossless far
    # more than a bit a pixel (nothing repeats).
    rng = random.Random(5)
    palette = [bytes(rng.randrange(256) for _ in range(3)) for _ in range(1500)]
    noisy = Image.frombytes(
        "RGB", (400, 300), b"".join(rng.choice(palette) for _ in range(400 * 300))
    )
    assert few_colours(noisy)
    exact = FrameEncoder.lossless(noisy)
    assert len(exact) > frame_encoder.LOSSLESS_BUDGET * 400 * 300
    auto = FrameEncoder().encode_one(noisy)
    assert kind(auto) == "lossy" and len(auto) < len(exact)


def test_forced_encodings_ignore_the_content() -> None:
    assert kind(FrameEncoder(encoding="lossless").encode_one(photograph(200, 100))) == "lossless"
    assert kind(FrameEncoder(encoding="lossy").encode_one(terminal(200, 100))) == "lossy"


def test_tiny_regions_are_counted_whole() -> None:
    one_pixel = Image.new("RGB", (1, 3), (1, 2, 3))
    assert few_colours(one_pixel)
    assert kind(FrameEncoder().encode_one(one_pixel)) == "lossless"


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, lossless, lossy"):
        FrameEncoder(encoding="png")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="auto, lossless, lossy"):
        ScreenOptions(encoding="png")  # type: ignore[arg-type]


def test_a_large_image_is_stored_in_bands_each_chosen_alone_and_stacks_back() -> None:
    width, height = 1280, 800
    rows = band_rows(width, height)
    assert rows % 16 == 0 and rows * width <= frame_encoder.BAND_PIXELS and rows < height
    screen = terminal(width, height)
    screen.paste(photograph(width, rows), (0, rows))  # the second band is a picture
    bands = FrameEncoder().encode(screen)
    assert len(bands) == -(-height // rows)
    assert [kind(b) for b in bands] == ["lossless", "lossy"] + ["lossless"] * (len(bands) - 2)
    whole = decode_frame(bands[0], bands[1:])
    assert whole.size == (width, height)
    # Exact everywhere but the lossy band.
    assert (
        ImageChops.difference(
            whole.crop((0, 2 * rows, width, height)), screen.crop((0, 2 * rows, width, height))
        ).getbbox()
        is None
    )
    assert (
        ImageChops.difference(
            whole.crop((0, 0, width, rows)), screen.crop((0, 0, width, rows))
        ).getbbox()
        is None
    )


def test_a_small_image_is_one_band() -> None:
    assert band_rows(640, 360) == 360
    assert len(FrameEncoder().encode(terminal(640, 360))) == 1
    # A very wide image still gets bands of at least one macroblock row.
    assert band_rows(40_000, 100) == 16


def test_raw_pixels_encode_band_by_band_as_the_image_does() -> None:
    screen = terminal(1280, 800)
    bgra = screen.convert("RGBA").tobytes("raw", "BGRA")
    encoder = FrameEncoder(encoding="lossless")
    from_raw = encoder.encode_bgra(1280, 800, bgra)
    assert len(from_raw) > 1
    assert decoded_bands(from_raw) == decoded_bands(encoder.encode(screen))
    assert ImageChops.difference(decode_frame(from_raw[0], from_raw[1:]), screen).getbbox() is None
    with pytest.raises(ValueError, match="does not match"):
        encoder.encode_bgra(1280, 799, bgra)


def decoded_bands(bands: list[bytes]) -> list[bytes]:
    return [decoded(band).tobytes() for band in bands]


def test_a_key_frame_encodes_only_the_bands_changed_since_the_last_one() -> None:
    screen = terminal(1280, 800)
    encoder = FrameEncoder()
    kept = KeptBands()
    first = encoder.encode_bgra(1280, 800, screen.convert("RGBA").tobytes("raw", "BGRA"), kept)
    assert kept.reused == 0 and len(first) > 2
    # Something typed in one band (rows 250-262: the second band, of 192 rows).
    ImageDraw.Draw(screen).text((40, 250), "new words typed here", fill=(255, 255, 0))
    bgra = screen.convert("RGBA").tobytes("raw", "BGRA")
    second = encoder.encode_bgra(1280, 800, bgra, kept)
    assert kept.reused == len(first) - 1
    # The same files as encoding every band again, so the same pixels when read.
    assert second == encoder.encode_bgra(1280, 800, bgra)
    assert second[1] != first[1] and second[0] == first[0]
    assert ImageChops.difference(decode_frame(second[0], second[1:]), screen).getbbox() is None
    # Another width shares nothing with the bands kept; once cleared, nothing is reused.
    narrow = terminal(1024, 800).convert("RGBA").tobytes("raw", "BGRA")
    encoder.encode_bgra(1024, 800, narrow, kept)
    assert kept.reused == len(first) - 1
    kept.clear()
    encoder.encode_bgra(1280, 800, bgra, kept)
    assert kept.reused == len(first) - 1

"""`capture-agent privacy check-image`: what the screen scrub reads and would mask, shown,
and a hostile file refused in one line (the real command, the real Tesseract)."""

from __future__ import annotations

import json
import os
import secrets
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from tests.cli_helpers import run_cli

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
SENTENCE = "please review the quarterly report"


def screenshot(path: Path, lines: list[str]) -> Path:
    """A white image with ``lines`` in a terminal font, saved as PNG."""
    font = ImageFont.truetype(FONT, 16)
    image = Image.new("RGB", (720, 30 + 30 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(lines):
        draw.text((12, 12 + 30 * i), text, font=font, fill="black")
    image.save(path)
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` and whose data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_a_card_number_is_read_and_its_box_would_be_masked(tmp_path: Path) -> None:
    image = screenshot(tmp_path / "shot.png", ["card 4111 1111 1111 1111 ok", SENTENCE])
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    scratch.mkdir()
    done = run_cli(home, "privacy", "check-image", str(image), "--json", TMPDIR=str(scratch))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["engine"].startswith("tesseract ")
    texts = [line["text"] for line in result["lines"]]
    assert SENTENCE in texts, texts
    assert any("4111 1111 1111 1111" in t for t in texts), texts
    assert result["counts"] == {"payment_card": 1}
    (mask,) = result["masks"]
    x, y, w, h = mask["box"]
    # The 19 digits and spaces sit after "card " in 16-px DejaVu Mono's 9.6-px cells.
    assert x <= 12 + 5 * 9.6 and x + w >= 12 + 24 * 9.6, mask
    assert y <= 16 and y + h >= 26, mask
    # Nothing written: no home created, nothing in the temporary folder.
    assert not home.exists()
    assert files_under(scratch) == []


def test_text_output_names_lines_and_regions(tmp_path: Path) -> None:
    image = screenshot(tmp_path / "shot.png", ["mail jane.doe@example.org today", SENTENCE])
    done = run_cli(tmp_path / "home", "privacy", "check-image", str(image))
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("read with tesseract")
    assert f"  {SENTENCE}" in out
    assert "would mask 1 region(s):" in out
    assert any(line.startswith("  email at x=") for line in out), out


def test_ordinary_text_would_mask_nothing(tmp_path: Path) -> None:
    image = screenshot(tmp_path / "shot.png", [SENTENCE])
    done = run_cli(tmp_path / "home", "privacy", "check-image", str(image), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["masks"] == []


def refused(tmp_path: Path, target: Path, code: int) -> str:
    done = run_cli(tmp_path / "home", "privacy", "check-image", str(target), timeout=30)
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    # 81 M pixels: under Pillow's own limit (89 M), over ours (64 M).
    bomb.write_bytes(png_claiming(9000, 9000))
    assert "over the limit" in refused(tmp_path, bomb, 1)


def test_a_header_past_pillows_own_limit_is_refused(tmp_path: Path) -> None:
    # Over Pillow's MAX_IMAGE_PIXELS (its DecompressionBombError) and over ours.
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(png_claiming(2**30, 2**30))
    assert "decompression bomb" in refused(tmp_path, bomb, 1)


def test_a_truncated_image_is_one_line(tmp_path: Path) -> None:
    good = screenshot(tmp_path / "shot.png", [SENTENCE]).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(good[: len(good) // 2])
    assert "damaged image" in refused(tmp_path, cut, 1)


def test_random_bytes_and_text_are_not_images(tmp_path: Path) -> None:
    noise = tmp_path / "noise.webp"
    noise.write_bytes(secrets.token_bytes(4096))
    assert "not an image" in refused(tmp_path, noise, 1)
    text = tmp_path / "notes.png"
    text.write_text("card 4111 1111 1111 1111\n")
    assert "not an image" in refused(tmp_path, text, 1)


def test_a_fifo_a_folder_and_a_missing_file_do_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # nobody writes: reading it would wait for ever
    assert "not a regular file" in refused(tmp_path, fifo, 2)
    assert "it is a folder" in refused(tmp_path, tmp_path, 2)
    assert "no such file" in refused(tmp_path, tmp_path / "gone.png", 2)


def test_without_a_working_ocr_engine_it_says_so_with_the_fix(tmp_path: Path) -> None:
    damaged = tmp_path / "tessdata"
    damaged.mkdir()
    (damaged / "eng.traineddata").write_bytes(secrets.token_bytes(4096))
    image = screenshot(tmp_path / "shot.png", [SENTENCE])
    done = run_cli(
        tmp_path / "home", "privacy", "check-image", str(image), TESSDATA_PREFIX=str(damaged)
    )
    assert done.returncode == 69, done.stderr
    assert "Traceback" not in done.stderr
    assert "tesseract-ocr" in done.stderr

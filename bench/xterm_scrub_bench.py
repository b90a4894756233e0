"""The screen scrub on a real terminal: corpus lines shown by ``cat`` in xterm.

    .venv/bin/python -m bench.xterm_scrub_bench [--split tuning|heldout] [--limit N]

``bench.screen_scrub_bench`` draws the corpus with TrueType fonts, whose lines always
leave a blank row between them. xterm's built-in font (6x13, what it draws without a
``-fa`` font) fills its cell: a descender touches the capitals of the line below, and
the lines of a screen touch. This runs Xvfb and xterm, shows up to 40 lines of the
realistic corpus (tests/privacy_corpus/realistic, fake data only) a screen, grabs the
screen and scrubs it twice, with touching lines cut into lines (``line_cuts``, the
agent's way) and kept together (read as one piece or a block in strips), and scores
as the other benchmark does: a labelled span counts as masked when the middle of each
of its characters (6 x 13 pixel cells) lies under a mask, a line without spans as
touched when any mask reaches its middle row. Also the scrub's CPU per screen.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mss
from PIL import Image

from bench.screen_scrub_bench import load, shown
from tests.xserver import start_xserver

COLUMNS, ROWS = 160, 45
CELL_W, CELL_H = 6, 13
LINES_PER_SCREEN = 40
ORIGIN = 10
"""xterm's top-left corner on the screen (pixels), its internal border ``BORDER``."""
BORDER = 6


def _grab_settled(display: str, timeout: float = 20.0) -> Image.Image:
    """The screen once two grabs 0.2 s apart are the same and show xterm with text."""
    last: bytes | None = None
    deadline = time.monotonic() + timeout
    with mss.MSS(display=display) as grabber:
        while time.monotonic() < deadline:
            shot = grabber.grab(grabber.monitors[0])
            image = Image.frombytes("RGB", shot.size, bytes(shot.bgra), "raw", "BGRX")
            now = image.tobytes()
            darkest, lightest = image.convert("L").getextrema()
            drawn = isinstance(darkest, int) and darkest < 128 and lightest == 255
            if now == last and drawn:  # xterm's white page, and text on it
                return image
            last = now
            time.sleep(0.2)
    raise RuntimeError("xterm did not settle")


def score(image: Image.Image, batch: list[tuple[str, list[tuple[int, int, str]]]], cut: bool,
          ocr: Any) -> tuple[int, int, int, int, float]:  # fmt: skip
    """(spans masked, spans, negative lines touched, negative lines, CPU s) of one way."""
    import privacy.text_segments as text_segments
    from privacy.screen_scrub import ScreenScrubber

    keep = text_segments.line_cuts
    if not cut:
        text_segments.line_cuts = lambda ink: []
    try:
        scrubber = ScreenScrubber(ocr)
        started = time.thread_time()
        result = scrubber.scrub(image)
        cpu = time.thread_time() - started
    finally:
        text_segments.line_cuts = keep
    if result.withheld_reason is not None:
        raise RuntimeError(f"scrub withheld: {result.withheld_reason}")
    masks = [(m.x, m.y, m.width, m.height) for m in result.masks]
    x0 = y0 = ORIGIN + 1 + BORDER  # the window's 1-pixel border, then xterm's own
    masked = spans = touched = negatives = 0
    for i, (text, labelled) in enumerate(batch):
        middle = y0 + CELL_H * i + CELL_H // 2
        row = [m for m in masks if m[1] <= middle < m[1] + m[3]]
        if not labelled:
            negatives += 1
            touched += bool(row)
            continue
        for a, b, _category in labelled:
            xs = [x0 + CELL_W * k + CELL_W // 2 for k in range(a, b) if not text[k].isspace()]
            spans += 1
            masked += all(any(m[0] <= x < m[0] + m[2] for m in row) for x in xs)
    return masked, spans, touched, negatives, cpu


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on one split; print one line per way."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.xterm_scrub_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--split", choices=("tuning", "heldout"), default="heldout")
    parser.add_argument("--limit", type=int, default=100, help="every k-th row, about N rows")
    args = parser.parse_args(argv)
    from capture.ocr.tesseract import TesseractOcr

    rows = load(args.split)
    rows = rows[:: max(1, len(rows) // max(1, args.limit))]
    lines = [(t, s) for r in rows for t, s in shown(r) if len(t) <= COLUMNS and t.isascii()]
    totals = {True: [0, 0, 0, 0, 0.0], False: [0, 0, 0, 0, 0.0]}
    server = start_xserver(1000, 620, window_manager=False)
    ocr = TesseractOcr()
    try:
        with tempfile.TemporaryDirectory(prefix="xterm-scrub-") as folder:
            shown_file = Path(folder) / "screen.txt"
            for start in range(0, len(lines), LINES_PER_SCREEN):
                batch = lines[start : start + LINES_PER_SCREEN]
                shown_file.write_text("\n".join(t for t, _ in batch), encoding="utf-8")
                term = subprocess.Popen(
                    ["xterm", "-geometry", f"{COLUMNS}x{ROWS}+{ORIGIN}+{ORIGIN}",
                     "-b", str(BORDER), "-e", "sh", "-c", f'cat "{shown_file}"; exec sleep 120'],
                    env=server.env,
                )  # fmt: skip
                try:
                    image = _grab_settled(server.display)
                finally:
                    term.kill()
                    term.wait()
                for cut in (True, False):
                    for k, v in enumerate(score(image, batch, cut, ocr)):
                        totals[cut][k] += v
    finally:
        ocr.close()
        server.stop()
    for cut in (True, False):
        masked, spans, touched, negatives, cpu = totals[cut]
        print(
            f"{args.split:8} {'lines cut' if cut else 'lines touching':15} masked "
            f"{masked}/{spans} = {masked / max(1, spans):.3f}, negative lines touched "
            f"{touched}/{negatives} = {touched / max(1, negatives):.3f}, scrub CPU {cpu:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

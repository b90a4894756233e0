"""Screen scrub benchmark: what the OCR scrub masks in rendered text, and its CPU.

    .venv/bin/python -m bench.screen_scrub_bench [--split tuning|heldout|both]
        [--limit N] [--style NAME ...] [--json FILE]

Each line of the realistic typed-text corpus (tests/privacy_corpus/realistic, issue
20; fake identifiers and secrets only) is drawn as the screen would show it, in several
styles (a light and a dark terminal, a terminal's lines at its cell height, a GUI
form's sans-serif, small text), 24 lines to an image, and the whole image goes through
``ScreenScrubber`` with the agent's own OCR engine (Tesseract) and detectors. The
held-out split was written before the screen scrub's rules (``privacy.screen_text``) and
no rule was fitted to it.

- **masked**: a labelled span counts as masked when every non-space character of it
  lies under a mask (its centre column, within its line's rows).
- **lines touched**: the share of lines with no labelled span that got any mask.
- **CPU**: thread CPU seconds of the scrub per image and per line (a fresh scrubber per
  image: nothing comes from the cache).

Rows corrected with Backspace are drawn as they end up on screen, without their spans
(the offsets no longer line up); rows of several lines are drawn line by line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
REALISTIC = ROOT / "tests" / "privacy_corpus" / "realistic"
FONTS = Path("/usr/share/fonts/truetype/dejavu")
LINES_PER_IMAGE = 24
TYPED_EVERY = 4
"""``--typed``: characters typed between two frames of a line."""
WIDTH = 1400


@dataclass(frozen=True)
class Style:
    """How a line is drawn: background, text colour, font file and pixel size, leading."""

    name: str
    background: tuple[int, int, int]
    ink: tuple[int, int, int]
    font: str
    size: int
    leading: int


STYLES = (
    Style("terminal-light", (255, 255, 255), (0, 0, 0), "DejaVuSansMono.ttf", 14, 18),
    Style("terminal-dark", (30, 30, 30), (212, 212, 212), "DejaVuSansMono.ttf", 14, 18),
    Style("gui-sans", (246, 246, 246), (40, 40, 40), "DejaVuSans.ttf", 13, 20),
    Style("small", (255, 255, 255), (60, 60, 60), "DejaVuSans.ttf", 11, 15),
    # Lines at the font's cell height (ascent + descent), no row between: as terminals
    # draw them, a descender touching the bracket below it.
    Style("terminal-cell", (255, 255, 255), (0, 0, 0), "DejaVuSansMono.ttf", 14, 17),
    # Lines closer still, as a bitmap terminal font fills its cell (xterm's default):
    # descenders touch the next line's capitals, no blank row parts them.
    Style("terminal-tight", (255, 255, 255), (0, 0, 0), "DejaVuSansMono.ttf", 14, 14),
)


def load(split: str) -> list[dict[str, Any]]:
    """The rows of one split of the realistic corpus."""
    with (REALISTIC / f"{split}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def shown(row: dict[str, Any]) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """The lines the screen shows for one row, each with its labelled spans (none if
    the row was corrected with Backspace: its offsets no longer line up)."""
    text: str = row["text"]
    spans = [(int(a), int(b), str(c)) for a, b, c in row.get("spans", [])]
    if "\b" in text:
        out: list[str] = []
        for ch in text:
            if ch == "\b":
                if out:
                    out.pop()
            else:
                out.append(ch)
        text, spans = "".join(out), []
    lines: list[tuple[str, list[tuple[int, int, str]]]] = []
    offset = 0
    for line in text.split("\n"):
        end = offset + len(line)
        inside = [(a - offset, b - offset, c) for a, b, c in spans if offset <= a and b <= end]
        lines.append((line.replace("\t", " "), inside))
        offset = end + 1
    return [(t, s) for t, s in lines if t.strip()]


def _fits(font: ImageFont.FreeTypeFont, text: str) -> bool:
    try:
        return font.getlength(text) < WIDTH - 20
    except (RuntimeError, ValueError):  # text the layout engine refuses
        return False


def _covered(x: float, top: int, bottom: int, masks: list[tuple[int, int, int, int]]) -> bool:
    middle = (top + bottom) / 2
    return any(mx <= x < mx + mw and my <= middle < my + mh for mx, my, mw, mh in masks)


def _scrubbed(
    scrubber: Any, image: Image.Image
) -> tuple[list[tuple[int, int, int, int]], list[str], float]:
    """The masks of ``image`` as (x, y, width, height), their categories, and the
    scrub's thread CPU seconds; a withheld scrub stops the benchmark."""
    started = time.thread_time()
    result = scrubber.scrub(image)
    took = time.thread_time() - started
    if result.withheld_reason is not None:
        raise RuntimeError(f"scrub withheld: {result.withheld_reason}")
    return [(r.x, r.y, r.width, r.height) for r in result.masks], list(result.categories), took


def run(
    rows: list[dict[str, Any]], style: Style, scrubber_factory: Any, show: bool = False
) -> dict[str, Any]:
    """Draw ``rows`` in ``style``, scrub them image by image, score the masks."""
    font = ImageFont.truetype(str(FONTS / style.font), style.size)
    spans_total = spans_masked = 0
    negatives = touched = 0
    by_category: dict[str, list[int]] = {}
    false_by: dict[str, int] = {}
    cpu = 0.0
    images = 0
    lines = [line for r in rows for line in shown(r) if _fits(font, line[0])]
    for start in range(0, len(lines), LINES_PER_IMAGE):
        batch = lines[start : start + LINES_PER_IMAGE]
        image = Image.new("RGB", (WIDTH, 12 + style.leading * len(batch) + 12), style.background)
        draw = ImageDraw.Draw(image)
        for i, (text, _) in enumerate(batch):
            draw.text((10, 12 + style.leading * i), text, font=font, fill=style.ink)
        masks, kinds, took = _scrubbed(scrubber_factory(), image)
        cpu += took
        images += 1
        for i, (text, spans) in enumerate(batch):
            top = 12 + style.leading * i
            bottom = top + style.size
            on_row = [k for k, m in enumerate(masks) if m[1] < bottom and m[1] + m[3] > top]
            row_masks = [masks[k] for k in on_row]
            if not spans:
                negatives += 1
                touched += bool(row_masks)
                for k in on_row:
                    false_by[kinds[k]] = false_by.get(kinds[k], 0) + 1
                if row_masks and show:
                    print("    touched:", text[:90], sorted({kinds[k] for k in on_row}))
                continue
            for a, b, category in spans:
                centres = [
                    10 + font.getlength(text[:k]) + font.getlength(text[k]) / 2
                    for k in range(a, min(b, len(text)))
                    if not text[k].isspace()
                ]
                ok = all(_covered(x, top, bottom, row_masks) for x in centres)
                spans_total += 1
                spans_masked += ok
                counts = by_category.setdefault(category, [0, 0])
                counts[0] += ok
                counts[1] += 1
    return {
        "style": style.name,
        "lines": len(lines),
        "spans": spans_total,
        "masked": spans_masked / spans_total if spans_total else None,
        "negative_lines": negatives,
        "touched": touched / negatives if negatives else None,
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_line": round(1000 * cpu / max(1, len(lines)), 2),
        "images": images,
        "by_category": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_category.items())},
        "false_masks_by_category": dict(sorted(false_by.items())),
    }


def typed(
    rows: list[dict[str, Any]], style: Style, scrubber: Any, every: int = TYPED_EVERY
) -> dict[str, Any]:
    """Each line of ``rows`` drawn as it is typed: its first ``every``, ``2 * every``, ...
    characters and then all, a block cursor after them, each a frame through the same
    ``scrubber`` (as the screen source's scrub sees a line grow). A labelled span is
    scored in every frame that shows it whole; a line without spans counts as touched
    when any of its frames got a mask."""
    font = ImageFont.truetype(str(FONTS / style.font), style.size)
    spans_total = spans_masked = negatives = touched = frames = 0
    cpu = 0.0
    lines = [line for r in rows for line in shown(r) if _fits(font, line[0])]
    top = 12
    bottom = top + style.size
    for text, spans in lines:
        lengths = [*range(every, len(text), every), len(text)]
        hit = False
        for n in lengths:
            shown_text = text[:n]
            image = Image.new("RGB", (WIDTH, 2 * top + style.leading), style.background)
            draw = ImageDraw.Draw(image)
            draw.text((10, top), shown_text, font=font, fill=style.ink)
            right = 10 + font.getlength(shown_text)
            draw.rectangle((right + 1, top, right + style.size // 2 + 1, bottom), fill=style.ink)
            masks, _kinds, took = _scrubbed(scrubber, image)
            cpu += took
            frames += 1
            hit = hit or bool(masks)
            for a, b, _category in spans:
                if b > n:
                    continue
                centres = [
                    10 + font.getlength(text[:k]) + font.getlength(text[k]) / 2
                    for k in range(a, b)
                    if not text[k].isspace()
                ]
                spans_total += 1
                spans_masked += all(_covered(x, top, bottom, masks) for x in centres)
        if not spans:
            negatives += 1
            touched += hit
    return {
        "style": style.name,
        "lines": len(lines),
        "frames": frames,
        "spans": spans_total,
        "masked": spans_masked / spans_total if spans_total else None,
        "negative_lines": negatives,
        "touched": touched / negatives if negatives else None,
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_frame": round(1000 * cpu / max(1, frames), 2),
        "tails_read": scrubber.stats.tails_read,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per split and style."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.screen_scrub_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--split", choices=("tuning", "heldout", "both"), default="both")
    parser.add_argument("--limit", type=int, default=0, help="every k-th row, about N rows")
    parser.add_argument("--style", action="append", choices=[s.name for s in STYLES])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--categories", action="store_true", help="per-category counts")
    parser.add_argument(
        "--show", action="store_true", help="print each touched negative line (fake data)"
    )
    parser.add_argument(
        "--typed",
        action="store_true",
        help="draw each line as it is typed, frame by frame, read from where it changed "
        "and read whole each time (one scrubber per style and way, its cache kept)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from capture.ocr.tesseract import TesseractOcr
    from privacy.screen_scrub import ScreenScrubber

    ocr = TesseractOcr()
    splits = ("tuning", "heldout") if args.split == "both" else (args.split,)
    styles = [s for s in STYLES if not args.style or s.name in args.style]
    out: list[dict[str, Any]] = []
    for split in splits:
        rows = load(split)
        if args.limit:
            rows = rows[:: max(1, len(rows) // args.limit)]
        for style in styles:
            if args.typed:
                for tails in (True, False):
                    figures = typed(rows, style, ScreenScrubber(ocr, read_tails=tails))
                    figures.update(split=split, read_tails=tails)
                    out.append(figures)
                    print(
                        f"{split:8} {style.name:15} {'from the change' if tails else 'whole':15} "
                        f"masked {figures['masked']:.3f} of {figures['spans']} span-frames, "
                        f"negative lines touched {figures['touched']:.3f} of "
                        f"{figures['negative_lines']}, {figures['cpu_ms_per_frame']} ms "
                        f"CPU/frame over {figures['frames']} ({figures['tails_read']} tails)",
                        flush=True,
                    )
                continue
            figures = run(rows, style, lambda: ScreenScrubber(ocr), args.show)
            figures["split"] = split
            out.append(figures)
            print(
                f"{split:8} {style.name:15} masked {figures['masked']:.3f} of "
                f"{figures['spans']} spans, negative lines touched {figures['touched']:.3f} "
                f"of {figures['negative_lines']}, {figures['cpu_ms_per_line']} ms CPU/line",
                flush=True,
            )
            if args.categories:
                print("    masked:", figures["by_category"])
                print("    false masks:", figures["false_masks_by_category"])
    ocr.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

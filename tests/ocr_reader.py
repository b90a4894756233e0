"""Reading stored frames back with an OCR engine the agent does not use: RapidOCR.

The screen-privacy acceptance tests (issue 18) must not judge the agent's scrub with the
agent's own eyes: a text Tesseract cannot read would be "masked" to a Tesseract-based
check and still readable to anyone else. RapidOCR (PP-OCRv4 models run by ONNX Runtime)
is a different engine, ships its models inside the wheel and needs no network, so the
tests run offline (``pip install -e .[test]``).

It is slow on a busy 2-core machine (seconds per 1280x800 frame, most of it recognising
lines), and consecutive frames of a session are mostly the same pixels. So the reader
detects text boxes on each distinct frame once, and recognises each distinct box's pixels
once (a cache keyed by the pixels' hash): a terminal line that stays on screen across
twenty frames is read once. Nothing read is written anywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]

_CONFUSABLE_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "i": "1"})
_CONFUSABLE_DIGITS.update(str.maketrans({"|": "1", "S": "5", "s": "5", "B": "8", "Z": "2"}))


@dataclass(frozen=True, slots=True)
class FrameText:
    """What RapidOCR read in one stored frame: its lines, top to bottom."""

    name: str
    lines: tuple[str, ...]


class ScreenReader:
    """RapidOCR with a cache of frames and of text boxes already read."""

    def __init__(self) -> None:
        # Detection at the frame's own size ("max" side limit above any screen here):
        # the default scales the short side up to 736 px, slower and no better on
        # screen text. No orientation classifier: screen text is upright. A low score
        # threshold: a half-legible secret still counts as read.
        self._engine: Any = RapidOCR(
            det_limit_type="max", det_limit_side_len=4096, use_cls=False, text_score=0.3
        )
        self._frames: dict[bytes, tuple[str, ...]] = {}
        self._boxes: dict[bytes, str] = {}

    def read(self, image: Image.Image, name: str = "") -> FrameText:
        """The lines of text RapidOCR finds in ``image``."""
        rgb = image.convert("RGB")
        key = _digest(rgb)
        if key not in self._frames:
            self._frames[key] = tuple(self._read_lines(np.asarray(rgb)))
        return FrameText(name, self._frames[key])

    def _read_lines(self, pixels: np.ndarray[Any, Any]) -> list[str]:
        boxes, _ = self._engine(pixels, use_det=True, use_cls=False, use_rec=False)
        lines = []
        height, width = pixels.shape[:2]
        for box in boxes or ():
            points = np.asarray(box, dtype=float)
            left, top = (max(0, int(v)) for v in points.min(axis=0))
            right, bottom = (int(np.ceil(v)) for v in points.max(axis=0))
            crop = np.ascontiguousarray(pixels[top : min(bottom, height), left : min(right, width)])
            if crop.size == 0:
                continue
            key = hashlib.sha256(crop.tobytes() + repr(crop.shape).encode()).digest()
            if key not in self._boxes:
                found, _ = self._engine(crop, use_det=False, use_cls=False, use_rec=True)
                self._boxes[key] = " ".join(str(item[0]) for item in found or ())
            if self._boxes[key]:
                lines.append(self._boxes[key])
        return lines


def _digest(image: Image.Image) -> bytes:
    return hashlib.sha256(image.tobytes() + repr(image.size).encode()).digest()


def digits_of(text: str) -> str:
    """The digits of ``text``'s numeric words, reading letters OCR confuses with digits
    (O, l, S...) in them as digits; words without two real digits are left out, so
    ordinary prose does not turn into digit runs."""
    words = [w for w in text.split() if sum(c.isdigit() for c in w) >= 2]
    return "".join(re.sub(r"\D", "", w.translate(_CONFUSABLE_DIGITS)) for w in words)


def squeezed(text: str) -> str:
    """``text`` lower-cased without whitespace: OCR drops and adds spaces freely."""
    return re.sub(r"\s+", "", text).lower()


def readable_number(number: str, lines: Iterable[str], run: int = 6) -> str | None:
    """The first ``run`` consecutive digits of ``number`` found in one of ``lines``, or None."""
    digits = re.sub(r"\D", "", number)
    runs = {digits[i : i + run] for i in range(len(digits) - run + 1)}
    for line in lines:
        found = digits_of(line)
        for part in runs:
            if part in found:
                return part
    return None


def readable_text(secret: str, lines: Iterable[str], run: int | None = None) -> str | None:
    """``secret`` (or any ``run`` consecutive characters of it) found in one of ``lines``,
    case-insensitive and ignoring spaces; None when no line shows it."""
    wanted = squeezed(secret)
    size = len(wanted) if run is None else min(run, len(wanted))
    parts = {wanted[i : i + size] for i in range(len(wanted) - size + 1)}
    for line in lines:
        found = squeezed(line)
        for part in parts:
            if part in found:
                return part
    return None


def words_read(sentence: str, frames: Sequence[FrameText]) -> tuple[int, str]:
    """The most words of ``sentence`` one frame shows (in order-free, spaceless matching),
    and that frame's name."""
    words = [squeezed(w) for w in sentence.split()]
    best, where = 0, ""
    for frame in frames:
        text = squeezed("".join(frame.lines))
        count = sum(1 for w in words if w in text)
        if count > best:
            best, where = count, frame.name
    return best, where

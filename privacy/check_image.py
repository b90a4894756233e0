"""`capture-agent privacy check-image FILE`: what the screen scrub would read and mask.

The image counterpart of `privacy check`: the file is read through the same OCR backend
and the same ``ScreenScrubber`` the daemon runs on frames, and the result is printed (the
lines read, each box the scrub would fill and its category). Nothing is written: not the
image, not what was read, not a log line with either.

The file is input from anyone (a screenshot mailed in, a crafted PNG), so it is opened
defensively: regular files only (a FIFO or a device would block or never end), at most
``MAX_BYTES`` read, and at most ``MAX_PIXELS`` decoded (Pillow's decompression-bomb guard,
made an error rather than a warning). Anything else wrong with it is one line, exit 1.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privacy.errors import CheckInputError, PrivacyError

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL import Image

    from capture.ocr.base import OcrBackend

MAX_BYTES = 64 * 2**20
"""Largest file read (a 4K screenshot as PNG is a few MB)."""
MAX_PIXELS = 8192 * 8192
"""Largest image decoded: two 4K screens side by side fit, a decompression bomb does not."""
EXIT_NO_OCR = 69
"""No OCR engine here: the scrub cannot run on this machine (README: cannot capture here)."""


class ImageRefused(PrivacyError):
    """The file is not an image this command will decode (exit 1: a data problem)."""

    exit_code = 1


class NoOcr(PrivacyError):
    """No OCR engine could start here; the message says what to install."""

    exit_code = EXIT_NO_OCR


@dataclass(frozen=True, slots=True)
class ImageCheck:
    """What the scrub made of an image: the engine, lines read, boxes it would mask."""

    engine: str
    width: int
    height: int
    lines: list[dict[str, Any]]
    masks: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``--json``."""
        counts: dict[str, int] = {}
        for mask in self.masks:
            counts[mask["category"]] = counts.get(mask["category"], 0) + 1
        return {
            "engine": self.engine,
            "width": self.width,
            "height": self.height,
            "lines": self.lines,
            "masks": self.masks,
            "counts": counts,
        }


def read_bytes(path: Path) -> bytes:
    """The file's bytes: a regular file no larger than ``MAX_BYTES``, else CheckInputError."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CheckInputError(f"cannot read {path}: no such file") from None
    except OSError as exc:
        raise CheckInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise CheckInputError(f"cannot read {path}: it is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise CheckInputError(f"cannot read {path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise ImageRefused(f"{path}: larger than {MAX_BYTES // 2**20} MB, not read")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CheckInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:  # it grew while read
        raise ImageRefused(f"{path}: larger than {MAX_BYTES // 2**20} MB, not read")
    return data


def decode(data: bytes, name: str) -> Image.Image:
    """The first frame of the image in ``data`` as RGB; ImageRefused for anything else."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        # Pillow warns (not raises) between MAX_IMAGE_PIXELS and twice that: refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size  # from the header, nothing decoded yet
            if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
                raise ImageRefused(
                    f"{name}: {width}x{height} pixels is over the limit "
                    f"({MAX_PIXELS // 2**20} M pixels), not decoded"
                )
            image.seek(0)  # an animation: its first frame
            image.load()
            return image.convert("RGB")
        except PrivacyError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRefused(
                f"{name}: too many pixels (a decompression bomb?), refused"
            ) from None
        except UnidentifiedImageError:
            raise ImageRefused(f"{name}: not an image Pillow can read") from None
        except Exception as exc:
            # Truncated or malformed data raises many types (OSError, SyntaxError,
            # ValueError, struct.error, EOFError...): the type only, one line.
            raise ImageRefused(f"{name}: a damaged image ({type(exc).__name__})") from None


def default_engine() -> OcrBackend:
    """The platform's OCR engine, as the daemon chooses it; NoOcr when none starts."""
    from capture.backends import ocr_backend
    from capture.errors import CaptureError

    try:
        return ocr_backend()
    except CaptureError as exc:  # OcrUnavailable, SourceUnavailable, BackendChoiceError
        raise NoOcr(f"no OCR engine: {exc}") from None


def check_image(
    path: str | Path, engine_factory: Callable[[], OcrBackend] | None = None
) -> ImageCheck:
    """What the screen scrub would read in the image at ``path`` and what it would mask."""
    from capture.ocr.base import OcrUnavailable
    from privacy.screen_scrub import ScreenScrubber, line_text, lines_of

    file = Path(path)
    image = decode(read_bytes(file), str(file))
    engine = (engine_factory or default_engine)()
    try:
        scrubber = ScreenScrubber(engine)
        try:
            words = scrubber.read(image)
        except OcrUnavailable as exc:
            raise NoOcr(f"the OCR engine failed: {exc}") from None
        result = scrubber.scrub(image)
        if result.withheld_reason is not None:
            raise NoOcr(f"the scrub could not judge the image ({result.withheld_reason})")
        lines = []
        for line in lines_of(words):
            text, _ = line_text(line)
            x0, y0 = min(w.left for w in line), min(w.top for w in line)
            x1, y1 = max(w.right for w in line), max(w.bottom for w in line)
            lines.append({"text": text, "box": [x0, y0, x1 - x0, y1 - y0]})
        masks = [
            {"category": category, "box": [r.x, r.y, r.width, r.height]}
            for r, category in sorted(
                zip(result.masks, result.categories, strict=True), key=lambda m: (m[0].y, m[0].x)
            )
        ]
        return ImageCheck(engine.version, image.width, image.height, lines, masks)
    finally:
        engine.close()

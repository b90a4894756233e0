"""A scripted OCR backend for tests: words found by matching known pixel tiles.

``FakeOcr`` reads nothing: it returns the words it was given for any image (``words``),
or runs ``reader`` on the image, counts its calls, and fails on demand (``fail``), so
tests of the scrub stage and of the screen source need no engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from capture.ocr.base import OcrUnavailable, OcrWord

if TYPE_CHECKING:
    from PIL import Image


class FakeOcr:
    """``OcrBackend`` answering from a script: fixed words or a function of the image."""

    name = "fake"

    def __init__(
        self,
        words: Sequence[OcrWord] = (),
        reader: Callable[[Image.Image], list[OcrWord]] | None = None,
    ) -> None:
        self.words = list(words)
        self.reader = reader
        self.calls = 0
        self.fail: str | None = None
        """When set, every read raises OcrUnavailable with this reason."""

    @property
    def version(self) -> str:
        """Always ``fake 1``."""
        return "fake 1"

    def read(self, image: Image.Image) -> list[OcrWord]:
        """The scripted words (or ``reader(image)``); raises when ``fail`` is set."""
        self.calls += 1
        if self.fail is not None:
            raise OcrUnavailable(self.fail)
        return self.reader(image) if self.reader is not None else list(self.words)

    def close(self) -> None:
        """Nothing to release."""

"""The OCR kind's interface: an image in, words with their boxes out.

Every backend (``tesseract`` on Linux, ``macos`` through the Vision framework,
``windows`` through ``Windows.Media.Ocr``, ``fake`` for tests) reads a Pillow image and
returns ``OcrWord`` values in that image's pixel coordinates. Nothing a backend reads is
logged or written anywhere: the words live in memory, for the screen scrub only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from capture.errors import CaptureError

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True, slots=True)
class OcrWord:
    """One recognised word and its box, in the read image's pixel coordinates."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float
    """0 to 100 (a backend without a figure says 100)."""

    @property
    def right(self) -> int:
        """The first column after the word."""
        return self.left + self.width

    @property
    def bottom(self) -> int:
        """The first row below the word."""
        return self.top + self.height


class OcrUnavailable(CaptureError):
    """No text recognition here (engine or language data missing, or it failed); the
    message says why and what to do. Frames that need it are withheld, never stored."""

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(f"{reason}: {fix}" if fix else reason)
        self.reason = reason
        self.fix = fix


@runtime_checkable
class OcrBackend(Protocol):
    """Reads the words of an image; one thread uses an instance at a time."""

    name: str
    """The backend's row name (``tesseract``, ``macos``, ``windows``, ``fake``)."""

    @property
    def version(self) -> str:
        """The engine and its version, for the manifest (e.g. ``tesseract 5.3.0``)."""
        ...

    def read(self, image: Image.Image) -> list[OcrWord]:
        """The words of ``image``; raises ``OcrUnavailable`` when the engine fails."""
        ...

    def close(self) -> None:
        """Release the engine (its model's memory)."""
        ...

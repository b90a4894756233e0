"""OCR through Apple's Vision framework (macOS): ``VNRecognizeTextRequest``.

Written against the platform API and type-checked for darwin, not run here (README,
support). Vision returns observations with normalised boxes (origin bottom-left); each
observation's top candidate is split into words, each word's box asked of the candidate
(``boundingBoxForRange_error_``), and turned into pixel coordinates (origin top-left).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from capture.ocr.base import OcrUnavailable, OcrWord

if TYPE_CHECKING:
    from PIL import Image

INSTALL = "pip install pyobjc-framework-Vision (macOS 10.15 or newer)"
"""The fix printed when Vision cannot be used."""


class VisionOcr:
    """``OcrBackend`` over Vision's accurate text recogniser, on the device only."""

    name = "macos"

    def __init__(self) -> None:
        try:
            import Foundation
            import Vision
        except ImportError:
            raise OcrUnavailable("the Vision framework binding is missing", INSTALL) from None
        self._vision: Any = Vision
        self._foundation: Any = Foundation

    @property
    def version(self) -> str:
        """``vision`` and the recogniser's revision."""
        revision = getattr(self._vision, "VNRecognizeTextRequestRevision3", 3)
        return f"vision {revision}"

    def read(self, image: Image.Image) -> list[OcrWord]:
        """The words of ``image`` (encoded in memory as PNG, handed to Vision)."""
        width, height = image.size
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        data = self._foundation.NSData.dataWithBytes_length_(buffer.getvalue(), buffer.tell())
        handler = self._vision.VNImageRequestHandler.alloc().initWithData_options_(data, None)
        request = self._vision.VNRecognizeTextRequest.alloc().init()
        request.setRecognitionLevel_(self._vision.VNRequestTextRecognitionLevelAccurate)
        # Language correction would "fix" identifiers into words and hide them.
        request.setUsesLanguageCorrection_(False)
        ok, error = handler.performRequests_error_([request], None)
        if not ok:
            raise OcrUnavailable("Vision failed" if error is not None else "Vision gave no result")
        words: list[OcrWord] = []
        for observation in request.results() or ():
            candidates = observation.topCandidates_(1)
            if not candidates:
                continue
            candidate = candidates[0]
            text = str(candidate.string())
            confidence = float(candidate.confidence()) * 100
            start = 0
            for part in text.split(" "):
                if part:
                    found = _word_box(candidate, start, len(part), width, height)
                    if found is not None:
                        words.append(OcrWord(part, *found, confidence))
                start += len(part) + 1
        return words

    def close(self) -> None:
        """Nothing held between reads."""


def _word_box(
    candidate: Any, start: int, length: int, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """A word's box in pixels (origin top-left), or None when Vision cannot place it."""
    observation, _error = candidate.boundingBoxForRange_error_((start, length), None)
    if observation is None:
        return None
    box = observation.boundingBox()
    x, y = box.origin.x * width, box.origin.y * height
    w, h = box.size.width * width, box.size.height * height
    top = height - (y + h)
    return int(x), int(top), max(1, round(w)), max(1, round(h))

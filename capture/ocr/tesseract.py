"""Tesseract OCR in process through tesserocr (Linux; Debian ``tesseract-ocr``).

tesserocr links libtesseract into the agent: one engine, loaded once, reads every region
with no process per call. Measured here (docs/PERFORMANCE.md, Screen scrub): a line of
terminal text costs ~0.04 s of CPU in process against ~0.22 s through the ``tesseract``
command (what pytesseract runs), which must also load its model every time. The language
data comes from the system package (``tesseract-ocr`` installs ``eng``); the wheel ships
the engine only.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capture.ocr.base import OcrUnavailable, OcrWord

if TYPE_CHECKING:
    from PIL import Image

INSTALL = (
    "install the engine's language data (Debian/Ubuntu: sudo apt-get install tesseract-ocr) "
    "and the binding (pip install tesserocr; it comes with capture-agent), or run make run"
)
"""The fix printed when Tesseract cannot start."""

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)
"""Where distributions put the language data, searched after ``TESSDATA_PREFIX``."""


def find_tessdata(language: str = "eng", environ: dict[str, str] | None = None) -> Path:
    """The folder holding ``<language>.traineddata``; OcrUnavailable when none does."""
    env = os.environ if environ is None else environ
    candidates = [env["TESSDATA_PREFIX"]] if env.get("TESSDATA_PREFIX") else []
    for folder in (*candidates, *TESSDATA_DIRS):
        if (Path(folder) / f"{language}.traineddata").is_file():
            return Path(folder)
    raise OcrUnavailable(f"no Tesseract language data for {language!r}", INSTALL)


class TesseractOcr:
    """``OcrBackend`` over libtesseract (tesserocr): one engine, reused for every read."""

    name = "tesseract"

    def __init__(self, language: str = "eng") -> None:
        try:
            import tesserocr
        except ImportError:
            raise OcrUnavailable("the tesserocr module is not installed", INSTALL) from None
        self._tesserocr: Any = tesserocr
        folder = find_tessdata(language)
        try:
            # Each line of the screen's text is read as one block: layout analysis
            # over a strip a few lines high finds nothing more and costs time. No word
            # lists: what must be found (numbers, tokens, addresses) is not words, and
            # a dictionary would "correct" it towards words (measured ~5 % less CPU).
            self._api: Any = tesserocr.PyTessBaseAPI(
                path=str(folder),
                lang=language,
                psm=tesserocr.PSM.SINGLE_BLOCK,
                variables={"load_system_dawg": "F", "load_freq_dawg": "F"},
            )
        except RuntimeError as exc:
            raise OcrUnavailable(f"Tesseract did not start ({exc})", INSTALL) from None
        self._version = "tesseract " + str(tesserocr.tesseract_version()).split()[1]
        # tesserocr's engine is not thread-safe; reads from two threads take turns.
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """``tesseract <version>`` of the linked library."""
        return self._version

    def read(self, image: Image.Image) -> list[OcrWord]:
        """The words of ``image`` with their boxes and confidences."""
        ril = self._tesserocr.RIL.WORD
        words: list[OcrWord] = []
        with self._lock:
            api = self._api
            if api is None:
                raise OcrUnavailable("the Tesseract engine was closed")
            try:
                # Raw pixels: SetImage(PIL image) encodes a PNG for the engine to decode
                # again (3 % of the scrub's CPU, measured over the bench's reads).
                pixels = image if image.mode in ("L", "RGB") else image.convert("RGB")
                depth = 1 if pixels.mode == "L" else 3
                api.SetImageBytes(
                    pixels.tobytes(), pixels.width, pixels.height, depth, depth * pixels.width
                )
                api.Recognize()
                iterator = api.GetIterator()
                if iterator is None:
                    return words
                for word in self._tesserocr.iterate_level(iterator, ril):
                    box = word.BoundingBox(ril)
                    if box is None:
                        continue  # an empty page: the iterator stands on nothing
                    try:
                        text = word.GetUTF8Text(ril)
                    except RuntimeError:
                        continue  # "No text returned" for a box without a word
                    if not text or not text.strip():
                        continue
                    x0, y0, x1, y1 = box
                    words.append(
                        OcrWord(text.strip(), x0, y0, x1 - x0, y1 - y0, word.Confidence(ril))
                    )
            except RuntimeError as exc:
                raise OcrUnavailable(f"Tesseract failed ({type(exc).__name__})") from None
            finally:
                api.Clear()
        return words

    def close(self) -> None:
        """Free the engine and its model."""
        with self._lock:
            api, self._api = self._api, None
        if api is not None:
            api.End()

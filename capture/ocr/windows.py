"""OCR through ``Windows.Media.Ocr`` (Windows 10 and later), via the winrt projection.

Written against the platform API and type-checked for win32, not run here (README,
support). The engine is created for the person's profile languages; the image is handed
over as a ``SoftwareBitmap`` (BGRA8) built from memory, and each recognised word comes
with its pixel box. WinRT calls are asynchronous; each read waits on its own event loop.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from capture.ocr.base import OcrUnavailable, OcrWord

if TYPE_CHECKING:
    from PIL import Image

INSTALL = (
    "pip install winrt-Windows.Media.Ocr winrt-Windows.Graphics.Imaging "
    "winrt-Windows.Storage.Streams"
)
"""The fix printed when the Windows engine cannot be used."""


class WindowsOcr:
    """``OcrBackend`` over ``Windows.Media.Ocr.OcrEngine`` (on the device only)."""

    name = "windows"

    def __init__(self) -> None:
        try:
            from winrt.windows.graphics.imaging import (  # type: ignore[import-not-found,unused-ignore]
                BitmapPixelFormat,
                SoftwareBitmap,
            )
            from winrt.windows.media.ocr import OcrEngine  # type: ignore[import-not-found,unused-ignore]
            from winrt.windows.storage.streams import DataWriter  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise OcrUnavailable("the Windows.Media.Ocr projection is missing", INSTALL) from None
        engine: Any = OcrEngine.try_create_from_user_profile_languages()
        if engine is None:
            raise OcrUnavailable(
                "no OCR language installed for this profile",
                "add a language with its OCR feature in Settings > Time & language",
            )
        self._engine = engine
        self._bitmap: Any = SoftwareBitmap
        self._format: Any = BitmapPixelFormat
        self._writer: Any = DataWriter

    @property
    def version(self) -> str:
        """``windows.media.ocr`` and the engine's language."""
        return f"windows.media.ocr {self._engine.recognizer_language.language_tag}"

    def read(self, image: Image.Image) -> list[OcrWord]:
        """The words of ``image``."""
        rgba = image.convert("RGBA")
        # SoftwareBitmap wants BGRA: swap the channels in memory.
        red, green, blue, alpha = rgba.split()
        from PIL import Image as PILImage

        bgra = PILImage.merge("RGBA", (blue, green, red, alpha)).tobytes()
        writer = self._writer()
        writer.write_bytes(list(bgra))
        buffer = writer.detach_buffer()
        bitmap = self._bitmap.create_copy_from_buffer(
            buffer, self._format.BGRA8, rgba.width, rgba.height
        )
        try:
            result = asyncio.run(self._recognize(bitmap))
        except OSError as exc:
            raise OcrUnavailable(f"Windows OCR failed ({type(exc).__name__})") from None
        words: list[OcrWord] = []
        for line in result.lines:
            for word in line.words:
                box = word.bounding_rect
                words.append(
                    OcrWord(
                        str(word.text),
                        int(box.x),
                        int(box.y),
                        max(1, round(box.width)),
                        max(1, round(box.height)),
                        100.0,  # the engine gives no confidence
                    )
                )
        return words

    async def _recognize(self, bitmap: Any) -> Any:
        return await self._engine.recognize_async(bitmap)

    def close(self) -> None:
        """Nothing held between reads beyond the engine."""

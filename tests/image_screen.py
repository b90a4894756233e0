"""An in-memory screen for the screen source's tests: a Pillow image it grabs whole or
by region (``capture.screen.mss_source.RegionGrabber``), a fresh BGRA buffer per shot.
Draw on ``image`` while holding ``lock``: the source grabs on its own thread."""

from __future__ import annotations

import threading

from PIL import Image

from capture.screen.frame_diff import Box
from capture.screen.frame_maker import RawShot


class ImageScreen:
    """``image`` as the screen (its top-left corner at 0,0)."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self.lock = threading.Lock()

    def _shot(self, box: Box) -> RawShot:
        with self.lock:
            part = self.image.crop((box.x, box.y, box.x + box.width, box.y + box.height))
        bgra = bytearray(part.convert("RGBA").tobytes("raw", "BGRA"))
        return RawShot(box.x, box.y, box.width, box.height, bgra)

    def grab(self) -> RawShot:
        return self._shot(Box(0, 0, self.image.width, self.image.height))

    def grab_region(self, box: Box) -> RawShot:
        return self._shot(box)

    def close(self) -> None:
        pass

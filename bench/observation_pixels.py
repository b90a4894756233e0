"""Whether a stale observation shows what the screen showed at the action (issue 22).

``bench.observations`` counts an action's observation as stale when something was drawn
on the screen after its frame was grabbed and before the action began. A draw need not
change a pixel: xterm redraws its cursor cell, unchanged, on every button release. To
tell such draws apart, the workload's driver takes a screen grab of its own just before
each action it drives (``ScreenGrabs.take``, in the bench process: the agent's CPU
figures are its own process's). After the run, an action stale by draws is *stale by
pixels* unless the driver's grab shows, inside every box drawn since the frame, exactly
the pixels of the composed frame paired with it (``pixel_verdict``).

Conservative on timing: the grab must come after every such draw. A draw after the grab
began (or within ``MARGIN`` before it: draw times are mapped from whole server
milliseconds) and before the action is one the grab does not show, so the action counts
as stale by pixels. So does a draw with no box, a box outside the frame, a frame that
cannot be read, or no grab before the action.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageChops

MARGIN = 0.005
"""Seconds before a grab began in which a draw may still be missing from it: draw times
are whole server milliseconds mapped to wall time (``bench.screen_changes``)."""

Box = tuple[int, int, int, int]
"""x, y, width, height of a drawn rectangle, in root-window (screen) pixels."""


class Draw(NamedTuple):
    """One draw on the screen: when (wall time), how many pixels, and where (if known)."""

    t: float
    area: int
    box: Box | None = None


@dataclass(frozen=True)
class Grab:
    """The whole screen as the driver grabbed it, between ``start`` and ``end`` (wall
    time): pixels in ``layout`` (Pillow's raw modes: mss grabs "BGRX"), zlib-compressed
    (an xterm screen: ~100 KB instead of 8 MB)."""

    start: float
    end: float
    size: tuple[int, int]
    pixels: bytes
    layout: str = "BGRX"

    @classmethod
    def of(cls, start: float, end: float, image: Image.Image) -> Grab:
        """A grab holding ``image`` (tests build synthetic screens with it)."""
        rgb = image.convert("RGB").tobytes()
        return cls(start, end, image.size, zlib.compress(rgb, 1), "RGB")

    def image(self) -> Image.Image:
        """The grabbed screen as an RGB image."""
        raw = zlib.decompress(self.pixels)
        return Image.frombytes("RGB", self.size, raw, "raw", self.layout)


class ScreenGrabs:
    """Grabs the whole screen of ``display`` on request (the driver's thread only) and
    compresses each grab in a thread of its own (zlib lets go of the GIL: the driver's
    timing is not held up by the ~20 ms it takes)."""

    def __init__(self, display: str) -> None:
        import mss

        self._mss = mss.MSS(display=display)
        self._whole = dict(self._mss.monitors[0])
        self._pack = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grab-pack")
        self._taken: list[tuple[float, float, tuple[int, int], Future[bytes]]] = []

    def take(self) -> None:
        """Grab the screen now (a few ms), before the driver acts."""
        import time

        start = time.time()
        shot = self._mss.grab(self._whole)
        end = time.time()
        # A copy (the shared-memory buffer is the next grab's); packed off this thread.
        self._taken.append((start, end, shot.size, self._pack.submit(_pack, shot.bgra)))

    def stop(self) -> list[Grab]:
        """Every grab, in the order taken; the grabber is closed."""
        self._pack.shutdown(wait=True)
        self._mss.close()
        return [Grab(s, e, (w, h), f.result()) for s, e, (w, h), f in self._taken]


def _pack(rgb: bytes) -> bytes:
    return zlib.compress(rgb, 1)


class Frames:
    """Exported full frames, read once each (an action's observation is a file path)."""

    def __init__(self) -> None:
        self._read: dict[str, Image.Image | None] = {}

    def get(self, path: Any) -> Image.Image | None:
        """The frame at ``path`` as RGB, or None (no such file, not an image)."""
        if not isinstance(path, str):
            return None
        if path not in self._read:
            try:
                with Image.open(Path(path)) as opened:
                    self._read[path] = opened.convert("RGB")
            except (OSError, ValueError):
                self._read[path] = None
        return self._read[path]


def grab_before(grabs: Sequence[Grab], ts: float) -> Grab | None:
    """The last grab begun before ``ts`` (``grabs`` in the order taken), or None."""
    i = bisect.bisect_left([g.start for g in grabs], ts)
    return grabs[i - 1] if i else None


def pixel_verdict(
    frame: Image.Image | None,
    frame_origin: tuple[int, int],
    drawn: Sequence[Draw],
    grab: Grab | None,
    grab_image: Image.Image | None = None,
) -> str:
    """Why an observation stale by ``drawn`` (the draws after its frame, before the
    action) is or is not stale by pixels: ``same_pixels`` (not stale: the grab before
    the action shows the frame's pixels in every drawn box) or the reason it is.

    ``frame_origin``: the frame's top-left on the screen; ``grab_image``: ``grab``
    decoded already (a caller checking many actions against one grab)."""
    if grab is None:
        return "no_grab"
    if any(d.t >= grab.start - MARGIN for d in drawn):
        return "drawn_after_grab"
    if frame is None:
        return "no_frame"
    if any(d.box is None for d in drawn):
        return "no_box"
    shown = grab_image if grab_image is not None else grab.image()
    left, top = frame_origin
    for d in drawn:
        assert d.box is not None
        x, y, w, h = d.box
        fx, fy = x - left, y - top
        if fx < 0 or fy < 0 or fx + w > frame.width or fy + h > frame.height:
            return "outside_frame"
        if x < 0 or y < 0 or x + w > shown.width or y + h > shown.height:
            return "outside_grab"
        before = frame.crop((fx, fy, fx + w, fy + h))
        now = shown.crop((x, y, x + w, y + h))
        if ImageChops.difference(before, now).getbbox() is not None:
            return "pixels_differ"
    return "same_pixels"

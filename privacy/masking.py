"""Screen masking: paint denied windows over before a frame is encoded.

The capture side lists the windows visible on the screen (``VisibleWindow``, plain
values defined and enumerated in ``capture.window.visible``); ``denied_windows`` picks those
the denylist covers, and ``mask_image`` or ``mask_pixels`` paints them over before
encoding. ``WindowMasker`` puts these together as the screen source's mask, run on
every raw shot right after the grab. A denied window anywhere on the virtual screen,
focused or not, becomes a solid rectangle. The frame must be dropped (the functions
return None / False) when masking cannot be trusted: a denied window whose geometry is
unknown, or a denied window that has the focus (then nothing of the screen is kept).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from PIL import Image

from capture.window.visible import Rect, VisibleWindow, WindowLister
from privacy.denylist import Denylist
from privacy.known_secrets import KnownSecrets
from privacy.scrub_ledger import MaskedRect, ScrubLedger

if TYPE_CHECKING:
    from capture.screen.frame_maker import RawShot

__all__ = [
    "MASK_RGB",
    "Rect",
    "VisibleWindow",
    "WindowMasker",
    "denied_windows",
    "mask_image",
    "mask_pixels",
    "must_drop",
    "paint_rects",
]

log = logging.getLogger(__name__)

MASK_RGB = (0, 0, 0)
"""The colour denied windows are painted with."""


def denied_windows(windows: Iterable[VisibleWindow], denylist: Denylist) -> list[VisibleWindow]:
    """The windows of ``windows`` that the denylist covers."""
    return [w for w in windows if denylist.match(w.title, w.app, w.process) is not None]


def must_drop(denied: Sequence[VisibleWindow]) -> bool:
    """Whether a frame showing these denied windows must be dropped rather than masked."""
    return any(w.focused or w.geometry is None for w in denied)


def _local_boxes(
    denied: Sequence[VisibleWindow | Rect], left: int, top: int, width: int, height: int
) -> list[tuple[int, int, int, int]]:
    boxes = []
    for w in denied:
        g = w if isinstance(w, Rect) else w.geometry
        assert g is not None
        x0, y0 = max(0, g.x - left), max(0, g.y - top)
        x1, y1 = min(width, g.x - left + g.width), min(height, g.y - top + g.height)
        if x0 < x1 and y0 < y1:
            boxes.append((x0, y0, x1, y1))
    return boxes


def mask_image(
    image: Image.Image, denied: Sequence[VisibleWindow], left: int = 0, top: int = 0
) -> Image.Image | None:
    """Paint each denied window on ``image`` (changed in place and returned), or None to drop.

    ``left`` and ``top`` are the virtual-screen coordinates of the image's top-left pixel
    (a frame's ``left``/``top``: negative when a monitor sits left of or above the
    primary one).
    """
    if must_drop(denied):
        return None
    boxes = _local_boxes(denied, left, top, image.width, image.height)
    if boxes:
        # Imported here: ImageDraw brings Pillow's FreeType (~1.7 MB resident) and the
        # agent paints raw pixels (``mask_pixels``), never images (issue 23).
        from PIL import ImageDraw

        draw = ImageDraw.Draw(image)
        fill: int | tuple[int, ...] = (
            0
            if image.mode in ("L", "1")
            else ((*MASK_RGB, 255) if image.mode == "RGBA" else MASK_RGB)
        )
        for x0, y0, x1, y1 in boxes:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
    return image


def mask_pixels(
    pixels: bytearray | memoryview,
    width: int,
    height: int,
    denied: Sequence[VisibleWindow],
    left: int = 0,
    top: int = 0,
    bytes_per_pixel: int = 4,
) -> bool:
    """Paint each denied window into raw pixels in place; False means drop the frame.

    ``pixels`` is row-major, ``bytes_per_pixel`` bytes per pixel with no row padding
    (mss gives BGRA, 4 bytes; RGB is 3). Every byte of a masked pixel is set to 0.
    """
    if must_drop(denied):
        return False
    paint_rects(pixels, width, height, denied, left, top, bytes_per_pixel)
    return True


def paint_rects(
    pixels: bytearray | memoryview,
    width: int,
    height: int,
    rects: Sequence[VisibleWindow | Rect],
    left: int = 0,
    top: int = 0,
    bytes_per_pixel: int = 4,
) -> None:
    """Set every byte of the pixels inside ``rects`` (windows with a geometry, or plain
    rectangles; virtual-screen coordinates) to 0, in place."""
    if len(pixels) < width * height * bytes_per_pixel:
        raise ValueError("pixel buffer is smaller than width * height * bytes_per_pixel")
    stride = width * bytes_per_pixel
    for x0, y0, x1, y1 in _local_boxes(rects, left, top, width, height):
        row = bytes((x1 - x0) * bytes_per_pixel)
        for y in range(y0, y1):
            start = y * stride + x0 * bytes_per_pixel
            pixels[start : start + len(row)] = row


class WindowMasker:
    """The screen source's mask: paints denied windows into each raw shot, or drops it.

    Called on the screen thread with every grab, before anything else looks at the
    pixels. Returns False (drop the frame) when a denied window has the focus, when a
    denied window's geometry is unknown, when the shot cannot be changed in place, and
    when listing or masking fails for any reason (fail closed). ``dropped`` counts the
    drops by reason and ``masked`` the frames that had something painted over; neither
    ever holds a title or an app name. ``covered`` holds the denied windows' whole
    rectangles of the last call that returned True (the screen source needs to know
    where the mask changed between frames that grab only part of the screen).

    With ``known_secrets`` (shared with the typed-text stage) the secrets typed and
    echoed are painted over too (``KnownSecrets.masks``): ``regions`` counts the
    rectangles painted per category, ``frames`` the shots judged (both numbers only),
    and a frame whose secret cannot be located is dropped ("secret_unlocated").
    """

    def __init__(
        self,
        lister: WindowLister,
        denylist: Denylist,
        known_secrets: KnownSecrets | None = None,
        ledger: ScrubLedger | None = None,
        locate: Callable[[RawShot, Sequence[Rect]], None] | None = None,
    ) -> None:
        self.lister = lister
        # Reads the text under a typed secret's mask before it is painted (the OCR
        # scrubber's ``locate``): once found there, the mask shrinks to the secret's
        # words. Painted first, the secret could never be found again, and the damage
        # drawn while it was typed (the line beside it, a whole window) stayed masked.
        self.locate = locate
        # Told what each shot had masked (or that it was withheld), for the manifest.
        self.ledger = ledger
        self.denylist = denylist
        self.known_secrets = known_secrets
        self.regions: dict[str, int] = {}
        self.frames = 0
        self.masked = 0
        self.dropped: dict[str, int] = {}
        self.covered: tuple[Rect, ...] = ()
        if not lister.complete:
            log.info(
                "this platform reports only the focused window: denied windows "
                "visible without the focus are not masked"
            )

    def __call__(self, shot: RawShot) -> bool:
        """Mask ``shot.bgra`` in place; False means the frame must be dropped."""
        painted: dict[str, dict[str, int]] = {}
        where: list[MaskedRect] = []
        kept = self._mask(shot, painted, where)
        if kept and self.ledger is not None:
            self.ledger.judged(painted, where)
        return kept

    def tag_frame(self, number: int) -> None:
        """The screen source made frame ``number`` from the last shot kept."""
        if self.ledger is not None:
            self.ledger.tag(number)

    def _mask(
        self, shot: RawShot, painted: dict[str, dict[str, int]], where: list[MaskedRect]
    ) -> bool:
        try:
            windows = self.lister.list_windows()
            denied = denied_windows(windows, self.denylist)
            covered = tuple(w.geometry for w in denied if w.geometry is not None)
            if self.known_secrets is not None:
                secrets = self.known_secrets.masks(windows, self.lister.complete)
                if secrets.withhold is not None:
                    return self._drop(secrets.withhold)
                if (
                    secrets.rects
                    and self.locate is not None
                    and self.known_secrets.needs_locating()
                ):
                    self.locate(shot, secrets.rects)
                    secrets = self.known_secrets.masks(windows, self.lister.complete)
                    if secrets.withhold is not None:
                        return self._drop(secrets.withhold)
                if secrets.rects:
                    if not self._paint_secrets(shot, secrets.rects):
                        return self._drop("immutable_pixels")
                    for category, n in secrets.regions.items():
                        self.regions[category] = self.regions.get(category, 0) + n
                    painted["typed_secret"] = dict(secrets.regions)
                    where.extend(
                        MaskedRect("typed_secret", category, r.x, r.y, r.width, r.height)
                        for r, category in zip(secrets.rects, secrets.categories, strict=False)
                    )
                covered += secrets.rects
            self.frames += 1
            self.covered = covered
            if not denied:
                return True
            if any(w.focused for w in denied):
                return self._drop("denied_focused")
            if must_drop(denied):
                return self._drop("unknown_geometry")
            pixels = shot.bgra
            if isinstance(pixels, bytes) or (isinstance(pixels, memoryview) and pixels.readonly):
                return self._drop("immutable_pixels")
            if not mask_pixels(pixels, shot.width, shot.height, denied, shot.left, shot.top):
                return self._drop("refused")
            painted["window"] = {"denied_window": len(denied)}
            where.extend(
                MaskedRect("window", "denied_window", g.x, g.y, g.width, g.height)
                for g in (w.geometry for w in denied)
                if g is not None
            )
        except Exception as exc:
            # The exception's type only: a message could quote a title.
            log.warning("screen masking failed, frame dropped: %s", type(exc).__name__)
            return self._drop("error")
        self.masked += 1
        return True

    def note_damage(self, box: Rect | None, since: float, until: float) -> None:
        """Where the screen was drawn between two damage reads (the screen thread's)."""
        if self.known_secrets is not None:
            self.known_secrets.note_damage(box, since, until)

    def _paint_secrets(self, shot: RawShot, rects: Sequence[Rect]) -> bool:
        pixels = shot.bgra
        if isinstance(pixels, bytes) or (isinstance(pixels, memoryview) and pixels.readonly):
            return False
        paint_rects(pixels, shot.width, shot.height, rects, shot.left, shot.top)
        return True

    def close(self) -> None:
        """Close the lister (its window-system connection)."""
        self.lister.close()

    def _drop(self, reason: str) -> bool:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if self.ledger is not None:
            self.ledger.withheld(reason)
        return False

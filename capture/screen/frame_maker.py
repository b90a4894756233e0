"""Raw screen pixels to ``Frame`` events: change checks, cropping, WebP encoding.

``FrameMaker`` decides whether a shot is a key frame (the whole screen), a changed
region or nothing new, crops before any conversion so every buffer shrinks with the
region, and encodes in memory (``FrameEncoder``: lossless or lossy WebP). It holds CRCs
of the last frame (``ChangeTracker``), not its pixels. Raw pixels never touch disk and
are never logged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NamedTuple

from capture.events import Frame
from capture.screen.frame_diff import Box, ChangeTracker, RegionSnapshot, Snapshot, crop_bgra
from capture.screen.frame_encoder import FrameEncoder, KeptBands


class RawShot(NamedTuple):
    """Uncompressed BGRA pixels of a screen region (in memory only)."""

    left: int
    top: int
    width: int
    height: int
    bgra: bytes | bytearray | memoryview


def _heap_trimmer() -> Callable[[], None]:
    # A frame passes through short-lived buffers (raw grab, each band's RGB copy, the
    # encoder's own planes). The daemon's heap settings (agent/runtime/heap.py) send those of 4 MB
    # and more straight back to the system and keep up to 8 MB free at the top of an
    # arena for the next band; smaller ones freed lower down (a region's) stay in glibc's
    # bins until trimmed. malloc_trim hands those back (cheap next to the encoding; once
    # per frame at most).
    # Elsewhere (macOS, Windows, musl) this does nothing.
    if not sys.platform.startswith("linux"):
        return lambda: None
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]

    def trim_now() -> None:
        trim(0)

    return trim_now


trim_heap = _heap_trimmer()
"""Return freed heap memory to the OS where the C library allows it."""


class Pending(NamedTuple):
    """A shot checked, ready to encode: ``bgra`` holds only the pixels of ``box``
    (after ``FrameMaker.cropped`` where ``prepare`` was told not to crop)."""

    shot: RawShot
    bgra: bytes | bytearray | memoryview
    key: bool
    box: Box
    snapshot: Snapshot | RegionSnapshot | None


class FrameMaker:
    """Turns raw shots into ``Frame`` events: the whole screen or only what changed.

    A shot identical to the last frame gives nothing. Otherwise the frame is a key frame
    (the whole screen) when nothing is stored yet, the screen size changed, the whole
    screen changed, or a key frame was requested (``request_key``: a chunk starts, or
    the writer could not store the frame before); else it holds only the rectangle that
    changed, cropped from the raw pixels before any conversion, so every buffer shrinks
    with the region. ``ChangeTracker`` finds the rectangle from CRCs, not a kept image.

    A region grabbed alone (``prepare_region``, where damage reports say what was
    drawn) is compared the same way within itself, and only what changed in it is
    stored: a window system reports what was drawn, which is often more than what
    changed (a focus change redraws whole windows).
    """

    def __init__(self, encoder: FrameEncoder | None = None) -> None:
        self.encoder = encoder or FrameEncoder()
        self.skipped_unchanged = 0
        self.key_frames = 0
        self._tracker = ChangeTracker()
        # The last key frame's encoded bands: the next key frame (each chunk starts with
        # one) encodes only the bands that changed since (docs/PERFORMANCE.md).
        self.kept = KeptBands()
        self._number = 0
        # Set by other threads, read and cleared by the screen thread. Two requests
        # racing with the clear merge into one, which still yields a key frame made
        # after both (that is all a request asks for).
        self._key_wanted = False
        self._key_forced = False

    def reset(self) -> None:
        """Forget the last frame: the next frame is a key frame (capture restarts)."""
        self._tracker.reset()
        self.kept.clear()

    def request_key(self, force: bool = False) -> None:
        """Make the next frame a key frame; with ``force``, even if the screen is unchanged."""
        self._key_wanted = True
        if force:
            self._key_forced = True

    @property
    def key_due(self) -> bool:
        """Whether the next frame must be a key frame, if anything changed."""
        return self._key_wanted or self._tracker.size is None

    @property
    def key_forced(self) -> bool:
        """Whether the next frame must be a key frame even if nothing changed."""
        return self._key_forced

    def make(self, shot: RawShot, trigger: str, ts: float, mono: float) -> Frame | None:
        """The frame for ``shot``, or None when the pixels did not change."""
        pending = self.prepare(shot)
        return None if pending is None else self.encode(pending, trigger, ts, mono)

    def prepare(
        self, shot: RawShot, rows: tuple[int, int] | None = None, *, crop: bool = True
    ) -> Pending | None:
        """Check ``shot`` against the last frame; the pixels to encode, or None when
        they did not change. ``rows``: only these can have changed (``ChangeTracker.compare``).

        A key frame keeps the raw buffer itself (no copy: the encoder converts it band
        by band); a region holds a crop of it, so the caller can drop the raw buffer
        (8 MB at 1920x1080) before encoding. With ``crop`` False a region keeps the raw
        buffer too until ``cropped``: the caller's work in between (the OCR scrub) then
        does not hold its working set and the crop at once.
        """
        box, snapshot = self._tracker.compare(shot.width, shot.height, shot.bgra, rows)
        forced = self._key_forced
        if box is None and not forced:
            # The pixels as stored; a snapshot then only refreshes stale line CRCs.
            self._tracker.commit(snapshot)
            self.skipped_unchanged += 1
            return None
        whole = Box(0, 0, shot.width, shot.height)
        key = box is None or box == whole or self._key_wanted
        if key:
            self._key_wanted = self._key_forced = False
            box, pixels = whole, shot.bgra
        else:
            assert box is not None
            pixels = crop_bgra(shot.bgra, shot.width, box) if crop else shot.bgra
        # snapshot is None when forced while unchanged: the stored CRCs stay right.
        return Pending(shot._replace(bgra=b""), pixels, key, box, snapshot)

    @staticmethod
    def cropped(pending: Pending, shot: RawShot) -> Pending:
        """``pending`` (from ``prepare(shot, crop=False)``) holding only its box's pixels."""
        box = pending.box
        if pending.key or len(pending.bgra) == 4 * box.width * box.height:
            return pending
        return pending._replace(bgra=crop_bgra(shot.bgra, shot.width, box))

    def prepare_region(self, screen: RawShot, shot: RawShot, grabbed: Box) -> Pending | None:
        """Check a region grabbed alone: ``shot`` holds exactly ``grabbed`` of ``screen``.

        ``screen`` is the whole screen's geometry (its pixels are not read); ``grabbed``
        must start and end on the change tracker's segment edges (``band_align``) and
        the screen must be the stored frame's size. None when the region's pixels are
        as stored; else a region frame of what changed within it (the caller made sure
        no key frame is due).
        """
        if (shot.width, shot.height) != (grabbed.width, grabbed.height) or self._tracker.size != (
            screen.width,
            screen.height,
        ):
            raise ValueError("the region shot does not match its box or the stored screen")
        box, snapshot = self._tracker.compare_region(grabbed, shot.bgra)
        if box is None:
            self.skipped_unchanged += 1
            return None
        inside = Box(box.x - grabbed.x, box.y - grabbed.y, box.width, box.height)
        pixels = crop_bgra(shot.bgra, shot.width, inside)
        return Pending(screen._replace(bgra=b""), pixels, False, box, snapshot)

    def encode(
        self,
        pending: Pending,
        trigger: str,
        ts: float,
        mono: float,
        masked_mono: float | None = None,
    ) -> Frame:
        """Encode a prepared shot into a ``Frame``; it becomes the frame the next is
        compared with (call it only for a frame that will be emitted). ``masked_mono``:
        when the mask was painted, if not right after the grab at ``mono``."""
        shot, pixels, key, box, snapshot = pending
        top, *rest = self.encoder.encode_bgra(
            box.width, box.height, pixels, self.kept if key else None
        )
        if isinstance(snapshot, RegionSnapshot):
            self._tracker.commit_region(snapshot)
        else:
            self._tracker.commit(snapshot)
        base = None if key else self._number
        self._number += 1
        if key:
            self.key_frames += 1
        return Frame(
            ts=ts,
            mono=mono,
            width=shot.width,
            height=shot.height,
            image=top,
            bands=tuple(rest),
            trigger=trigger,
            left=shot.left,
            top=shot.top,
            key=key,
            number=self._number,
            base=base,
            x=box.x,
            y=box.y,
            masked_mono=masked_mono,
        )

"""Screen frames through mss: the only module that imports mss.

A ``ScreenSource`` owns one thread, which creates the mss instance (so every X call
happens on that thread), asks ``FramePolicy`` when a frame is due, grabs the whole
virtual screen (all monitors: mss monitor 0), skips the frame when the pixels are
identical to the last stored frame, and encodes to WebP in memory either the whole
screen (a key frame) or only the rectangle that changed (``FrameMaker``). Raw pixels never
touch disk and are never logged; only the encoded image leaves, inside a ``Frame``.

Where the window system reports what was drawn (X11 DAMAGE, ``capture.screen.damage``), the
screen is not read to find out: nothing drawn means no grab at all, and a changed
region is grabbed alone. Key frames, large damage and a mask that changed outside the
damage still take the whole screen, and compare the pixels of the rows drawn on (or
whose mask changed) only.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from capture.base import PixelCallback, SourceBase, SourceCounters
from capture.errors import SourceUnavailable
from capture.events import Emit, Event, Frame, MouseMove
from capture.screen.damage import DamageBox, DamageSource, clip_even, contains, open_damage, union
from capture.screen.frame_diff import (
    Box,
    band_align,
    crop_bgra,
)
from capture.screen.frame_encoder import FrameEncoder
from capture.screen.frame_maker import FrameMaker, Pending, RawShot, trim_heap
from capture.screen.options import DEFAULT_OPTIONS, ScreenOptions
from capture.screen.pixel_stats import PixelStats, measure_bgra
from capture.screen.policy import SETTLE, FramePolicy

if TYPE_CHECKING:
    from capture.window.visible import Rect

log = logging.getLogger(__name__)


class Grabber(Protocol):
    """Takes screenshots of the whole virtual screen; used by one thread only.

    A shot's pixels may be the grabber's own buffer, overwritten by the next grab: use
    or copy them before grabbing again. They must be writable (the mask paints them).
    """

    def grab(self) -> RawShot: ...

    def close(self) -> None: ...


@runtime_checkable
class RegionGrabber(Grabber, Protocol):
    """A ``Grabber`` that can also grab one rectangle of the virtual screen."""

    def grab_region(self, box: Box) -> RawShot:
        """The pixels of ``box`` (relative to the whole screen's top-left corner); the
        shot's ``left``/``top`` are its virtual-screen coordinates."""
        ...


class FrameMask(Protocol):
    """Hides what must never be stored in a raw shot, in place (the screen thread's only).

    Called with every grab before anything else reads the pixels; False means the frame
    must be dropped. Built by the composition root (``privacy.masking.WindowMasker``).
    ``covered`` lists, after a call that returned True, the whole rectangles painted
    over (virtual-screen coordinates, also the parts outside the shot): a region frame
    must also hold where that set changed, even if nothing was drawn there.
    """

    @property
    def covered(self) -> Sequence[Rect]: ...

    def __call__(self, shot: RawShot) -> bool: ...

    def close(self) -> None: ...


class FrameScrub(Protocol):
    """Finds what must be masked in the text of a raw shot (``privacy.screen_scrub``).

    Called on the screen thread with the (window-masked) shot and rows of it that changed
    (a large change band by band, ``scrub_bands``): every line of text reaching into the
    rows must be judged whole, read past them where it has to be. ``columns`` (``[left,
    right)`` of the shot, a region frame's change): only rectangles reaching into them
    are wanted. Returns the rectangles to fill (virtual-screen coordinates), or None when
    the rows could not be judged (no OCR, OCR failed): the frame is then withheld, never
    stored.
    """

    def __call__(
        self, shot: RawShot, top: int, bottom: int, columns: tuple[int, int] | None = None
    ) -> Sequence[Rect] | None: ...

    def close(self) -> None: ...


SCRUB_PIXELS = 1 << 20
"""The most pixels handed to the OCR scrub in one call: a key frame's rows are scrubbed
band by band, so the scrub's working set (an RGB copy of the rows, their ink maps, the
pieces read) is a band's, not the screen's: at 3840x2160 one call over the whole screen
peaked ~87 MB above the grab, bands of 1 MP ~10-16 MB (docs/PERFORMANCE.md)."""
SCRUB_MIN_ROWS = 64
"""Bands are at least this many rows high, however wide the screen."""
SCRUB_CONTEXT = 24
"""Rows grabbed above and below a changed region for the scrub: its margin
(``privacy.screen_scrub.FrameScrubber.MARGIN``), so a line the change cuts is read whole."""


def scrub_bands(top: int, bottom: int, width: int, offset: int) -> list[tuple[int, int]]:
    """Rows ``top``..``bottom`` of a ``width``-pixel-wide shot as bands of at most
    ``SCRUB_PIXELS`` (``SCRUB_MIN_ROWS`` rows at least), in order.

    Band edges lie on a grid fixed to the screen (``offset``: the shot's first row on
    it), so the same rows are cut the same way frame after frame and the scrub's cache
    keys stay the same. The scrub reads every line reaching into a band whole (it reads
    a margin around the rows it is given: 24 rows, ``privacy.screen_scrub``), so a line
    a band edge cuts (up to twice the margin tall) is read whole by one of the two bands.
    """
    rows = max(SCRUB_MIN_ROWS, SCRUB_PIXELS // max(1, width))
    bands: list[tuple[int, int]] = []
    start = top
    while start < bottom:
        end = min(bottom, ((start + offset) // rows + 1) * rows - offset)
        bands.append((start, end))
        start = end
    return bands


STRIP_BYTES = 1 << 20
"""The most pixel bytes grabbed in one request: under the heap's mmap threshold
(agent/runtime/heap.py), so mss's copy of a strip reuses warm memory, and all of MIT-SHM's
segment that is ever written (so resident): smaller strips, less resident memory at the
same CPU (docs/PERFORMANCE.md)."""


class MssGrabber:
    """``Grabber`` over mss: all monitors as one image (mss monitor 0).

    Each shot is read strip by strip into a buffer of its own, which nothing keeps once
    the frame is made: a kept buffer the size of the screen (8 MB at 1920x1080, 33 MB
    at 3840x2160) stayed resident between frames for nothing, while a whole grab is rare
    with damage reports (key frames, large changes); a fresh one costs its page faults,
    ~1 ms at 1920x1080 (docs/PERFORMANCE.md, issue 23).
    """

    def __init__(self) -> None:
        import mss

        # On X11, mss's default backend reads through shared memory (MIT-SHM; XGetImage
        # where the server lacks it): cheaper than through the socket (PERFORMANCE.md).
        # Only the first strip's worth of the screen-sized segment
        # is ever written, so only that much of it becomes resident. The segment is an
        # anonymous memfd passed to the X server over its socket: no file on disk and no
        # SysV id another process could attach to.
        self._mss = mss.MSS()
        # mss sizes the shared segment to the screen as it is now and refuses a larger
        # request, so no strip is larger, whatever the monitors say later.
        whole = self._mss.monitors[0]
        self._strip_bytes = max(1, min(STRIP_BYTES, 4 * whole["width"] * whole["height"]))

    def grab(self) -> RawShot:
        """Grab the whole virtual screen now."""
        # mss reads the monitors once: a screen resized after start (a monitor plugged
        # in) is grabbed at its first size until the agent restarts (README, support).
        whole = self._mss.monitors[0]
        return self._read(whole["left"], whole["top"], whole["width"], whole["height"])

    def grab_region(self, box: Box) -> RawShot:
        """Grab one rectangle of the virtual screen now."""
        whole = self._mss.monitors[0]
        return self._read(whole["left"] + box.x, whole["top"] + box.y, box.width, box.height)

    def _read(self, left: int, top: int, width: int, height: int) -> RawShot:
        stride = 4 * width
        view = memoryview(bytearray(stride * height))
        rows = max(1, self._strip_bytes // stride)
        for y in range(0, height, rows):
            count = min(rows, height - y)
            strip = self._mss.grab({"left": left, "top": top + y, "width": width, "height": count})
            view[y * stride : (y + count) * stride] = strip.raw
        return RawShot(left, top, width, height, view)

    def close(self) -> None:
        """Release the display connection."""
        self._mss.close()


class Held(NamedTuple):
    """A region grabbed at a release and kept in memory until an action begins (raw
    pixels, not yet masked: the mask and the scrub judge it if it is ever stored)."""

    shot: RawShot
    region: Box
    ts: float
    mono: float


class ScreenSource(SourceBase):
    """Screen frame source ("screen"): event-triggered, debounced, rate-capped WebP frames.

    Call ``on_stored(event)`` for every stored event (it is cheap); frames follow clicks,
    typing bursts and window changes, plus an idle fallback. ``grab_now()`` asks for a
    frame as soon as the rate cap allows. ``grabber_factory``, ``damage_factory`` and
    ``clock`` are for tests; the factories run on the source's own thread. Without a
    damage factory, the platform's damage source is used with the mss grabber (X11).
    """

    name = "screen"

    LARGE_DAMAGE = 0.5
    """Damage covering at least this share of the screen is checked by comparing the
    whole screen's pixels (a GL compositor reports every repaint as the whole screen)."""

    def __init__(
        self,
        options: ScreenOptions = DEFAULT_OPTIONS,
        *,
        grabber_factory: Callable[[], Grabber] = MssGrabber,
        clock: Callable[[], float] = time.monotonic,
        on_pixels: Callable[[float, PixelStats], None] | None = None,
        mask_factory: Callable[[], FrameMask] | None = None,
        damage_factory: Callable[[], DamageSource | None] | None = None,
        scrub_factory: Callable[[], FrameScrub] | None = None,
    ) -> None:
        # Passed whole, from the config (agent.config.ScreenConfig.options): no relay of
        # single fields whose defaults could drift apart.
        self.options = options
        self.policy = FramePolicy(options)
        self.maker = FrameMaker(
            FrameEncoder(options.webp_quality, options.webp_method, options.encoding)
        )
        self.frames = 0
        self.errors = 0
        self._grabber_factory = grabber_factory
        if damage_factory is None and grabber_factory is MssGrabber:
            damage_factory = open_damage
        self._damage_factory = damage_factory
        self._damage: DamageSource | None = None
        self._dirty = DamageBox()
        self._screen: RawShot | None = None  # the last whole grab's geometry, no pixels
        self._covered: frozenset[Box] = frozenset()  # masked boxes of the last frame
        self._damage_mono = float("-inf")  # when damage was last read
        self.region_grabs = 0  # frames made from a damaged region grabbed alone
        # The region drawn since the last stored frame, grabbed at the last release and
        # kept (in memory only) until an action begins: then stored if still the screen.
        self._held: Held | None = None
        self.holds = 0  # holds grabbed
        self.holds_stored = 0  # ...and stored as an action's observation
        self._key_at_release_mono = float("-inf")
        self._measured = float("-inf")  # when on_pixels last saw a whole screen
        # Its statistics, while nothing was drawn since (X DAMAGE): the screen is the same.
        self._measured_stats: PixelStats | None = None
        # Told the luminance statistics of every whole-screen grab (silent-failure
        # detection; a region alone could read as a black screen).
        self.on_pixels = on_pixels
        # Runs on the source's thread, like the grabber factory: the mask may hold a
        # window-system connection of its own, closed when the thread ends.
        self._mask_factory = mask_factory
        self._mask: FrameMask | None = None
        self.suppressed = 0  # frames the mask dropped
        # Runs on the source's thread too; None: frames are stored unscrubbed (tests and
        # tools only: the daemon always gives one, and without OCR it withholds).
        self._scrub_factory = scrub_factory
        self._scrub: FrameScrub | None = None
        self.scrub_withheld = 0  # frames the scrub could not judge (not stored)
        self.scrub_masked = 0  # frames that had text masked
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._failure: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def uses_damage(self) -> bool:
        """Whether damage reports decide what is grabbed (else every grab is whole)."""
        return self._damage is not None

    def start(self, emit: Emit) -> None:
        """Start the capture thread; raises SourceUnavailable if the screen cannot be read."""
        if self._thread is not None:
            return
        if sys.platform.startswith("linux") and self._grabber_factory is MssGrabber:
            from capture.display import check_display

            check_display(self.name)
        self._stop.clear()
        self._ready.clear()
        self.maker.reset()  # nothing before a stop is the reference for what follows
        self._failure = None
        self._thread = threading.Thread(
            target=self._run, args=(emit,), name="screen-capture", daemon=True
        )
        self._thread.start()
        self._ready.wait(10.0)
        if self._failure is not None or not self._ready.is_set():
            reason = self._failure or "the screen grabber did not start within 10 s"
            self.stop()
            raise SourceUnavailable(self.name, reason)

    def stop(self) -> None:
        """Stop the thread and wait for it; no frame is emitted after this returns."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None

    def counters(self) -> SourceCounters:
        """Frames taken, withheld by the mask or the OCR scrub, skipped as unchanged;
        failed grabs; regions held at releases and those stored."""
        return SourceCounters(
            frames=self.frames,
            suppressed=self.suppressed,
            unchanged_skipped=self.maker.skipped_unchanged,
            errors=self.errors,
            scrub_withheld=self.scrub_withheld,
            holds=self.holds,
            holds_stored=self.holds_stored,
        )

    def watch_pixels(self, callback: PixelCallback | None) -> None:
        """Report the statistics of each whole grab to ``callback`` (``PixelStatsSource``)."""
        self.on_pixels = callback

    def on_stored(self, event: Event) -> None:
        """Let a stored event trigger a frame (pipeline thread; cheap)."""
        if event.__class__ is MouseMove:
            return
        if self.policy.notice(event, self._clock()):
            self._wake.set()

    def on_input(self, event: Event) -> None:
        """Let an input or window event, as it happens, ask for a grab at once (the
        emitting source's thread; cheap): an action's start, a release, a window change
        (``FramePolicy.notice_input``). Nothing of the event is kept but its time."""
        if event.__class__ is MouseMove:
            return
        if self.policy.notice_input(event, self._clock()):
            self._wake.set()

    def request_key_frame(self, urgent: bool = False) -> None:
        """Make the next frame a key frame (any thread; cheap).

        The chunk writer asks when a chunk starts (each chunk must be readable alone)
        and, ``urgent``, when it could not store a changed region because the frame it
        was drawn onto is not in the chunk, or the typed-text stage dropped a frame the
        source took as stored: then a key frame is taken at once, outside the rate cap,
        even if the screen did not change since (until it is, no region can be stored,
        holds included: the next action would be paired with the frame before).
        """
        self.maker.request_key(force=urgent)
        if urgent:
            self.policy.request_now("key")
            self._wake.set()
        elif self._held is not None:
            # A hold cannot be stored once a key frame is due (a region needs the frame
            # before it in its chunk): typing goes on, so the key frame is taken now, and
            # the next action's hold is a region of it again.
            self.policy.request_hold()
            self._wake.set()

    def grab_now(self, trigger: str = "manual") -> None:
        """Ask for a frame as soon as the rate cap allows."""
        self.policy.request(trigger, self._clock())
        self._wake.set()

    def _run(self, emit: Emit) -> None:
        try:
            grabber = self._grabber_factory()
        except Exception as exc:
            self._failure = f"cannot open the screen for capture ({type(exc).__name__})"
            self._ready.set()
            return
        try:
            self._mask = None if self._mask_factory is None else self._mask_factory()
        except Exception as exc:
            # Fail closed: without the mask no frame may be taken.
            detail = exc.reason if isinstance(exc, SourceUnavailable) else type(exc).__name__
            self._failure = f"cannot list the windows on screen to mask them ({detail})"
            grabber.close()
            self._ready.set()
            return
        try:
            self._scrub = None if self._scrub_factory is None else self._scrub_factory()
        except Exception as exc:
            # The scrub itself withholds when OCR is missing; a factory that raises is a bug.
            self._failure = f"cannot start the screen scrub ({type(exc).__name__})"
            grabber.close()
            if self._mask is not None:
                self._mask.close()
            self._ready.set()
            return
        self._open_damage(grabber)
        self._ready.set()
        try:
            self._loop(grabber, emit)
        finally:
            if self._scrub is not None:
                self._scrub.close()
                self._scrub = None
            grabber.close()
            self._close_damage()
            if self._mask is not None:
                self._mask.close()
                self._mask = None

    def _open_damage(self, grabber: Grabber) -> None:
        # Opened before the first grab: whatever is drawn from here on is reported.
        self._dirty = DamageBox()
        self._screen = None
        self._covered = frozenset()
        self._measured = float("-inf")
        self._measured_stats = None
        self._held = None
        if self._damage_factory is None or not isinstance(grabber, RegionGrabber):
            return
        try:
            self._damage = self._damage_factory()
        except Exception as exc:
            log.info("no screen damage reports (%s): comparing pixels", type(exc).__name__)
            self._damage = None
        # A grab at each action's start costs a damage read when nothing changed; without
        # damage reports it would be a whole grab and compare: not taken then.
        self.policy.at_action_start = self._damage is not None

    def _close_damage(self) -> None:
        self.policy.at_action_start = False
        self._held = None
        damage, self._damage = self._damage, None
        if damage is not None:
            try:
                damage.close()
            except Exception as exc:
                log.debug("closing the damage source failed: %s", type(exc).__name__)

    def _loop(self, grabber: Grabber, emit: Emit) -> None:
        stop, wake, policy = self._stop, self._wake, self.policy
        while not stop.is_set():
            trigger, wait = policy.poll(self._clock())
            if trigger is None:
                wake.wait(wait)
                wake.clear()
                continue
            ts, mono = time.time(), time.monotonic()
            try:
                if trigger == "hold":
                    frame = self._take_hold(grabber, ts, mono)
                elif trigger == "action":
                    frame = self._action_frame(grabber, ts, mono)
                elif trigger == "settle":
                    frame = self._settled_frame(grabber, ts, mono)
                else:
                    frame = self._frame(grabber, trigger, ts, mono)
            except Exception as exc:
                # A grab can fail transiently (resolution change); the error type is
                # logged, never any pixel data. Damage not yet stored stays pending.
                self.errors += 1
                log.warning("screen grab failed: %s", type(exc).__name__)
                continue
            if frame is not None:
                trim_heap()
            if frame is not None and not stop.is_set():
                # The mask's judgement of this frame goes with its number (the manifest's
                # scrub record, privacy.scrub_ledger).
                tag = getattr(self._mask, "tag_frame", None)
                if tag is not None:
                    tag(frame.number)
                self.frames += 1
                emit(frame)

    def _frame(self, grabber: Grabber, trigger: str, ts: float, mono: float) -> Frame | None:
        """The frame for one due grab, or None (unchanged, masked out)."""
        self._held = None  # a grab from now on: the hold is older than the screen
        damage = self._damage
        if damage is None:
            return self._whole_frame(grabber, trigger, ts, mono)
        try:
            # Reset the server's record before grabbing: what is drawn after it is
            # reported next time, so nothing falls between two frames.
            taken = damage.take()
        except Exception as exc:
            log.warning(
                "screen damage reports failed (%s): comparing pixels from now on",
                type(exc).__name__,
            )
            self._close_damage()
            # The CRCs (and the regions stored since them) still describe the frames.
            return self._whole_frame(grabber, trigger, ts, mono)
        dirty, maker, screen = self._dirty, self.maker, self._screen
        dirty.add(taken)
        self._tell_damage(taken.box, mono)
        if taken.box is not None:
            self._measured_stats = None  # drawn on since the last measure
        # Silent-failure detection measures whole screens: one at least every idle
        # interval, drawn on or not (a display gone black draws nothing).
        measure = self.on_pixels is not None and mono - self._measured >= self.options.idle_interval
        if screen is None or dirty.resized:
            return self._whole_frame(grabber, trigger, ts, mono)
        if measure and not maker.key_forced and self._measured_stats is not None:
            # Nothing drawn since the last measured grab: the pixels are the ones measured,
            # so silent-failure detection is told them again without a grab (at 4K the
            # idle grab was 32 strips, ~2 wake-ups a second of an idle agent).
            assert self.on_pixels is not None
            self.on_pixels(ts, self._measured_stats)
            self._measured = mono
            if dirty.region(screen.width, screen.height) is None:
                maker.skipped_unchanged += 1
                return None
        elif maker.key_forced or measure:
            return self._whole_frame(grabber, trigger, ts, mono, damaged=True)
        region = dirty.region(screen.width, screen.height)
        if region is None:  # nothing drawn since the last stored frame: no grab at all
            maker.skipped_unchanged += 1
            return None
        region = band_align(region, screen.width)
        if (
            maker.key_due
            or region.width * region.height >= self.LARGE_DAMAGE * screen.width * screen.height
        ):
            return self._whole_frame(grabber, trigger, ts, mono, damaged=True)
        assert isinstance(grabber, RegionGrabber)
        return self._region_frame(grabber, screen, region, trigger, ts, mono)

    def _grab_box(self, region: Box) -> Box:
        """What is grabbed for a change in ``region`` (band-aligned, on the screen).

        With a scrub: the rows of the change and ``SCRUB_CONTEXT`` rows each way, the
        screen's whole width. Damage is reported as drawn, so a region can end inside a
        line of text whose rest was drawn but not yet reported: the scrub, which reads
        only the pixels it is given, saw ``jane.doe@exa``, found no address, and the
        name was stored readable (issue 18's e2e test, in CI). Given the whole line it
        finds the address, and a mask reaching outside the change widens the stored
        region (``_scrubbed``). Only ``region`` is compared with the stored frame
        (``part_of``; comparing the wider box cost ~0.85 ms a region) and only what
        changed is stored. Without a scrub, the region as reported."""
        screen = self._screen
        if self._scrub is None or screen is None:
            return region
        top = max(0, region.y - SCRUB_CONTEXT)
        bottom = min(screen.height, region.y + region.height + SCRUB_CONTEXT)
        return (
            clip_even(Box(0, top, screen.width, bottom - top), screen.width, screen.height)
            or region
        )

    def _tell_damage(self, box: Box | None, mono: float) -> None:
        """Tell the mask where the screen was drawn since the last damage read (it
        remembers where typed secrets were echoed: ``privacy.known_secrets``)."""
        since, self._damage_mono = self._damage_mono, mono
        note = getattr(self._mask, "note_damage", None)
        if note is None or box is None:
            return
        from capture.window.visible import Rect

        screen = self._screen
        left, top = (screen.left, screen.top) if screen is not None else (0, 0)
        note(Rect(box.x + left, box.y + top, box.width, box.height), since, mono)

    CLOCK_MARGIN = 0.020
    """Seconds before a press from which a draw may be its effect: the press and the
    draws are both stamped from whole server milliseconds, mapped on two connections
    (measured against an outside client, input times are 2-8 ms late). Nobody presses
    within 20 ms of seeing a change, so a draw that close is taken for the press's."""
    CURSOR_AREA = 48 * 48
    """Pixels drawn after a press, in all, that are taken for a cursor or caret redrawn
    (xterm redraws its cursor cell on every button press), not for the press's effect."""

    def _at_start(self, trigger: str) -> str:
        """A grab at an action's start, just taken, stays "action" only if nothing was
        drawn since the press but a cursor (the application had not acted: the
        trajectory pairs it with the action); else "after_action", a frame like any
        other."""
        if trigger != "action":
            return trigger
        if self._damage is None:
            return "after_action"
        try:
            drawn = self._damage.drawn_since(self.policy.action_since - self.CLOCK_MARGIN)
        except Exception:  # the next take reports the broken connection
            return "after_action"
        return trigger if drawn <= self.CURSOR_AREA else "after_action"

    def _take_hold(self, grabber: Grabber, ts: float, mono: float) -> Frame | None:
        """At a key or button release: grab what was drawn since the last stored frame
        and keep it (replacing the last hold), for the next action's observation.

        Only a region is held. Where a whole frame is due (a chunk starts, the screen was
        resized) it is taken now instead, trigger "key", at most once per
        ``min_interval``: held, it would be too large, and a region could not be stored
        before it. Where damage covers ``LARGE_DAMAGE`` of the screen nothing is held
        and the action is paired as without holds. Nothing drawn since the last hold
        keeps it; nothing drawn since the last stored frame needs none.
        """
        damage, screen, maker = self._damage, self._screen, self.maker
        if damage is None or not isinstance(grabber, RegionGrabber):
            return None
        if screen is None or maker.key_due:
            return self._key_at_release(grabber, ts, mono)
        try:
            taken = damage.take()
        except Exception as exc:
            log.warning(
                "screen damage reports failed (%s): comparing pixels from now on",
                type(exc).__name__,
            )
            self._close_damage()
            return None
        dirty = self._dirty
        dirty.add(taken)
        self._tell_damage(taken.box, mono)
        if taken.box is not None:
            self._measured_stats = None
        elif self._held is not None:
            return None  # nothing drawn since the hold: it is the screen still
        region = dirty.region(screen.width, screen.height)
        if region is None:
            self._held = None
            return None
        if dirty.resized:
            return self._key_at_release(grabber, ts, mono)
        region = band_align(region, screen.width)
        if region.width * region.height >= self.LARGE_DAMAGE * screen.width * screen.height:
            self._held = None
            return None
        # Only what was drawn: most holds are never stored (typing holds one at each
        # key's release), and the rows and columns around it the scrub reads are
        # grabbed when one is (``_held_frame``): grabbed here, they cost +0.2 points
        # of real-time CPU on the reference workload (py-spy, 60 s runs).
        shot = grabber.grab_region(region)
        # A copy: a grabber may reuse its buffer for the next grab (``Grabber``).
        # Writable: the mask paints it.
        self._held = Held(shot._replace(bgra=bytearray(shot.bgra)), region, ts, mono)
        self.holds += 1
        return None

    def _key_at_release(self, grabber: Grabber, ts: float, mono: float) -> Frame | None:
        self._held = None
        # Rate-capped: a key frame withheld (a denied window focused) stays due, and
        # every key typed would grab the whole screen again.
        if mono - self._key_at_release_mono < self.options.min_interval:
            return None
        self._key_at_release_mono = mono
        return self._frame(grabber, "key", ts, mono)

    def _action_frame(self, grabber: Grabber, ts: float, mono: float) -> Frame | None:
        """The frame for an action's start: the hold if it is still the screen at the
        press, else (a mouse press, a shortcut's modifier) a grab now, else none."""
        since = self.policy.action_since
        frame = self._held_frame(grabber, since)
        if frame is not None or not self.policy.action_fresh:
            return frame
        return self._frame(grabber, "action", ts, mono)

    def _held_frame(self, grabber: Grabber, since: float) -> Frame | None:
        """The hold as the observation of the action pressed at ``since``, or None when
        there is none or it may not show the screen at the press: grabbed within
        ``CLOCK_MARGIN`` of it, or more than a cursor drawn between the two (X DAMAGE).
        Stored like any region frame: masked, compared, scrubbed, encoded; the rows and
        columns around it the scrub reads are grabbed now (as they were at the press:
        nothing but a cursor was drawn since the hold), the hold's pixels in them."""
        held, self._held = self._held, None
        damage, screen = self._damage, self._screen
        if held is None or damage is None or screen is None or self.maker.key_due:
            return None  # a key frame is due (a chunk starts): the next grab is whole
        if held.mono > since - self.CLOCK_MARGIN:
            return None
        try:
            drawn = damage.drawn_since(held.mono, since - self.CLOCK_MARGIN)
        except Exception:  # the next take reports the broken connection
            return None
        if drawn > self.CURSOR_AREA:
            return None
        region = held.region
        at = self._grab_box(region)
        if at == region or not isinstance(grabber, RegionGrabber):
            at, shot = region, held.shot
        else:
            grabbed = grabber.grab_region(at)
            shot = grabbed._replace(bgra=bytearray(grabbed.bgra))  # ours to paint
            del grabbed
            paste(shot, at, held.shot, region)
        # Masked now, with what the mask knows now (a secret typed before the hold and
        # judged since): the typed-text stage judges the frame by this time.
        masked_mono = self._clock()
        if not self._masked(shot):
            return None
        covered, moved = self._mask_moved_outside(screen, region)
        if moved:
            return None  # the mask changed outside the hold: the next frame shows it
        pending = self.maker.prepare_region(screen, part_of(shot, at, region), region)
        if pending is not None:
            pending = self._scrubbed(pending, shot, at)
            if pending is None:
                return None  # withheld: the damage stays pending
        del shot
        frame = (
            None
            if pending is None
            else self.maker.encode(pending, "action", held.ts, held.mono, masked_mono)
        )
        del pending, held
        self.region_grabs += 1
        self.holds_stored += frame is not None
        # Nothing was taken from the damage reports since the hold (a grab drops it):
        # everything drawn until the hold is in it, what came after stays pending.
        self._covered = covered
        self._dirty.stored(whole=False)
        return frame

    def _settled_frame(self, grabber: Grabber, ts: float, mono: float) -> Frame | None:
        """After a window change or a release: a hold once nothing was drawn for
        ``SETTLE`` seconds (the new window or the action's effect drawn), else look again
        (``FramePolicy.settle_later``, ``FramePolicy.settled``)."""
        damage = self._damage
        if damage is None:
            return None
        try:
            drawn = damage.drawn_since(mono - SETTLE)
        except Exception:  # the next take reports the broken connection
            return None
        if drawn:
            self.policy.settle_later(mono)
            return None
        # Held, not stored: the debounced window frame follows anyway, so the new window
        # costs a second frame only when an action begins before it.
        frame = self._take_hold(grabber, ts, mono)
        self.policy.settled(mono)
        return frame

    def _whole_frame(
        self, grabber: Grabber, trigger: str, ts: float, mono: float, damaged: bool = False
    ) -> Frame | None:
        """A whole grab made into a frame. ``damaged``: the damage reports since the last
        stored frame (``self._dirty``, same screen size) say where it can have changed,
        so only those rows (and where the mask changed) are compared."""
        shot = grabber.grab()
        trigger = self._at_start(trigger)
        if self.on_pixels is not None:
            stats = measure_bgra(shot.width, shot.height, shot.bgra)
            self.on_pixels(ts, stats)
            self._measured, self._measured_stats = mono, stats
        # Masking comes before the unchanged-screen check and the encoder, so no later
        # step sees a denied window's pixels (the luminance numbers above are taken
        # first so that a masked area never reads as a black screen).
        if not self._masked(shot):
            return None
        screen = self._screen = shot._replace(bgra=b"")
        rows = self._changed_rows(screen) if damaged else None
        pending = self.maker.prepare(shot, rows, crop=False)
        if pending is not None:
            pending = self._scrubbed(pending, shot, Box(0, 0, shot.width, shot.height))
            if pending is None:
                return None  # withheld: nothing committed, the change is judged again
            # Cropped after the scrub, not before: the crop (up to ~10 MB at 3840x2160)
            # and the scrub's working set are never held at once (docs/PERFORMANCE.md).
            pending = self.maker.cropped(pending, shot)
        del shot  # a region keeps only its crop; a key frame encodes from the grab
        frame = None if pending is None else self.maker.encode(pending, trigger, ts, mono)
        del pending
        # Stored, or equal to what is stored: either way the frames show the screen now.
        self._covered = self._masked_boxes(screen)
        self._dirty.stored(whole=True)
        return frame

    def _region_frame(
        self,
        grabber: RegionGrabber,
        screen: RawShot,
        region: Box,
        trigger: str,
        ts: float,
        mono: float,
    ) -> Frame | None:
        at = self._grab_box(region)
        shot = grabber.grab_region(at)
        trigger = self._at_start(trigger)
        if not self._masked(shot):
            return None
        covered, moved = self._mask_moved_outside(screen, region)
        if moved:
            del shot
            return self._whole_frame(grabber, trigger, ts, mono, damaged=True)
        pending = self.maker.prepare_region(screen, part_of(shot, at, region), region)
        if pending is not None:
            pending = self._scrubbed(pending, shot, at)
            if pending is None:
                return None  # withheld: the damage stays pending
        del shot
        frame = None if pending is None else self.maker.encode(pending, trigger, ts, mono)
        del pending
        self.region_grabs += 1
        # Stored, or as stored: either way everything drawn so far was looked at.
        self._covered = covered
        self._dirty.stored(whole=False)
        return frame

    def _scrubbed(self, pending: Pending, shot: RawShot, at: Box) -> Pending | None:
        """``pending`` with the scrub's masks filled in, or None: withhold the frame.

        ``shot`` holds the pixels of ``at`` (screen-relative). A mask reaching outside the
        changed box widens a region frame to cover it: an identifier completed by the
        change (the last digits of a card) is hidden where it was drawn before as well.
        """
        box = pending.box
        fills = self._fills(shot, at, box, pending.key)
        if fills is None:
            return None
        if not fills:
            return pending
        self.scrub_masked += 1
        if not pending.key:
            grown = box
            for fill in fills:
                grown = union(grown, fill) or grown
            if grown != box:
                # The wider box stores pixels beside the change: a secret there that
                # touches it is masked too (judged over the wider box, which stays).
                box = grown
                fills = self._fills(shot, at, box, False)
                if fills is None:
                    return None
            inside = Box(box.x - at.x, box.y - at.y, box.width, box.height)
            pixels: bytearray | memoryview = bytearray(crop_bgra(shot.bgra, shot.width, inside))
        else:
            pixels = (
                pending.bgra if not isinstance(pending.bgra, bytes) else bytearray(pending.bgra)
            )
        paint_boxes(pixels, box, fills)
        return pending._replace(bgra=pixels, box=box)

    def _fills(self, shot: RawShot, at: Box, box: Box, key: bool) -> list[Box] | None:
        """The scrub's masks (screen-relative, within ``at``) for the rows of ``box``,
        and for a region only those reaching into its columns (the shot is the screen's
        width, ``_grab_box``: masks beside the change cover pixels stored before); None:
        withhold."""
        scrub = self._scrub
        if scrub is None:
            return []
        masks: list[Rect] = []
        columns = None if key else (box.x - at.x, box.x - at.x + box.width)
        # Band by band: the scrub's memory stays a band's however large the screen.
        for top, bottom in scrub_bands(box.y - at.y, box.y - at.y + box.height, shot.width, at.y):
            found = scrub(shot, top, bottom, columns)
            if found is None:
                self.scrub_withheld += 1
                return None
            masks.extend(found)
        # The screen's top-left corner in virtual-screen coordinates.
        sx, sy = shot.left - at.x, shot.top - at.y
        return [
            b
            for b in (clip_box(Box(r.x - sx, r.y - sy, r.width, r.height), at) for r in masks)
            if b is not None
        ]

    def _changed_rows(self, screen: RawShot) -> tuple[int, int]:
        """The rows that can differ from the stored frame: where damage was reported
        since, and where the mask's rectangles changed (painted or no longer)."""
        drawn = self._dirty.region(screen.width, screen.height)
        changed = _bounding(self._masked_boxes(screen) ^ self._covered)
        box = union(drawn, changed)
        return (0, 0) if box is None else (box.y, box.y + box.height)

    def _masked(self, shot: RawShot) -> bool:
        """Paint the denied windows out of ``shot`` (in place); False, counted as
        suppressed, when the mask withholds the whole shot."""
        mask = self._mask
        if mask is not None and not mask(shot):
            self.suppressed += 1
            return False
        return True

    def _mask_moved_outside(self, screen: RawShot, region: Box) -> tuple[frozenset[Box], bool]:
        """The mask's rectangles now, and whether they changed outside ``region`` since the
        last frame: a window became denied or allowed, or a denied one moved, and where
        the mask changed must be in the frame too, drawn there or not."""
        covered = self._masked_boxes(screen)
        if covered == self._covered:
            return covered, False
        changed = clip_even(
            _bounding(covered ^ self._covered) or region, screen.width, screen.height
        )
        return covered, changed is not None and not contains(region, changed)

    def _masked_boxes(self, screen: RawShot) -> frozenset[Box]:
        """The mask's painted rectangles, relative to the screen's top-left corner."""
        if self._mask is None:
            return frozenset()
        return frozenset(
            Box(r.x - screen.left, r.y - screen.top, r.width, r.height) for r in self._mask.covered
        )


def paste(shot: RawShot, at: Box, part: RawShot, where: Box) -> None:
    """Copy ``part`` (the pixels of ``where``) into ``shot`` (the pixels of ``at``,
    writable), in place."""
    stride, row = 4 * at.width, 4 * where.width
    start = 4 * (where.x - at.x)
    with memoryview(shot.bgra) as into, memoryview(part.bgra) as source:
        for y in range(where.height):
            base = (where.y - at.y + y) * stride + start
            into[base : base + row] = source[y * row : (y + 1) * row]


def part_of(shot: RawShot, at: Box, part: Box) -> RawShot:
    """The pixels of ``part`` (screen-relative, inside ``at``) of ``shot``, which holds
    ``at``: a copy of its rows."""
    inside = Box(part.x - at.x, part.y - at.y, part.width, part.height)
    if inside == Box(0, 0, at.width, at.height):
        return shot
    pixels = crop_bgra(shot.bgra, shot.width, inside)
    return RawShot(shot.left + inside.x, shot.top + inside.y, part.width, part.height, pixels)


def clip_box(box: Box, within: Box) -> Box | None:
    """The part of ``box`` inside ``within``, or None."""
    x0, y0 = max(box.x, within.x), max(box.y, within.y)
    x1 = min(box.x + box.width, within.x + within.width)
    y1 = min(box.y + box.height, within.y + within.height)
    return Box(x0, y0, x1 - x0, y1 - y0) if x0 < x1 and y0 < y1 else None


def paint_boxes(pixels: bytearray | memoryview, box: Box, fills: Sequence[Box]) -> None:
    """Set every byte of ``fills`` (screen-relative) inside ``box``'s BGRA pixels to 0."""
    stride = 4 * box.width
    for fill in fills:
        part = clip_box(fill, box)
        if part is None:
            continue
        row = bytes(4 * part.width)
        start = 4 * (part.x - box.x)
        for y in range(part.y - box.y, part.y - box.y + part.height):
            pixels[y * stride + start : y * stride + start + len(row)] = row


def _bounding(boxes: frozenset[Box]) -> Box | None:
    out: Box | None = None
    for box in boxes:
        out = union(out, box)
    return out

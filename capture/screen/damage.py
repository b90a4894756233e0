"""Where the screen was drawn, from the window system, so unchanged pixels are not read.

On X11 a DAMAGE object on the root window reports every rectangle drawn on the screen,
by any client into any window (measured under Xvfb with openbox, xcompmgr and picom:
typing, window moves, raises, minimising; docs/PERFORMANCE.md). The screen source asks
``take`` before each grab: the box drawn since the previous ``take`` (or None), with
the server's record reset *before* the grab, so whatever is drawn after the reset is
reported by the next ``take`` and nothing is lost in between. ``DamageBox`` keeps what
was drawn until a frame is actually stored: a frame that is dropped (the mask, an
error) keeps its damage for the next one.

``X11Damage`` is the real source (python-xlib, a connection of its own, used only by
the screen thread); ``ScriptedDamage`` is the fake for tests. Elsewhere (macOS,
Windows, an X server without DAMAGE) there is no damage source and the screen source
compares pixels (``capture.screen.frame_diff``) as before.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from typing import Any, NamedTuple, Protocol

from capture.screen.damage_notify import DamageReport, report_event
from capture.screen.frame_diff import Box

log = logging.getLogger(__name__)


class Damage(NamedTuple):
    """What ``DamageSource.take`` reports: the box drawn (None: nothing) and the screen size."""

    box: Box | None
    width: int
    height: int


class DamageSource(Protocol):
    """Reports where the screen was drawn; one thread only (the screen thread)."""

    def take(self) -> Damage:
        """Everything drawn since the previous ``take`` (from the source's start for the
        first), and start recording anew. Call it *before* grabbing: drawing after the
        reset is reported by the next call. Raises when damage can no longer be trusted
        (connection lost, protocol error): the caller then compares pixels instead."""
        ...

    def drawn_since(self, mono: float, until: float = math.inf) -> int:
        """How many pixels were drawn at or after ``mono`` (``time.monotonic()``) and
        before ``until``, since the start of the last ``take``, up to this call (a pixel
        drawn twice counts twice). A grab taken after an action's press shows the screen
        from before the action only if none (or no more than a cursor redrawn) were; a
        grab held from before it still shows the screen at the press only if none were
        drawn between the two. Raises like ``take``."""
        ...

    def close(self) -> None:
        """Release the window-system resources."""
        ...


def union(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box holding both (None is empty)."""
    if a is None:
        return b
    if b is None:
        return a
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1 = max(a.x + a.width, b.x + b.width)
    y1 = max(a.y + a.height, b.y + b.height)
    return Box(x0, y0, x1 - x0, y1 - y0)


def contains(outer: Box, inner: Box) -> bool:
    """Whether ``inner`` lies within ``outer``."""
    return (
        outer.x <= inner.x
        and outer.y <= inner.y
        and inner.x + inner.width <= outer.x + outer.width
        and inner.y + inner.height <= outer.y + outer.height
    )


def clip_even(box: Box, width: int, height: int) -> Box | None:
    """``box`` cut to a ``width`` x ``height`` screen and widened to even edges (lossy
    WebP stores colour at half resolution), or None when nothing of it is on screen."""
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(width, box.x + box.width), min(height, box.y + box.height)
    if x0 >= x1 or y0 >= y1:
        return None
    x0 -= x0 % 2
    y0 -= y0 % 2
    x1 = min(width, x1 + x1 % 2)
    y1 = min(height, y1 + y1 % 2)
    return Box(x0, y0, x1 - x0, y1 - y0)


class DamageBox:
    """Damage reported but not yet in a stored frame (the screen thread's bookkeeping).

    ``add`` every ``take``; ``stored`` once a frame holding everything so far was
    emitted. A dropped or failed frame calls neither, so its damage stays for the next.
    ``size`` is the screen size the damage source reported at the last whole-screen
    frame: a different size means the next frame must be a whole one.
    """

    def __init__(self) -> None:
        self.box: Box | None = None
        self.size: tuple[int, int] | None = None
        self._seen: tuple[int, int] | None = None

    def add(self, damage: Damage) -> None:
        """Merge what one ``take`` reported."""
        self.box = union(self.box, damage.box)
        self._seen = (damage.width, damage.height)

    @property
    def resized(self) -> bool:
        """Whether the screen size differs from the last whole frame's (or none was stored)."""
        return self.size is None or self._seen != self.size

    def region(self, width: int, height: int) -> Box | None:
        """The pending damage within a ``width`` x ``height`` screen, with even edges."""
        return None if self.box is None else clip_even(self.box, width, height)

    def stored(self, whole: bool) -> None:
        """A frame with everything damaged so far was emitted (``whole``: the whole screen
        was grabbed for it, so its size is the reference from now on)."""
        self.box = None
        if whole:
            self.size = self._seen


class ScriptedDamage:
    """The fake ``DamageSource``: reports the boxes it is given, then nothing.

    ``draw(box)`` records damage as a drawing client would; ``take`` hands over and
    forgets what was drawn. ``error`` set to an exception makes ``take`` raise it.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pending: Box | None = None
        self.takes = 0
        self.error: Exception | None = None
        self.closed = False
        self.draws: list[tuple[float, Box]] = []

    def draw(self, box: Box, at: float | None = None) -> None:
        """Record that ``box`` was drawn, at monotonic time ``at`` (None: before any
        action the test makes)."""
        self.pending = union(self.pending, box)
        if at is not None:
            self.draws.append((at, box))

    def drawn_since(self, mono: float, until: float = math.inf) -> int:
        """Pixels of the draws recorded at or after ``mono`` and before ``until``."""
        return sum(box.width * box.height for at, box in self.draws if mono <= at < until)

    def take(self) -> Damage:
        """What was drawn since the last call."""
        self.takes += 1
        if self.error is not None:
            raise self.error
        box, self.pending = self.pending, None
        return Damage(box, self.width, self.height)

    def close(self) -> None:
        """Nothing to release."""
        self.closed = True


class X11Damage:
    """``DamageSource`` over the X DAMAGE extension, on the root window.

    Report level "raw rectangles": the server sends an event for every drawing request
    (typing in an xterm: ~37 events a second; pointer moves none: the cursor is not
    drawn into the screen's pixels and grabs do not hold it). Every report carries the
    server's millisecond, which is what ``drawn_since`` needs: whether anything was
    drawn after an action's press, so that a grab at the action's start is known to
    show the screen from before its effect (the bounding-box level, used before, sends
    nothing for a draw inside the box already drawn). Events are read only in ``take``
    and ``drawn_since``, never waited for: between frames they wait in the socket (a
    few hundred a second while a video plays, 32 bytes each). Raises ``OSError`` from
    the constructor when the display or the extension is missing.

    Server milliseconds are mapped to ``time.monotonic()`` by the smallest gap seen
    between a report's time and when it was read, starting from a property change's
    PropertyNotify time read right after a round trip (``capture.input.server_time``
    maps input events the same way); a report whose mapped time is not within
    ``MAX_LAG`` before its read counts as drawn just now.
    """

    MAX_LAG = 60.0
    """Seconds a report may have waited in the socket (longer: its time is not trusted)."""
    KEEP_TIMES = 4096
    """Draw times kept between two takes; beyond, they merge into one (the latest)."""

    def __init__(self, display_name: str | None = None) -> None:
        from Xlib import X, Xatom, display
        from Xlib.ext import damage

        self._errors: list[str] = []
        try:
            self._display: Any = display.Display(display_name)
        except Exception as exc:
            raise OSError(f"cannot open the X display ({type(exc).__name__})") from None
        try:
            if not self._display.has_extension("DAMAGE"):
                raise OSError("the X server has no DAMAGE extension")
            # The version must be negotiated before any other DAMAGE request.
            self._display.damage_query_version()
            self._display.set_error_handler(self._on_error)
            self._root: Any = self._display.screen().root
            self._damage: int = self._root.damage_create(damage.DamageReportRawRectangles)
            self._root.get_geometry()  # a round trip: creation errors arrive before this
            if self._errors:
                raise OSError(f"cannot create a DAMAGE object ({self._errors[0]})")
            self._none = X.NONE
            # Each report unpacked with struct, not through python-xlib's event class
            # (``capture.screen.damage_notify``: most of a report's reading cost). In
            # this connection's own table: python-xlib's is one for every connection of
            # the process, and each new connection puts its own class back in it.
            protocol = self._display.display
            protocol.event_classes = dict(protocol.event_classes)
            protocol.event_classes[self._display.extension_event.DamageNotify] = report_event
            self._pending: Box | None = None  # drained by drawn_since, for the next take
            self.last_draw = float("-inf")
            """Monotonic time of the latest draw read so far."""
            # (monotonic time, box) of each draw read since the last take began.
            self._times: list[tuple[float, Box]] = []
            self._merged = False  # _times holds one entry for many draws
            self._offset = float("inf")
            self._offset = self._measure_offset(X, Xatom)
        except BaseException:
            self._display.close()
            raise

    def _measure_offset(self, X: Any, Xatom: Any) -> float:
        """Monotonic seconds minus server seconds, from the server's time of a property
        change on a window of our own (an upper bound: the round trip is in it)."""
        window = self._root.create_window(
            -1, -1, 1, 1, 0, X.CopyFromParent, X.InputOnly, X.CopyFromParent,
            event_mask=X.PropertyChangeMask,
        )  # fmt: skip
        atom = self._display.intern_atom("_CAPTURE_AGENT_TIME")
        offset = float("inf")
        try:
            for _ in range(3):
                window.change_property(atom, Xatom.INTEGER, 32, [0])
                self._root.get_geometry()  # the PropertyNotify is in by this reply
                read = time.monotonic()
                reports: list[DamageReport] = []
                while self._display.pending_events():
                    event = self._display.next_event()
                    if isinstance(event, DamageReport):
                        reports.append(event)
                    elif event is not None and event.type == X.PropertyNotify:
                        offset = min(offset, read - int(event.time) / 1000.0)
                self._pending = self._add(self._pending, reports, read)
        finally:
            window.destroy()
        if offset == float("inf"):
            raise OSError("no PropertyNotify from the X server")
        return offset

    def _on_error(self, error: Any, request: Any = None) -> None:
        self._errors.append(type(error).__name__)

    def take(self) -> Damage:
        """Everything drawn since the previous call; the server's record is reset first."""
        self._times = []
        self._merged = False
        box, self._pending = self._drain(self._pending), None
        self._display.damage_subtract(self._damage, self._none, self._none)
        # A round trip: every event sent before the reset is in by its reply (the server
        # handles requests in order), and the root's size comes with it.
        geometry = self._root.get_geometry()
        box = self._drain(box)
        if self._errors:
            raise OSError(f"X error on the damage connection ({self._errors[0]})")
        return Damage(box, int(geometry.width), int(geometry.height))

    def drawn_since(self, mono: float, until: float = math.inf) -> int:
        """How many pixels were drawn at or after monotonic time ``mono`` and before
        ``until`` (since the last ``take`` began) and before this call (a round trip:
        every draw the server handled before it is counted). What it reads is kept for
        the next ``take``."""
        self._root.get_geometry()
        self._pending = self._drain(self._pending)
        if self._errors:
            raise OSError(f"X error on the damage connection ({self._errors[0]})")
        times = self._times
        if self._merged and times and times[0][0] >= mono:
            # Draws merged into one (a long animation) may lie anywhere before its time.
            return times[0][1].width * times[0][1].height
        return sum(area.width * area.height for drawn, area in times if mono <= drawn < until)

    def _drain(self, box: Box | None) -> Box | None:
        display = self._display
        read = time.monotonic()
        reports: list[DamageReport] = []
        # Every event the socket holds is queued by one pending_events (one select and
        # recv): the queue is emptied before asking again, not one event per ask.
        count = display.pending_events()
        while count:
            for _ in range(count):
                event = display.next_event()
                if type(event) is DamageReport:
                    reports.append(event)
            count = display.pending_events()
        return self._add(box, reports, read) if reports else box

    def _add(self, box: Box | None, reports: list[DamageReport], read: float) -> Box | None:
        """``box`` grown by damage reports read at ``read``; their times noted."""
        offset, mine, times = self._offset, self._damage, self._times
        earliest = read - self.MAX_LAG
        last = self.last_draw
        if box is None:
            x0 = y0 = math.inf
            x1 = y1 = -math.inf
        else:
            x0, y0, x1, y1 = box.x, box.y, box.x + box.width, box.y + box.height
        for report in reports:
            if report.damage != mine:
                continue
            sent = report.timestamp / 1000.0
            gap = read - sent
            if offset - 1.0 < gap < offset:  # read sooner after it was sent
                offset = gap
            drawn = sent + offset
            if not earliest <= drawn <= read:
                drawn = read  # the server's clock jumped or wrapped: count it as just now
            if drawn > last:
                last = drawn
            x, y, width, height = report.x, report.y, report.width, report.height
            drawn_box = Box(x, y, width, height)
            if len(times) >= self.KEEP_TIMES:  # a long animation: keep one, as late as any
                times[:] = [(drawn, union(_union_all(times), drawn_box) or drawn_box)]
                self._merged = True
            else:
                times.append((drawn, drawn_box))
            x0, y0 = min(x0, x), min(y0, y)
            x1, y1 = max(x1, x + width), max(y1, y + height)
        self._offset, self.last_draw = offset, last
        if x0 == math.inf:
            return box
        return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))

    def close(self) -> None:
        """Destroy the damage object and close the connection."""
        try:
            self._display.damage_destroy(self._damage)
            self._display.flush()
        except Exception:  # noqa: S110  the connection may already be gone
            pass  # closing is all that is left
        finally:
            self._display.close()


def _union_all(draws: list[tuple[float, Box]]) -> Box | None:
    box = None
    for _, area in draws:
        box = union(box, area)
    return box


def open_damage() -> DamageSource | None:
    """This platform's damage source, or None (then pixels are compared).

    X11 only (the display mss grabs, ``$DISPLAY``): macOS and Windows have no damage
    source here. Any failure to set it up logs why and gives None.
    """
    if not sys.platform.startswith("linux") or not os.environ.get("DISPLAY"):
        return None
    try:
        return X11Damage()
    except Exception as exc:
        detail = str(exc) if isinstance(exc, OSError) else type(exc).__name__
        log.info(
            "no screen damage reports (%s): unchanged screens are found by comparing pixels", detail
        )
        return None

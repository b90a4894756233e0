"""The whole contract between capture sources and the daemon.

Every source is a ``Source``. What some sources can do beyond that is a small named
capability, a Protocol the daemon checks with ``isinstance`` when it wires the sources
and then calls; nothing else on a source is read by anyone outside ``capture``:

Source                name, start(emit), stop(), counters()   every source
capabilities:
  StoredEventObserver on_stored(event)           told each stored event (screen)
  InputObserver       on_input(event)            told each event as emitted (screen)
  KeyFrameSource      request_key_frame(urgent)  whole frames on request (screen)
  PixelStatsSource    watch_pixels(callback)     luminance of whole grabs (screen)
  InputHooks          hooked_devices()           OS input hooks; silence is a failure
  Replay              finished()                 a finite trace; emit may wait for room

A new backend subclasses ``SourceBase`` (counters default to zeros) and the capability
Protocols it implements; ``tests/capture/test_contract.py`` holds it to the contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from capture.events import Emit, Event

if TYPE_CHECKING:
    from capture.screen.pixel_stats import PixelStats


@dataclass(frozen=True, slots=True)
class SourceCounters:
    """What a source counted since it was built (numbers only, never content)."""

    delivered: int = 0
    """Callbacks its OS input hooks made, before any filter (``InputHooks``)."""
    frames: int = 0
    """Frames it emitted."""
    suppressed: int = 0
    """Frames withheld because the mask could not be applied."""
    unchanged_skipped: int = 0
    """Grabs dropped because the pixels had not changed."""
    errors: int = 0
    """Reads or grabs that failed (the OS call raised; counted, never fatal)."""
    scrub_withheld: int = 0
    """Frames withheld because the OCR scrub could not judge them (not in ``suppressed``)."""
    holds: int = 0
    """Regions grabbed into memory at a key or button release (the screen at the next
    action's start, if nothing is drawn before it)."""
    holds_stored: int = 0
    """...and stored as an action's observation (frames, in ``frames`` too)."""

    def __add__(self, other: SourceCounters) -> SourceCounters:
        """Field-wise sum (the daemon reports kinds, not single sources)."""
        return SourceCounters(
            delivered=self.delivered + other.delivered,
            frames=self.frames + other.frames,
            suppressed=self.suppressed + other.suppressed,
            unchanged_skipped=self.unchanged_skipped + other.unchanged_skipped,
            errors=self.errors + other.errors,
            scrub_withheld=self.scrub_withheld + other.scrub_withheld,
            holds=self.holds + other.holds,
            holds_stored=self.holds_stored + other.holds_stored,
        )


@runtime_checkable
class Source(Protocol):
    """A producer of events.

    ``start(emit)`` installs hooks or starts a thread and returns promptly; from then on
    the source calls ``emit(event)`` for each event. ``emit`` never blocks (except for a
    ``Replay``). ``stop()`` removes every hook and joins every thread the source started,
    and returns only when no further ``emit`` call can happen. Both are idempotent: a
    second ``start`` while running and a ``stop`` while stopped do nothing, and a stopped
    source starts again. A source that cannot run here raises
    ``capture.errors.SourceUnavailable`` from ``start`` with a reason a person can act on.
    """

    name: str

    def start(self, emit: Emit) -> None:
        """Begin emitting (see the class docstring)."""

    def stop(self) -> None:
        """Stop emitting; returns once no ``emit`` call can follow."""

    def counters(self) -> SourceCounters:
        """What the source counted so far (cheap; any thread)."""


class SourceBase(ABC):
    """Base of the shipped sources: ``counters()`` defaults to zeros."""

    name: str

    @abstractmethod
    def start(self, emit: Emit) -> None:
        """Begin emitting (see ``Source``)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop emitting; returns once no ``emit`` call can follow."""

    def counters(self) -> SourceCounters:
        """Nothing counted (a source that counts overrides this)."""
        return SourceCounters()


@runtime_checkable
class StoredEventObserver(Protocol):
    """Told every event the pipeline stored, on the pipeline thread (must be cheap)."""

    def on_stored(self, event: Event) -> None:
        """One stored event (the screen takes a frame after a click, say)."""


@runtime_checkable
class InputObserver(Protocol):
    """Told every event the other sources emit, as they emit it: before the privacy
    stages (which hold typed keys until Enter), on the emitting source's thread. Must
    be cheap and keep nothing of an event but its kind and time."""

    def on_input(self, event: Event) -> None:
        """One event as it happened (the screen grabs at an action's start)."""


@runtime_checkable
class KeyFrameSource(Protocol):
    """Makes frames, and a whole one when asked (each chunk must be readable alone)."""

    def request_key_frame(self, urgent: bool = False) -> None:
        """Make the next frame a key frame; ``urgent``: take it as soon as allowed."""


PixelCallback = Callable[[float, "PixelStats"], None]
"""Told ``(ts, statistics)`` of a whole-screen grab, on the source's thread."""


@runtime_checkable
class PixelStatsSource(Protocol):
    """Reports pixel statistics of what it grabs (silent-failure detection)."""

    def watch_pixels(self, callback: PixelCallback | None) -> None:
        """Call ``callback`` with the statistics of each whole grab (None: stop)."""


@runtime_checkable
class InputHooks(Protocol):
    """Fed by OS input hooks: while recording, its silence means the hooks died.

    Its ``counters().delivered`` counts the hooks' callbacks before any filter, so
    typing into a denied window still proves the hooks deliver.
    """

    def hooked_devices(self) -> frozenset[str]:
        """The devices its hooks watch ("keyboard", "mouse"); empty: it hooks nothing."""


@runtime_checkable
class Replay(Protocol):
    """A finite source replaying a trace: no OS hook waits behind its ``emit``, so the
    daemon gives it an ``emit`` that waits for room instead of dropping."""

    def finished(self) -> bool:
        """Whether the last event has been emitted."""

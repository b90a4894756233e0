"""Events: immutable records of primitives, the only thing that leaves a capture source.

Every event has ``type`` (a class constant) and ``ts`` (Unix seconds, float, taken at
the moment the OS reported it) plus ``mono`` (``time.monotonic()`` at the same moment,
for ordering and latency measurements that must not jump with the wall clock).
``sensitivity`` is the privacy level 1-4 of DESIGN.md §6 (1 = generic UI action).

Sources build events with plain values only: no pynput, mss or Xlib object is ever
stored in one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class MouseMove:
    """The pointer moved to (x, y) in screen coordinates."""

    type: ClassVar[str] = "mouse_move"
    ts: float
    mono: float
    x: int
    y: int
    sensitivity: int = 1


@dataclass(frozen=True, slots=True)
class MouseButton:
    """A mouse button was pressed or released at (x, y)."""

    type: ClassVar[str] = "mouse_button"
    ts: float
    mono: float
    x: int
    y: int
    button: str
    pressed: bool
    sensitivity: int = 1


@dataclass(frozen=True, slots=True)
class Scroll:
    """The wheel scrolled by (dx, dy) steps with the pointer at (x, y)."""

    type: ClassVar[str] = "scroll"
    ts: float
    mono: float
    x: int
    y: int
    dx: int
    dy: int
    sensitivity: int = 1


@dataclass(frozen=True, slots=True)
class Key:
    """A key was pressed or released.

    ``key`` is a stable name ("a", "enter", "shift", ...); ``char`` is the printable
    character it produced, or None for non-printable keys and for redacted ones.
    ``redacted`` names the privacy category that removed ``char`` (e.g. "payment_card").
    """

    type: ClassVar[str] = "key"
    ts: float
    mono: float
    key: str
    pressed: bool
    char: str | None = None
    redacted: str | None = None
    sensitivity: int = 2


@dataclass(frozen=True, slots=True)
class Window:
    """The focused window changed (or its title did)."""

    type: ClassVar[str] = "window"
    ts: float
    mono: float
    title: str
    app: str
    process: str | None = None
    pid: int | None = None
    x: int | None = None
    y: int | None = None
    width: int | None = None
    height: int | None = None
    sensitivity: int = 2
    url: str | None = None
    """The focused tab's address (browser extension); stored reduced as policy allows."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A screen image, WebP-encoded: the whole virtual screen or the part that changed.

    ``image`` holds the encoded bytes in memory only; the chunk writer stores them as
    a member of the encrypted chunk and writes a ``file`` reference in the event line.
    ``trigger`` says why the frame was taken (click, typing, window, idle, key).
    ``width``/``height`` are always the whole screen's size. A key frame (``key``)
    holds the whole screen; otherwise ``image`` is the rectangle at (``x``, ``y``)
    that changed since frame number ``base``, the frame this source made just before
    (``number`` counts the source's frames). A large image is encoded in horizontal
    bands: ``image`` is the top one and ``bands`` the rest, top to bottom, each as wide
    as ``image`` (``capture.screen.frame_encoder``). ``storage.compose`` rebuilds full frames.
    """

    type: ClassVar[str] = "frame"
    ts: float
    mono: float
    width: int
    height: int
    image: bytes = field(repr=False)
    trigger: str = "idle"
    left: int = 0
    top: int = 0
    sensitivity: int = 2
    key: bool = True
    number: int = 0
    base: int | None = None
    x: int = 0
    y: int = 0
    bands: tuple[bytes, ...] = field(default=(), repr=False)
    masked_mono: float | None = field(default=None, repr=False)
    """When the privacy mask was painted on the pixels (monotonic; never stored). None:
    right after the grab, at ``mono``. A frame held for an action's start is masked when
    it is stored, later: what the mask knew then is what counts (``privacy.text_buffer``)."""

    @property
    def mask_time(self) -> float:
        """Monotonic time the mask was painted (``masked_mono``, else ``mono``)."""
        return self.mono if self.masked_mono is None else self.masked_mono

    @property
    def image_bytes(self) -> int:
        """Bytes of the encoded image, all bands included."""
        return len(self.image) + sum(len(band) for band in self.bands)


@dataclass(frozen=True, slots=True)
class Marker:
    """A lifecycle or consent marker: started, stopped, dropped, paused, resumed, ...

    ``detail`` holds numbers and fixed words only, never captured content.
    """

    type: ClassVar[str] = "marker"
    ts: float
    mono: float
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)
    sensitivity: int = 1


Event = MouseMove | MouseButton | Scroll | Key | Window | Frame | Marker

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (MouseMove, MouseButton, Scroll, Key, Window, Frame, Marker)
}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """The data fields of an event class, in declaration order (``type`` excluded)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def event_from_dict(data: dict[str, Any], image: bytes = b"") -> Event:
    """Rebuild an event from its dict form; raises ValueError on an unknown shape."""
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    names = field_names(cls)
    kwargs = {k: v for k, v in data.items() if k in names}
    if cls is Frame:
        kwargs["image"] = image
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad {kind} event: {exc}") from None


Emit = Callable[[Event], None]
"""What a source calls with each event it produces; it must never block."""

Stage = Callable[[Event], Event | None]
"""A pipeline stage: event in, the event (possibly changed) or None (dropped) out."""

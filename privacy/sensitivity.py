"""Sensitivity: give every event its level 1-4 and drop those above the allowed maximum.

Levels (DESIGN.md §6): 1 a generic UI action (pointer moves, clicks, scrolls, keys
that type nothing such as Shift or Ctrl+C, markers); 2 text content (typed
characters, window titles, frames); 3 personal or confidential context; 4 secrets,
health or financial identifiers.

The level of an event is the level of what it *stores*. A key whose character was
redacted stores only the fixed placeholder ``redacted`` and its category word, so it
is judged at ``PLACEHOLDER_LEVEL`` (2): it is kept, with its timing, and stored at
that level, although the redactor marked it with the level of what was removed. Any
other event an earlier stage (or a source) raised above its type's default keeps the
higher level, and is dropped when that is above the maximum.
"""

from __future__ import annotations

import dataclasses

from capture.events import Event, Frame, Key, Marker, MouseButton, MouseMove, Scroll, Window

PLACEHOLDER_LEVEL = 2
"""The level of a key event whose character was redacted."""

DEFAULT_MAX = 2
"""The maximum level stored unless the policy says otherwise."""

_DEFAULTS: dict[type, int] = {
    cls: int(
        next(
            f.default
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.name == "sensitivity"
        )
    )
    for cls in (MouseMove, MouseButton, Scroll, Key, Window, Frame, Marker)
}
_BASE: dict[type, int] = {MouseMove: 1, MouseButton: 1, Scroll: 1, Marker: 1, Window: 2, Frame: 2}
# Types whose base and default level are both 1: an event of one of them still at level 1
# is stored as it is (no maximum is below 1), the chain's most common case by far.
_PLAIN_AT_ONE = frozenset(cls for cls, base in _BASE.items() if base == 1 == _DEFAULTS[cls])
_SET = object.__setattr__


def _with_level(event: Event, level: int) -> Event:
    """``dataclasses.replace(event, sensitivity=level)`` without running ``__init__``
    (about half the time, docs/PERFORMANCE.md): events are frozen, slotted and have no
    ``__post_init__``, so copying the slots is the same thing."""
    cls = event.__class__
    if "__post_init__" in cls.__dict__:
        return dataclasses.replace(event, sensitivity=level)
    new = object.__new__(cls)
    for name in cls.__slots__:
        _SET(new, name, getattr(event, name))
    _SET(new, "sensitivity", level)
    return new


def level_of(event: Event) -> int:
    """The sensitivity level ``event`` should be stored with."""
    cls = type(event)
    if cls is Key:
        assert isinstance(event, Key)
        if event.redacted is not None and event.char is None:
            return PLACEHOLDER_LEVEL
        base = 2 if event.char is not None else 1
    else:
        base = _BASE[cls]
    current = event.sensitivity
    # A level raised above the type's default was raised on purpose upstream: keep it.
    return current if current > _DEFAULTS[cls] and current > base else base


class SensitivityFilter:
    """The stage that sets each event's level and drops events above ``max_level``."""

    name = "sensitivity"

    def __init__(self, max_level: int = DEFAULT_MAX) -> None:
        if not 1 <= max_level <= 4:
            raise ValueError("max_sensitivity must be between 1 and 4")
        self.max_level = max_level

    def __call__(self, event: Event) -> Event | None:
        """The event at its level, or None when the level is above the maximum."""
        if event.sensitivity == 1 and event.__class__ in _PLAIN_AT_ONE:
            return event
        level = level_of(event)
        if level > self.max_level:
            return None
        if level == event.sensitivity:
            return event
        return _with_level(event, level)

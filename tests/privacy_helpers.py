"""Helpers for the privacy tests: type text as key events and read the result back."""

from __future__ import annotations

from collections.abc import Callable

from capture.events import Event, Key

SPECIAL = {"\n": "enter", "\t": "tab", "\b": "backspace"}


def keys_for(text: str, start: float = 1.0, step: float = 0.05) -> list[Key]:
    """A press and a release per character of ``text`` ("\\n" Enter, "\\t" Tab, "\\b" Backspace)."""
    out: list[Key] = []
    t = start
    for ch in text:
        name = SPECIAL.get(ch) or ("space" if ch == " " else ch.lower())
        char = None if ch in SPECIAL else ch
        out.append(Key(ts=t, mono=t, key=name, pressed=True, char=char))
        out.append(Key(ts=t + step / 2, mono=t + step / 2, key=name, pressed=False, char=char))
        t += step
    return out


def feed(process: Callable[[Event], list[Event]], events: list[Key] | list[Event]) -> list[Event]:
    """Run events through a buffering stage's ``process``; return everything released."""
    out: list[Event] = []
    for event in events:
        out.extend(process(event))
    return out


def visible(events: list[Event]) -> str:
    """The characters of the released presses; a redacted one shows as "#"."""
    return "".join(
        (e.char or "") if e.redacted is None else "#"
        for e in events
        if isinstance(e, Key) and e.pressed and (e.char or e.redacted)
    )


def stored_chars(events: list[Event]) -> str:
    """Every character that would be stored, from presses and releases alike."""
    return "".join(
        (e.char or "") + (e.key if len(e.key) == 1 else "") for e in events if isinstance(e, Key)
    )

"""Window titles: replace identifiers and secrets in a title with a category placeholder.

Titles often carry an e-mail address ("Inbox - someone@example.com"), a phone number
or a token in a URL; the same detectors as for typed text run over each title and
every match becomes ``[category]``. Titles change rarely, so this costs little.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from capture.events import Event, Window
from privacy.detectors import Span, detect


def redact_title(title: str, detector: Callable[[str], list[Span]] = detect) -> str:
    """``title`` with every detected span replaced by ``[category]``."""
    spans = detector(title)
    if not spans:
        return title
    parts: list[str] = []
    pos = 0
    for span in spans:
        parts.append(title[pos : span.start])
        parts.append(f"[{span.category}]")
        pos = span.end
    parts.append(title[pos:])
    return "".join(parts)


class TitleRedactor:
    """The stage that redacts identifiers in window titles."""

    name = "window_title"
    acts_on: frozenset[type] = frozenset({Window})
    """Only window events carry a title; the chain passes every other event by."""

    def __init__(self, detector: Callable[[str], list[Span]] = detect) -> None:
        self.detector = detector

    def __call__(self, event: Event) -> Event | None:
        """Return the event, its title redacted if it is a window event."""
        if not isinstance(event, Window) or not event.title:
            return event
        title = redact_title(event.title, self.detector)
        return event if title == event.title else dataclasses.replace(event, title=title)

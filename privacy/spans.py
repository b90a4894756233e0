"""The span every detector returns: where in a text, and why it is sensitive.

Its own module because both the detectors and the entropy check make spans, and the
detectors call the entropy check: here neither imports the other back.
"""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """A half-open character range ``[start, end)`` of ``text`` and why it is sensitive."""

    start: int
    end: int
    category: str

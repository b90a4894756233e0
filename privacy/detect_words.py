"""The cheap first look every labelled detector takes: which word beginnings a text holds.

Most typed text names no password, birth date, record or drug. A case-insensitive regex
alternation of every cue costs tens of microseconds per text (the engine tries each
branch at each position); splitting the text into words once and looking the first two
to five letters of each up in a set costs a few, and is shared by every detector (the
last texts' keys are cached). A detector runs its full patterns only when one of its
cue keys is there, and the patterns decide.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+")
_DIGIT = re.compile(r"\d")


@lru_cache(maxsize=16)
def word_keys(text: str) -> frozenset[str]:
    """The first 2, 3 and 4 letters (lower case) of every word of ``text`` (a word of
    one letter is its own key)."""
    found = _WORD.findall(text.lower())
    return frozenset([w[:2] for w in found] + [w[:3] for w in found] + [w[:4] for w in found])


def has_cue(text: str, cues: frozenset[str]) -> bool:
    """Whether a word of ``text`` begins with one of ``cues`` (each 1 to 4 letters)."""
    return not cues.isdisjoint(word_keys(text))


def has_digit(text: str) -> bool:
    """Whether ``text`` holds a digit."""
    return _DIGIT.search(text) is not None


def cues(spec: str) -> frozenset[str]:
    """A detector's cue keys from a space-separated list (lower case, 1 to 4 letters)."""
    keys = frozenset(spec.lower().split())
    if any(len(key) > 4 for key in keys):
        raise ValueError("cue keys are word beginnings of at most 4 letters")
    return keys

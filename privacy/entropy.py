"""Generic high-entropy strings: random-looking tokens that are probably secrets.

A candidate is a run of token characters of at least ``MIN_LENGTH``. It is flagged
when it mixes character classes, its Shannon entropy is close to the maximum for its
length, and it breaks into many short runs (random text changes between lower case,
upper case and digits every one or two characters; identifiers like
``getUser2FactorToken`` and words do not). Shapes that are random but not secret are
left alone on purpose: hex strings (git hashes, digests, colours), UUIDs, version
numbers, dates and times, paths and URLs (their parts are judged one by one).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from privacy import categories as cat
from privacy.spans import Span

MIN_LENGTH = 16
"""Shortest string judged: below it, real passwords and ordinary words look alike."""

_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_\-.~!#$%^*@]{16,}")
_SPLIT_PATH = re.compile(r"[/.@]")
_HEX = re.compile(r"(?i)(?:0x)?[0-9a-f]+")
_HEXISH = re.compile(r"(?i)[0-9a-f]+(?:[-:_][0-9a-f]+)*")
_NUMERIC = re.compile(r"[0-9.:+\-_/TZ]+")  # versions, dates, times, IPs
_PUBLIC_KEY_BEFORE = re.compile(
    r"(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519@openssh\.com)\s+\Z"
)
_SEPARATORS = re.compile(r"[.\-_+:]")
# ``name=value`` in one token (``request_id=3f2a…``): the name is a word, the value is judged
# alone (base64 padding is a trailing "=", never one followed by more).
_NAME_IS = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,40}=(?=[^=])")
_RUNS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^A-Za-z\d]+")


def shannon_entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def looks_random(token: str) -> bool:
    """Whether ``token`` looks like a machine-generated secret rather than text or an id."""
    n = len(token)
    if n < MIN_LENGTH:
        return False
    if _HEX.fullmatch(token) or _HEXISH.fullmatch(token) or _NUMERIC.fullmatch(token):
        return False
    lower = sum(c.islower() for c in token)
    upper = sum(c.isupper() for c in token)
    digit = sum(c.isdigit() for c in token)
    symbol = n - lower - upper - digit
    classes = (lower > 0) + (upper > 0) + (digit > 0) + (symbol > 0)
    if classes < 2 or lower + upper == 0:
        return False
    if classes == 2 and symbol and n < 32:
        return False  # kebab-case, snake_case and dotted names
    if lower == 0 and n < 24:
        return False  # upper case and digits: parcel numbers, SKUs, serials
    parts = _SEPARATORS.split(token)
    if len(parts) >= 3 and max(len(p) for p in parts) < 12:
        return False  # versions, dotted names, dashed codes: many short parts
    entropy = shannon_entropy(token)
    # Random text over a big alphabet approaches log2(n) for short strings.
    needed = min(4.2, 0.78 * math.log2(n)) if classes >= 3 else min(4.5, 0.85 * math.log2(n))
    if entropy < needed:
        return False
    # Mean length of letter/digit runs, symbols ignored: ~1.7 for random base62,
    # 3 and more for words, identifiers and paths.
    runs = [r for r in _RUNS.findall(token) if r[0].isalnum()]
    mean_run = (lower + upper + digit) / max(1, len(runs))
    return mean_run < (3.2 if classes >= 3 else 2.6)


def high_entropy_spans(text: str, taken: Sequence[Span] = ()) -> list[Span]:
    """Spans of random-looking tokens in ``text`` not overlapping any span in ``taken``."""
    out: list[Span] = []
    for m in _CANDIDATE.finditer(text):
        start, end = m.start(), m.end()
        if any(s.start < end and start < s.end for s in taken):
            continue
        token = m.group()
        named = _NAME_IS.match(token)
        if named is not None and not looks_random(named.group()[:-1]):
            start += named.end()
            token = token[named.end() :]
        if _PUBLIC_KEY_BEFORE.search(text, max(0, start - 40), start):
            continue  # an SSH public key: random, but meant to be shared
        stripped = token.strip(".-_=~!#$%^*@")
        if looks_random(stripped) and not _is_url_or_path(token):
            offset = start + token.index(stripped)
            out.append(Span(offset, offset + len(stripped), cat.HIGH_ENTROPY))
            continue
        if "/" in token or "." in token or "@" in token:
            # A path, URL or dotted name: judge its parts separately.
            pos = start
            for part in _SPLIT_PATH.split(token):
                if looks_random(part):
                    out.append(Span(pos, pos + len(part), cat.HIGH_ENTROPY))
                pos += len(part) + 1
    return out


def _is_url_or_path(token: str) -> bool:
    return token.startswith(("/", "./", "~/", "../")) or "://" in token

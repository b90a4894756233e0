"""The screen scrub's memories stay within their byte budgets, as the heap counts them.

The segment cache and the line findings are bounded by what their entries cost
(``privacy.screen_scrub``: ``CACHE_BYTES``, ``FOUND_BYTES``); these tests fill them with
generated words and lines and check with tracemalloc that the memory really held stays
near the budget, so that the agent's growth at large screens is bounded as documented
(issue 23). Words and lines are made up here: random letters and digits.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Callable

import pytest

from capture.ocr.base import OcrWord
from privacy.screen_scrub import (
    CACHE_STRIPS,
    FOUND_LINES,
    _cache_cost,
    _found_cost,
    _Lru,
    _pack,
    _unpack,
)
from privacy.spans import Span

BUDGET = 1 << 18
"""A quarter of a MB: large enough that the heap's own granularity does not matter."""


def _words(rng: random.Random) -> list[OcrWord]:
    """A segment's words as an engine gives them: 1-12 words of 2-12 characters."""
    out = []
    left = rng.randrange(0, 40)
    for _ in range(rng.randint(1, 12)):
        text = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789.@-", k=rng.randint(2, 12)))
        width = 7 * len(text)
        out.append(OcrWord(text, left, rng.randrange(0, 4), width, 13, rng.uniform(30.0, 96.0)))
        left += width + 7
    return out


def _held(fill: Callable[[], object]) -> int:
    """Bytes still allocated after ``fill`` returns, with what it returned kept."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = fill()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def test_packed_words_come_back_as_read() -> None:
    rng = random.Random(7)
    for _ in range(200):
        words = _words(rng)
        assert _unpack(_pack(words)) == words
    odd = [OcrWord("€uro", -3, -1, 20, 12, 0.0), OcrWord("", 5, 0, 0, 0, 100.0)]
    assert _unpack(_pack(odd)) == odd
    assert _unpack(_pack([])) == []


def test_the_segment_cache_holds_about_its_budget_in_memory() -> None:
    rng = random.Random(1)

    def fill() -> _Lru[bytes, bytes]:
        cache: _Lru[bytes, bytes] = _Lru(CACHE_STRIPS, BUDGET, _cache_cost)
        for _ in range(3000):  # made here, so traced; what the cache drops is freed
            cache.put(rng.randbytes(16), _pack(_words(rng)))
        return cache

    held = _held(fill)
    # The cost counted is about what is held: never much more than the budget, and not
    # a budget far above what it holds. (Below: tuples and floats taken from Python's
    # free lists were allocated before tracing began and are not counted: up to ~15 %.)
    assert 0.75 * BUDGET <= held <= 1.125 * BUDGET, held


def test_the_line_findings_hold_about_their_budget_in_memory() -> None:
    rng = random.Random(2)

    def fill() -> _Lru[str, tuple[Span, ...]]:
        memory: _Lru[str, tuple[Span, ...]] = _Lru(FOUND_LINES, BUDGET, _found_cost)
        for _ in range(6000):
            text = " ".join(w.text for w in _words(rng))
            cards = rng.choice((0, 0, 0, 2))
            memory.put(text, tuple(Span(4 * i, 4 * i + 4, "payment_card") for i in range(cards)))
        return memory

    held = _held(fill)
    assert 0.75 * BUDGET <= held <= 1.125 * BUDGET, held


@pytest.mark.parametrize("count", [1, 4, 12])
def test_packed_words_take_a_fraction_of_the_words(count: int) -> None:
    def words(seed: int) -> list[OcrWord]:
        return _words(random.Random(seed))[:count]

    as_objects = _held(lambda: [words(seed) for seed in range(500)])
    packed = _held(lambda: [_pack(words(seed)) for seed in range(500)])
    assert packed < as_objects / 2, (packed, as_objects)

"""What the screen mask did to each frame, handed from the screen thread to the writer.

The mask (``privacy.masking.WindowMasker``, with the OCR scrub when there is one) judges
every shot on the screen thread; the chunk writer, on the pipeline thread, records in
the chunk's manifest what was masked (``scrub``: counts per stage and category, the
engine, frames withheld; never content) and, in each frame's record, where
(``masks``: rectangles and their category, so `view` can draw them as masked rather than
as black screen). Frames are matched by their number (``Frame.number``): the screen
source tags each frame it emits with the mask's last judgement (``tag``). A frame the
ledger has no judgement for counts as unscrubbed, so a lost record can only make a chunk
look worse, never better. Bounded: judgements of frames dropped on the way (the privacy
chain, the consent gate) are forgotten oldest first.

The ledger also keeps this session's totals (``totals``: regions masked in the frames
handed to the writer, frames withheld by reason) for `status` and the tray.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

MAX_PENDING = 256
MAX_RECTS = 512
"""Rectangles kept per frame (a screen full of matches); the counts stay exact."""

Counts = dict[str, dict[str, int]]
"""Regions masked: stage -> category -> count."""


class MaskedRect(NamedTuple):
    """One rectangle painted over (virtual-screen coordinates): a position, never content."""

    stage: str
    category: str
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the mask painted on one frame: counts per stage and category, and where."""

    counts: Counts
    rects: tuple[MaskedRect, ...] = ()


@dataclass(frozen=True, slots=True)
class ScrubTotals:
    """This session so far: regions masked in stored frames, frames withheld by reason."""

    masked: Counts
    withheld: dict[str, int]


def _add(into: Counts, counts: Counts) -> None:
    for stage, per in counts.items():
        target = into.setdefault(stage, {})
        for category, n in per.items():
            target[category] = target.get(category, 0) + n


class ScrubLedger:
    """Per-frame masking counts and withheld frames; numbers only, any thread."""

    def __init__(self, engine: str | None = None) -> None:
        self.engine = engine
        """The OCR engine and version that read the frames (None: masks only, no OCR)."""
        self._lock = threading.Lock()
        self._last: Judgement | None = None
        self._frames: OrderedDict[int, Judgement] = OrderedDict()
        self._withheld: dict[str, int] = {}
        self._total_masked: Counts = {}
        self._total_withheld: dict[str, int] = {}

    def judged(self, counts: Counts, rects: Sequence[MaskedRect] = ()) -> None:
        """The mask let the last shot through with these regions painted (screen thread)."""
        with self._lock:
            self._last = Judgement(counts, tuple(rects[:MAX_RECTS]))

    def also(self, stage: str, counts: dict[str, int], rects: Sequence[MaskedRect]) -> None:
        """A later stage (the OCR scrub) painted more over the last shot judged (screen
        thread); ignored when no shot is pending (the mask withheld it). A rectangle
        already recorded for the shot (a line read by two bands of it) counts once:
        ``counts`` then go by the new rectangles alone."""
        with self._lock:
            last = self._last
            if last is None or not counts:
                return
            if rects:
                seen = set(last.rects)
                fresh = [r for r in rects if r not in seen]
                if len(fresh) < len(rects):
                    counts = {}
                    for r in fresh:
                        counts[r.category] = counts.get(r.category, 0) + 1
                    rects = fresh
                    if not fresh:
                        return
            merged: Counts = {s: dict(per) for s, per in last.counts.items()}
            _add(merged, {stage: counts})
            kept = (*last.rects, *rects)[:MAX_RECTS]
            self._last = Judgement(merged, kept)

    def withheld(self, reason: str) -> None:
        """The mask withheld a shot (screen thread)."""
        with self._lock:
            self._last = None
            self._withheld[reason] = self._withheld.get(reason, 0) + 1
            self._total_withheld[reason] = self._total_withheld.get(reason, 0) + 1

    def tag(self, number: int) -> None:
        """The frame numbered ``number`` was made from the last shot judged (screen thread)."""
        with self._lock:
            if self._last is None:
                return
            self._frames[number] = self._last
            self._last = None
            while len(self._frames) > MAX_PENDING:
                self._frames.popitem(last=False)

    def take(self, number: int) -> Judgement | None:
        """The judgement of frame ``number`` (None: it was not judged), forgotten after."""
        with self._lock:
            judged = self._frames.pop(number, None)
            if judged is not None:
                _add(self._total_masked, judged.counts)
            return judged

    def take_withheld(self) -> dict[str, int]:
        """Frames withheld since the last call, by reason."""
        with self._lock:
            out, self._withheld = self._withheld, {}
            return out

    def totals(self) -> ScrubTotals:
        """This session's totals (copies; for `status`)."""
        with self._lock:
            masked = {stage: dict(per) for stage, per in self._total_masked.items()}
            return ScrubTotals(masked, dict(self._total_withheld))

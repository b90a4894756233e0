"""What the screen mask did to each frame, handed from the screen thread to the writer.

The mask (``privacy.masking.WindowMasker``, with the OCR scrub when there is one) judges
every shot on the screen thread; the chunk writer, on the pipeline thread, records in
the chunk's manifest what was masked (``scrub``: counts per stage and category, the
engine, frames withheld; never content). Frames are matched by their number
(``Frame.number``): the screen source tags each frame it emits with the mask's last
judgement (``tag``). A frame the ledger has no judgement for counts as unscrubbed, so a
lost record can only make a chunk look worse, never better. Bounded: judgements of
frames dropped on the way (the privacy chain, the consent gate) are forgotten oldest
first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_PENDING = 256

Counts = dict[str, dict[str, int]]
"""Regions masked: stage -> category -> count."""


class ScrubLedger:
    """Per-frame masking counts and withheld frames; numbers only, any thread."""

    def __init__(self, engine: str | None = None) -> None:
        self.engine = engine
        """The OCR engine and version that read the frames (None: masks only, no OCR)."""
        self._lock = threading.Lock()
        self._last: Counts | None = None
        self._frames: OrderedDict[int, Counts] = OrderedDict()
        self._withheld: dict[str, int] = {}

    def judged(self, counts: Counts) -> None:
        """The mask let the last shot through with these regions painted (screen thread)."""
        with self._lock:
            self._last = counts

    def withheld(self, reason: str) -> None:
        """The mask withheld a shot (screen thread)."""
        with self._lock:
            self._last = None
            self._withheld[reason] = self._withheld.get(reason, 0) + 1

    def tag(self, number: int) -> None:
        """The frame numbered ``number`` was made from the last shot judged (screen thread)."""
        with self._lock:
            if self._last is None:
                return
            self._frames[number] = self._last
            self._last = None
            while len(self._frames) > MAX_PENDING:
                self._frames.popitem(last=False)

    def take(self, number: int) -> Counts | None:
        """The judgement of frame ``number`` (None: it was not judged), forgotten after."""
        with self._lock:
            return self._frames.pop(number, None)

    def take_withheld(self) -> dict[str, int]:
        """Frames withheld since the last call, by reason."""
        with self._lock:
            out, self._withheld = self._withheld, {}
            return out

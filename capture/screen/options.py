"""Settings of the screen source, as plain values (importable without mss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["auto", "lossless", "lossy"]
ENCODINGS: tuple[Encoding, ...] = ("auto", "lossless", "lossy")
"""How frames are encoded: ``auto`` picks lossless WebP for screens of few colours (text,
UI) and lossy for pictures, per frame (``capture.screen.frame_encoder``)."""


@dataclass(frozen=True, slots=True)
class ScreenOptions:
    """When frames are taken and how they are encoded; see ``capture.screen.policy``."""

    debounce: float = 0.25
    """Seconds of calm after a click or window change before the frame is taken (0.25:
    the configuration's default, the one in force; this class once said 0.3)."""
    typing_gap: float = 0.7
    """Seconds without a key event that end a typing burst."""
    max_wait: float = 5.0
    """Longest a pending trigger may be pushed back by continued activity."""
    min_interval: float = 1.0
    """Least seconds between two grabs (rate cap)."""
    idle_interval: float = 30.0
    """A frame is taken after this many seconds without one (idle fallback)."""
    encoding: Encoding = "auto"
    """Lossless, lossy or chosen per frame (``ENCODINGS``)."""
    webp_quality: int = 50
    """Lossy WebP quality, 0-100."""
    webp_method: int = 0
    """WebP effort, 0 (fastest) to 6 (smallest). 0: less screen-thread CPU for somewhat
    more bytes (docs/PERFORMANCE.md); CPU is the tighter target."""

    def __post_init__(self) -> None:
        if min(self.debounce, self.typing_gap, self.max_wait) < 0:
            raise ValueError("screen delays must not be negative")
        if self.min_interval <= 0 or self.idle_interval <= 0:
            raise ValueError("min_interval and idle_interval must be positive")
        if not 0 <= self.webp_quality <= 100:
            raise ValueError("webp_quality must be between 0 and 100")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}")
        if not 0 <= self.webp_method <= 6:
            raise ValueError("webp_method must be between 0 and 6")


DEFAULT_OPTIONS = ScreenOptions()
"""The defaults, the single source of ``[capture.screen]``'s defaults too."""

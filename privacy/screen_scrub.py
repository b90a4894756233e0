"""The screen scrub: read the text of what changed on screen, mask what the detectors find.

``ScreenScrubber`` cuts an image into text segments (``privacy.text_segments``: one
line's run of text between wide gaps), reads each with the OCR backend (small text at
``UPSCALE`` times its size), rebuilds lines from the words, runs the same detectors as
typed text (``privacy.detectors``: cards, SSNs, IBANs, emails, phones, tokens,
credentials, health and identity data, high-entropy strings) over the text as read and
as corrected for the engine's confusions (``privacy.screen_text``), and, through
``known_secrets``, looks for the secrets the person typed; each match becomes a padded
box to fill solid, like a masked window. ``FrameScrubber`` adapts it to the screen
source: raw BGRA pixels in, boxes to paint (or None: withhold) out, and finds typed
secrets under their masks before the mask paints them (``locate``).

Each segment's words are cached by a hash of its pixels, so a screen that does not
change is read once, and a line that moved (a scroll, a window raised again) is not read
again; the cache is bounded by the bytes it holds as well as by its entries. A line
that changed only towards its end (a line being typed) is read from a gap between words
``TAIL_CONTEXT`` line heights before its change, the words before the gap kept from the
last read at that place (``_read_tail``).
``FrameScrubber`` also remembers the rows it judged (a CRC-32 per screen row) with the
masks found in them, so rows unchanged since are not even cut into segments again.
Only segments reaching into the changed rows are read. A piece that is not one line
(lines touching, a picture) is read in overlapping strips ``STRIP`` pixels high, one
every ``STEP`` rows. A segment the engine cannot read (engine missing, failing) makes the
whole result withheld: the caller must not store the frame.

Nothing read is logged or written: words live in the bounded cache in memory only, and
counts are per category, never content.
"""

from __future__ import annotations

import hashlib
import logging
import math
import struct
import sys
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar, cast

from PIL import Image, ImageChops, ImageOps

from capture.ocr.base import OcrBackend, OcrUnavailable, OcrWord
from capture.window.visible import Rect
from privacy.detectors import Detector, detect, merge_spans
from privacy.masking import MASK_RGB
from privacy.screen_text import RANDOM_ONLY, corrected, drop_public, find_misread_identifiers
from privacy.scrub_ledger import MaskedRect
from privacy.spans import Span
from privacy.text_segments import BORDER_ROWS, projections, segments

if TYPE_CHECKING:
    from capture.screen.frame_maker import RawShot
    from privacy.known_secrets import KnownSecrets
    from privacy.scrub_ledger import ScrubLedger

log = logging.getLogger(__name__)

STRIP = 48
"""Height of one OCR strip in pixels."""
STEP = STRIP // 2
"""Rows between two strips' tops: a line of text up to this high lies whole in one strip."""
PAD = 2
"""Pixels added around each masked word (anti-aliased edges, OCR's tight boxes)."""
ENGINE_MARGIN = 10
"""Pixels of background added around the ink of a strip before the engine reads it."""
UPSCALE = 1.5
"""How much larger small text is drawn for the engine."""
UPSCALE_BELOW = 40
"""Segments lower than this (rows: a line of small text, or two touching) are read
``UPSCALE`` times larger."""
CACHE_STRIPS = 4096
"""Segments and strips whose words are remembered at most (a few screens of text lines)."""
CACHE_BYTES = 1 << 20
"""Bytes the segment cache holds at most, all entries together, as ``_cache_cost`` counts
them (its key, its words packed and the entry). Words are kept packed (``_pack``), a
quarter to a third of their memory as ``OcrWord`` objects: the 8,192-word bound filled
~2.5 MB within the hour at 3840x2160 (the soak's growth, issue 23); 1 MB holds about as
many words packed (docs/PERFORMANCE.md, "Memory, the OCR engine and the scrub's
caches")."""
TAIL_CONTEXT = 8
"""Line heights of unchanged text read again before the first changed column of a line
(about four words of a terminal's: the engine reads a word better in its line), and
after a word before it is kept. 4 saved a third more CPU but masked fewer typed
secrets than reading whole (``bench.screen_scrub_bench --typed``, docs/PERFORMANCE.md)."""
TAIL_GAP = 0.4
"""Blank columns, in line heights, of a gap between words where a line may be cut (the
gaps between a word's glyphs are a pixel or two)."""
TAIL_MIN = 0.25
"""A line is read from its change only when at least this share of it is kept."""
TAIL_LINES = 32
"""Segments whose pixels are remembered (by place) for reading only their change: the
lines being typed in, and what was read last around them."""
TAIL_BYTES = 1 << 20
"""Bytes of those pixels held at most, all places together (a 1920-pixel line of a
terminal is ~85 KB; a line read is usually far shorter)."""
FOUND_LINES = 4096
"""Lines whose detector findings are remembered at most (by their text)."""
FOUND_BYTES = 1 << 19
"""Bytes the findings' memory holds at most, all lines together (``_found_cost``): by
characters (262,144) it filled ~1 MB at 3840x2160 within the hour (issue 23)."""
_ENTRY_BYTES = 220
"""What an entry of a bounded cache costs beyond its key and value (its place in the
ordered dict, the tuple holding value and cost, the cost's int), measured with
tracemalloc (tests/privacy/test_screen_scrub_memory.py)."""
JOINERS = frozenset(".,@:/_-")
"""Characters at which the engine splits one token into two words (an address, a path)."""
IN_TOKEN = frozenset(".@_-/!#$%&*+=?~^")
"""Punctuation found inside addresses, paths and passwords (not ``,`` ``:`` ``;``, which
prose follows with a space)."""
MEMO_MASKS = 4096
"""Masks remembered for rows already judged at most (past it, all is read again)."""
GRID = BORDER_ROWS // 2
"""Rows read for a change start and end on multiples of this (screen rows): the blocks
``text_segments`` tells borders by."""
GRID_MIN = 2 * BORDER_ROWS
"""Rows read for a change at least."""
MEMOS = 8
"""Places (a shot's left and width: the screen, a window's region) whose judged rows are
remembered."""
TYPED_SECRET = "typed_secret"
"""The count category of a match from the typed secrets (``known_secrets``)."""
NO_OCR = "no_ocr"
"""Withheld reason: no OCR backend could start."""
OCR_FAILED = "ocr_failed"
"""Withheld reason: the OCR backend failed on a strip."""


@dataclass(frozen=True, slots=True)
class ScrubResult:
    """What to mask (virtual-screen coordinates), counts per category, or why to withhold."""

    masks: tuple[Rect, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    withheld_reason: str | None = None
    categories: tuple[str, ...] = ()
    """Each mask's category, in ``masks`` order."""
    read: tuple[Rect, ...] = ()
    """The text segments read (virtual-screen coordinates): where the masks were judged."""


@dataclass(slots=True)
class ScrubStats:
    """Running counters (numbers only): strips read and reused, CPU spent, withheld frames."""

    strips_read: int = 0
    strips_cached: int = 0
    tails_read: int = 0
    """Segments read from where they changed only (a line being typed)."""
    ocr_cpu_s: float = 0.0
    """CPU seconds of the whole scrub: finding text, reading it, matching it (this
    thread's, and an OCR worker process's on its reads)."""
    masked: dict[str, int] = field(default_factory=dict)
    withheld: dict[str, int] = field(default_factory=dict)


class ScreenScrubber:
    """Finds what must be masked in an image of the screen (see the module docstring).

    ``ocr`` is None when no backend could start: every scrub is then withheld with
    ``unavailable`` as its reason (fail closed). ``detectors`` default to typed text's.
    The segment cache keeps at most ``cache_strips`` entries of ``cache_bytes`` in all
    (words packed, ``_pack``), least recently used out. ``read_tails``: a line that
    changed only towards its end is read from there (``_read_tail``; off to measure what
    it changes).
    """

    def __init__(
        self,
        ocr: OcrBackend | None,
        detectors: Sequence[Detector] | None = None,
        known_secrets: KnownSecrets | None = None,
        *,
        unavailable: str = "no OCR backend",
        cache_strips: int = CACHE_STRIPS,
        cache_bytes: int = CACHE_BYTES,
        read_tails: bool = True,
    ) -> None:
        self.ocr = ocr
        self.detectors = None if detectors is None else list(detectors)
        self.known_secrets = known_secrets
        self.unavailable = unavailable
        self.read_tails = read_tails
        self.stats = ScrubStats()
        self._cache: _Lru[bytes, bytes] = _Lru(cache_strips, cache_bytes, _cache_cost)
        self._found: _Lru[str, tuple[Span, ...]] = _Lru(FOUND_LINES, FOUND_BYTES, _found_cost)
        # The last segment read at each place (screen x, y, height): its width, pixels
        # and words, so a line that grew is read from where it changed (``_read_tail``).
        self._lines: _Lru[tuple[int, int, int], _LineRead] = _Lru(
            TAIL_LINES, TAIL_BYTES, lambda _place, line: len(line.pixels)
        )

    def scrub(
        self,
        image: Image.Image,
        origin_xy: tuple[int, int] = (0, 0),
        rows: tuple[int, int] | None = None,
    ) -> ScrubResult:
        """The boxes to mask in ``image``, whose top-left pixel lies at ``origin_xy``;
        with ``rows`` (``[top, bottom)`` of ``image``), only the text reaching into them
        (what changed) is read, each of its lines whole."""
        if self.ocr is None:
            return self._withhold(NO_OCR)
        masks: dict[Rect, str] = {}
        read: list[Rect] = []
        started, outside = time.thread_time(), _outside_cpu(self.ocr)
        try:
            words = self._words(image, origin_xy, rows, read)
            for rect, category in _matches(words, (0, 0), self.detectors, self._found):
                _add_mask(masks, rect, category)
            if self.known_secrets is not None and words:
                for rect in self.known_secrets.find(words):
                    masks.setdefault(rect, TYPED_SECRET)
        except OcrUnavailable as exc:
            log.warning("screen scrub: OCR failed (%s), frame withheld", exc.reason)
            return self._withhold(OCR_FAILED)
        except Exception as exc:
            # The type only: a message could quote what was read.
            log.warning("screen scrub failed (%s), frame withheld", type(exc).__name__)
            return self._withhold(OCR_FAILED)
        finally:
            self.stats.ocr_cpu_s += time.thread_time() - started
            self.stats.ocr_cpu_s += _outside_cpu(self.ocr) - outside
        counts: dict[str, int] = {}
        for category in masks.values():
            counts[category] = counts.get(category, 0) + 1
            self.stats.masked[category] = self.stats.masked.get(category, 0) + 1
        categories = tuple(masks.values())
        return ScrubResult(tuple(masks), counts, categories=categories, read=tuple(read))

    def read(self, image: Image.Image, origin_xy: tuple[int, int] = (0, 0)) -> list[OcrWord]:
        """Every word read in ``image`` (coordinates relative to ``origin_xy``'s screen),
        one per place, top to bottom; raises OcrUnavailable."""
        if self.ocr is None:
            raise OcrUnavailable(self.unavailable)
        return self._words(image, origin_xy, None)

    def _words(
        self,
        image: Image.Image,
        origin_xy: tuple[int, int],
        rows: tuple[int, int] | None,
        read: list[Rect] | None = None,
    ) -> list[OcrWord]:
        """The words of each text segment of ``image`` reaching into ``rows``, in screen
        coordinates (each segment's box appended to ``read``). A block (lines touching,
        a picture) is read in overlapping strips, which read a line twice, the strip that
        cut it worse (lower confidence): of two words overlapping by half, the surer one
        stays."""
        ox, oy = origin_xy
        found: list[OcrWord] = []
        blocks: list[OcrWord] = []
        for segment in segments(image, rows):
            box = (segment.x, segment.y, segment.right, segment.bottom)
            if read is not None:
                read.append(Rect(ox + segment.x, oy + segment.y, segment.width, segment.height))
            piece = image.crop(box)
            if segment.block:
                for top, words in self._strips(piece, oy + segment.y):
                    blocks.extend(_moved(w, ox + segment.x, oy + segment.y + top) for w in words)
            else:
                place = (ox + segment.x, oy + segment.y, segment.height)
                found.extend(
                    _moved(w, ox + segment.x, oy + segment.y)
                    for w in self._read_cached(piece, place)
                )
            del piece
        if blocks:
            kept: list[OcrWord] = []
            for word in sorted(blocks, key=lambda w: -w.confidence):
                area = max(1, word.width * word.height)
                if all(_overlap(word, other) * 2 < area for other in kept):
                    kept.append(word)
            found.extend(kept)
        return sorted(found, key=lambda w: (w.top, w.left))

    def find_secrets(self, image: Image.Image, origin_xy: tuple[int, int] = (0, 0)) -> None:
        """Read ``image`` and tell the typed secrets where theirs are (``KnownSecrets.find``
        moves each found secret's mask onto its words); raises OcrUnavailable."""
        if self.known_secrets is None:
            return
        if self.ocr is None:
            raise OcrUnavailable(self.unavailable)
        started, outside = time.thread_time(), _outside_cpu(self.ocr)
        try:
            words = self._words(image, origin_xy, None)
            if words:
                self.known_secrets.find(words)
        finally:
            self.stats.ocr_cpu_s += time.thread_time() - started
            self.stats.ocr_cpu_s += _outside_cpu(self.ocr) - outside

    def clear(self) -> None:
        """Forget every cached segment and line (what was read leaves memory)."""
        self._cache.clear()
        self._found.clear()
        self._lines.clear()

    def _withhold(self, reason: str) -> ScrubResult:
        self.stats.withheld[reason] = self.stats.withheld.get(reason, 0) + 1
        return ScrubResult(withheld_reason=reason)

    def _strips(self, image: Image.Image, oy: int) -> Iterable[tuple[int, list[OcrWord]]]:
        """(top within ``image``, words in strip coordinates) for each strip."""
        height = image.height
        if height <= STRIP:
            yield 0, self._read_cached(image)
            return
        # Strips start on the screen's STEP grid, so the same screen rows give the same
        # strips (and cache keys) whatever region around them changed.
        start = -(oy % STEP)
        for y in range(start, height, STEP):
            top, bottom = max(0, y), min(height, y + STRIP)
            yield top, self._read_cached(image.crop((0, top, image.width, bottom)))
            if y + STRIP >= height:
                break

    def _read_cached(
        self, strip: Image.Image, place: tuple[int, int, int] | None = None
    ) -> list[OcrWord]:
        """The words of ``strip`` (its coordinates), from the cache when these pixels
        were read before. ``place`` (screen x, y and height of a one-line segment): where
        the last segment read there is the same up to some column (a line being typed),
        only the rest is read again (``_read_tail``)."""
        pixels = strip.tobytes()
        digest = hashlib.blake2b(pixels, digest_size=16)
        digest.update(f"{strip.width}x{strip.height}{strip.mode}".encode())
        key = digest.digest()
        packed = self._cache.get(key)
        if packed is not None:
            cached = _unpack(packed)
            self.stats.strips_cached += 1
            if place is not None:
                self._lines.put(place, _LineRead(strip.width, pixels, cached))
            return cached
        assert self.ocr is not None
        words = None
        if place is not None and self.read_tails:
            words = self._read_tail(strip, pixels, place)
        if words is None:
            words = self._engine_words(strip)
        self.stats.strips_read += 1
        self._cache.put(key, _pack(words))
        if place is not None:
            self._lines.put(place, _LineRead(strip.width, pixels, words))
        return words

    def _read_tail(
        self, strip: Image.Image, pixels: bytes, place: tuple[int, int, int]
    ) -> list[OcrWord] | None:
        """The words of ``strip`` when the segment read last at ``place`` is the same up
        to a column: its words left of a gap between words, ``TAIL_CONTEXT`` times the
        line's height before that column, are kept, and the engine reads from the gap
        on (with the words just before the change, so it has their context). None: read
        it whole (nothing read there, a change near the start, no gap to cut at).

        A line being typed changes at its end only: read whole each time, a long line
        cost ~27 ms a frame for the one word that grew (docs/PERFORMANCE.md)."""
        before = self._lines.get(place)
        if before is None:
            return None
        width0, pixels0, words0 = before
        height = strip.height
        if len(pixels0) != width0 * height * len(strip.getbands()) or not words0:
            return None
        change = _first_change(pixels0, width0, pixels, strip.width, height)
        # Only words read with text after them are kept: the word at a line's end is
        # read beside the cursor (``nginx`` as ``nginxll``), and kept, a misreading
        # would stay while the line grows (a quote misread unmasked a password).
        limit = min(change - TAIL_CONTEXT * height, _settled(words0, height))
        if limit < TAIL_MIN * strip.width:
            return None
        cut = _word_gap(strip, words0, limit, height)
        if cut is None:
            return None
        kept = [w for w in words0 if w.left + w.width <= cut]
        if not kept:
            return None
        tail = strip.crop((cut, 0, strip.width, height))
        read = [_moved(w, cut, 0) for w in self._engine_words(tail)]
        self.stats.tails_read += 1
        return sorted([*kept, *read], key=lambda w: (w.top, w.left))

    def _engine_words(self, strip: Image.Image) -> list[OcrWord]:
        """What the engine reads in ``strip`` (its coordinates), uncached."""
        assert self.ocr is not None
        # Only the columns holding anything but the strip's background are read: the
        # engine's time grows with the width it is given, blank or not, and a strip of
        # background only (a flat area) holds nothing to read.
        background = _background(strip)
        ink = ImageChops.difference(strip, Image.new(strip.mode, strip.size, background))
        bbox = ink.getbbox()
        del ink
        if bbox is None:
            return []
        x0 = max(0, bbox[0] - ENGINE_MARGIN)
        x1 = min(strip.width, bbox[2] + ENGINE_MARGIN)
        piece = strip.crop((x0, 0, x1, strip.height)) if (x0, x1) != (0, strip.width) else strip
        # Small text is read at 1.5 times its size: the engine's model is trained on
        # text far larger than a terminal's, and read as drawn it turned DE38 into
        # TES8 and dropped the dots of an address; 1.5 read as well as 2 for a
        # quarter less CPU (docs/PERFORMANCE.md, Screen scrub).
        scale = UPSCALE if piece.height < UPSCALE_BELOW else 1.0
        grey = piece.convert("L")
        shade = _background(grey)
        if isinstance(shade, int) and shade < 128:
            # Light text on a dark background is read as dark on light: read as
            # drawn, the engine tried each line a second time inverted (a dark
            # terminal cost 60 ms a line against 34; bench.screen_scrub_bench).
            grey = ImageOps.invert(grey)
            shade = 255 - shade
        if scale != 1.0:
            size = (round(grey.width * scale), round(grey.height * scale))
            grey = grey.resize(size, Image.Resampling.BICUBIC)
        # A margin of the background colour all around: the engine misreads glyphs
        # that touch the image's edge.
        margin = round(ENGINE_MARGIN * scale)
        padded = ImageOps.expand(grey, margin, fill=shade)
        words = [
            OcrWord(
                w.text,
                math.floor((w.left - margin) / scale) + x0,
                math.floor((w.top - margin) / scale),
                math.ceil(w.width / scale) + 1,
                math.ceil(w.height / scale) + 1,
                w.confidence,
            )
            for w in self.ocr.read(padded)
        ]
        del padded, piece, grey
        return words


def _outside_cpu(ocr: OcrBackend | None) -> float:
    """CPU seconds ``ocr`` has spent outside this process so far (an engine in a worker
    process, ``capture.ocr.process.ProcessOcr.cpu_s``): the scrub's figures count them."""
    spent = getattr(ocr, "cpu_s", 0.0)
    return spent if isinstance(spent, float) else 0.0


class _LineRead(NamedTuple):
    """The last segment read at a place: its width, pixels and words."""

    width: int
    pixels: bytes
    words: list[OcrWord]


def _settled(words: Sequence[OcrWord], height: int) -> int:
    """The column before which every word of ``words`` (a line ``height`` rows high) was
    read with ``TAIL_CONTEXT`` line heights of text after it: words kept when the line
    grows are taken from there only."""
    end = max((w.left + w.width for w in words), default=0)
    after = TAIL_CONTEXT * height
    return min((w.left for w in words if w.left + w.width + after > end), default=end)


def _first_change(before: bytes, width0: int, after: bytes, width1: int, height: int) -> int:
    """The first column at which two images ``height`` rows high (``before`` ``width0``
    wide, ``after`` ``width1``, the same pixel format) differ in any row; the narrower
    width when one is the other's left part."""
    size = len(after) // max(1, width1 * height)
    width = min(width0, width1)
    first = width
    for row in range(height):
        a = before[row * width0 * size : (row * width0 + first) * size]
        b = after[row * width1 * size : (row * width1 + first) * size]
        if a == b:
            continue
        lo, hi = 0, first  # the first differing pixel lies in [lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if a[: mid * size] == b[: mid * size]:
                lo = mid
            else:
                hi = mid
        first = lo
    return first


def _word_gap(strip: Image.Image, words: Sequence[OcrWord], limit: int, height: int) -> int | None:
    """The rightmost column at or left of ``limit`` in the middle of a gap between words:
    ``TAIL_GAP`` times ``height`` blank columns at least (wider than the blank columns
    between a word's glyphs), crossed by no word box; None when there is none."""
    background = _background(strip)
    ink = ImageChops.difference(strip, Image.new(strip.mode, strip.size, background))
    columns, _ = projections(ink.convert("L"))
    del ink
    need = max(2, math.ceil(TAIL_GAP * height))
    run = 0
    for x in range(min(limit, strip.width - 1), -1, -1):
        run = run + 1 if columns[x] == 0 else 0
        if run >= need:
            cut = x + need // 2
            if all(not (w.left < cut < w.left + w.width) for w in words):
                return cut
    return None


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A mapping that forgets the least recently used entries past ``entries`` of them or
    past ``budget`` of their total ``cost(key, value)`` (words, characters): bounded by
    what it holds, not only by how many. An entry costing more than the whole budget is
    not kept."""

    def __init__(self, entries: int, budget: int, cost: Callable[[K, V], int]) -> None:
        self.entries = entries
        self.budget = budget
        self.cost = cost
        self.held = 0
        """The total cost of the entries held."""
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        item = self._data.get(key)
        if item is None:
            return None
        self._data.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` under ``key``, forgetting the least recently used entries
        until both bounds hold."""
        cost = self.cost(key, value)
        old = self._data.pop(key, None)
        if old is not None:
            self.held -= old[1]
        if cost > self.budget:
            return
        self._data[key] = (value, cost)
        self.held += cost
        while len(self._data) > self.entries or self.held > self.budget:
            _, (_, gone) = self._data.popitem(last=False)
            self.held -= gone

    def keys(self) -> list[K]:
        """The keys held, least recently used first."""
        return list(self._data)

    def clear(self) -> None:
        """Forget every entry."""
        self._data.clear()
        self.held = 0

    def __len__(self) -> int:
        return len(self._data)


_COUNT = struct.Struct("<I")
"""How many words a packed segment holds."""
_WORD = struct.Struct("<5id")
"""A packed word: its text's length in UTF-8 bytes, left, top, width, height, confidence."""


def _pack(words: Sequence[OcrWord]) -> bytes:
    """A segment's words as the segment cache keeps them, in one bytes object: their
    count, each word's box and confidence, then all texts: a quarter to a third of the
    memory of ``OcrWord`` objects in a list, each with its own str and float (81 against
    233 bytes for one word, 269 against 1,214 for twelve; tracemalloc)."""
    texts = [w.text.encode() for w in words]
    return b"".join(
        [
            _COUNT.pack(len(words)),
            *(
                _WORD.pack(len(t), w.left, w.top, w.width, w.height, w.confidence)
                for w, t in zip(words, texts, strict=True)
            ),
            *texts,
        ]
    )


def _unpack(packed: bytes) -> list[OcrWord]:
    """The words ``_pack`` packed, as first read (about a microsecond a word)."""
    (count,) = _COUNT.unpack_from(packed)
    at = _COUNT.size + count * _WORD.size
    words: list[OcrWord] = []
    for length, left, top, width, height, confidence in _WORD.iter_unpack(packed[_COUNT.size : at]):
        words.append(
            OcrWord(packed[at : at + length].decode(), left, top, width, height, confidence)
        )
        at += length
    return words


def _cache_cost(key: bytes, packed: bytes) -> int:
    """What a segment's entry takes in the segment cache: its key, its packed words and
    the entry."""
    return _ENTRY_BYTES + sys.getsizeof(key) + sys.getsizeof(packed)


def _found_cost(text: str, spans: tuple[Span, ...]) -> int:
    """What a line's findings take in the findings' memory: its text, the spans (a tuple
    of three fields each; the category strings are shared) and the entry."""
    return _ENTRY_BYTES + sys.getsizeof(text) + sys.getsizeof(spans) + 72 * len(spans)


def _moved(word: OcrWord, dx: int, dy: int) -> OcrWord:
    """``word`` with its box moved by (``dx``, ``dy``)."""
    return OcrWord(
        word.text, word.left + dx, word.top + dy, word.width, word.height, word.confidence
    )


def _add_mask(masks: dict[Rect, str], rect: Rect, category: str) -> None:
    """Add ``rect``; the same match read again by the overlapping strip (a pixel off)
    joins the first as their union, so it is counted once and covered whole."""
    for other, seen in masks.items():
        if seen != category:
            continue
        x0, y0 = max(rect.x, other.x), max(rect.y, other.y)
        x1 = min(rect.x + rect.width, other.x + other.width)
        y1 = min(rect.y + rect.height, other.y + other.height)
        smaller = min(rect.width * rect.height, other.width * other.height)
        if x1 > x0 and y1 > y0 and 2 * (x1 - x0) * (y1 - y0) >= smaller:
            del masks[other]
            ux, uy = min(rect.x, other.x), min(rect.y, other.y)
            ux1 = max(rect.x + rect.width, other.x + other.width)
            uy1 = max(rect.y + rect.height, other.y + other.height)
            masks[Rect(ux, uy, ux1 - ux, uy1 - uy)] = category
            return
    masks.setdefault(rect, category)


def _background(image: Image.Image) -> int | tuple[int, ...]:
    """The most frequent colour of ``image``: the colour around its text.

    A wrong guess only widens what is read (every other colour counts as ink)."""
    colours = image.getcolors(image.width * image.height) or [(1, image.getpixel((0, 0)))]
    colour = max(colours, key=lambda c: c[0])[1]
    return colour if isinstance(colour, (int, tuple)) else 0


def _overlap(a: OcrWord, b: OcrWord) -> int:
    """Pixels two word boxes share."""
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    return max(0, width) * max(0, height)


def lines_of(words: Sequence[OcrWord]) -> list[list[OcrWord]]:
    """Words grouped into lines (vertical overlap), left to right; a wide gap (another
    column or window) starts a new line."""
    lines: list[list[OcrWord]] = []
    # Lines no later word can join are set aside: words come by their middle row, so
    # a line whose last word ends above this middle, and whose own middle lies more
    # than half the tallest word above it, is done (a screen of text is ~1000 words:
    # comparing each with every line cost 7 ms a frame).
    active: list[list[OcrWord]] = []
    reach = max((w.height for w in words), default=0) / 2
    for word in sorted(words, key=lambda w: (w.top + w.height / 2, w.left)):
        middle = word.top + word.height / 2
        top, bottom = word.top, word.top + word.height
        done = False
        for line in active:
            last = line[-1]
            last_bottom = last.top + last.height
            last_middle = last.top + last.height / 2
            if last_bottom < middle and last_middle < middle - reach:
                done = True
                continue
            if last.top <= middle <= last_bottom or top <= last_middle <= bottom:
                line.append(word)
                break
        else:
            lines.append([word])
            active.append(lines[-1])
        if done:
            active = [
                line
                for line in active
                if not (
                    line[-1].top + line[-1].height < middle
                    and line[-1].top + line[-1].height / 2 < middle - reach
                )
            ]
    out: list[list[OcrWord]] = []
    for line in lines:
        line.sort(key=lambda w: w.left)
        size = max(w.height for w in line)
        current = [line[0]]
        for word in line[1:]:
            if word.left - current[-1].right > 3 * size:
                out.append(current)
                current = []
            current.append(word)
        out.append(current)
    return out


def line_text(
    line: Sequence[OcrWord], *, loose: bool = False
) -> tuple[str, list[tuple[int, int, int]]]:
    """The line's text and, for each word, (start, end, index): words the engine split
    are joined again without a space where they touch, or nearly and at a character
    that joins (``bob@example.`` and ``com``). Elsewhere a space: proportional text
    sets words ~0.25 of its height apart, and joined there ``Hx of HIV`` read ``ofHIV``,
    an IBAN after a word was one token with it. ``loose``: joined up to 0.25 of the
    height, and up to 0.45 at a character found inside tokens (``IN_TOKEN``), as
    monospace text needs (the engine split ``hana. castillo@…`` and ``Marble! 484`` a
    narrow glyph's bearings apart)."""
    parts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    length = 0
    for i, word in enumerate(line):
        if i:
            before = line[i - 1]
            gap = word.left - before.right
            size = max(word.height, before.height)
            if loose:
                inside = before.text[-1:] in IN_TOKEN or word.text[:1] in IN_TOKEN
                limit = 0.45 if inside else 0.25
            else:
                limit = 0.25 if before.text[-1:] in JOINERS or word.text[:1] in JOINERS else 0.12
            if gap > limit * size:
                parts.append(" ")
                length += 1
        spans.append((length, length + len(word.text), i))
        parts.append(word.text)
        length += len(word.text)
    return "".join(parts), spans


def _matches(
    words: Sequence[OcrWord],
    origin: tuple[int, int],
    detectors: Sequence[Detector] | None,
    seen: _Lru[str, tuple[Span, ...]] | None = None,
) -> Iterable[tuple[Rect, str]]:
    """(padded box in screen coordinates, category) for each detector match, in the
    text as read and as corrected for the engine's usual confusions (``screen_text``).
    ``seen`` remembers each line's findings by its text (the same lines come back from
    the segment cache frame after frame)."""
    ox, oy = origin
    for line in lines_of(words):
        # Read with a space at every gap a word could end at, and joined where the
        # engine may have split a token: what either finds is masked. Joining makes
        # random-looking tokens of ordinary words, so joined only what a detector names
        # (a cue, a prefix, a checksum) counts.
        strict, loose = line_text(line), line_text(line, loose=True)
        yield from _line_matches(line, *strict, (ox, oy), detectors, seen)
        if loose[0] != strict[0]:
            for rect, category in _line_matches(line, *loose, (ox, oy), detectors, seen):
                if category not in RANDOM_ONLY:
                    yield rect, category


def _line_matches(
    line: Sequence[OcrWord],
    text: str,
    spans: Sequence[tuple[int, int, int]],
    origin: tuple[int, int],
    detectors: Sequence[Detector] | None,
    seen: _Lru[str, tuple[Span, ...]] | None,
) -> Iterable[tuple[Rect, str]]:
    ox, oy = origin
    found = None if seen is None else seen.get(text)
    if found is None:
        found = tuple(_findings(text, detectors))
        if seen is not None:
            seen.put(text, found)
    for match in found:
        hit = [line[i] for start, end, i in spans if start < match.end and end > match.start]
        if not hit:
            continue
        x0, y0 = min(w.left for w in hit), min(w.top for w in hit)
        x1, y1 = max(w.right for w in hit), max(w.bottom for w in hit)
        yield (
            Rect(ox + x0 - PAD, oy + y0 - PAD, x1 - x0 + 2 * PAD, y1 - y0 + 2 * PAD),
            match.category,
        )


def _findings(text: str, detectors: Sequence[Detector] | None) -> list[Span]:
    """The detectors' spans in one line as read and as corrected, merged: the same digits
    found as read, as corrected and by shape are one identifier (counted under the
    category found first)."""
    fixed = corrected(text)
    found = detect(text, detectors)
    if fixed != text:
        found.extend(detect(fixed, detectors))
    # Keys, digests and media as the engine spoils them are public all the same.
    found = drop_public(text, found)
    found.extend(find_misread_identifiers(fixed))
    return merge_spans(found)


def fill_image(
    image: Image.Image, masks: Iterable[Rect], origin_xy: tuple[int, int] = (0, 0)
) -> Image.Image:
    """``image`` with each mask (screen coordinates; the image's top-left at
    ``origin_xy``) filled solid with ``MASK_RGB``, as a stored frame has it (a copy)."""
    # Imported here: ImageDraw brings Pillow's FreeType (~1.7 MB resident), and the
    # agent never calls this (tools and tests do; issue 23).
    from PIL import ImageDraw

    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    ox, oy = origin_xy
    for r in masks:
        draw.rectangle(
            (r.x - ox, r.y - oy, r.x - ox + r.width - 1, r.y - oy + r.height - 1), fill=MASK_RGB
        )
    return out


@dataclass(slots=True)
class _Judged:
    """Rows of shots from one place already judged: each screen row's CRC-32 as judged,
    and the masks found in those rows (what they showed, never the text)."""

    rows: dict[int, int] = field(default_factory=dict)
    masks: dict[Rect, str] = field(default_factory=dict)


def _row_runs(rows: Sequence[int], join: int) -> list[tuple[int, int]]:
    """[top, bottom) of the runs of ``rows`` (ascending); runs closer than ``join`` rows
    are one (their margins would overlap)."""
    out: list[tuple[int, int]] = []
    for row in rows:
        if out and row - out[-1][1] < join:
            out[-1] = (out[-1][0], row + 1)
        else:
            out.append((row, row + 1))
    return out


def _in_rows(rect: Rect, runs: Sequence[tuple[int, int]]) -> bool:
    """Whether ``rect`` reaches into any of the row ranges ``runs``."""
    return any(rect.y < b and rect.y + rect.height > a for a, b in runs)


def _read_again(rect: Rect, read: Sequence[Rect], changed: set[int]) -> bool:
    """Whether a mask found before was judged anew: its middle lies in a text segment
    read now, or on a row that changed (its text changed or is gone: read if any).
    Only segments reaching into changed rows are read, so a mask beside them (the line
    above a typed one, its padding reaching into the typed line's rows) stays: dropped,
    with its line not read again, the next region above stored an address unmasked
    (issue 18's e2e test in CI)."""
    x, y = rect.x + rect.width // 2, rect.y + rect.height // 2
    inside = any(r.x <= x < r.x + r.width and r.y <= y < r.y + r.height for r in read)
    return inside or y in changed


def image_of_bgra(shot: RawShot, top: int = 0, bottom: int | None = None) -> Image.Image:
    """Rows ``top``..``bottom`` of a raw BGRA shot as an RGB image (one copy)."""
    end = shot.height if bottom is None else bottom
    stride = 4 * shot.width
    with memoryview(shot.bgra) as view:
        rows = view[top * stride : end * stride]
        # Pillow reads any buffer; its stubs name bytes only.
        source = cast(bytes, rows)
        return Image.frombuffer("RGB", (shot.width, end - top), source, "raw", "BGRX", stride, 1)


class FrameScrubber:
    """The screen source's scrub (``capture.screen.mss_source.FrameScrub``): what to
    paint over in the rows of a raw shot around a changed box, or None to withhold."""

    MARGIN = STEP
    """Rows read above and below the changed box: a line the change cut is read whole."""

    STAGE = "screen_ocr"
    """The stage its masks are counted under (the manifest's ``scrub``, `status`)."""

    def __init__(self, scrubber: ScreenScrubber, ledger: ScrubLedger | None = None) -> None:
        self.scrubber = scrubber
        self.withheld_reason: str | None = None
        # Rows already judged and the masks found in them, per place shots come from
        # (left, width: the screen, a window's region): the last ``MEMOS`` places.
        self._memos: OrderedDict[tuple[int, int], _Judged] = OrderedDict()
        # Told what each frame had masked or that it was withheld, for the manifest;
        # the engine and its version go into every manifest from now on.
        self.ledger = ledger
        if ledger is not None:
            ledger.engine = scrubber.ocr.version if scrubber.ocr is not None else None

    def __call__(
        self, shot: RawShot, top: int, bottom: int, columns: tuple[int, int] | None = None
    ) -> tuple[Rect, ...] | None:
        """Boxes (virtual-screen coordinates) to fill in rows ``top``..``bottom`` of
        ``shot`` (widened by ``MARGIN``), or None: the frame must be withheld. With
        ``columns`` (``[left, right)`` of ``shot``), only boxes reaching into them.

        Rows whose pixels are those of rows already judged (the same line of the same
        width, its CRC-32 remembered) keep the masks found in them then: only runs of
        rows that changed are read (each widened by ``MARGIN``), so a key frame or a
        change at the top and the bottom of the screen does not cut up every line in
        between again. Nothing is remembered while typed secrets are being looked for
        (``known_secrets``: each read tells it where they are now)."""
        top, bottom = max(0, top), min(shot.height, bottom)
        if bottom <= top:
            return ()
        started = time.thread_time()
        inner = 0.0  # the scrub counts its own CPU time
        try:
            secrets = self.scrubber.known_secrets
            if secrets is not None and len(secrets) > 0:
                self._forget()  # each read tells the typed secrets where they are now
                judged = _Judged()
            else:
                judged = self._judged((shot.left, shot.width))
            stride = 4 * shot.width
            crc = zlib.crc32
            with memoryview(shot.bgra) as view:
                lines = [crc(view[r * stride : (r + 1) * stride]) for r in range(top, bottom)]
            seen = judged.rows
            changed = [r for r, line in enumerate(lines, top) if seen.get(shot.top + r) != line]
            runs = _row_runs(changed, 2 * self.MARGIN)
            found: dict[Rect, str] = {}
            read: list[Rect] = []
            for a, b in runs:
                y0, y1 = self._rows_read(shot, a, b)
                image = image_of_bgra(shot, y0, y1)
                read_at = time.thread_time()
                result = self.scrubber.scrub(image, (shot.left, shot.top + y0), (a - y0, b - y0))
                inner += time.thread_time() - read_at
                del image
                if result.withheld_reason is not None:
                    self._withheld(result.withheld_reason)
                    return None
                for rect, category in zip(result.masks, result.categories, strict=True):
                    found.setdefault(rect, category)
                read.extend(result.read)
            rows_changed = {shot.top + r for r in changed}
            before = judged.masks.items()
            kept = {r: c for r, c in before if not _read_again(r, read, rows_changed)}
            kept.update(found)
            judged.masks = kept
            for r, line in enumerate(lines, top):
                seen[shot.top + r] = line
            if len(kept) > MEMO_MASKS:
                self._forget()  # bounded; the next frame reads what it shows
            wanted = [(shot.top + top, shot.top + bottom)]
            found = {r: c for r, c in kept.items() if _in_rows(r, wanted)}
            if columns is not None:
                left, right = shot.left + columns[0], shot.left + columns[1]
                found = {r: c for r, c in found.items() if r.x < right and r.x + r.width > left}
        finally:
            self.scrubber.stats.ocr_cpu_s += time.thread_time() - started - inner
        self.withheld_reason = None
        masks = tuple(found)
        if self.ledger is not None and masks:
            counts: dict[str, int] = {}
            for category in found.values():
                counts[category] = counts.get(category, 0) + 1
            self.ledger.also(
                self.STAGE,
                counts,
                [
                    MaskedRect(self.STAGE, category, r.x, r.y, r.width, r.height)
                    for r, category in found.items()
                ],
            )
        return masks

    def _rows_read(self, shot: RawShot, a: int, b: int) -> tuple[int, int]:
        """The rows of ``shot`` read for changed rows ``a``..``b``: ``MARGIN`` more each
        way, out to a grid fixed to the screen and ``GRID_MIN`` rows at least, so that
        the same lines are cut into the same segments (found in the cache) whichever
        rows around them changed: a border is told from text by runs of ``BORDER_ROWS``."""
        y0 = shot.top + a - self.MARGIN
        y1 = shot.top + b + self.MARGIN
        y0 -= y0 % GRID
        y1 += -y1 % GRID
        if y1 - y0 < GRID_MIN:
            y1 = y0 + GRID_MIN
        return max(0, y0 - shot.top), min(shot.height, y1 - shot.top)

    def _withheld(self, reason: str) -> None:
        self.withheld_reason = reason
        if self.ledger is not None:
            self.ledger.withheld(reason)
        self._forget()  # what was not judged is not remembered either

    def _judged(self, at: tuple[int, int]) -> _Judged:
        judged = self._memos.get(at)
        if judged is None:
            judged = self._memos[at] = _Judged()
            if len(self._memos) > MEMOS:
                self._memos.popitem(last=False)
        self._memos.move_to_end(at)
        return judged

    def _forget(self) -> None:
        self._memos.clear()

    def locate(self, shot: RawShot, rects: Sequence[Rect]) -> None:
        """Find the typed secrets under ``rects`` (virtual-screen coordinates) in the raw
        ``shot`` before the mask paints them: the rows they span are read whole (a
        secret's line), from the strip cache where they did not change. A failure leaves
        the masks as they are (they cover more, never less)."""
        top = min((r.y - shot.top for r in rects), default=0)
        bottom = max((r.y + r.height - shot.top for r in rects), default=0)
        y0, y1 = max(0, top), min(shot.height, bottom)
        if y1 <= y0:
            return
        image = image_of_bgra(shot, y0, y1)
        try:
            self.scrubber.find_secrets(image, (shot.left, shot.top + y0))
        except Exception as exc:  # OcrUnavailable, an engine's bug: the masks stay whole
            log.warning("screen scrub: cannot locate typed secrets (%s)", type(exc).__name__)
        finally:
            del image

    @property
    def stats(self) -> ScrubStats:
        """The scrubber's counters."""
        return self.scrubber.stats

    def close(self) -> None:
        """Forget what was read and release the engine."""
        self._forget()
        self.scrubber.clear()
        if self.scrubber.ocr is not None:
            self.scrubber.ocr.close()

"""Typed secrets, remembered (in memory only) so the screen can mask them where echoed.

When the typed-text stage redacts a span, the application has usually echoed it: a
terminal shows the card number, an entry field the token. ``KnownSecrets`` is the
channel from that stage (pipeline thread) to the screen mask (screen thread):

* ``add`` (typed-text stage): the category, the text as typed, the window it was typed
  into and when (first and last key, monotonic seconds).
* ``note_damage`` (screen thread): where the screen was drawn between two damage reads
  (X DAMAGE). Every box drawn while a secret was typed (plus ``ECHO_SLACK`` for the
  echo) becomes one of its rectangles; boxes drawn before the stage released the
  secret are kept in a short ring and matched when it arrives.
* ``masks`` (screen thread, each grab): what to paint over. A secret's damage
  rectangles, fail closed, for as long as it is remembered; the area of the window it
  was typed into when its place is lost (no damage was seen, or the region was redrawn
  as a whole, as a scroll does) and OCR has not found it since; withhold the frame when
  not even that window can be located.
* ``find`` (the OCR scrubber, ``privacy.screen_scrub``): boxes of OCR words that spell
  a known secret, tolerant of spacing and of OCR confusions (O/0, l/1, S/5, ...), so a
  secret that scrolled or was redrawn is masked where it is now. A secret found inside
  its own damage rectangles is located: from then on its rectangles are the word boxes
  (narrower than damage, which holds whatever else was drawn meanwhile).

Bounded: at most ``MAX_ENTRIES`` secrets (the oldest goes first, counted in
``evicted``), each forgotten ``TTL`` seconds after it was typed or last seen by OCR,
``MAX_AGE`` after it was typed at the latest, or as soon as its window is closed.
Nothing here is ever written, logged or put in a repr: the text lives in this object
only, normalised, and dies with it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from capture.window.visible import Rect, VisibleWindow

MAX_ENTRIES = 64
TTL = 600.0
"""Seconds a secret is remembered after it was typed or last seen on screen by OCR."""
MAX_AGE = 3600.0
"""Seconds a secret is remembered at most (a terminal rarely shows an hour-old line)."""
ECHO_SLACK = 0.5
"""Seconds after the last key during which drawing is taken as the secret's echo (a
local terminal echoes within milliseconds, ssh within a round trip). Damage is read
per grab, so a read spanning this bound counts whole (fail closed); the screen source
reads again ``typing_gap`` (0.7 s) after the last key, which closes the span."""
LEAD_SLACK = 0.1
"""Seconds before the first key during which drawing counts (clock granularity)."""
RING_SECONDS = 60.0
RING_SIZE = 512
MAX_RECTS = 16
"""Rectangles per secret; more are merged into their bounding box (still covering)."""
MIN_FIND_CHARS = 4
"""Secrets shorter than this (normalised) are not searched for by OCR (any short word
would match); their damage rectangles still mask them."""
PAD = 2
"""Pixels added around an OCR word box (glyph edges lie outside the box OCR reports)."""
SCROLL_FACTOR = 3
"""Damage this many times a rectangle's height, covering it, means it was redrawn whole."""

# OCR confusions, folded the same way on both sides: a match then tolerates them.
_FOLD = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "!": "1",
                       "S": "5", "B": "8", "Z": "2", "G": "6", "T": "7"})  # fmt: skip


def normalise(text: str) -> str:
    """``text`` as compared: upper case, confusable letters folded, only letters and digits."""
    return "".join(ch for ch in text.upper().translate(_FOLD) if ch.isalnum())


class OcrWordLike(Protocol):
    """What ``find`` reads of an OCR word (``capture.ocr.base.OcrWord``)."""

    @property
    def text(self) -> str: ...
    @property
    def left(self) -> int: ...
    @property
    def top(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SecretMasks:
    """What the screen mask must do for the secrets remembered now.

    ``rects`` to paint (virtual-screen coordinates), ``regions`` their count per
    category, ``withhold`` a reason (counts only) when the frame must not be stored.
    """

    rects: tuple[Rect, ...] = ()
    regions: dict[str, int] = field(default_factory=dict)
    withhold: str | None = None
    categories: tuple[str, ...] = ()
    """The category of each of ``rects``, in the same order (for `view`'s labels)."""


@dataclass(eq=False, slots=True)
class _Entry:
    category: str
    needle: str = field(repr=False)
    app: str = field(repr=False)
    title: str = field(repr=False)
    first: float
    last: float
    added: float
    seen: float
    rects: list[Rect] = field(default_factory=list)
    located: bool = False  # rects are OCR word boxes, not damage
    moved: bool = False  # redrawn as a whole since: its damage rectangles may be stale


def _overlap(a: Rect, b: Rect) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def _covers(outer: Rect, inner: Rect) -> bool:
    return (
        outer.x <= inner.x
        and outer.y <= inner.y
        and inner.x + inner.width <= outer.x + outer.width
        and inner.y + inner.height <= outer.y + outer.height
    )


def bounding(rects: Iterable[Rect]) -> Rect | None:
    """The smallest rectangle holding all of ``rects`` (None when there are none)."""
    out: tuple[int, int, int, int] | None = None
    for r in rects:
        box = (r.x, r.y, r.x + r.width, r.y + r.height)
        out = (
            box
            if out is None
            else (
                min(out[0], box[0]),
                min(out[1], box[1]),
                max(out[2], box[2]),
                max(out[3], box[3]),
            )
        )
    return None if out is None else Rect(out[0], out[1], out[2] - out[0], out[3] - out[1])


class KnownSecrets:
    """Typed secrets and where they were drawn; shared by the pipeline and screen threads."""

    def __init__(
        self,
        *,
        ttl: float = TTL,
        max_age: float = MAX_AGE,
        max_entries: int = MAX_ENTRIES,
        echo_slack: float = ECHO_SLACK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_age = max_age
        self.max_entries = max_entries
        self.echo_slack = echo_slack
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._ring: deque[tuple[float, float, Rect]] = deque(maxlen=RING_SIZE)
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:  # never the text
        return f"KnownSecrets({len(self)} remembered)"

    # --- the typed-text stage -----------------------------------------------------------

    def now(self) -> float:
        """This object's clock (monotonic seconds): frames grabbed from now on know every
        secret added so far."""
        return self._clock()

    def add(
        self, category: str, text: str, app: str, title: str, first: float, last: float
    ) -> None:
        """Remember a redacted span typed into window (``app``, ``title``) between the
        monotonic times ``first`` and ``last`` (its first and last key)."""
        now = self._clock()
        entry = _Entry(category, normalise(text), app, title, first, last, now, now)
        with self._lock:
            for since, until, box in self._ring:
                if self._during(entry, since, until):
                    self._add_rect(entry, box)
            if len(self._entries) >= self.max_entries:
                self._entries.pop(0)
                self.evicted += 1
            self._entries.append(entry)

    # --- the screen thread --------------------------------------------------------------

    def note_damage(self, box: Rect | None, since: float, until: float) -> None:
        """The screen was drawn within ``box`` between monotonic ``since`` and ``until``."""
        if box is None or box.width <= 0 or box.height <= 0:
            return
        with self._lock:
            while self._ring and self._ring[0][1] < until - RING_SECONDS:
                self._ring.popleft()
            self._ring.append((since, until, box))
            for entry in self._entries:
                if self._during(entry, since, until):
                    self._add_rect(entry, box)
                elif since > entry.last and any(self._redrawn(box, r) for r in entry.rects):
                    entry.moved = True

    def masks(
        self, windows: Sequence[VisibleWindow], complete: bool, now: float | None = None
    ) -> SecretMasks:
        """What to paint over now, given the windows on screen (``complete``: the lister
        reports unfocused windows too, so a missing window is a closed one)."""
        now = self._clock() if now is None else now
        rects: list[Rect] = []
        categories: list[str] = []
        regions: dict[str, int] = {}
        with self._lock:
            self._expire(windows, complete, now)
            for entry in self._entries:
                got: list[Rect] = []
                if entry.rects:
                    got.extend(entry.rects)
                if not entry.rects or entry.moved:
                    area = self._window_area(entry, windows)
                    if area is None:
                        return SecretMasks(withhold="secret_unlocated")
                    got.extend(area)
                rects.extend(got)
                categories.extend([entry.category] * len(got))
                regions[entry.category] = regions.get(entry.category, 0) + len(got)
        return SecretMasks(tuple(rects), regions, categories=tuple(categories))

    def rects_for(self, windows: Sequence[VisibleWindow], now: float | None = None) -> list[Rect]:
        """The rectangles to mask (``masks`` with a complete window list); a frame that
        must be withheld gives the whole of every window listed."""
        got = self.masks(windows, True, now)
        if got.withhold is not None:
            return [w.geometry for w in windows if w.geometry is not None]
        return list(got.rects)

    def needs_locating(self) -> bool:
        """Whether a secret's mask is larger than its text: damage rectangles (not yet
        found by OCR) or its window's area (redrawn since): the mask then asks the
        scrubber to read under it first (``WindowMasker``'s ``locate``)."""
        with self._lock:
            return any(
                (not e.located or e.moved) and len(e.needle) >= MIN_FIND_CHARS
                for e in self._entries
            )

    # --- the OCR scrubber ---------------------------------------------------------------

    def find(self, words: Sequence[OcrWordLike], origin: tuple[int, int] = (0, 0)) -> list[Rect]:
        """Boxes (virtual-screen coordinates) of the words in ``words`` that spell a known
        secret. ``origin`` is where the OCR'd image's top-left pixel lies on the screen."""
        with self._lock:
            needles = [(e, e.needle) for e in self._entries if len(e.needle) >= MIN_FIND_CHARS]
        if not needles or not words:
            return []
        ox, oy = origin
        found: list[Rect] = []
        now = self._clock()
        for line in _lines(words):
            hay, owner = _haystack(line)
            for entry, needle in needles:
                spans = _matches(hay, needle) or _partial(hay, needle)
                # Inside the damage drawn while it was typed, a looser likeness is enough
                # (the damage says it was drawn there): a misread glyph too many must not
                # leave the whole damaged area masked, the words typed beside it with it.
                loose = (
                    not spans
                    and not entry.located
                    and not entry.moved
                    and any(_overlap(_line_box(line, ox, oy), r) for r in entry.rects)
                )
                for start, end in spans or (_partial(hay, needle, loose=True) if loose else []):
                    used = sorted({owner[i] for i in range(start, end)})
                    box = bounding(
                        Rect(line[i].left + ox - PAD, line[i].top + oy - PAD,
                             line[i].width + 2 * PAD, line[i].height + 2 * PAD)
                        for i in used
                    )  # fmt: skip
                    if box is None or (loose and not any(_overlap(box, r) for r in entry.rects)):
                        continue
                    found.append(box)
                    self._located(entry, box, now)
        return found

    # --- internals (lock held unless said otherwise) -----------------------------------

    def _during(self, entry: _Entry, since: float, until: float) -> bool:
        return until >= entry.first - LEAD_SLACK and since <= entry.last + self.echo_slack

    def _redrawn(self, box: Rect, rect: Rect) -> bool:
        return _covers(box, rect) and box.height >= SCROLL_FACTOR * max(1, rect.height)

    def _add_rect(self, entry: _Entry, box: Rect) -> None:
        if entry.located:
            return
        entry.rects.append(box)
        if len(entry.rects) > MAX_RECTS:
            merged = bounding(entry.rects)
            assert merged is not None
            entry.rects = [merged]

    def _located(self, entry: _Entry, box: Rect, now: float) -> None:
        # Takes the lock itself (find runs without it while matching).
        with self._lock:
            entry.seen = now
            if entry.moved:
                # Redrawn as a whole since it was last placed (a scroll): where it was is
                # stale, and kept it would mask whatever text moved there (a sentence
                # scrolled back into its old line). It is where it is found now; another
                # place it shows in this read is masked by the read's own boxes.
                entry.rects = [box]
                entry.located = True
                entry.moved = False
                return
            if not entry.rects or any(_overlap(box, r) for r in entry.rects):
                if not entry.located:
                    entry.rects = []
                    entry.located = True
                if box not in entry.rects and len(entry.rects) < MAX_RECTS:
                    entry.rects.append(box)

    def _expire(self, windows: Sequence[VisibleWindow], complete: bool, now: float) -> None:
        apps = {w.app for w in windows}
        keep = []
        for entry in self._entries:
            closed = complete and entry.app and entry.app not in apps
            if closed or now - entry.seen > self.ttl or now - entry.added > self.max_age:
                self.expired += 1
                continue
            keep.append(entry)
        self._entries = keep

    def _window_area(self, entry: _Entry, windows: Sequence[VisibleWindow]) -> list[Rect] | None:
        same = [w for w in windows if w.app == entry.app and w.geometry is not None]
        titled = [w for w in same if w.title == entry.title]
        chosen = titled or same
        if not chosen:
            focused = [w for w in windows if w.focused and w.geometry is not None]
            chosen = focused if not entry.app else []
        return [w.geometry for w in chosen if w.geometry is not None] or None


def _lines(words: Sequence[OcrWordLike]) -> list[list[OcrWordLike]]:
    """OCR words grouped into lines (vertical centres within half a word's height),
    each left to right."""
    lines: list[list[OcrWordLike]] = []
    for word in sorted(words, key=lambda w: (w.top + w.height / 2, w.left)):
        centre = word.top + word.height / 2
        if lines:
            last = lines[-1][-1]
            if abs(last.top + last.height / 2 - centre) <= max(word.height, last.height) / 2:
                lines[-1].append(word)
                continue
        lines.append([word])
    for line in lines:
        line.sort(key=lambda w: w.left)
    return lines


def _haystack(line: Sequence[OcrWordLike]) -> tuple[str, list[int]]:
    chars: list[str] = []
    owner: list[int] = []
    for index, word in enumerate(line):
        norm = normalise(word.text)
        chars.append(norm)
        owner.extend([index] * len(norm))
    return "".join(chars), owner


def _matches(hay: str, needle: str) -> list[tuple[int, int]]:
    """[start, end) spans where ``needle`` occurs in ``hay`` with at most one mismatch in
    ten characters (OCR misreads a glyph now and then)."""
    n = len(needle)
    if n > len(hay):
        return []
    allowed = n // 10
    out = []
    start = 0
    while start <= len(hay) - n:
        if allowed == 0:
            at = hay.find(needle, start)
            if at < 0:
                break
            out.append((at, at + n))
            start = at + n
            continue
        misses = 0
        for a, b in zip(hay[start : start + n], needle, strict=True):
            if a != b:
                misses += 1
                if misses > allowed:
                    break
        if misses <= allowed:
            out.append((start, start + n))
            start += n
        else:
            start += 1
    return out


MIN_PARTIAL = 10
"""Characters of a secret that, seen alone, are taken as it (an entry field scrolled to
show a long secret's tail; a line cut by a window's edge)."""
MAX_HAY = 400
"""Characters of one line searched by alignment at most (bounded work per line)."""


def _line_box(line: Sequence[OcrWordLike], ox: int, oy: int) -> Rect:
    """The box around a line's words, in screen coordinates."""
    left, top = min(w.left for w in line), min(w.top for w in line)
    right = max(w.left + w.width for w in line)
    bottom = max(w.top + w.height for w in line)
    return Rect(left + ox, top + oy, right - left, bottom - top)


def _grams(text: str, size: int) -> set[str]:
    """The runs of ``size`` neighbouring characters in ``text``."""
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def _partial(hay: str, needle: str, *, loose: bool = False) -> list[tuple[int, int]]:
    """The span of ``hay`` best aligned with a part of ``needle`` (Smith-Waterman: +1 a
    match, -1 a mismatch, a glyph the engine added or dropped), when that part is the
    whole needle or ``MIN_PARTIAL`` characters at least, with one error in eight at most.
    Tolerates what ``_matches`` does not: a glyph read twice (``65709`` for ``6570``) or
    dropped, and a secret only partly on screen."""
    hay = hay[:MAX_HAY]
    if len(hay) < min(len(needle), MIN_PARTIAL):
        return []
    # Every alignment accepted below keeps some run of the needle whole: with at most
    # the errors allowed, two neighbouring characters always, three when the needle has
    # 12 or more and the match is not loose (at most one error in eight, or in twelve
    # for a part). A line sharing no such run with the needle is passed at once: most
    # lines, where the alignment below costs ~2 ms a line and needle in Python.
    size = 2 if loose or len(needle) < 12 else 3
    if not _grams(needle, size) & _grams(hay, size):
        return []
    best, best_at = 0, (0, 0, 0)
    # Each cell: (score, where the alignment started in hay, needle characters used).
    previous = [(0, j, 0) for j in range(len(hay) + 1)]
    for i in range(1, len(needle) + 1):
        current = [(0, 0, 0)]
        for j in range(1, len(hay) + 1):
            diag = previous[j - 1]
            hit = needle[i - 1] == hay[j - 1]
            options = [
                (diag[0] + (1 if hit else -1), diag[1], diag[2] + 1),
                (previous[j][0] - 1, previous[j][1], previous[j][2] + 1),  # dropped
                (current[j - 1][0] - 1, current[j - 1][1], current[j - 1][2]),  # added
            ]
            cell = max(options)
            if cell[0] <= 0:
                cell = (0, j, 0)
            current.append(cell)
            if cell[0] > best:
                best, best_at = cell[0], (cell[1], j, cell[2])
        previous = current
    start, end, used = best_at
    errors = (used - best + 1) // 2  # a misread or dropped glyph costs 2, an added one 1
    if used == len(needle):
        allowed = max(1, used // (4 if loose else 8))
    elif used >= MIN_PARTIAL:
        allowed = used // (6 if loose else 12)  # a part: stricter, digits align by chance
    else:
        return []
    if errors > allowed:
        return []
    return [(start, end)]

"""Typed-text redaction: hold keys until a boundary, rebuild the text, redact what matches.

Key events are held (with whatever non-key events arrive in between, so relative
order is kept) until a boundary: Enter, Tab, a mouse click, a focus change, a caret
jump the rebuild cannot follow (Up, Down, Page Up/Down), an idle gap, or a size or
age cap. The typed text is then rebuilt from the held presses (Backspace, Delete,
Left, Right, Home, End and Ctrl+Backspace/W/U/A are followed) with every character
mapped to the press that produced it, the detectors run over it, and the events are
released in order. A press inside a detected span, and the release of that key, keeps
its timing but loses its character: ``key`` becomes ``REDACTED_KEY``, ``char`` None,
``redacted`` the category and ``sensitivity`` the category's level.

Text that was typed and then erased is judged too: the text as it stood before each
run of deletions is kept and scanned at release, so a card number typed and deleted
again is still redacted. A frame held behind a redacted press is dropped: the screen
may show the secret being typed (the chain counts it as ``frame_with_secret``).

Terminal password prompts: a line that is a command which usually asks for a password
(see ``privacy.terminal``) makes the next line(s) typed in the same window a secret
whole ("password"), and the lines of a PEM private key typed between its BEGIN and END
lines are redacted whole ("private_key").

Caps cut a line with an overlap, never blind: at a cap (20 s held, 1024 characters,
4096 events, 32 deletion runs) the whole held text is judged, but only the part before
its last ``TAIL_CHARS`` characters is released; that tail (extended back to the start
of an unbroken run it cuts, up to ``MAX_RUN`` characters) stays held with the
decisions already made about it, and is judged again with what is typed next. A secret
still being typed at the cut is thus inside the tail, context included. A run longer
than ``MAX_RUN`` cannot be judged in a bounded window and is withheld whole
("unjudged"), and so is the unjudged tail if the hold reaches twice a cap.

Lost keys: when the queue drops key events (``gap_opened``), the segment held then,
and everything typed until ``gap_closed`` (or the next segment, if none is held then),
is withheld whole ("dropped_context"): a secret with missing characters is no longer
recognisable, so no detector could be trusted with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from capture.events import Event, Frame, Key, Marker, MouseButton, MouseMove, Scroll, Window
from privacy import categories as cat
from privacy.detect_passwords import open_cue_at_end
from privacy.detectors import Span, detect, names_what_follows
from privacy.known_secrets import KnownSecrets
from privacy.terminal import ends_secret_block, prompt_lines, starts_secret_block

REDACTED_KEY = "redacted"
"""The key name a redacted character key is stored under (a character key's name is
the character itself, so the name must go with the character)."""

IDLE_SECONDS = 3.0
MAX_HOLD_SECONDS = 20.0
MAX_CHARS = 1024
MAX_EVENTS = 4096
MAX_SNAPSHOTS = 32
MAX_LINE = 1024
MAX_WINDOWS = 64
TAIL_CHARS = 256
"""Characters kept back at a cap. Longer than any secret of bounded length with its
context (an IBAN in groups is 42, a card 23, "SSN" context 30 before 11 digits, a
quoted credential value at most 200): one still being typed at the cut is wholly in it."""
GUARD_SECONDS = 30.0
"""How long after a secret is handed to the screen mask a frame grabbed before that
may still arrive (the queue and the pipeline's tick lie in between)."""
MAX_RUN = 512
"""Longest unbroken (whitespace-free) run a cut holds back whole; longer is unjudged."""
HARD_FACTOR = 2
"""A hold reaching this many times a cap is released whole, its tail withheld."""
DEFER_FACTOR = 4
"""An idle gap releases text that ends inside a likely secret (digits, or a password
cue and what follows it) only after this many idle gaps: a secret typed in two parts
with a short pause between is judged whole."""
CONTEXT_CHARS = 64
"""Characters of a window's previously released text the detectors see before the
next segment (never redacted again): a label typed in one field or line ("DOB", "pw:")
still names the value typed after Tab, Enter or a pause."""
# Public blocks typed line by line: each line is judged with the block's first line
# prepended, so the public-shape check sees the block it is in.
_PUBLIC_BLOCKS = {
    f"-----BEGIN {name}-----": f"-----END {name}-----"
    for name in (
        "PGP PUBLIC KEY BLOCK",
        "PUBLIC KEY",
        "RSA PUBLIC KEY",
        "EC PUBLIC KEY",
        "CERTIFICATE",
        "CERTIFICATE REQUEST",
    )
}

_BOUNDARY_KEYS = frozenset({"enter", "tab", "up", "down", "page_up", "page_down"})
_COMMAND_MODIFIERS = frozenset(
    {"ctrl", "ctrl_l", "ctrl_r", "alt", "alt_l", "alt_r", "cmd", "cmd_l", "cmd_r"}
)
_CTRL = frozenset({"ctrl", "ctrl_l", "ctrl_r", "cmd", "cmd_l", "cmd_r"})

Detect = Callable[[str], list[Span]]


@dataclass
class _LineState:
    """What a window's terminal heuristic remembers between segments."""

    line: list[str] = field(default_factory=list)
    secret_lines: int = 0
    in_key_block: bool = False
    lost: bool = False  # keys of this line were lost: the command cannot be judged
    context: str = ""  # the end of what was released before in this window
    context_cues: bool = False  # whether that context may name what follows
    public_block: str = ""  # the BEGIN line of the public key block being typed, if any


class TypedTextRedactor:
    """The buffering stage that redacts secrets and personal identifiers in typed text."""

    name = "typed_text"
    passes_when_idle: frozenset[type] = frozenset({MouseMove, MouseButton, Scroll, Frame, Marker})
    """Events the stage passes untouched while it holds no text (see ``idle``)."""

    def __init__(
        self,
        detector: Detect = detect,
        idle_seconds: float = IDLE_SECONDS,
        max_hold_seconds: float = MAX_HOLD_SECONDS,
        max_chars: int = MAX_CHARS,
        max_events: int = MAX_EVENTS,
        tail_chars: int = TAIL_CHARS,
        max_run: int = MAX_RUN,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self.detector = detector
        # Where the screen mask learns what was redacted, to paint it over where echoed.
        self.known_secrets = known_secrets
        self._title = ""
        # (first key, registered) monotonic times of the last secret handed to
        # known_secrets: a frame grabbed in between was masked without it (see process).
        self._guard: tuple[float, float] | None = None
        self.idle_seconds = idle_seconds
        self.max_hold_seconds = max_hold_seconds
        self.max_chars = max_chars
        self.max_events = max_events
        self.tail_chars = tail_chars
        self.max_run = max_run
        self.removed: dict[str, int] = {}
        self._app = ""
        self._lines: dict[object, _LineState] = {}
        self._window: object = None
        self._mods: set[str] = set()
        self._carry: dict[str, str] = {}  # key name -> category of a redacted press still down
        self._gap_open = False  # keys were lost upstream and the gap is not behind us yet
        self._tainted = False  # the segment held (or the next one) spans lost keys
        self._reset()

    def _reset(self) -> None:
        self._held: list[Event] = []
        self._text: list[str] = []
        self._owners: list[int] = []  # held index of the press that typed each character
        self._cursor = 0
        self._snapshots: list[tuple[str, list[int]]] = []
        self._deleting = False
        self._erased: list[tuple[int, int]] = []  # (position, held index) of deleted chars
        self._forced: dict[int, str] = {}  # held index -> category decided on arrival
        self._typed: list[int] = []  # held indices of presses that typed a character
        self._first_mono = 0.0
        self._last_key_mono = 0.0
        self._cancel_line_mode = False
        # Set by a cut: (held index of the last character, category) of a secret that
        # reached the end of the judged text and may go on; the run it continues in is
        # redacted with it.
        self._open: tuple[int, str] | None = None
        self._secret_seen = False  # a cut released a redacted press: frames after it go
        self._cut_chars = self.max_chars  # text length that triggers the next cut
        self._cut_events = self.max_events  # held events that trigger the next cut
        if not self._gap_open:
            self._tainted = False

    @property
    def idle(self) -> bool:
        """Nothing held: pointer, scroll, frame and marker events pass untouched."""
        return not self._held and self._guard is None

    @property
    def holds_frame(self) -> bool:
        """Whether a frame waits behind held keys (the pipeline puts off sealing the open
        chunk for it: a changed region stored in the next chunk would be refused)."""
        return any(isinstance(event, Frame) for event in self._held)

    # --- the BufferingStage protocol ------------------------------------------------

    def process(self, event: Event) -> list[Event]:
        """Take one event; return the events released now (possibly none)."""
        if isinstance(event, Key):
            return self._key(event)
        if not self._held:
            if isinstance(event, Window):
                self._focus(event)
            elif isinstance(event, Frame) and self._guard is not None:
                return self._guarded(event)
            return [event]
        if isinstance(event, Window):
            out = self._release()
            self._focus(event)
            out.append(event)
            return out
        if isinstance(event, MouseButton) and event.pressed:
            # A click moves the caret: what follows is not a continuation of the text.
            out = self._release()
            out.append(event)
            return out
        self._held.append(event)
        return self._cut(event.mono) if len(self._held) >= self._cut_events else []

    def tick(self, now_mono: float) -> list[Event]:
        """Release the held text after an idle gap; cut it when held too long."""
        if self._guard is not None and now_mono - self._guard[1] >= GUARD_SECONDS:
            self._guard = None
        if not self._held:
            return []
        idle = now_mono - self._last_key_mono
        if idle >= self.idle_seconds:
            if not self._may_continue():
                return self._release()
            if idle >= self.idle_seconds * DEFER_FACTOR:
                return self._release(unfinished=True)
        if now_mono - self._first_mono >= self.max_hold_seconds:
            return self._cut(now_mono)
        return []

    def _may_continue(self) -> bool:
        """Whether the held text ends inside what may be a secret still being typed."""
        if self._tainted or not self._text or self._cursor != len(self._text):
            return False
        tail = "".join(self._text[-120:])
        end = tail.rstrip(" ")
        if len(tail) - len(end) > 1 or not end:
            return False
        return end[-1].isdigit() or open_cue_at_end(tail) is not None

    def gap_opened(self) -> None:
        """Key events were lost upstream: withhold what is held and what follows.

        The segment held now (or, if none, the next one) and every segment released
        until ``gap_closed`` lose all their characters ("dropped_context").
        """
        self._gap_open = True
        self._tainted = True

    def gap_closed(self) -> None:
        """Every event that may precede the lost ones has been seen.

        The segment held now stays withheld; later segments are judged again.
        """
        self._gap_open = False

    def flush(self) -> list[Event]:
        """Release everything held (pause, rotation, stop)."""
        return self._release() if self._held else []

    def take_removed(self) -> dict[str, int]:
        """Return and reset what this stage removed, by category (counts only)."""
        out, self.removed = self.removed, {}
        return out

    # --- keys --------------------------------------------------------------------------

    def _key(self, event: Key) -> list[Event]:
        name = event.key
        if not self._held:
            # The hold is timed from the first event held, a release included: a line
            # that starts with the release of the previous boundary's key (Enter) must
            # not look held since forever (tick would then cut it mid-secret).
            self._first_mono = event.mono
        if not event.pressed:
            self._mods.discard(name)
            index = len(self._held)
            self._held.append(event)
            # A press released redacted in an earlier batch: its release is redacted too.
            carried = self._carry.pop(name, None)
            if carried is not None:
                self._forced[index] = carried
            return self._after_key(event)
        index = len(self._held)
        self._held.append(event)
        self._carry.pop(name, None)
        if name in _COMMAND_MODIFIERS:
            self._mods.add(name)
            return self._after_key(event)
        if self._mods:
            self._command(name)
        elif event.char is not None or event.redacted is not None:
            self._insert(event.char if event.char is not None else "\ufffd", index)
        else:
            self._edit(name)
        if name in _BOUNDARY_KEYS or (self._mods & _CTRL and name in ("c", "d")):
            if name in ("c", "d"):
                self._cancel_line_mode = True
            return self._release(boundary=name)
        return self._after_key(event)

    def _after_key(self, event: Key) -> list[Event]:
        self._last_key_mono = event.mono
        if (
            len(self._text) >= self._cut_chars
            or len(self._held) >= self._cut_events
            or len(self._snapshots) >= MAX_SNAPSHOTS
        ):
            return self._cut(event.mono)
        return []

    def _insert(self, char: str, index: int) -> None:
        self._deleting = False
        self._text.insert(self._cursor, char)
        self._owners.insert(self._cursor, index)
        self._typed.append(index)
        self._cursor += 1

    def _snapshot(self) -> None:
        if not self._deleting and self._text:
            self._snapshots.append(("".join(self._text), list(self._owners)))
        self._deleting = True

    def _edit(self, name: str) -> None:
        if name == "backspace":
            self._snapshot()
            if self._cursor > 0:
                self._cursor -= 1
                self._erase(self._cursor, self._cursor + 1)
            elif not self._text:
                line = self._line_state().line
                if line:
                    line.pop()
        elif name == "delete":
            self._snapshot()
            if self._cursor < len(self._text):
                self._erase(self._cursor, self._cursor + 1)
        elif name == "left":
            self._cursor = max(0, self._cursor - 1)
        elif name == "right":
            self._cursor = min(len(self._text), self._cursor + 1)
        elif name == "home":
            self._cursor = 0
        elif name == "end":
            self._cursor = len(self._text)

    def _erase(self, start: int, end: int) -> None:
        for pos in range(start, end):
            self._erased.append((pos, self._owners[pos]))
        del self._text[start:end]
        del self._owners[start:end]

    def _command(self, name: str) -> None:
        """A key typed with Ctrl, Alt or Cmd held: an editing command, not text."""
        if name in ("backspace", "w"):
            self._snapshot()
            start = self._cursor
            while start > 0 and self._text[start - 1].isspace():
                start -= 1
            while start > 0 and not self._text[start - 1].isspace():
                start -= 1
            self._erase(start, self._cursor)
            self._cursor = start
        elif name in ("u", "a", "x", "k"):
            # Clear line (terminals), select all (then typing replaces it), cut, kill.
            self._snapshot()
            self._erase(0, len(self._text))
            self._cursor = 0

    # --- focus and lines --------------------------------------------------------------

    def _focus(self, event: Window) -> None:
        self._window = (event.app, event.pid) if event.pid is not None else (event.app, event.title)
        self._app, self._title = event.app, event.title
        self._mods.clear()

    def _line_state(self) -> _LineState:
        state = self._lines.get(self._window)
        if state is None:
            if len(self._lines) >= MAX_WINDOWS:
                self._lines.pop(next(iter(self._lines)))
            state = self._lines[self._window] = _LineState()
        return state

    # --- release ------------------------------------------------------------------------

    def _decide(self, text: str) -> tuple[dict[int, str], str | None, tuple[int, str] | None]:
        """Judge everything held: (held index -> category, the whole-line category if
        any, the (index, category) of a secret that reaches the end of ``text``)."""
        redact: dict[int, str] = dict(self._forced)
        state = self._line_state()
        whole = (
            cat.PASSWORD
            if state.secret_lines > 0
            else cat.PRIVATE_KEY
            if state.in_key_block
            else None
        )
        if self._tainted:
            # Characters are missing somewhere in here: nothing in it can be judged.
            state.lost = True
            for index in self._typed:
                redact[index] = cat.DROPPED_CONTEXT
            return redact, whole, None
        at_end: tuple[int, str] | None = None
        if whole is not None:
            for index in self._typed:
                redact[index] = whole
        else:
            prefix = state.context if state.context_cues else ""
            if state.public_block:
                prefix = f"{state.public_block}\n{prefix}"
            shift = len(prefix)
            for found in self.detector(prefix + text):
                if found.end <= shift:
                    continue  # wholly in what was released before: judged then
                span = Span(max(0, found.start - shift), found.end - shift, found.category)
                for pos in range(span.start, min(span.end, len(self._owners))):
                    redact.setdefault(self._owners[pos], span.category)
                # A character typed inside (or at the end of) a secret and erased again
                # was probably a typo of it.
                for pos, index in self._erased:
                    if span.start <= pos <= span.end:
                        redact.setdefault(index, span.category)
                if span.end >= len(text) and (
                    span.category == cat.PRIVATE_KEY or not text[-1].isspace()
                ):
                    at_end = (self._owners[-1], span.category)
            if self._open is not None:
                at_end = self._continue_open(text, redact) or at_end
        for old_text, owners in self._snapshots:
            if whole is not None:
                break
            for span in self.detector(old_text):
                for pos in range(span.start, min(span.end, len(owners))):
                    redact.setdefault(owners[pos], span.category)
        for index in self._typed:
            ev = self._held[index]
            if isinstance(ev, Key) and ev.redacted is not None:
                redact.setdefault(index, ev.redacted)  # redacted upstream (password field)
        return redact, whole, at_end

    def _continue_open(self, text: str, redact: dict[int, str]) -> tuple[int, str] | None:
        """Redact what continues a secret that was still open at the last cut."""
        assert self._open is not None
        owner, category = self._open
        try:
            pos = self._owners.index(owner) + 1
        except ValueError:
            pos = 0  # its last character was erased: what follows from the start is judged
        while pos < len(text) and (category == cat.PRIVATE_KEY or not text[pos].isspace()):
            redact[self._owners[pos]] = category
            pos += 1
        return (self._owners[-1], category) if pos == len(text) and text else None

    def _release(self, boundary: str | None = None, unfinished: bool = False) -> list[Event]:
        """Judge and release everything held. ``unfinished``: typing stopped after a
        password cue, so what follows the cue is taken as (the start of) a password."""
        held = self._held
        if not held:
            self._reset()
            return []
        text = "".join(self._text)
        redact, whole, _ = self._decide(text)
        start = open_cue_at_end(text) if unfinished and whole is None else None
        for pos in range(start if start is not None else len(text), len(text)):
            redact.setdefault(self._owners[pos], cat.PASSWORD)
        out = self._emit(held, self._with_releases(held, redact), len(held))
        self._update_lines(self._line_state(), text, whole is not None, boundary)
        self._reset()
        return out

    def _cut(self, now: float) -> list[Event]:
        """A cap: judge all that is held, release the head, keep the tail (overlap)."""
        text = "".join(self._text)
        redact, whole, at_end = self._decide(text)
        start = max(0, len(text) - self.tail_chars)
        run = start
        while run > 0 and not text[run - 1].isspace() and not text[start].isspace():
            run -= 1
        if start - run > self.max_run:
            # An unbroken run too long to hold back whole: withhold all of it, and what
            # continues it after the cut.
            end = start
            while end < len(text) and not text[end].isspace():
                end += 1
            for pos in range(run, end):
                redact[self._owners[pos]] = cat.UNJUDGED
            if end == len(text):
                at_end = (self._owners[-1], cat.UNJUDGED)
        else:
            start = run
        keep = min(self._owners[start:], default=len(self._held))
        hard = (
            len(self._text) >= HARD_FACTOR * self.max_chars
            or len(self._held) >= HARD_FACTOR * self.max_events
        )
        if hard:
            # The tail could not be separated from the head (the caret went back to the
            # start of the text) and the hold is at its bound: release all, the tail
            # unjudged.
            for pos in range(start, len(text)):
                redact[self._owners[pos]] = cat.UNJUDGED
            keep = len(self._held)
        held = self._held
        final = self._with_releases(held, redact)
        out = self._emit(held, final, keep)
        released = [ch for ch, owner in zip(self._text, self._owners, strict=True) if owner < keep]
        self._update_lines(self._line_state(), "".join(released), whole is not None, None)
        if keep >= len(held):
            self._reset()
            return out
        self._rebase(keep, final, at_end, now)
        return out

    def _rebase(
        self, keep: int, final: dict[int, str], at_end: tuple[int, str] | None, now: float
    ) -> None:
        """After a cut: keep held events ``keep`` onwards, renumbered, with the decisions
        made about them at the cut."""
        text: list[str] = []
        owners: list[int] = []
        cursor = 0
        for pos, (ch, owner) in enumerate(zip(self._text, self._owners, strict=True)):
            if owner >= keep:
                cursor += pos < self._cursor
                text.append(ch)
                owners.append(owner - keep)
        shift = len(self._text) - len(text)
        self._held = self._held[keep:]
        self._text, self._owners, self._cursor = text, owners, cursor
        self._erased = [(max(0, p - shift), i - keep) for p, i in self._erased if i >= keep]
        self._forced = {i - keep: c for i, c in final.items() if i >= keep}
        self._typed = [i - keep for i in self._typed if i >= keep]
        self._snapshots = []  # judged at the cut; their decisions are in _forced
        self._open = (at_end[0] - keep, at_end[1]) if at_end and at_end[0] >= keep else None
        self._first_mono = now
        # The next cut waits for a quarter cap of new material (no cut on every key).
        self._cut_chars = max(self.max_chars, len(text) + self.max_chars // 4)
        self._cut_events = max(self.max_events, len(self._held) + self.max_events // 4)

    def _with_releases(self, held: list[Event], redact: dict[int, str]) -> dict[int, str]:
        """``redact`` plus the releases of every key name typed redacted in ``held``.

        Releases are matched to presses by key name, not one to one (key rollover and
        auto-repeat make pairs unreliable). Keys still down whose press was redacted
        are remembered: their release, when it comes, loses its char too.
        """
        by_name: dict[str, str] = {}
        balance: dict[str, int] = {}
        for index, reason in redact.items():
            ev = held[index]
            if isinstance(ev, Key) and ev.pressed:
                by_name.setdefault(ev.key, reason)
        final = dict(redact)
        for index, ev in enumerate(held):
            if isinstance(ev, Key) and ev.key in by_name:
                balance[ev.key] = balance.get(ev.key, 0) + (1 if ev.pressed else -1)
                if not ev.pressed:
                    final.setdefault(index, by_name[ev.key])
        for name, pending in balance.items():
            if pending > 0:
                self._carry[name] = by_name[name]
        return final

    def _emit(self, held: list[Event], final: dict[int, str], count: int) -> list[Event]:
        """The first ``count`` held events as they are stored, ``final`` applied."""
        out: list[Event] = []
        first_redacted = -1 if self._secret_seen else min(final, default=len(held))
        guard = self._guard  # as it stood when these frames were grabbed
        if self.known_secrets is not None:
            self._remember(held, final, count)
        for index in range(count):
            ev = held[index]
            if isinstance(ev, Key):
                category = final.get(index)
                if category is not None:
                    ev = _redacted(ev, category)
                    if ev.pressed:
                        self.removed[category] = self.removed.get(category, 0) + 1
                        self._secret_seen = True
                out.append(ev)
            elif isinstance(ev, Frame) and (index > first_redacted or _unmasked(ev, guard)):
                self.removed["frame_with_secret"] = self.removed.get("frame_with_secret", 0) + 1
            else:
                out.append(ev)
        return out

    def _remember(self, held: list[Event], final: dict[int, str], count: int) -> None:
        """Hand each run of redacted presses among the first ``count`` held events to
        ``known_secrets`` (text as typed, window, first and last key time)."""
        assert self.known_secrets is not None
        runs: list[tuple[str, list[int]]] = []
        broken = True
        for index in range(count):
            ev = held[index]
            if not isinstance(ev, Key) or not ev.pressed or ev.char is None:
                continue
            category = final.get(index)
            if category is None:
                broken = True  # an ordinary character between two secrets parts them
                continue
            if runs and not broken and runs[-1][0] == category:
                runs[-1][1].append(index)
            else:
                runs.append((category, [index]))
            broken = False
        if not runs:
            return
        monos: list[float] = []
        for category, indices in runs:
            # The text as it stands (a typo erased is not on screen), else as typed.
            owned = set(indices)
            text = "".join(ch for ch, o in zip(self._text, self._owners, strict=True) if o in owned)
            if not text:
                text = "".join(cast(Key, held[i]).char or "" for i in indices)
            first, last = held[indices[0]].mono, held[indices[-1]].mono
            monos.append(first)
            self.known_secrets.add(category, text, self._app, self._title, first, last)
        registered = self.known_secrets.now()
        first = min(monos)
        self._guard = (
            (min(first, self._guard[0]), registered) if self._guard else (first, registered)
        )

    def _guarded(self, frame: Frame) -> list[Event]:
        """A frame grabbed after a secret's first key and masked before the screen mask
        knew it may show the echo unmasked: dropped (``frame_with_secret``)."""
        assert self._guard is not None
        if frame.mask_time >= self._guard[1]:
            self._guard = None
            return [frame]
        if _unmasked(frame, self._guard):
            self.removed["frame_with_secret"] = self.removed.get("frame_with_secret", 0) + 1
            return []
        return [frame]

    def _update_lines(
        self, state: _LineState, text: str, was_secret: bool, boundary: str | None
    ) -> None:
        state.line.extend(text)
        del state.line[:-MAX_LINE]
        if self._cancel_line_mode:
            state.secret_lines = 0
            state.line.clear()
            state.context = ""
            state.context_cues = False
            return
        separator = {"enter": "\n", "tab": "\t"}.get(boundary or "", "")
        # The released text was just judged, so its cue look-up is cached; an older
        # segment still in the context keeps its answer until it scrolls out.
        kept = state.context_cues and len(text) + len(separator) < CONTEXT_CHARS
        state.context_cues = kept or names_what_follows(text)
        state.context = (state.context + text + separator)[-CONTEXT_CHARS:]
        if boundary != "enter":
            return
        line = "".join(state.line)
        state.line.clear()
        if "-----" in line:
            for begin, end in _PUBLIC_BLOCKS.items():
                if begin in line:
                    state.public_block = "" if end in line else begin
                    break
                if end in line and state.public_block == begin:
                    state.public_block = ""
        if was_secret:
            if state.secret_lines > 0:
                state.secret_lines -= 1
            elif ends_secret_block(line):
                state.in_key_block = False
            return
        if starts_secret_block(line):
            state.in_key_block = True
        state.secret_lines = prompt_lines(line)
        if state.lost:
            # The line may have been a command that prompts, its name among the lost
            # keys: the next line may be the password it asks for.
            state.secret_lines = max(1, state.secret_lines)
            state.lost = False


def _unmasked(frame: Frame, guard: tuple[float, float] | None) -> bool:
    """Whether ``frame`` was grabbed after a secret's first key and masked before the
    screen mask knew the secret (``guard``: those two monotonic times). A frame held
    for an action's start is masked when stored: masked once the secret was known, it
    hides the secret like a frame grabbed then (its pixels are older, not less masked)."""
    return guard is not None and frame.mono >= guard[0] and frame.mask_time < guard[1]


def _redacted(event: Key, category: str) -> Key:
    # Only character keys are ever redacted, and a character key's name is its character.
    return dataclasses.replace(
        event,
        key=REDACTED_KEY,
        char=None,
        redacted=category,
        sensitivity=max(event.sensitivity, cat.sensitivity_of(category)),
    )

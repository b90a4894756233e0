"""The consent state machine: what the person chose, what blocks capture, and when.

Two layers, so that a block never erases the person's word:

* the person's **choice**: undecided, opted in, snoozed until a time, opted out;
* **blocks**, keyed by source (``policy``: the fleet policy; ``disk``: the disk cap;
  ``state``: the state file could not be read). Any block makes the effective state
  ``blocked(reason)``; removing the last block returns to what the person chose,
  never to recording if they opted out or snoozed.

The effective state is one of ``no_consent``, ``recording``, ``snoozed(until)``,
``opted_out``, ``blocked(reason)``. In opt-in mode (the embedded default) an
undecided person is ``no_consent``; in opt-out mode (chosen by policy) they are
``recording`` until they opt out.

Every change returns a :class:`Transition`; the daemon turns it into a ``Marker`` event
and a ledger line. The machine also keeps the recording intervals since the process
started, so the consent gate can judge an event by the time it *happened*
(:meth:`ConsentMachine.is_recording_at`), however late it reaches the gate.

State file (JSON, 0600, written atomically)::

    {"format": 1, "choice": "opted_in"|"undecided"|"snoozed"|"opted_out",
     "until": <unix seconds, snoozed only>, "resume_to": "opted_in"|"undecided",
     "length": <seconds the snooze was given, snoozed only>,
     "boot": <boot id>, "boot_until": <end on that boot's clock, snoozed on Linux>,
     "blocks": {"<source>": "<reason>"}, "updated": <unix seconds>}

A snooze ends on a clock that never steps (consent.snooze_clock): ``until`` is for
people and for a restart after a reboot, where it is trusted only up to ``length``.

Threat this guards against: recording that resumes without the person's say. Hence a
crash or reboot reloads ``opted_out`` as ``opted_out``; a file that cannot be read fails
closed (blocked, not recording) until the person states their choice again; a write
that fails refuses a change towards recording but never one away from it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from capture.events import Marker
from consent.errors import (
    SnoozeInvalid,
    SnoozeTooLong,
    StateCorrupt,
    StateWriteError,
    TransitionRefused,
)
from consent.snooze_clock import boot_clock, current_boot_id, remaining
from storage.atomic import write_atomic
from storage.errors import StorageError

log = logging.getLogger(__name__)

Mode = Literal["opt-in", "opt-out"]
"""Who must act for recording to start: the person (opt-in) or nobody (opt-out)."""

Actor = Literal["person", "policy", "system"]
"""Who caused a transition: the person, the fleet policy, or the agent itself."""

Clock = Callable[[], float]
"""A wall clock: Unix seconds as a float (``time.time`` in production)."""

MAX_SNOOZE_MINUTES = 30
WALL_SLACK = 5.0  # seconds the wall clock may drift from a snooze's end before it is re-saved
STATE_FORMAT = 1
MAX_INTERVALS = 1024  # older intervals are forgotten: an event that old is dropped

BLOCK_POLICY = "policy"
BLOCK_DISK = "disk"
BLOCK_STATE = "state"

TransitionKind = Literal[
    "opted_in",
    "opted_out",
    "paused",
    "resumed",
    "snooze_expired",
    "blocked",
    "unblocked",
    "mode_changed",
]
"""The marker kinds a transition produces."""

CONSENT_MARKER_KINDS: frozenset[str] = frozenset(
    (
        "opted_in",
        "opted_out",
        "paused",
        "resumed",
        "snooze_expired",
        "blocked",
        "unblocked",
        "mode_changed",
    )
)
"""Marker kinds that explain a gap in the stream; the gate always lets them through."""


class StateName(StrEnum):
    """The effective consent states."""

    NO_CONSENT = "no_consent"
    RECORDING = "recording"
    SNOOZED = "snoozed"
    OPTED_OUT = "opted_out"
    BLOCKED = "blocked"


class Choice(StrEnum):
    """What the person chose (blocks aside)."""

    UNDECIDED = "undecided"
    OPTED_IN = "opted_in"
    SNOOZED = "snoozed"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True, slots=True)
class ConsentState:
    """An effective state: ``until`` is set when snoozed, ``reason`` when blocked."""

    name: StateName
    until: float | None = None
    reason: str | None = None

    @property
    def recording(self) -> bool:
        """True when capture may run."""
        return self.name is StateName.RECORDING

    def to_dict(self) -> dict[str, Any]:
        """Plain form for `status --json` and marker details (the time left is the
        machine's to say: :meth:`ConsentMachine.snooze_seconds_left`)."""
        out: dict[str, Any] = {"state": self.name.value}
        if self.until is not None:
            out["until"] = self.until
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of consent state, to become a ``Marker`` and a ledger line."""

    kind: TransitionKind
    old: ConsentState
    new: ConsentState
    reason: str
    actor: Actor
    ts: float
    saved: bool = True  # False: applied in memory but the state file could not be written

    def details(self) -> dict[str, Any]:
        """Fixed words and numbers describing the change (never captured content)."""
        out: dict[str, Any] = {
            "from": self.old.name.value,
            "to": self.new.name.value,
            "actor": self.actor,
            "reason": self.reason,
        }
        if self.new.until is not None:
            out["until"] = self.new.until
        if not self.saved:
            out["saved"] = False
        return out

    def marker(self, mono: float) -> Marker:
        """The marker event for the stream, stamped at the transition instant."""
        return Marker(ts=self.ts, mono=mono, kind=self.kind, detail=self.details())


@dataclass(frozen=True, slots=True)
class _Persisted:
    """Exactly what the state file holds; a snooze also has its end on the monotonic
    clock (``mono_until``), saved as ``boot_until`` only when the boot is known."""

    choice: Choice
    until: float | None = None  # wall clock: what people read, and a reboot's reference
    resume_to: Choice = Choice.OPTED_IN
    blocks: tuple[tuple[str, str], ...] = ()
    length: float | None = None  # seconds the snooze was given: no restart grants more
    boot: str | None = None
    mono_until: float | None = None  # what ends the snooze

    def chosen(self, choice: Choice) -> _Persisted:
        """The person's choice is ``choice`` and no snooze runs."""
        return replace(self, choice=choice, until=None, length=None, boot=None, mono_until=None)

    def with_block(self, source: str, reason: str) -> _Persisted:
        blocks = dict(self.blocks)
        blocks[source] = reason
        return replace(self, blocks=tuple(sorted(blocks.items())))

    def without_block(self, source: str) -> _Persisted:
        return replace(self, blocks=tuple((s, r) for s, r in self.blocks if s != source))

    def to_json(self, now: float) -> bytes:
        doc: dict[str, Any] = {
            "format": STATE_FORMAT,
            "choice": self.choice.value,
            "blocks": dict(self.blocks),
            "updated": now,
        }
        if self.choice is Choice.SNOOZED:
            doc["until"] = self.until
            doc["resume_to"] = self.resume_to.value
            doc["length"] = self.length
            if self.boot is not None:
                doc["boot"] = self.boot
                doc["boot_until"] = self.mono_until
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _parse_state(raw: bytes) -> _Persisted:
    """Parse a state file; raises ValueError naming what is wrong."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc.get("format") != STATE_FORMAT:
        raise ValueError(f"unknown format {doc.get('format')!r}")
    try:
        choice = Choice(str(doc.get("choice")))
    except ValueError:
        raise ValueError(f"unknown choice {doc.get('choice')!r}") from None
    blocks = doc.get("blocks", {})
    if not isinstance(blocks, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in blocks.items()
    ):
        raise ValueError("'blocks' is not a map of source to reason")
    if choice is not Choice.SNOOZED:
        return _Persisted(choice=choice, blocks=tuple(sorted(blocks.items())))
    until = _number(doc, "until")
    if until is None:
        raise ValueError("snoozed without a numeric 'until'")
    if doc.get("resume_to") not in (Choice.OPTED_IN.value, Choice.UNDECIDED.value):
        raise ValueError(f"bad 'resume_to' {doc.get('resume_to')!r}")
    # A file from before snooze lengths were saved is trusted up to the longest snooze.
    length = _number(doc, "length", default=60.0 * MAX_SNOOZE_MINUTES)
    if length is None or not 0 < length <= 60.0 * MAX_SNOOZE_MINUTES:
        raise ValueError(f"bad snooze 'length' {doc.get('length')!r}")
    boot, boot_until = doc.get("boot"), _number(doc, "boot_until")
    if (boot is None) != (boot_until is None) or (
        boot is not None and not (isinstance(boot, str) and 0 < len(boot) <= 64)
    ):
        raise ValueError("'boot' and a numeric 'boot_until' go together")
    return _Persisted(
        choice=choice,
        until=until,
        resume_to=Choice(doc["resume_to"]),
        blocks=tuple(sorted(blocks.items())),
        length=length,
        boot=boot,
        mono_until=boot_until,
    )


def _number(doc: dict[str, Any], key: str, default: float | None = None) -> float | None:
    """``doc[key]`` as a finite float, ``default`` when absent; ValueError otherwise."""
    if key not in doc:
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key!r} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{key!r} is not finite")
    return float(value)


class ConsentMachine:
    """The consent state machine, persisted at ``path``; thread-safe.

    ``mode`` is the embedded default or the policy's; ``clock`` is the wall clock used
    to stamp transitions and name a snooze's end; ``monotonic`` is the clock a snooze
    runs on, and ``boot_id`` names the boot its readings belong to (inject fakes in
    tests). A state file that cannot be read does not raise: the machine starts
    blocked and ``load_error`` says why.
    """

    def __init__(
        self,
        path: Path,
        mode: Mode = "opt-in",
        clock: Clock = time.time,
        snooze_max_minutes: int = MAX_SNOOZE_MINUTES,
        *,
        monotonic: Clock = boot_clock,
        boot_id: Callable[[], str | None] = current_boot_id,
    ) -> None:
        self.path = path
        self._mode: Mode = mode
        self._clock = clock
        self._mono = monotonic
        self._boot = boot_id()
        self._snooze_max = _clamp_snooze_max(snooze_max_minutes)
        self._lock = threading.RLock()
        self.load_error: StateCorrupt | None = None
        self._p = self._restore(self._load())
        # Recording intervals [start, end) since the process started; end None = open.
        self._intervals: list[list[float | None]] = []
        # The gate's lock-free fast path (see is_recording_at): the start of the open
        # recording interval while no change is under way, else None.
        self._open_since: float | None = None
        self._sync_intervals(self._clock())
        self._publish()

    # -- reading -----------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """The current mode (opt-in or opt-out)."""
        return self._mode

    @property
    def snooze_max_minutes(self) -> int:
        """The longest snooze allowed now: 30, or lower by policy."""
        return self._snooze_max

    @property
    def state(self) -> ConsentState:
        """The effective state now."""
        with self._lock:
            return self._effective(self._p)

    @property
    def person_state(self) -> ConsentState:
        """The state the person chose, blocks aside (what unblocking returns to)."""
        with self._lock:
            return self._effective(replace(self._p, blocks=()))

    @property
    def choice(self) -> Choice:
        """The person's recorded choice."""
        with self._lock:
            return self._p.choice

    @property
    def blocks(self) -> dict[str, str]:
        """Active blocks, source to reason."""
        with self._lock:
            return dict(self._p.blocks)

    def snooze_seconds_left(self) -> float | None:
        """Seconds until the person's snooze ends, measured on the monotonic clock (0
        when due but not yet ticked); None when they have not snoozed."""
        with self._lock:
            if self._p.choice is not Choice.SNOOZED or self._p.mono_until is None:
                return None
            return max(0.0, self._p.mono_until - self._mono())

    @property
    def is_recording(self) -> bool:
        """True when capture may run now."""
        return self.state.recording

    def is_recording_at(self, ts: float) -> bool:
        """True when recording was on at wall time ``ts`` (an event stamped at or after
        a pause instant is not), judged on the intervals since the process started."""
        # Fast path, no lock: the gate calls this for every event. ``_open_since`` is set
        # only while an interval is open and no change is in progress; every change
        # clears it (``_changing``) *before* it reads the clock for its instant, and
        # republishes it only after the intervals are updated. So a non-None value read
        # here means: at the moment of this read, the interval opened at ``since`` was
        # open and no pause instant had been fixed yet. The event was stamped before it
        # reached the gate, hence before that read, hence before any pause instant a
        # later change can fix: keeping it is what the locked scan would have answered
        # had it taken the lock at this moment (before the change). A pause that already
        # cleared the value sends us to the locked scan, which waits for the change to
        # finish. One attribute read is atomic in CPython (and in free-threaded builds).
        since = self._open_since
        if since is not None and ts >= since:
            return True
        with self._lock:
            for start, end in reversed(self._intervals):
                assert start is not None
                if start <= ts and (end is None or ts < end):
                    return True
            return False

    def intervals(self) -> list[tuple[float, float | None]]:
        """The recording intervals kept, oldest first (end None = still recording)."""
        with self._lock:
            return [(s, e) for s, e in self._intervals if s is not None]

    # -- the person's transitions --------------------------------------------------

    def opt_in(self) -> Transition | None:
        """The person says yes: record (unless blocked); None if that was already so."""
        with self._changing():
            new = self._p.chosen(Choice.OPTED_IN).without_block(BLOCK_STATE)
            return self._commit(new, "opted_in", "the person opted in", "person")

    def opt_out(self) -> Transition | None:
        """The person says no: stop recording, for good until they opt in again."""
        with self._changing():
            new = self._p.chosen(Choice.OPTED_OUT).without_block(BLOCK_STATE)
            return self._commit(new, "opted_out", "the person opted out", "person")

    def snooze(self, minutes: int) -> Transition:
        """Pause for ``minutes`` (1 to the maximum); recording resumes by itself after.

        Snoozing again while snoozed restarts the pause from now.
        """
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise SnoozeInvalid(
                f"cannot snooze for {minutes!r} minutes: give a whole number from 1 to "
                f"{self._snooze_max}"
            )
        with self._changing():
            if minutes > self._snooze_max:
                raise SnoozeTooLong(minutes, self._snooze_max)
            p = self._p
            if p.choice is Choice.OPTED_OUT:
                raise TransitionRefused("nothing to pause: you have opted out")
            if p.choice is Choice.UNDECIDED and self._mode == "opt-in":
                raise TransitionRefused("nothing to pause: you have not opted in")
            now, length = self._clock(), 60.0 * minutes
            new = replace(
                p,
                choice=Choice.SNOOZED,
                until=now + length,
                resume_to=p.resume_to if p.choice is Choice.SNOOZED else p.choice,
                length=length,
                boot=self._boot,
                mono_until=self._mono() + length,
            )
            t = self._commit(
                new, "paused", f"the person snoozed for {minutes} minutes", "person", now=now
            )
            assert t is not None  # ``until`` always moves, so something changed
            return t

    def resume(self) -> Transition | None:
        """End a snooze early; None when already recording (nothing to resume)."""
        with self._changing():
            p = self._p
            if p.choice is Choice.OPTED_OUT:
                raise TransitionRefused("cannot resume: you have opted out; opt in to record")
            if p.choice is not Choice.SNOOZED:
                if self.person_state.recording:
                    return None
                raise TransitionRefused("cannot resume: you have not opted in; opt in to record")
            return self._commit(p.chosen(p.resume_to), "resumed", "the person resumed", "person")

    # -- time, policy and the system ---------------------------------------------

    def tick(self) -> Transition | None:
        """End a snooze whose time has come on the monotonic clock; call a few times a
        second. A wall clock stepped meanwhile only moves the end people are shown."""
        with self._changing():
            p = self._p
            if p.choice is not Choice.SNOOZED or p.mono_until is None:
                return None
            now = self._clock()
            left = p.mono_until - self._mono()
            if left > 0:
                self._follow_wall(now + left, now)
                return None
            return self._commit(
                p.chosen(p.resume_to), "snooze_expired", "the snooze ended", "system", now=now
            )

    def block(self, reason: str, source: str = BLOCK_POLICY) -> Transition | None:
        """Stop capture for ``reason`` until :meth:`unblock` with the same ``source``."""
        with self._changing():
            if dict(self._p.blocks).get(source) == reason:
                return None
            return self._commit(
                self._p.with_block(source, reason), "blocked", reason, _actor(source)
            )

    def unblock(self, source: str = BLOCK_POLICY) -> Transition | None:
        """Lift the block from ``source``; the person's own choice applies again."""
        with self._changing():
            if source not in dict(self._p.blocks):
                return None
            return self._commit(
                self._p.without_block(source),
                "unblocked",
                f"the {source} block was lifted",
                _actor(source),
            )

    def set_mode(self, mode: Mode) -> Transition | None:
        """Switch opt-in/opt-out (policy); a transition only if the effective state moves."""
        with self._changing():
            if mode == self._mode:
                return None
            now = self._clock()
            old = self._effective(self._p)
            self._mode = mode
            new = self._effective(self._p)
            if new == old:
                return None
            self._sync_intervals(now)
            return Transition(
                "mode_changed", old, new, f"the policy chose {mode} mode", "policy", now
            )

    def set_snooze_max(self, minutes: int) -> None:
        """Lower (or restore) the snooze maximum; clamped to 1..30. A running snooze keeps
        its end time."""
        with self._lock:
            self._snooze_max = _clamp_snooze_max(minutes)

    # -- internals -----------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the lock for a change, with the gate's fast path off until it is done.

        Every method that may move the intervals runs inside this, so no transition
        instant is ever read from the clock while ``_open_since`` is published.
        """
        with self._lock:
            self._open_since = None
            try:
                yield
            finally:
                self._publish()

    def _publish(self) -> None:
        """Publish the open interval's start for the fast path (caller holds the lock)."""
        last = self._intervals[-1] if self._intervals else None
        self._open_since = last[0] if last is not None and last[1] is None else None

    def _effective(self, p: _Persisted) -> ConsentState:
        if p.blocks:
            return ConsentState(StateName.BLOCKED, reason="; ".join(r for _, r in p.blocks))
        if p.choice is Choice.OPTED_OUT:
            return ConsentState(StateName.OPTED_OUT)
        if p.choice is Choice.SNOOZED:
            return ConsentState(StateName.SNOOZED, until=p.until)
        if p.choice is Choice.OPTED_IN or self._mode == "opt-out":
            return ConsentState(StateName.RECORDING)
        return ConsentState(StateName.NO_CONSENT)

    def _commit(
        self,
        new: _Persisted,
        kind: TransitionKind,
        reason: str,
        actor: Actor,
        now: float | None = None,
    ) -> Transition | None:
        """Apply ``new`` (caller holds the lock): persist, move the intervals, report."""
        if new == self._p:
            return None
        now = self._clock() if now is None else now
        old_state = self._effective(self._p)
        new_state = self._effective(new)
        saved = True
        try:
            write_atomic(self.path, new.to_json(now), mode=0o600)
        except StorageError as exc:
            if new_state.recording:
                # Refuse: a change towards recording that a restart would forget is a lie.
                raise StateWriteError(
                    f"{self.path}: cannot save the consent state ({exc}); nothing changed"
                ) from None
            # Never refuse a change away from recording; keep it in memory and say so.
            log.error(
                "%s: cannot save the consent state (%s); the change applies until the agent stops",
                self.path,
                exc,
            )
            saved = False
        self._p = new
        self._sync_intervals(now)
        return Transition(kind, old_state, new_state, reason, actor, now, saved)

    def _sync_intervals(self, now: float) -> None:
        """Open or close the current recording interval at ``now``."""
        recording = self._effective(self._p).recording
        is_open = bool(self._intervals) and self._intervals[-1][1] is None
        if recording and not is_open:
            self._intervals.append([now, None])
            del self._intervals[:-MAX_INTERVALS]
        elif not recording and is_open:
            self._intervals[-1][1] = now

    def _follow_wall(self, until: float, now: float) -> None:
        """Re-save a snooze's wall end that a clock step moved (caller holds the lock), so
        the end shown, and the one a reboot falls back on, name the same instant."""
        p = self._p
        assert p.until is not None
        if abs(until - p.until) <= WALL_SLACK:
            return
        log.warning(
            "the wall clock moved %+.0f s during the snooze; it still ends in %.0f s",
            p.until - until,
            until - now,
        )
        self._p = replace(p, until=until)
        self._save_quietly(now)

    def _restore(self, p: _Persisted) -> _Persisted:
        """A loaded snooze, its end put on this process's monotonic clock."""
        if p.choice is not Choice.SNOOZED:
            return p
        assert p.until is not None and p.length is not None
        same_boot = self._boot is not None and p.boot == self._boot
        now, mono = self._clock(), self._mono()
        left = remaining(
            length=p.length,
            wall_until=p.until,
            boot_until=p.mono_until,
            same_boot=same_boot,
            wall_now=now,
            boot_now=mono,
        )
        self._p = replace(p, until=now + left, boot=self._boot, mono_until=mono + left)
        if not same_boot:
            # Saved at once: a second restart on this boot then reads the boot clock, and
            # cannot take the wall clock's word again for a whole length more.
            self._save_quietly(now)
        return self._p

    def _save_quietly(self, now: float) -> None:
        """Save the state as it is; a failure is logged (it changes nothing recorded)."""
        try:
            write_atomic(self.path, self._p.to_json(now), mode=0o600)
        except StorageError as exc:
            log.warning("%s: cannot save the snooze's end (%s)", self.path, exc)

    def _load(self) -> _Persisted:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return _Persisted(choice=Choice.UNDECIDED)
        except OSError as exc:
            return self._fail_closed(f"cannot read it ({exc.strerror or exc})")
        try:
            return _parse_state(raw)
        except ValueError as exc:
            return self._fail_closed(str(exc))

    def _fail_closed(self, problem: str) -> _Persisted:
        message = (
            f"{self.path}: the consent state file is unusable: {problem}; recording "
            f"stays off until you opt in or opt out again"
        )
        self.load_error = StateCorrupt(message)
        log.error("%s", message)
        return _Persisted(
            choice=Choice.UNDECIDED,
            blocks=((BLOCK_STATE, "the consent state file is unusable; opt in or opt out again"),),
        )


def _clamp_snooze_max(minutes: int) -> int:
    return max(1, min(MAX_SNOOZE_MINUTES, int(minutes)))


def _actor(source: str) -> Actor:
    return "policy" if source == BLOCK_POLICY else "system"

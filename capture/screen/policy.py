"""When to take a screen frame: the decision logic, with no display and no clock of its own.

Frames are worth their bytes only when the screen likely changed in a meaningful way:
shortly after a click (trigger "click"), at the end of a typing burst ("typing"), after
a window change ("window", not put off by typing that follows it), after scrolling
("scroll"); plus an idle fallback ("idle") so a long quiet stretch
still has a picture. Each new triggering event pushes the pending frame back (trailing
debounce, so the frame shows the settled result), but never more than ``max_wait``
after the first trigger, so continuous activity still gets frames. Grabs are at least
``min_interval`` apart.

With ``at_action_start`` (the source sets it when the window system reports what was
drawn, X DAMAGE), input as it happens (``notice_input``: the input hooks' events, before
the privacy stages that hold typed keys until Enter) asks for grabs at once, outside the
rate cap and without moving the pending frame, so that each action's observation is the
screen as it was when the action began:

* at every key or button release, a *hold* ("hold"): the region drawn since the last
  stored frame, grabbed into memory and never stored unless an action follows with
  nothing drawn in between (the echo of the characters typed last, the effect of a
  click);
* at the press that begins an action ("action"): a mouse press, a key that is not
  text (Enter, Tab, an arrow, Backspace), ctrl, alt or cmd (a shortcut's start), the
  first character typed after anything else, the first wheel step. The source stores
  the hold then, if it is still the screen; else, for a mouse press or a shortcut's
  modifier only, it grabs at once (most applications act on a button's release, and a
  modifier draws nothing), keeping the grab as the action's observation only if nothing
  but a cursor was drawn since the press. A key draws its effect within the millisecond
  of its press (measured, docs/PERFORMANCE.md): no grab after it shows the screen before;
* after a window change, once nothing was drawn for ``SETTLE`` seconds ("settle"): a
  hold of the new window (typing often starts within the window frame's debounce), at
  most ``debounce`` after the change;
* after the release of a button, or of a key that is not text (Enter, an arrow, a
  shortcut's key), the same again and again ("settle"): most applications act on the
  release and draw their effect after it, and the rate cap can put the action's own
  frame up to ``min_interval`` off, past the next action. Once drawing pauses for
  ``SETTLE`` the region is held anew, then looked at after twice as long each time (20,
  40, 80 ... ms: a handful of damage reads), until ``min_interval`` has passed.

Where nothing was drawn since the last frame the source grabs nothing (one damage read).

Callers pass ``now`` (monotonic seconds) to every method, which makes the policy
testable with plain numbers. ``notice`` runs on the pipeline thread for every event
(stored events) and ``notice_input`` on the input hooks' threads, ``poll`` on the screen
thread; a lock keeps them consistent.
"""

from __future__ import annotations

import threading

from capture.events import Event, Key, MouseButton, MouseMove, Scroll, Window
from capture.screen.options import ScreenOptions

# Keys whose press starts a shortcut and draws nothing by itself (pynput's names).
_SHORTCUT_MODIFIERS = frozenset(
    {"ctrl", "ctrl_l", "ctrl_r", "alt", "alt_l", "alt_r", "cmd", "cmd_l", "cmd_r"}
)
# Keys that only change what the next key types: no action of their own
# (``storage.trajectory`` folds them the same way).
_SHIFTING = frozenset({"shift", "shift_l", "shift_r", "alt_gr", "dead"})

SETTLE = 0.02
"""Seconds without drawing after a window change before the new window is held."""
_TOLD_BEFORE = 1.0
"""A stored click, wheel step or window change this soon after one of its kind told as
it happened has armed its frame already."""


class FramePolicy:
    """Decides when the next frame is due and why."""

    def __init__(self, options: ScreenOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._trigger: str | None = None
        self._due = 0.0
        self._first = 0.0
        self._last_grab = float("-inf")
        self.at_action_start = False
        """Grab at actions' starts, hold at releases, settle after window changes (set
        by the source, which has damage reports then)."""
        self._at_once = False
        self._fresh = False  # the pending action may be grabbed anew, not only held
        self._since = float("inf")  # the earliest press a pending "action" grab is for
        self.action_since = float("inf")
        """When the press the last "action" grab was for happened (monotonic): the
        source checks nothing was drawn since (``DamageSource.drawn_since``)."""
        self.action_fresh = False
        """Whether that action may be grabbed anew when no hold shows it (a mouse press,
        a shortcut's modifier), or only a hold may be stored for it."""
        self._hold = False
        self._now: str | None = None  # a frame asked for outside the rate cap
        self._settle_at = float("inf")  # when to look whether a new window is drawn
        self._settle_end = float("-inf")  # no settling after this: the debounce's frame
        # After a release: the next look, once drawing paused (doubles each time); 0 for
        # a window change (one hold, then the debounced frame).
        self._settle_step = 0.0
        self._effects: set[str] = set()  # keys down whose effect may follow the release
        self._last_name = ""  # the key pressed last and not released since
        self._commands: set[str] = set()  # shortcut modifiers held down
        self._buttons: set[str] = set()  # mouse buttons held down
        self._run: str | None = None  # "type" or "scroll": the action going on
        # When an event of each kind was last told as it happened (``notice_input``).
        self._told: dict[type, float] = {}

    def notice(self, event: Event, now: float) -> bool:
        """Arm a trigger if the stored ``event`` warrants a frame; True if the screen
        thread should re-check sooner than it planned (the pending frame became due
        earlier)."""
        if event.__class__ is MouseMove:  # the bulk of all events: leave at once
            return False
        if isinstance(event, Key):
            return self.arm("typing", now + self.options.typing_gap, now)
        if now - self._told.get(event.__class__, float("-inf")) < _TOLD_BEFORE:
            return False  # armed when it happened (``notice_input``), not again
        if isinstance(event, MouseButton):
            return event.pressed and self.arm("click", now + self.options.debounce, now)
        if isinstance(event, Window):
            return self.arm("window", now + self.options.debounce, now)
        if isinstance(event, Scroll):  # the page moved: the next action sees where it stopped
            return self.arm("scroll", now + self.options.debounce, now)
        return False

    def notice_input(self, event: Event, now: float) -> bool:
        """Ask for a grab at once if ``event``, as it happens (before any privacy stage
        holds it), starts an action, ends a key or button press, or changes the window;
        True if the screen thread should look now. Only the event's kind and time are
        used, never what a key typed beyond whether it was a character."""
        if event.__class__ is MouseMove or not self.at_action_start:
            return False
        if isinstance(event, Key):
            return self._key(event, now)
        # The debounced frames of clicks, wheel steps and window changes are armed now,
        # not once the event is stored (up to a pipeline tick, 0.2 s, later: typing 0.3 s
        # after a switch came first, and a wheel step stored late put the window's frame
        # off past it). Typing still arms its frame when the keys are stored.
        if isinstance(event, MouseButton):
            if not event.pressed:
                self._buttons.discard(event.button)
                if self._buttons:
                    return False
                self._settle_after_release(now)
                return self._hold_now()
            self._buttons.add(event.button)
            self._run = None
            self._arm_told(event, "click", now)
            return self._starts(event.mono, fresh=True)
        if isinstance(event, Scroll):  # consecutive wheel steps are one scroll
            self._arm_told(event, "scroll", now)
            if self._run == "scroll":
                return True
            self._run = "scroll"
            return self._starts(event.mono, fresh=False)
        if isinstance(event, Window):
            # The window source's thread: a key read at the same moment may set the run
            # back; the trajectory would then fold one more key into the run before.
            self._run = None  # typing after a window change is a new action
            with self._lock:
                self._settle_at = now + SETTLE
                self._settle_end = now + self.options.debounce
                self._settle_step = 0.0
            self._arm_told(event, "window", now)
            return True
        return False

    def _arm_told(self, event: Event, trigger: str, now: float) -> None:
        self._told[event.__class__] = now
        self.arm(trigger, now + self.options.debounce, now)

    def _key(self, key: Key, now: float) -> bool:
        name = key.key
        if not key.pressed:
            if name == self._last_name:
                self._last_name = ""
            self._commands.discard(name)
            # While a button is down its press waits for its own start grab (the
            # trajectory pairs the first "action" frame after a held press with it).
            if self._buttons:
                return False
            if name in self._effects:
                self._effects.discard(name)
                self._settle_after_release(now)
            return self._hold_now()
        # An auto-repeated press repeats the key pressed last, with no release between.
        repeat, self._last_name = name == self._last_name, name
        if repeat or name in _SHIFTING:
            return False
        if name in _SHORTCUT_MODIFIERS:
            self._commands.add(name)
            self._run = None
            return self._starts(key.mono, fresh=True)
        char = key.char
        if not self._commands and char is not None and char.isprintable():
            if self._run == "type":  # the run of typing goes on: no new action
                return False
            self._run = "type"
            return self._starts(key.mono, fresh=False)
        self._run = None
        self._effects.add(name)  # Enter, an arrow, a shortcut's key: drawn after, too
        if self._commands:  # a shortcut's key: the action began at its modifier
            return False
        return self._starts(key.mono, fresh=False)

    def _hold_now(self) -> bool:
        with self._lock:
            self._hold = True
        return True

    def request_hold(self) -> None:
        """Ask for a hold now (the source, when a key frame became due while one is
        kept: the hold is then taken as that key frame, see ``ScreenSource``)."""
        self._hold_now()

    def _starts(self, since: float, fresh: bool) -> bool:
        with self._lock:
            self._at_once = True
            self._fresh = self._fresh or fresh
            self._since = min(self._since, since)
            # A hold not yet taken would be grabbed after this press; a new window not
            # yet grabbed would show its effect.
            self._hold = False
            self._settle_at = float("inf")
        return True

    def _settle_after_release(self, now: float) -> None:
        with self._lock:
            self._settle_at = now + SETTLE
            self._settle_end = now + max(self.options.min_interval, self.options.debounce)
            self._settle_step = SETTLE

    def settle_later(self, now: float) -> None:
        """The screen was still being drawn (a new window, an action's effect): look again
        in ``SETTLE`` seconds, unless settling ends by then."""
        with self._lock:
            if self._settle_step:
                self._settle_step = SETTLE
            if now + SETTLE < self._settle_end:
                self._settle_at = now + SETTLE

    def settled(self, now: float) -> None:
        """Drawing paused and the screen is held: after a release, look again in twice
        the last wait (an effect drawn later still), until settling ends; after a window
        change, done."""
        with self._lock:
            if not self._settle_step:
                return
            self._settle_step *= 2
            if now + self._settle_step < self._settle_end:
                self._settle_at = now + self._settle_step

    def arm(self, trigger: str, due: float, now: float) -> bool:
        """Schedule a frame for ``trigger`` at ``due`` (trailing, capped by max_wait)."""
        with self._lock:
            if self._trigger is None:
                self._first = now
                self._trigger, self._due = trigger, due
                return True
            if self._trigger == "window" and trigger == "typing":
                # Typing into the window just focused would put off its frame for a
                # whole burst (up to max_wait): the keys' observation would show the
                # window before. The frame after the burst is armed again by its keys.
                return False
            earlier = due < self._due
            self._trigger = trigger
            self._due = min(due, self._first + self.options.max_wait)
            return earlier

    def request(self, trigger: str, now: float) -> None:
        """Ask for a frame as soon as the rate cap allows (tests, snapshot commands)."""
        with self._lock:
            self._first = now
            self._trigger, self._due = trigger, now

    def request_now(self, trigger: str) -> None:
        """Ask for a frame at the next poll, outside the rate cap, without moving the
        pending frame: the whole frame the stored frames' chain needs at once (a frame
        was dropped after the source took it as stored; rare)."""
        with self._lock:
            self._now = trigger

    def poll(self, now: float) -> tuple[str | None, float]:
        """Return ``(trigger, 0)`` if a grab should happen now, else ``(None, wait)``.

        A returned trigger counts as a grab at ``now``: the pending trigger is cleared
        and the rate cap and idle timer restart; an "action", "hold" or "settle" grab
        leaves all three as they were, as does one asked for with ``request_now``.
        """
        with self._lock:
            if self._at_once:  # the screen at an action's start: outside the rate cap
                self._at_once = False
                self.action_since, self._since = self._since, float("inf")
                self.action_fresh, self._fresh = self._fresh, False
                return "action", 0.0
            if self._now is not None:
                trigger, self._now = self._now, None
                return trigger, 0.0
            if self._hold:
                self._hold = False
                return "hold", 0.0
            if self._settle_at <= now:
                self._settle_at = float("inf")
                return "settle", 0.0
            earliest = self._last_grab + self.options.min_interval
            if self._trigger is not None:
                due = max(self._due, earliest)
                trigger = self._trigger
            else:
                due = max(self._last_grab + self.options.idle_interval, earliest)
                trigger = "idle"
            if now < due:
                return None, min(due, self._settle_at) - now
            self._trigger = None
            self._last_grab = now
            return trigger, 0.0

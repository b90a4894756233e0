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
drawn, X DAMAGE), a mouse press and the press of ctrl, alt or cmd (a shortcut's start)
also ask for a grab at once ("action"), outside the rate cap and without moving the
pending frame: the screen as it was when the action began, for the trajectory's
observation (a page that finished loading, a dialog that opened since the last frame).
Where nothing was drawn since the last frame the source grabs nothing (one damage read).
Most applications act on a button's release, after this grab; a modifier alone draws
nothing, and the shortcut's key comes after the grab. A typed key, enter or an arrow
ask for none: applications draw their effect within the millisecond of the press
(measured, docs/PERFORMANCE.md), so no grab after it shows the screen before it.

Callers pass ``now`` (monotonic seconds) to every method, which makes the policy
testable with plain numbers. ``notice`` runs on the pipeline thread for every event
and ``poll`` on the screen thread; a lock keeps them consistent.
"""

from __future__ import annotations

import threading

from capture.events import Event, Key, MouseButton, MouseMove, Scroll, Window
from capture.screen.options import ScreenOptions

# Keys whose press starts a shortcut and draws nothing by itself (pynput's names).
_SHORTCUT_MODIFIERS = frozenset(
    {"ctrl", "ctrl_l", "ctrl_r", "alt", "alt_l", "alt_r", "cmd", "cmd_l", "cmd_r"}
)


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
        """Grab at a mouse press and a shortcut's modifier too (set by the source)."""
        self._at_once = False
        self._since = float("inf")  # the earliest press a pending "action" grab is for
        self.action_since = float("inf")
        """When the press the last "action" grab was for happened (monotonic): the
        source checks nothing was drawn since (``DamageSource.drawn_since``)."""
        self._last_name = ""  # the key pressed last and not released since

    def notice(self, event: Event, now: float) -> bool:
        """Arm a trigger if ``event`` warrants a frame; True if the screen thread should
        re-check sooner than it planned (the pending frame became due earlier)."""
        if event.__class__ is MouseMove:  # the bulk of all events: leave at once
            return False
        if isinstance(event, Key):
            if not event.pressed and event.key == self._last_name:
                self._last_name = ""
            elif event.pressed and self.at_action_start and self._shortcut_starts(event):
                self._grab_at_once(event.mono)
                self.arm("typing", now + self.options.typing_gap, now)
                return True
            return self.arm("typing", now + self.options.typing_gap, now)
        if isinstance(event, MouseButton):
            if event.pressed and self.at_action_start:
                self._grab_at_once(event.mono)
                self.arm("click", now + self.options.debounce, now)
                return True
            return event.pressed and self.arm("click", now + self.options.debounce, now)
        if isinstance(event, Window):
            return self.arm("window", now + self.options.debounce, now)
        if isinstance(event, Scroll):  # the page moved: the next action sees where it stopped
            return self.arm("scroll", now + self.options.debounce, now)
        return False

    def _shortcut_starts(self, key: Key) -> bool:
        """Whether a key press is a modifier starting a shortcut (not one held down:
        an auto-repeated press repeats the key pressed last, with no release between)."""
        repeat, self._last_name = key.key == self._last_name, key.key
        return not repeat and key.key in _SHORTCUT_MODIFIERS

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

    def _grab_at_once(self, since: float) -> None:
        with self._lock:
            self._at_once = True
            self._since = min(self._since, since)

    def request(self, trigger: str, now: float) -> None:
        """Ask for a frame as soon as the rate cap allows (tests, snapshot commands)."""
        with self._lock:
            self._first = now
            self._trigger, self._due = trigger, now

    def poll(self, now: float) -> tuple[str | None, float]:
        """Return ``(trigger, 0)`` if a grab should happen now, else ``(None, wait)``.

        A returned trigger counts as a grab at ``now``: the pending trigger is cleared
        and the rate cap and idle timer restart; an "action" grab leaves all three as
        they were.
        """
        with self._lock:
            if self._at_once:  # the screen at an action's start: outside the rate cap
                self._at_once = False
                self.action_since, self._since = self._since, float("inf")
                return "action", 0.0
            earliest = self._last_grab + self.options.min_interval
            if self._trigger is not None:
                due = max(self._due, earliest)
                trigger = self._trigger
            else:
                due = max(self._last_grab + self.options.idle_interval, earliest)
                trigger = "idle"
            if now < due:
                return None, due - now
            self._trigger = None
            self._last_grab = now
            return trigger, 0.0

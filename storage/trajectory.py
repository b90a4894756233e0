"""Raw events to a trajectory: (observation, action) pairs, as computer-use training reads.

``to_trajectory`` folds the raw records `capture-agent export` prints into actions and
pairs each action with what the person saw just before it: the last frame captured
before the action began and the focused window. docs/EVENTS.md documents both schemas.

Folding rules, in short:

- a run of printable key presses becomes one ``type`` action with its text; keys the
  privacy filters redacted become a separate ``type`` action whose ``text`` is null and
  whose ``redacted`` names the category (never a guess at the characters);
- any other key press is a ``key`` action named like ``enter``, ``ctrl+c``,
  ``ctrl+shift+t``, ``shift+tab``; a modifier pressed and released alone (``cmd``) too;
- a mouse press and release of one button is a ``click`` (same place, short), a
  ``long_press`` (same place, held), or a ``drag`` (moved); two quick clicks in one
  place are a ``double_click``;
- consecutive wheel steps in one place are one ``scroll`` with the summed steps.

Window changes and frames are observations, not actions. A frame grabbed because a
mouse press began an action (trigger ``action``, when the screen had changed since the
last frame) is that action's observation if it is the first such frame after the press,
the button was still down and no window change came between: the application had not
acted yet. A key acts on its press (applications draw within its millisecond), so no
frame after a key press is ever its observation (docs/EVENTS.md); the agent stores the
region it held at the last release for it instead, stamped before the press, so it is
simply the last frame before the key (it arrives after the key: records are read in
``ts`` order).
A consent or lifecycle marker
(started, paused, stopped, ...) ends everything in progress and forgets the last frame,
so no action is ever paired with a screen from before a gap.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# A press and release closer than this (pixels, each axis) happened "in one place".
SAME_PLACE_PIXELS = 5
# A press held longer than this without moving is a long press, not a click.
LONG_PRESS_SECONDS = 0.8
# Two clicks closer in time than this, in one place, are a double click.
DOUBLE_CLICK_SECONDS = 0.5
# Wheel steps closer in time than this, in one place, are one scroll.
SCROLL_MERGE_SECONDS = 1.0
# Modifier key names (pynput's, with sides folded) in the order they are written.
_MODIFIERS = ("ctrl", "alt", "shift", "cmd")
_COMMAND_MODIFIERS = frozenset({"ctrl", "alt", "cmd"})
# Keys that only change what another key types (AltGr+q types "@"): not actions.
_SHIFTING_KEYS = frozenset({"alt_gr", "dead"})


def _modifier(name: str) -> str | None:
    """The modifier a key name stands for ("ctrl_l" -> "ctrl"), or None."""
    base = name[:-2] if name.endswith(("_l", "_r")) else name
    return base if base in _MODIFIERS else None


def _near(ax: Any, ay: Any, bx: Any, by: Any) -> bool:
    try:
        return (
            abs(int(ax) - int(bx)) <= SAME_PLACE_PIXELS
            and abs(int(ay) - int(by)) <= SAME_PLACE_PIXELS
        )
    except (TypeError, ValueError):
        return False


@dataclass
class _Step:
    """An action being assembled, with the observation it is paired with."""

    ts: float
    session: str | None
    observation: dict[str, Any]
    action: dict[str, Any]
    end_ts: float
    sensitivity: int = 1

    def to_record(self) -> dict[str, Any]:
        action = dict(self.action)
        if self.end_ts > self.ts:
            action["duration"] = round(self.end_ts - self.ts, 3)
        return {
            "ts": self.ts,
            "session": self.session,
            "observation": self.observation,
            "action": action,
            "sensitivity": self.sensitivity,
        }


@dataclass
class _Press:
    ts: float
    x: Any
    y: Any
    observation: dict[str, Any]
    sensitivity: int
    settled: bool = False  # its observation can no longer change (see ``adopt``)


@dataclass
class _Folder:
    """The state machine behind ``to_trajectory``; feed records, collect finished steps."""

    session: str | None = None
    frame: dict[str, Any] | None = None
    window: dict[str, Any] | None = None
    modifiers: dict[str, bool] = field(default_factory=dict)  # held -> used with a key
    presses: dict[str, _Press] = field(default_factory=dict)
    typing: _Step | None = None
    held: _Step | None = None  # a click or scroll that the next event may extend
    out: list[dict[str, Any]] = field(default_factory=list)

    # -- observations -------------------------------------------------------------

    def observation(self) -> dict[str, Any]:
        frame = self.frame or {}
        window = self.window or {}
        return {
            "frame": frame.get("file"),
            "frame_ts": frame.get("ts"),
            "frame_left": frame.get("left"),
            "frame_top": frame.get("top"),
            "title": window.get("title"),
            "app": window.get("app"),
        }

    def _step(
        self,
        record: dict[str, Any],
        action: dict[str, Any],
        observation: dict[str, Any] | None = None,
        start: float | None = None,
        sensitivity: int = 1,
    ) -> _Step:
        ts = float(record["ts"])
        return _Step(
            ts=ts if start is None else start,
            session=self.session,
            observation=observation if observation is not None else self.observation(),
            action=action,
            end_ts=ts,
            sensitivity=max(sensitivity, int(record.get("sensitivity") or 1)),
        )

    # -- output ---------------------------------------------------------------------

    def emit(self, step: _Step) -> None:
        self.out.append(step.to_record())

    def flush_typing(self) -> None:
        if self.typing is not None:
            self.emit(self.typing)
            self.typing = None

    def flush_held(self) -> None:
        if self.held is not None:
            self.emit(self.held)
            self.held = None

    def flush(self) -> None:
        self.flush_typing()
        self.flush_held()

    def reset(self) -> None:
        """A gap (marker, new session): finish everything, forget what was on screen."""
        self.flush()
        for button, press in self.presses.items():
            self.emit(
                _Step(
                    ts=press.ts,
                    session=self.session,
                    observation=press.observation,
                    action={"type": "mouse_down", "button": button, "x": press.x, "y": press.y},
                    end_ts=press.ts,
                    sensitivity=press.sensitivity,
                )
            )
        self.presses.clear()
        self.modifiers.clear()
        self.frame = None
        self.window = None

    def earliest_pending(self) -> float:
        """When the earliest action still in progress began (infinity if none)."""
        starts = [p.ts for p in self.presses.values()]
        starts += [s.ts for s in (self.typing, self.held) if s is not None]
        return min(starts, default=math.inf)

    # -- input ----------------------------------------------------------------------

    def feed(self, record: dict[str, Any]) -> None:
        session = record.get("session")
        if session != self.session:
            self.reset()
            self.session = session if isinstance(session, str) else None
        kind = record.get("type")
        if kind == "frame":
            self.frame = record
            if record.get("trigger") == "action":
                self.adopt(record)
        elif kind == "window":
            self.flush()
            self.window = record
            for press in self.presses.values():  # it acted (a focus on press) before any grab
                press.settled = True
        elif kind == "marker":
            self.reset()
        elif kind == "key":
            self.key(record)
        elif kind == "mouse_button":
            self.button(record)
        elif kind == "scroll":
            self.scroll(record)
        # mouse_move: the pointer position is carried by the clicks and drags themselves.

    def adopt(self, frame: dict[str, Any]) -> None:
        """Pair an action-start frame with the held press it was grabbed for: the first
        after the press, with no window change between (the press took effect then)."""
        ts = frame.get("ts")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool):
            return
        for press in self.presses.values():  # still held: the application has not acted
            if press.ts <= ts and not press.settled:
                press.observation = self.observation()
                press.settled = True

    def key(self, record: dict[str, Any]) -> None:
        name = str(record.get("key") or "unknown")
        pressed = bool(record.get("pressed"))
        if name in _SHIFTING_KEYS:
            return
        modifier = _modifier(name)
        if modifier is not None:
            if pressed:
                self.modifiers.setdefault(modifier, False)
            elif self.modifiers.pop(modifier, True) is False and modifier != "shift":
                self.flush()  # pressed and released alone: cmd opens a launcher, alt a menu
                self.emit(self._step(record, {"type": "key", "key": modifier}))
            return
        if not pressed:
            return
        for held in self.modifiers:
            self.modifiers[held] = True
        redacted = record.get("redacted")
        char = record.get("char")
        command = [m for m in _MODIFIERS if m in self.modifiers and m in _COMMAND_MODIFIERS]
        if redacted:
            # Never the key name or a guess: only the category and how many keys.
            self.type_into(record, None, str(redacted))
        elif not command and isinstance(char, str) and char.isprintable():
            self.type_into(record, char, None)
        else:
            combo = [
                m
                for m in _MODIFIERS
                if m in self.modifiers and (m in _COMMAND_MODIFIERS or m == "shift")
            ]
            self.flush()
            self.emit(self._step(record, {"type": "key", "key": "+".join([*combo, name])}))

    def type_into(self, record: dict[str, Any], char: str | None, redacted: str | None) -> None:
        self.flush_held()
        step = self.typing
        if step is not None and step.action.get("redacted") != redacted:
            self.flush_typing()
            step = None
        if step is None:
            action: dict[str, Any] = {"type": "type", "text": "" if redacted is None else None}
            if redacted is not None:
                action.update(redacted=redacted, length=0)
            step = self.typing = self._step(record, action)
        if redacted is None:
            step.action["text"] += char
        else:
            step.action["length"] += 1
        step.end_ts = float(record["ts"])
        step.sensitivity = max(step.sensitivity, int(record.get("sensitivity") or 1))

    def button(self, record: dict[str, Any]) -> None:
        self.flush_typing()
        button = str(record.get("button") or "unknown")
        x, y = record.get("x"), record.get("y")
        sensitivity = int(record.get("sensitivity") or 1)
        if record.get("pressed"):
            if self.held is not None and self.held.action.get("type") != "click":
                self.flush_held()  # a click waits: this press may make it a double click
            self.presses[button] = _Press(
                float(record["ts"]), x, y, self.observation(), sensitivity
            )
            return
        press = self.presses.pop(button, None)
        if press is None:  # pressed before a gap: all we know is the release
            self.flush_held()
            self.emit(self._step(record, {"type": "mouse_up", "button": button, "x": x, "y": y}))
            return
        held_for = float(record["ts"]) - press.ts
        if not _near(press.x, press.y, x, y):
            self.flush_held()
            self.emit(
                self._step(
                    record,
                    {
                        "type": "drag",
                        "button": button,
                        "x": press.x,
                        "y": press.y,
                        "to_x": x,
                        "to_y": y,
                    },
                    press.observation,
                    press.ts,
                    press.sensitivity,
                )
            )
        elif held_for > LONG_PRESS_SECONDS:
            self.flush_held()
            self.emit(
                self._step(
                    record,
                    {"type": "long_press", "button": button, "x": press.x, "y": press.y},
                    press.observation,
                    press.ts,
                    press.sensitivity,
                )
            )
        else:
            self.click(record, press, button)

    def click(self, record: dict[str, Any], press: _Press, button: str) -> None:
        held = self.held
        if (
            held is not None
            and held.action.get("type") == "click"
            and held.action.get("button") == button
            and press.ts - held.end_ts <= DOUBLE_CLICK_SECONDS
            and _near(held.action.get("x"), held.action.get("y"), press.x, press.y)
        ):
            held.action["type"] = "double_click"
            held.end_ts = float(record["ts"])
            self.flush_held()
            return
        self.flush_held()
        self.held = self._step(
            record,
            {"type": "click", "button": button, "x": press.x, "y": press.y},
            press.observation,
            press.ts,
            press.sensitivity,
        )

    def scroll(self, record: dict[str, Any]) -> None:
        self.flush_typing()
        x, y = record.get("x"), record.get("y")
        dx, dy = int(record.get("dx") or 0), int(record.get("dy") or 0)
        ts = float(record["ts"])
        held = self.held
        if (
            held is not None
            and held.action.get("type") == "scroll"
            and ts - held.end_ts <= SCROLL_MERGE_SECONDS
            and _near(held.action.get("x"), held.action.get("y"), x, y)
        ):
            held.action["dx"] += dx
            held.action["dy"] += dy
            held.end_ts = ts
            return
        self.flush_held()
        self.held = self._step(record, {"type": "scroll", "x": x, "y": y, "dx": dx, "dy": dy})


def to_trajectory(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Fold exported raw records (in order) into trajectory steps, one dict per action.

    Each step is ``{"ts", "session", "observation": {"frame", "frame_ts", "frame_left",
    "frame_top", "title", "app"}, "action": {"type", ...}, "sensitivity"}`` (see
    docs/EVENTS.md), ordered by ``ts``, the moment the action began. A step is yielded
    once nothing still in progress (a held button, a run of typing, a click that may
    become a double click) could begin earlier.
    """
    folder = _Folder()
    ready: list[tuple[float, int, dict[str, Any]]] = []
    order = 0
    for record in records:
        folder.feed(record)
        for step in folder.out:
            heapq.heappush(ready, (step["ts"], order, step))
            order += 1
        folder.out.clear()
        horizon = folder.earliest_pending()
        while ready and ready[0][0] <= horizon:
            yield heapq.heappop(ready)[2]
    folder.reset()
    for step in folder.out:
        heapq.heappush(ready, (step["ts"], order, step))
        order += 1
    while ready:
        yield heapq.heappop(ready)[2]

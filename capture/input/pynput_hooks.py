"""Keyboard and mouse input through pynput: the only module that imports pynput.

On macOS and Windows pynput's listeners call our callbacks on the system's hook thread;
while a callback runs, input for every program on the desktop waits. On X11 the events
come from ``capture.input.xrecord``, one RECORD connection read without python-xlib's
generic parsing (pynput's own X11 listener cost more CPU than everything else the
agent does with input), and keys are still named by pynput's X11 translation, so every
backend gives the same names. Either way a callback only stamps the clocks, translates
pynput objects to plain values through precomputed tables, and calls ``emit`` (a
non-blocking append that counts drops). No pynput object leaves this module.

Pointer moves arrive at the device rate (hundreds per second); ``MoveCoalescer`` keeps
at most ``move_hz`` of them per second, always keeping the latest position, and flushes
the pending one before a click or scroll so the position a click happened at is never
lost.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from capture.base import SourceBase, SourceCounters
from capture.errors import SourceUnavailable
from capture.events import Emit, Key, MouseButton, MouseMove, Scroll

KeyFields = tuple[str, "str | None"]
"""What a key translates to: its stable lowercase name and its printable char (or None)."""

_CTRL_LETTERS = {chr(code): chr(0x60 + code) for code in range(1, 27)}
# With Ctrl held, Windows reports letters as control characters (Ctrl+C -> "\x03");
# map them back so the key name stays "c" on every platform.


def _side_preference(name: str) -> int:
    # Sided names ("shift_l") say more than generic ones ("shift"); pynput makes them
    # enum aliases of the same member where the platform cannot tell them apart.
    return 1 if name.endswith(("_l", "_r")) else 0


def special_key_names(key_enum: Any) -> dict[Any, str]:
    """Map each member of pynput's ``Key`` enum to one stable lowercase name.

    Where pynput aliases names to one member (on X11 ``Key.shift`` is ``Key.shift_l``),
    the sided name wins, so left Shift is always "shift_l", left Ctrl "ctrl_l".
    """
    names: dict[Any, str] = {}
    for name, member in key_enum.__members__.items():
        current = names.get(member)
        if current is None or _side_preference(name) > _side_preference(current):
            names[member] = name
    return names


# Event builders for the hook thread. A frozen dataclass's __init__ sets each field
# through object.__setattr__, which costs about half of a whole callback; these set the
# slots directly through their descriptors and give an event equal to the dataclass
# constructor's (tests/capture/test_fast_paths.py checks that every field, defaults included,
# is set). Only the hook thread needs this speed.


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    setter: Callable[[Any, Any], None] = cls.__dict__[name].__set__
    return setter


def _default(cls: type, name: str) -> Any:
    return next(f.default for f in fields(cls) if f.name == name)


_new = object.__new__
_MM_TS, _MM_MONO, _MM_X, _MM_Y, _MM_SENS = (
    _slot_setter(MouseMove, n) for n in ("ts", "mono", "x", "y", "sensitivity")
)
_MM_DEFAULT_SENS = _default(MouseMove, "sensitivity")
_MB_TS, _MB_MONO, _MB_X, _MB_Y, _MB_BUTTON, _MB_PRESSED, _MB_SENS = (
    _slot_setter(MouseButton, n)
    for n in ("ts", "mono", "x", "y", "button", "pressed", "sensitivity")
)
_MB_DEFAULT_SENS = _default(MouseButton, "sensitivity")
_SC_TS, _SC_MONO, _SC_X, _SC_Y, _SC_DX, _SC_DY, _SC_SENS = (
    _slot_setter(Scroll, n) for n in ("ts", "mono", "x", "y", "dx", "dy", "sensitivity")
)
_SC_DEFAULT_SENS = _default(Scroll, "sensitivity")
_K_TS, _K_MONO, _K_KEY, _K_PRESSED, _K_CHAR, _K_REDACTED, _K_SENS = (
    _slot_setter(Key, n)
    for n in ("ts", "mono", "key", "pressed", "char", "redacted", "sensitivity")
)
_K_DEFAULT_REDACTED = _default(Key, "redacted")
_K_DEFAULT_SENS = _default(Key, "sensitivity")


def make_mouse_move(ts: float, mono: float, x: int, y: int) -> MouseMove:
    """``MouseMove(ts, mono, x, y)``, built without the dataclass __init__."""
    event: MouseMove = _new(MouseMove)
    _MM_TS(event, ts)
    _MM_MONO(event, mono)
    _MM_X(event, x)
    _MM_Y(event, y)
    _MM_SENS(event, _MM_DEFAULT_SENS)
    return event


def make_mouse_button(
    ts: float, mono: float, x: int, y: int, button: str, pressed: bool
) -> MouseButton:
    """``MouseButton(ts, mono, x, y, button, pressed)``, built without the dataclass __init__."""
    event: MouseButton = _new(MouseButton)
    _MB_TS(event, ts)
    _MB_MONO(event, mono)
    _MB_X(event, x)
    _MB_Y(event, y)
    _MB_BUTTON(event, button)
    _MB_PRESSED(event, pressed)
    _MB_SENS(event, _MB_DEFAULT_SENS)
    return event


def make_scroll(ts: float, mono: float, x: int, y: int, dx: int, dy: int) -> Scroll:
    """``Scroll(ts, mono, x, y, dx, dy)``, built without the dataclass __init__."""
    event: Scroll = _new(Scroll)
    _SC_TS(event, ts)
    _SC_MONO(event, mono)
    _SC_X(event, x)
    _SC_Y(event, y)
    _SC_DX(event, dx)
    _SC_DY(event, dy)
    _SC_SENS(event, _SC_DEFAULT_SENS)
    return event


def make_key(ts: float, mono: float, key: str, pressed: bool, char: str | None) -> Key:
    """``Key(ts, mono, key, pressed, char)``, built without the dataclass __init__."""
    event: Key = _new(Key)
    _K_TS(event, ts)
    _K_MONO(event, mono)
    _K_KEY(event, key)
    _K_PRESSED(event, pressed)
    _K_CHAR(event, char)
    _K_REDACTED(event, _K_DEFAULT_REDACTED)
    _K_SENS(event, _K_DEFAULT_SENS)
    return event


class KeyTranslator:
    """Turns a pynput key (``Key`` member, ``KeyCode`` or None) into ``(name, char)``.

    ``char`` is set only for printable characters (space is " "); ``name`` is the
    lowercase character for character keys, the ``Key`` name for special keys,
    "vk_<n>" for keys pynput could not name, "dead" for dead keys and "unknown" for None.
    Results for characters are cached by character, so the common path is two dict
    lookups.
    """

    __slots__ = ("_by_char", "_keycode_type", "_special")

    def __init__(self, special: Mapping[Any, str], keycode_type: Any) -> None:
        self._special: dict[Any, KeyFields] = {
            member: (name, " " if name == "space" else None) for member, name in special.items()
        }
        self._keycode_type: Any = keycode_type
        self._by_char: dict[str, KeyFields] = {}

    def __call__(self, key: Any) -> KeyFields:
        """Translate one key; never raises for any value pynput passes."""
        if key.__class__ is self._keycode_type:
            char = key.char
            if char is not None and not key.is_dead:
                fields = self._by_char.get(char)
                if fields is None:
                    fields = self._char_fields(char)
                return fields
            if key.is_dead:
                return ("dead", None)
            return (f"vk_{key.vk}", None) if key.vk is not None else ("unknown", None)
        if key is None:
            return ("unknown", None)
        fields = self._special.get(key)
        return fields if fields is not None else ("unknown", None)

    def _char_fields(self, char: str) -> KeyFields:
        if char in _CTRL_LETTERS:
            fields: KeyFields = (_CTRL_LETTERS[char], None)
        elif char.isprintable():
            fields = (char.lower(), char)
        else:
            fields = (f"u{ord(char[0]):04x}", None)
        if len(self._by_char) < 4096:  # bound the cache: a keyboard has few chars
            self._by_char[char] = fields
        return fields


class MoveCoalescer:
    """Rate-limits pointer moves to ``hz`` per second without losing the last position.

    Intervals are measured between the moves' own times (``mono``), so moves read in
    a batch (X11) are thinned as if they had come one by one. ``offer(move)`` emits at
    once when the last emitted move is at least 1/hz older, otherwise it keeps the move
    as pending (replacing an older pending one). ``flush()`` emits the pending move, if
    any; call it before a click or scroll. ``flush_due()`` emits the pending move once
    1/hz has passed since the last emitted one (by ``clock``, the same monotonic clock)
    and says how long to wait otherwise; a timer thread calls it so a final resting
    position is emitted even when nothing follows it. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        emit: Emit,
        hz: float,
        clock: Callable[[], float] = time.monotonic,
        on_pending: Callable[[], None] | None = None,
    ) -> None:
        self._emit = emit
        self._interval = 1.0 / hz if hz > 0 else 0.0
        self._clock = clock
        self._on_pending = on_pending
        # The hook thread and the timer thread both touch the pending move; emitting
        # under the lock keeps moves in order; uncontended, it is cheap (PERFORMANCE.md).
        self._lock = threading.Lock()
        self._pending: MouseMove | None = None
        self._last = float("-inf")

    def offer(self, move: MouseMove) -> None:
        """Emit ``move`` now or keep it as the pending position (hook thread)."""
        with self._lock:
            if move.mono - self._last >= self._interval:
                self._pending = None
                self._last = move.mono
                self._emit(move)
                return
            was_empty = self._pending is None
            self._pending = move
        if was_empty and self._on_pending is not None:
            self._on_pending()

    def flush(self) -> None:
        """Emit the pending move now, if there is one."""
        with self._lock:
            pending = self._pending
            if pending is not None:
                self._pending = None
                self._last = pending.mono
                self._emit(pending)

    def due_in(self) -> float | None:
        """Seconds until the pending move is due (0 or less: due now), or None when
        nothing is pending; emits nothing."""
        with self._lock:
            if self._pending is None:
                return None
            return self._last + self._interval - self._clock()

    def flush_due(self) -> float | None:
        """Emit the pending move if its interval has passed.

        Returns the seconds to wait before the pending move is due, or None when
        nothing is pending.
        """
        with self._lock:
            pending = self._pending
            if pending is None:
                return None
            now = self._clock()
            wait = self._last + self._interval - now
            if wait > 0:
                return wait
            self._pending = None
            self._last = pending.mono
            self._emit(pending)
            return None


class PynputInput(SourceBase):
    """Mouse and keyboard source ("input"): pynput listeners, or X RECORD on X11.

    ``bind(emit)`` imports pynput and builds the translation tables without installing
    any hook, so a benchmark can time the ``on_*`` callbacks directly; ``start(emit)``
    binds and installs the listeners; ``stop()`` removes them and joins every thread.
    ``xrecord`` reads X11 input from ``capture.input.xrecord`` (one connection, no timer
    thread) instead of pynput's listeners; None means where X11 is (Linux). The daemon
    chooses through ``capture.backends`` (rows "xrecord" and "pynput").
    """

    name = "input"

    def __init__(
        self,
        keyboard: bool = True,
        mouse: bool = True,
        move_hz: float = 60.0,
        *,
        xrecord: bool | None = None,
    ) -> None:
        if move_hz <= 0:
            raise ValueError("move_hz must be positive")
        self.keyboard = keyboard
        self.mouse = mouse
        self.move_hz = move_hz
        self.xrecord = sys.platform.startswith("linux") if xrecord is None else xrecord
        self._running = False
        # Placeholders until bind(): calling a callback before then is a bug, and says so.
        self._emit: Emit = _not_bound
        self._translate_key: Callable[[Any], KeyFields] = _not_bound
        self._buttons: dict[Any, str] = {}
        self._moves = MoveCoalescer(_not_bound, move_hz)
        self._listeners: list[Any] = []
        self._timer: threading.Thread | None = None
        self._timer_wake = threading.Event()
        self._stopping = threading.Event()
        # Callbacks the OS hooks made (never reset). Silent-failure detection samples
        # it: hooks that stop delivering are noticed even while a denied window's
        # events are dropped downstream. Two hook threads may race on it; a lost
        # increment is harmless (any change means "delivering").
        self.delivered = 0

    def bind(self, emit: Emit) -> None:
        """Import pynput and prepare the callbacks to call ``emit``; installs no hook."""
        if sys.platform.startswith("linux"):
            from capture.display import check_display

            check_display(self.name)
        try:
            from pynput import keyboard as pkeyboard
            from pynput import mouse as pmouse
        except ImportError:
            # pynput connects to the display at import; its own message is a page long.
            raise SourceUnavailable(
                self.name,
                "pynput cannot reach the display: log into a desktop session "
                "(on Linux an X11 session with DISPLAY set) and start the agent there",
            ) from None
        self._emit = emit
        self._translate_key = KeyTranslator(special_key_names(pkeyboard.Key), pkeyboard.KeyCode)
        self._buttons = {member: member.name for member in pmouse.Button}
        # On X11 the recording thread emits a pending move when it is due (its reads
        # time out then); elsewhere a timer thread does, woken when a move is held back.
        on_pending = None if self.xrecord else self._timer_wake.set
        self._moves = MoveCoalescer(emit, self.move_hz, on_pending=on_pending)

    def hooked_devices(self) -> frozenset[str]:
        """The devices hooked: "keyboard" and/or "mouse" (``capture.base.InputHooks``)."""
        return frozenset(
            device
            for device, wanted in (("keyboard", self.keyboard), ("mouse", self.mouse))
            if wanted
        )

    def counters(self) -> SourceCounters:
        """The hooks' callbacks so far (``delivered``), before any filter."""
        return SourceCounters(delivered=self.delivered)

    def start(self, emit: Emit) -> None:
        """Install the keyboard and mouse hooks (nothing if installed); raises
        SourceUnavailable if impossible."""
        if self._running or not (self.keyboard or self.mouse):
            return
        self.bind(emit)
        if self.xrecord:
            self._start_x11()
        else:
            self._start_pynput()
        self._running = True

    def _start_x11(self) -> None:
        # X11: our own RECORD reader (capture/input/xrecord.py) instead of pynput's two
        # listeners, with pynput's translation of key codes (see _X11Devices).
        from capture.input.xrecord import RecordUnavailable, XRecordListener

        devices = _X11Devices(self)
        listener = XRecordListener(devices, keyboard=self.keyboard, mouse=self.mouse)
        devices.listener = listener
        try:
            listener.start(timeout=5.0)
        except RecordUnavailable as exc:
            self.stop()
            raise SourceUnavailable(self.name, f"the input hook did not start: {exc}") from None
        self._listeners.append(listener)

    def _start_pynput(self) -> None:
        from pynput import keyboard as pkeyboard
        from pynput import mouse as pmouse

        self._stopping.clear()
        self._timer = threading.Thread(target=self._flush_moves, name="input-moves", daemon=True)
        self._timer.start()
        if self.mouse:
            self._listeners.append(
                pmouse.Listener(
                    on_move=self.on_move, on_click=self.on_click, on_scroll=self.on_scroll
                )
            )
        if self.keyboard:
            self._listeners.append(
                pkeyboard.Listener(on_press=self.on_press, on_release=self.on_release)
            )
        for listener in self._listeners:
            listener.start()
        for listener in self._listeners:
            if not _wait_ready(listener, timeout=5.0):
                self.stop()
                raise SourceUnavailable(
                    self.name,
                    "the input hook did not start: the system refused the input monitor "
                    "(on macOS allow it under Privacy & Security > Input Monitoring)",
                )

    def stop(self) -> None:
        """Remove the hooks, emit the last pending move, and join every thread."""
        self._running = False
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.stop()
        for listener in listeners:
            join = getattr(listener, "join", None)
            if join is not None:
                join(5.0)
        self._stopping.set()
        self._timer_wake.set()
        if self._timer is not None:
            self._timer.join(5.0)
            self._timer = None
        self._moves.flush()

    # The callbacks below run on the OS hook thread: stamp, translate, emit, nothing more.

    def on_move(self, x: int, y: int, injected: bool = False) -> None:
        """Listener callback for a pointer move."""
        self.move_at(time.time(), time.monotonic(), x, y)

    def on_click(self, x: int, y: int, button: Any, pressed: bool, injected: bool = False) -> None:
        """Listener callback for a button press or release."""
        self.click_at(time.time(), time.monotonic(), x, y, button, pressed)

    def on_scroll(self, x: int, y: int, dx: int, dy: int, injected: bool = False) -> None:
        """Listener callback for a wheel step."""
        self.scroll_at(time.time(), time.monotonic(), x, y, dx, dy)

    def on_press(self, key: Any, injected: bool = False) -> None:
        """Listener callback for a key press."""
        self.key_at(time.time(), time.monotonic(), key, True)

    def on_release(self, key: Any, injected: bool = False) -> None:
        """Listener callback for a key release."""
        self.key_at(time.time(), time.monotonic(), key, False)

    # The same, for events already stamped with the moment they happened (X11: from the
    # server's time, as they are read in batches).

    def move_at(self, ts: float, mono: float, x: int, y: int) -> None:
        """A pointer move at ``ts`` (wall) / ``mono`` (monotonic)."""
        self.delivered += 1
        self._moves.offer(make_mouse_move(ts, mono, int(x), int(y)))

    def click_at(self, ts: float, mono: float, x: int, y: int, button: Any, pressed: bool) -> None:
        """A button press or release (a pynput ``Button``)."""
        self.delivered += 1
        self._moves.flush()
        name = self._buttons.get(button, "unknown")
        self._emit(make_mouse_button(ts, mono, int(x), int(y), name, bool(pressed)))

    def scroll_at(self, ts: float, mono: float, x: int, y: int, dx: int, dy: int) -> None:
        """A wheel step."""
        self.delivered += 1
        self._moves.flush()
        self._emit(make_scroll(ts, mono, int(x), int(y), int(dx), int(dy)))

    def key_at(self, ts: float, mono: float, key: Any, pressed: bool) -> None:
        """A key press or release (a pynput key)."""
        self.delivered += 1
        self._moves.flush()  # a held-back move is older: keep the stream in order
        name, char = self._translate_key(key)
        self._emit(make_key(ts, mono, name, pressed, char))

    def _flush_moves(self) -> None:
        # Sleeps until a move becomes pending, then emits it once its interval passed.
        wake, stopping = self._timer_wake, self._stopping
        while not stopping.is_set():
            wake.wait()
            wake.clear()
            moves = self._moves
            while not stopping.is_set():
                wait = moves.flush_due()
                if wait is None:
                    break
                stopping.wait(wait)


class _KeyEvent:
    """The two fields of an X key event that pynput's translation reads."""

    __slots__ = ("detail", "state")

    def __init__(self, detail: int, state: int) -> None:
        self.detail = detail
        self.state = state


_MISSING = object()

REST_GRACE = 0.1
"""Seconds a held-back move may wait past its interval for the next event (X11)."""

# X11 wheel buttons and the (dx, dy) pynput reports for them.
_X11_SCROLL = {4: (0, 1), 5: (0, -1), 6: (-1, 0), 7: (1, 0)}


class _X11Devices:
    """Raw X11 device events (``capture.input.xrecord.DeviceHandler``) to the source.

    The source's ``*_at`` methods receive the events' own times (from the X server)
    and what pynput's X11 listener would pass: ``Button`` members, and keys translated
    by pynput's own X11 code (``_event_to_key`` of its keyboard listener, never
    started), so both backends name every key the same way. Runs on the recording
    thread.
    """

    def __init__(self, source: PynputInput) -> None:
        from pynput import keyboard as pkeyboard
        from pynput import mouse as pmouse

        self.listener: Any = None  # the XRecordListener, set once built
        self.motion = source.move_at
        self._flush_due = source._moves.flush_due
        self._due_in = source._moves.due_in
        self._click_at = source.click_at
        self._scroll_at = source.scroll_at
        self._key_at = source.key_at
        self._buttons: dict[int, Any] = {
            member.value: member for member in pmouse.Button if member.value is not None
        }
        self._unknown_button = pmouse.Button.unknown
        self._event_to_key: Callable[[Any, Any], Any] = pkeyboard.Listener()._event_to_key
        self._keycode_type: Any = pkeyboard.KeyCode
        self._held: dict[int, Any] = {}
        # Translations by (key code, modifier state), valid until the mapping changes.
        self._by_code: dict[tuple[int, int], Any] = {}
        self._stale = False

    def idle(self, rested: bool) -> float | None:
        """Once input rests, emit a held-back move that is due; say when to look again.

        While the pointer moves, the next move (or click, scroll or key) emits or
        replaces the held-back one, so the wait is stretched by REST_GRACE: the read
        times out only once the pointer rests, not at every 60 Hz interval. Right after
        a read nothing is emitted: a batch read 50 ms late would otherwise find its last
        held-back move due by the clock, though the next batch may hold moves that
        replace it, and store moves closer together than the interval. The move keeps
        the time it was stamped with; only its emission waits.
        """
        if rested:
            wait = self._flush_due()
            return None if wait is None else wait + REST_GRACE
        wait = self._due_in()
        return None if wait is None else max(wait, 0.0) + REST_GRACE

    def button(self, ts: float, mono: float, detail: int, pressed: bool, x: int, y: int) -> None:
        """A button press or release; wheel buttons become scroll steps (on press)."""
        scroll = _X11_SCROLL.get(detail)
        if scroll is not None:
            if pressed:
                self._scroll_at(ts, mono, x, y, scroll[0], scroll[1])
            return
        self._click_at(ts, mono, x, y, self._buttons.get(detail, self._unknown_button), pressed)

    def key(self, ts: float, mono: float, keycode: int, state: int, pressed: bool) -> None:
        """A key press or release, translated with the current keyboard mapping.

        A release is named like its press: the mapping may have changed in between
        (xdotool binds a spare key code to type a character the layout lacks, and
        unbinds it right after the release).
        """
        if not pressed:
            key = self._held.pop(keycode, _MISSING)
            if key is _MISSING:
                key = self._translate(keycode, state)
            self._key_at(ts, mono, key, False)
            return
        key = self._translate(keycode, state)
        if len(self._held) < 256:  # bounded: a lost release must not grow it
            self._held[keycode] = key
        self._key_at(ts, mono, key, True)

    def mapping_changed(self) -> None:
        """The keyboard mapping changed: re-read it before the next key."""
        self._stale = True

    def _translate(self, keycode: int, state: int) -> Any:
        if self._stale:
            self._stale = False
            self._by_code.clear()
            self.listener.refresh_keyboard_mapping()
        key = self._by_code.get((keycode, state), _MISSING)
        if key is _MISSING:
            key = self._translate_now(keycode, state)
            if len(self._by_code) >= 512:  # bounded: states combine lock and button bits
                self._by_code.clear()
            self._by_code[(keycode, state)] = key
        return key

    def _translate_now(self, keycode: int, state: int) -> Any:
        try:
            key = self._event_to_key(self.listener.display, _KeyEvent(keycode, state))
        except (IndexError, AttributeError):
            return None  # a code outside the mapping, or the mapping closed by stop()
        # pynput names keysyms from its tables only; a Unicode keysym (0x01000000 plus
        # the code point, what xdotool and input methods bind for characters outside
        # the layout) would be "vk_<n>" without its character.
        vk = getattr(key, "vk", None)
        if (
            key.__class__ is self._keycode_type
            and key.char is None
            and vk is not None
            and 0x1000100 <= vk <= 0x110FFFF
        ):
            key = self._keycode_type.from_char(chr(vk - 0x1000000), vk=vk)
        return key


def _not_bound(*_args: Any) -> Any:
    raise RuntimeError("PynputInput: call bind() or start() before the callbacks")


def _wait_ready(listener: Any, timeout: float) -> bool:
    # Listener.wait() has no timeout and blocks forever if the listener thread died
    # before it was ready (display refused); wait on a helper thread instead.
    waiter = threading.Thread(target=listener.wait, name="input-ready", daemon=True)
    waiter.start()
    deadline = time.monotonic() + timeout
    while waiter.is_alive() and time.monotonic() < deadline:
        waiter.join(0.05)
        if not listener.is_alive() and waiter.is_alive():
            return False
    return not waiter.is_alive()


def xrecord_input(keyboard: bool = True, mouse: bool = True, move_hz: float = 60.0) -> PynputInput:
    """The "xrecord" backend row: X11 input read from one RECORD connection."""
    return PynputInput(keyboard, mouse, move_hz, xrecord=True)


def pynput_input(keyboard: bool = True, mouse: bool = True, move_hz: float = 60.0) -> PynputInput:
    """The "pynput" backend row: pynput's own listeners (its X11 one on Linux)."""
    return PynputInput(keyboard, mouse, move_hz, xrecord=False)

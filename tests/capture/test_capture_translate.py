"""Key translation and pointer-move coalescing of the pynput input source."""

from __future__ import annotations

from typing import Any

import pytest

from capture.events import Event, MouseMove
from capture.input.pynput_hooks import KeyTranslator, MoveCoalescer, special_key_names


@pytest.fixture
def translate(x_display: str) -> KeyTranslator:
    # pynput connects to the display when first imported, hence the X server.
    from pynput import keyboard

    return KeyTranslator(special_key_names(keyboard.Key), keyboard.KeyCode)


@pytest.fixture
def keyboard_module(x_display: str) -> Any:
    from pynput import keyboard

    return keyboard


@pytest.mark.x11
def test_characters_keep_printable_char_and_lowercase_name(
    translate: KeyTranslator, keyboard_module: Any
) -> None:
    kc = keyboard_module.KeyCode
    assert translate(kc.from_char("a")) == ("a", "a")
    assert translate(kc.from_char("A")) == ("a", "A")
    assert translate(kc.from_char("!")) == ("!", "!")
    assert translate(kc.from_char("é")) == ("é", "é")
    # Translating the same character again hits the cache and gives the same answer.
    assert translate(kc.from_char("A")) == ("a", "A")


@pytest.mark.x11
def test_special_keys_have_stable_names(translate: KeyTranslator, keyboard_module: Any) -> None:
    key = keyboard_module.Key
    assert translate(key.space) == ("space", " ")
    assert translate(key.enter) == ("enter", None)
    assert translate(key.backspace) == ("backspace", None)
    assert translate(key.tab) == ("tab", None)
    assert translate(key.esc) == ("esc", None)
    assert translate(key.ctrl_l) == ("ctrl_l", None)
    assert translate(key.shift_r) == ("shift_r", None)
    assert translate(key.f5) == ("f5", None)
    # On X11 pynput aliases the generic modifier to the left one; the sided name wins.
    assert translate(key.shift) == ("shift_l", None)


@pytest.mark.x11
def test_unprintable_and_unknown_keys_carry_no_char(
    translate: KeyTranslator, keyboard_module: Any
) -> None:
    kc = keyboard_module.KeyCode
    assert translate(kc.from_char("\x03")) == ("c", None)  # Ctrl+C as Windows reports it
    assert translate(kc.from_vk(0x1234)) == ("vk_4660", None)
    assert translate(kc.from_dead("~")) == ("dead", None)
    assert translate(None) == ("unknown", None)
    assert translate(object()) == ("unknown", None)


def test_special_key_names_prefers_sided_alias() -> None:
    import enum

    class FakeKey(enum.Enum):
        shift = 1
        shift_l = 1  # noqa: PIE796  an alias on purpose, as pynput's Key has on X11
        shift_r = 2
        enter = 3

    names = special_key_names(FakeKey)
    assert names == {FakeKey.shift: "shift_l", FakeKey.shift_r: "shift_r", FakeKey.enter: "enter"}


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _move(x: int, clock: FakeClock) -> MouseMove:
    """A move that happened now by ``clock``."""
    return MouseMove(ts=0.0, mono=clock.now, x=x, y=x)


def test_moves_are_limited_to_the_rate_and_latest_is_kept() -> None:
    clock, out = FakeClock(), list[Event]()
    pending_signals: list[bool] = []
    moves = MoveCoalescer(
        out.append, hz=10, clock=clock, on_pending=lambda: pending_signals.append(True)
    )
    moves.offer(_move(1, clock))  # first move goes straight out
    clock.now += 0.02
    moves.offer(_move(2, clock))
    clock.now += 0.02
    moves.offer(_move(3, clock))  # replaces 2
    assert [m.x for m in out if isinstance(m, MouseMove)] == [1]
    assert pending_signals == [True]  # the timer is woken once, not per move
    assert moves.flush_due() == pytest.approx(0.06)
    clock.now += 0.06
    assert moves.flush_due() is None
    assert [m.x for m in out if isinstance(m, MouseMove)] == [1, 3]
    assert moves.flush_due() is None  # nothing pending any more


def test_flush_emits_pending_position_before_a_click() -> None:
    clock, out = FakeClock(), list[Event]()
    moves = MoveCoalescer(out.append, hz=10, clock=clock)
    moves.offer(_move(1, clock))
    clock.now += 0.01
    moves.offer(_move(2, clock))
    moves.flush()
    moves.flush()  # a second flush has nothing to emit
    assert [m.x for m in out if isinstance(m, MouseMove)] == [1, 2]


def test_moves_read_in_a_batch_are_thinned_by_their_own_times() -> None:
    clock, out = FakeClock(), list[Event]()
    moves = MoveCoalescer(out.append, hz=60, clock=clock)
    start = clock.now
    clock.now += 0.05  # five moves 10 ms apart, all read at once at the end
    for i in range(5):
        moves.offer(MouseMove(ts=0.0, mono=start + 0.01 * i, x=i, y=i))
    # 0 goes out; 1 is pending; 2 is 20 ms after 0; 3 pending; 4 is 20 ms after 2.
    assert [m.x for m in out if isinstance(m, MouseMove)] == [0, 2, 4]
    assert moves.flush_due() is None


def test_due_in_says_when_the_pending_move_is_due_without_emitting_it() -> None:
    clock, out = FakeClock(), list[Event]()
    moves = MoveCoalescer(out.append, hz=50, clock=clock)
    assert moves.due_in() is None
    moves.offer(_move(1, clock))
    clock.now += 0.01
    moves.offer(_move(2, clock))
    assert moves.due_in() == pytest.approx(0.01)
    clock.now += 0.05
    assert moves.due_in() == pytest.approx(-0.04)  # overdue, and still held back
    assert [m.x for m in out if isinstance(m, MouseMove)] == [1]
    assert moves.flush_due() is None
    assert [m.x for m in out if isinstance(m, MouseMove)] == [1, 2]


def test_moves_spaced_beyond_the_interval_all_pass() -> None:
    clock, out = FakeClock(), list[Event]()
    moves = MoveCoalescer(out.append, hz=60, clock=clock)
    for x in range(5):
        moves.offer(_move(x, clock))
        clock.now += 0.1
    assert [m.x for m in out if isinstance(m, MouseMove)] == [0, 1, 2, 3, 4]


@pytest.mark.x11
def test_callbacks_emit_plain_events(x_display: str) -> None:
    from pynput import keyboard, mouse

    from capture.input.pynput_hooks import PynputInput

    out: list[Event] = []
    source = PynputInput()
    source.bind(out.append)
    source.on_press(keyboard.KeyCode.from_char("Q"))
    source.on_release(keyboard.Key.enter)
    source.on_move(5, 6)
    source.on_move(7, 8)  # coalesced, then flushed by the click
    source.on_click(7, 8, mouse.Button.left, True)
    source.on_scroll(7, 8, 0, -1)
    kinds = [(e.type, getattr(e, "key", None), getattr(e, "char", None)) for e in out]
    assert kinds[:2] == [("key", "q", "Q"), ("key", "enter", None)]
    assert [e.type for e in out[2:]] == ["mouse_move", "mouse_move", "mouse_button", "scroll"]
    click = out[4]
    assert (click.x, click.y, click.button, click.pressed) == (7, 8, "left", True)  # type: ignore[union-attr]
    for event in out:
        assert event.ts > 1e9 and event.mono > 0

"""The hand-written fast paths give exactly what the general code gives."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from capture.events import Event, Key, MouseButton, MouseMove, Scroll, field_names
from capture.input.pynput_hooks import make_key, make_mouse_button, make_mouse_move, make_scroll
from storage.writer import event_line

ints = st.integers(min_value=-(2**40), max_value=2**40)
floats = st.floats(allow_nan=True, allow_infinity=True)
texts = st.text(max_size=8)


def _reference(seq: int, event: Any) -> str:
    record: dict[str, Any] = {"seq": seq, "type": event.type}
    for name in field_names(type(event)):
        if name not in ("mono", "image"):
            record[name] = getattr(event, name)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


@given(
    st.integers(min_value=0, max_value=2**40),
    floats | ints,
    ints | st.booleans(),
    ints,
    ints,
    st.sampled_from([1, 2, 3, 4, True]),
    texts,
    texts | st.none(),
    texts | st.none(),
    st.booleans(),
)
def test_event_lines_equal_json_dumps(
    seq: int,
    ts: Any,
    x: Any,
    y: int,
    dy: int,
    sens: Any,
    name: str,
    char: Any,
    redacted: Any,
    pressed: bool,
) -> None:
    events: list[Event] = [
        MouseMove(ts, 0.0, x, y, sens),
        MouseButton(ts, 0.0, x, y, name, pressed, sens),
        Scroll(ts, 0.0, x, y, 0, dy, sens),
        Key(ts, 0.0, name, pressed, char, redacted, sens),
    ]
    for event in events:
        line = event_line(seq, event)
        assert line == _reference(seq, event)
        if not (isinstance(ts, float) and math.isnan(ts)):
            assert json.loads(line)["ts"] == ts


def test_event_builders_equal_the_dataclass_constructors() -> None:
    assert make_mouse_move(1.5, 2.5, 3, 4) == MouseMove(1.5, 2.5, 3, 4)
    assert make_mouse_button(1.5, 2.5, 3, 4, "left", True) == MouseButton(
        1.5, 2.5, 3, 4, "left", True
    )
    assert make_scroll(1.5, 2.5, 3, 4, 0, -1) == Scroll(1.5, 2.5, 3, 4, 0, -1)
    assert make_key(1.5, 2.5, "a", False, "a") == Key(1.5, 2.5, "a", False, "a")
    # Every slot is set (a field added later without a builder change would be missing).
    for event in (make_mouse_move(1, 2, 3, 4), make_key(1, 2, "a", True, None)):
        for name in field_names(type(event)):
            getattr(event, name)

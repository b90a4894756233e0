"""The X RECORD stream parser (capture/input/xrecord.py) on bytes built here, no X server."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capture.input.server_time import ServerClock
from capture.input.xrecord import (
    BUTTON_PRESS,
    BUTTON_RELEASE,
    END_OF_DATA,
    FROM_SERVER,
    KEY_PRESS,
    KEY_RELEASE,
    MOTION_NOTIFY,
    START_OF_DATA,
    RecordStream,
    RecordUnavailable,
    event_range,
)
from tests.capture.test_server_time import Clocks


class Recorder:
    """A DeviceHandler that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.times: list[tuple[float, float]] = []  # (ts, mono) of each event call

    def motion(self, ts: float, mono: float, x: int, y: int) -> None:
        self.times.append((ts, mono))
        self.calls.append(("motion", x, y))

    def button(self, ts: float, mono: float, detail: int, pressed: bool, x: int, y: int) -> None:
        self.times.append((ts, mono))
        self.calls.append(("button", detail, pressed, x, y))

    def key(self, ts: float, mono: float, keycode: int, state: int, pressed: bool) -> None:
        self.times.append((ts, mono))
        self.calls.append(("key", keycode, state, pressed))

    def mapping_changed(self) -> None:
        self.calls.append(("mapping",))

    def idle(self, rested: bool) -> float | None:
        return None


def core_event(
    kind: int,
    detail: int = 0,
    x: int = 0,
    y: int = 0,
    state: int = 0,
    sent: bool = False,
    server_ms: int = 123456,
) -> bytes:
    """A 32-byte core input event as the server sends it (host byte order)."""
    return struct.pack(
        "=BBHIIIIhhhhHBx",
        kind | (0x80 if sent else 0),
        detail,
        7,
        server_ms,
        0x1E0,
        0x1E0,
        0,
        x,
        y,
        x,
        y,
        state,
        1,
    )


def reply(category: int, data: bytes = b"") -> bytes:
    """A RECORD EnableContext reply carrying ``data``."""
    assert len(data) % 4 == 0
    return (
        struct.pack("=BBHIBBHIII8x", 1, category, 3, len(data) // 4, 0, 0, 0, 0x400000, 99, 5)
        + data
    )


def test_events_reach_the_handler_with_their_fields() -> None:
    rec = Recorder()
    stream = RecordStream(rec)
    data = (
        core_event(MOTION_NOTIFY, x=1919, y=-5, server_ms=1)
        + core_event(BUTTON_PRESS, 1, 10, 20, server_ms=2)
        + core_event(BUTTON_RELEASE, 1, 11, 21, server_ms=3)
        + core_event(KEY_PRESS, 38, state=1, server_ms=4)
        + core_event(KEY_RELEASE, 38, state=1, sent=True, server_ms=0xFFFFFFFF)
    )
    assert stream.feed(reply(START_OF_DATA) + reply(FROM_SERVER, data))
    assert stream.started
    assert rec.calls == [
        ("motion", 1919, -5),
        ("button", 1, True, 10, 20),
        ("button", 1, False, 11, 21),
        ("key", 38, 1, True),
        ("key", 38, 1, False),
    ]
    assert len(rec.times) == 5


@given(st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=40))
def test_replies_split_anywhere_give_the_same_events(cuts: list[int]) -> None:
    whole = b"".join(
        reply(FROM_SERVER, core_event(MOTION_NOTIFY, x=i, y=2 * i) + core_event(KEY_PRESS, 10 + i))
        for i in range(20)
    )
    rec = Recorder()
    stream = RecordStream(rec)
    pos = 0
    for cut in cuts:
        stream.feed(whole[pos : pos + cut])
        pos += cut
    stream.feed(whole[pos:])
    expected: list[tuple[object, ...]] = []
    for i in range(20):
        expected += [("motion", i, 2 * i), ("key", 10 + i, 0, True)]
    assert rec.calls == expected


def test_a_mapping_change_is_told_in_order_with_the_keys() -> None:
    # MappingNotify (34) reaches the recording connection too when the keymap changes;
    # it is not a recorded event, but the keys after it need the new mapping.
    rec = Recorder()
    stream = RecordStream(rec)
    mapping_notify = struct.pack("=BxHBBBx24x", 34, 9, 1, 8, 248)
    assert stream.feed(
        reply(FROM_SERVER, core_event(KEY_PRESS, 38))
        + mapping_notify
        + reply(FROM_SERVER, core_event(KEY_RELEASE, 38))
    )
    assert rec.calls == [("key", 38, 0, True), ("mapping",), ("key", 38, 0, False)]


def test_end_of_data_ends_the_stream() -> None:
    rec = Recorder()
    stream = RecordStream(rec)
    assert not stream.feed(
        reply(FROM_SERVER, core_event(MOTION_NOTIFY, x=3, y=4))
        + reply(END_OF_DATA)
        + reply(FROM_SERVER, core_event(MOTION_NOTIFY))
    )
    assert stream.ended
    assert rec.calls == [("motion", 3, 4)]  # nothing after the end


def test_an_x_error_is_reported_not_misread() -> None:
    stream = RecordStream(Recorder())
    error = struct.pack("=BBHI", 0, 3, 5, 0x1234) + bytes(24)  # BadWindow
    with pytest.raises(RecordUnavailable, match="error 3"):
        stream.feed(error)


def test_unrequested_event_kinds_are_ignored() -> None:
    rec = Recorder()
    stream = RecordStream(rec)
    stream.feed(reply(FROM_SERVER, core_event(12) + core_event(MOTION_NOTIFY, x=1, y=1)))
    assert rec.calls == [("motion", 1, 1)]


def test_event_range_covers_what_is_recorded() -> None:
    assert event_range(keyboard=True, mouse=True) == (KEY_PRESS, MOTION_NOTIFY)
    assert event_range(keyboard=True, mouse=False) == (KEY_PRESS, KEY_RELEASE)
    assert event_range(keyboard=False, mouse=True) == (BUTTON_PRESS, MOTION_NOTIFY)
    with pytest.raises(ValueError, match="the keyboard, the mouse or both"):
        event_range(keyboard=False, mouse=False)


def test_events_are_stamped_when_they_happened_not_when_read() -> None:
    clocks = Clocks()
    rec = Recorder()
    stream = RecordStream(rec, ServerClock(clocks.mono, clocks.wall))
    clocks.now = 50.0002  # read at once: the mapping is learnt from this event
    stream.feed(reply(FROM_SERVER, core_event(KEY_PRESS, 38, server_ms=10_000)))
    clocks.now = 50.545  # a batch, read 45 ms after its first event
    batch = [core_event(MOTION_NOTIFY, x=i, server_ms=10_500 + 10 * i) for i in range(5)]
    stream.feed(reply(FROM_SERVER, b"".join(batch)))
    monos = [mono for _, mono in rec.times]
    assert monos[0] == pytest.approx(50.0002)  # the first event ever: its read
    assert monos[1:] == pytest.approx([50.5002, 50.5102, 50.5202, 50.5302, 50.5402])
    assert [ts - mono for ts, mono in rec.times] == pytest.approx([1000.0] * 6)
    assert stream.moving  # only motion in the last read: the next one gathers


def test_a_read_with_a_key_does_not_gather() -> None:
    stream = RecordStream(Recorder())
    stream.feed(reply(FROM_SERVER, core_event(MOTION_NOTIFY) + core_event(KEY_PRESS, 38)))
    assert not stream.moving
    stream.feed(reply(START_OF_DATA))
    assert not stream.moving  # no motion at all

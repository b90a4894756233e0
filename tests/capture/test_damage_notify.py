"""DamageNotify events read from their bytes (``capture.screen.damage_notify``)."""

from __future__ import annotations

import random
import struct

from capture.screen.damage_notify import SIZE, DamageReport, parse, report_event

# type (an extension's first event code + 0), level, sequence, drawable, damage,
# timestamp, area (x, y, width, height), drawable geometry: in the machine's byte order,
# as python-xlib asks the server to send it.
NOTIFY = struct.pack(
    "=BBHIIIhhHHhhHH", 91, 0, 0x1234, 0x1E5, 0x2600001, 4_000_123_456, -7, 20, 640, 13,
    0, 0, 1920, 1080,
)  # fmt: skip


def test_a_damage_notify_is_read_field_by_field() -> None:
    assert len(NOTIFY) == SIZE
    assert parse(NOTIFY) == DamageReport(
        sequence_number=0x1234,
        damage=0x2600001,
        timestamp=4_000_123_456,
        x=-7,
        y=20,
        width=640,
        height=13,
    )


def test_a_sent_event_reads_the_same() -> None:
    # The top bit of the type marks an event another client sent (SendEvent);
    # python-xlib's own class read it as the same report.
    sent = bytes([NOTIFY[0] | 0x80]) + NOTIFY[1:]
    assert parse(sent) == parse(NOTIFY)


def test_python_xlibs_call_gets_the_report() -> None:
    # How python-xlib's reader calls an event class: keywords, the event's 32 bytes.
    assert report_event(display=object(), binarydata=NOTIFY) == parse(NOTIFY)


def test_short_bytes_are_no_report() -> None:
    for length in range(SIZE):
        assert parse(NOTIFY[:length]) is None
    assert report_event(display=None, binarydata=b"") is None


def test_any_bytes_of_any_length_never_raise() -> None:
    rng = random.Random(23)
    for _ in range(2000):
        data = rng.randbytes(rng.randrange(0, 2 * SIZE))
        report = parse(data)
        assert (report is None) == (len(data) < SIZE)
        if report is not None:  # every field in its wire range
            assert 0 <= report.width <= 0xFFFF and 0 <= report.height <= 0xFFFF
            assert -0x8000 <= report.x < 0x8000 and -0x8000 <= report.y < 0x8000
            assert 0 <= report.timestamp <= 0xFFFFFFFF

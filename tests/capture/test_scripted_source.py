"""The scripted source: trace validation and replay."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from capture.errors import SourceUnavailable
from capture.events import Event, Frame, Key, Window
from capture.scripted import ScriptedSource, TraceError, parse_trace


def test_parse_rejects_bad_lines_with_line_numbers() -> None:
    with pytest.raises(TraceError, match=r"t\.jsonl:2: not valid JSON"):
        parse_trace(['{"type":"marker","kind":"x"}', "{nope"], "t.jsonl")
    with pytest.raises(TraceError, match=r":1: expected an object with a known 'type'"):
        parse_trace(['{"type":"teleport"}'])
    with pytest.raises(TraceError, match=r":2: 't' must be a number, never decreasing"):
        parse_trace(['{"type":"marker","kind":"a","t":2}', '{"type":"marker","kind":"b","t":1}'])
    with pytest.raises(TraceError, match=r":1: bad key event"):
        parse_trace(['{"type":"key","t":0}'])


def test_replay_stamps_real_time_in_order() -> None:
    trace = parse_trace(
        [
            "# a comment",
            '{"type":"window","t":0,"title":"Doc","app":"Editor"}',
            '{"type":"key","t":0.05,"key":"a","pressed":true,"char":"a"}',
            '{"type":"frame","t":0.1,"width":1,"height":1,"image_b64":"'
            + base64.b64encode(b"img").decode()
            + '"}',
        ]
    )
    source = ScriptedSource(trace, speed=1.0)
    got: list[Event] = []
    source.start(got.append)
    assert source.done.wait(5)
    source.stop()
    assert [type(e) for e in got] == [Window, Key, Frame]
    assert got[2].image == b"img"  # type: ignore[union-attr]
    monos = [e.mono for e in got]
    assert monos == sorted(monos)
    assert monos[2] - monos[0] >= 0.09  # offsets are honoured at speed 1
    assert source.emitted == 3


def test_full_speed_repeat_and_stop() -> None:
    trace = parse_trace(['{"type":"mouse_move","x":1,"y":2}'] * 10)
    source = ScriptedSource(trace, speed=0, repeat=100)
    got: list[Event] = []
    source.start(got.append)
    assert source.done.wait(10)
    source.stop()
    assert len(got) == 1000


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="cannot read"):
        ScriptedSource.from_file(tmp_path / "absent.jsonl")

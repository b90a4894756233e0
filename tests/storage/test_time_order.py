"""Every reader hands a session out in ``ts`` order, ``seq`` breaking ties (docs/EVENTS.md).

Events are stored in arrival order: the writer is given them as the pipeline queued them,
which is not the order they happened in. A property test writes such sessions with the
real writer, across chunks, and reads them back; the CLI test runs `export` on a real home.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import load_config
from capture.events import Event, Key, Window
from storage.keys import DEVICE_SIGNING_KEY, load_signing_key
from storage.reader import in_time_order, list_chunks, read_chunk
from storage.writer import ChunkWriter
from tests.cli_helpers import run_cli

IDENTITY = pyrage.x25519.Identity.generate()
SIGNING = Ed25519PrivateKey.generate()
T0 = 1_700_000_000.0

# What arrives, in order: input (keys) stamped by the X server's milliseconds, mapped
# onto this clock with up to a millisecond of jitter, and other records (window changes;
# frames behave alike) stamped when they happened but queued late, so that they arrive
# after input that came later; ties likely.
arrivals = st.lists(
    st.tuples(
        st.booleans(),  # input or not
        st.sampled_from([0.0, 0.0, 0.0004, 0.0009]),  # input: the mapping's jitter
        st.sampled_from([0.0, 0.0, 0.01, 0.057, 0.25, 2.0]),  # others: how late
        st.booleans(),  # seal the chunk after it
    ),
    min_size=1,
    max_size=60,
)


def _write(
    folder: Path, session: str, events: list[tuple[bool, float, float, bool]], per_chunk: int
) -> None:
    writer = ChunkWriter(folder, "dev", session, [str(IDENTITY.to_public())], SIGNING)
    for seq, (is_input, jitter, late, seal_after) in enumerate(events):
        now = T0 + seq * 0.05
        if is_input:
            ts = round(now - jitter, 4)
            writer.add(seq, Key(ts=ts, mono=ts, key="a", pressed=True, char="a"))
        else:
            ts = round(now - late, 4)
            writer.add(seq, Window(ts=ts, mono=ts, title="t", app="a"))
        if seal_after or (seq + 1) % per_chunk == 0:
            writer.seal()
    writer.seal()


@given(events=arrivals, per_chunk=st.integers(1, 20))
@settings(max_examples=60, deadline=None)
def test_written_sessions_read_back_in_ts_order(
    events: list[tuple[bool, float, float, bool]], per_chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _write(root, "s", events, per_chunk)
        stored = [r for ref in list_chunks(root, "s") for r in read_chunk(ref, [IDENTITY]).events()]
        ordered = in_time_order(stored)
    assert sorted(r["seq"] for r in ordered) == list(range(len(events)))  # nothing lost
    # In ts order up to the input clock's millisecond...
    latest = -1.0
    for record in ordered:
        assert record["ts"] >= latest - 0.001, ordered
        latest = max(latest, record["ts"])
    # ...exactly among the other records, and input never reordered among itself.
    others = [r["ts"] for r in ordered if r["type"] != "key"]
    assert others == sorted(others)
    keys = [r["seq"] for r in ordered if r["type"] == "key"]
    assert keys == sorted(keys)


def test_a_press_is_never_put_after_its_release() -> None:
    # One X server millisecond, mapped twice: the release 1.7 µs "before" the press.
    records = [
        {"seq": 4, "type": "mouse_button", "ts": 100.0000017, "pressed": True},
        {"seq": 5, "type": "mouse_button", "ts": 100.0, "pressed": False},
        {"seq": 6, "type": "frame", "ts": 99.95},
    ]
    assert [r["seq"] for r in in_time_order(records)] == [6, 4, 5]


def test_records_of_the_wrong_type_sort_last_without_an_error() -> None:
    records: list[dict[str, object]] = [
        {"ts": "x", "seq": 0},
        {"ts": 2.0, "seq": True},
        {"ts": 1.0, "seq": 5},
        {},
    ]
    assert [r.get("ts") for r in in_time_order(records)] == [1.0, 2.0, "x", None]


def test_export_prints_each_session_in_ts_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init", "--device-id", "dev-a").returncode == 0
    config = load_config(home / "config.toml")
    sessions = home / "data" / "sessions"
    key = load_signing_key(home / "keys" / DEVICE_SIGNING_KEY)
    for session in ("20260101T000000Z-aaaaaa", "20260101T010000Z-bbbbbb"):
        writer = ChunkWriter(sessions, "dev-a", session, config.recipient_keys(), key)
        # Two chunks: window changes queued behind a key that came after them, and the
        # second chunk starting with one stamped 57 ms before the first chunk's last key.
        late: list[Event] = [
            Key(ts=T0 + 1.0, mono=T0, key="a", pressed=True, char="a"),
            Window(ts=T0 + 0.5, mono=T0, title="One", app="a"),
            Window(ts=T0 + 0.5, mono=T0, title="Two", app="a"),
            Key(ts=T0 + 2.0, mono=T0, key="b", pressed=True, char="b"),
            Window(ts=T0 + 1.943, mono=T0, title="Three", app="a"),
            Key(ts=T0 + 3.0, mono=T0, key="c", pressed=True, char="c"),
        ]
        for seq, event in enumerate(late):
            writer.add(seq, event)
            if seq == 3:
                writer.seal()
        writer.seal()
    done = run_cli(home, "export")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["session"][-1], r["seq"]) for r in lines] == [
        (s, n) for s in "ab" for n in (1, 2, 0, 4, 3, 5)
    ]

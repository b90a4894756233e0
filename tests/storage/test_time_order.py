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
from capture.events import Key
from storage.keys import DEVICE_SIGNING_KEY, load_signing_key
from storage.reader import in_time_order, list_chunks, read_chunk
from storage.writer import ChunkWriter
from tests.cli_helpers import run_cli

IDENTITY = pyrage.x25519.Identity.generate()
SIGNING = Ed25519PrivateKey.generate()
T0 = 1_700_000_000.0

# Arrival offsets: each event's ts is its arrival moment minus a lateness (a frame
# stamped before the keys queued ahead of it), with repeated timestamps (ties) likely.
lateness = st.lists(
    st.tuples(st.sampled_from([0.0, 0.0, 0.01, 0.057, 0.25, 2.0]), st.booleans()),
    min_size=1,
    max_size=60,
)


def _write(folder: Path, session: str, late: list[tuple[float, bool]], per_chunk: int) -> None:
    writer = ChunkWriter(folder, "dev", session, [str(IDENTITY.to_public())], SIGNING)
    for seq, (behind, seal_after) in enumerate(late):
        ts = round(T0 + seq * 0.05 - behind, 3)
        writer.add(seq, Key(ts=ts, mono=ts, key="a", pressed=True, char="a"))
        if seal_after or (seq + 1) % per_chunk == 0:
            writer.seal()
    writer.seal()


@given(late=lateness, per_chunk=st.integers(1, 20))
@settings(max_examples=60, deadline=None)
def test_written_sessions_read_back_in_ts_order(
    late: list[tuple[float, bool]], per_chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _write(root, "s", late, per_chunk)
        stored = [r for ref in list_chunks(root, "s") for r in read_chunk(ref, [IDENTITY]).events()]
        ordered = in_time_order(stored)
    keys = [(r["ts"], r["seq"]) for r in ordered]
    assert keys == sorted(keys)
    assert sorted(r["seq"] for r in ordered) == list(range(len(late)))  # nothing lost


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
        # Two chunks; the second starts 57 ms before the first ends (a late frame).
        for seq, ts in enumerate([T0 + 1.0, T0 + 0.5, T0 + 0.5, T0 + 2.0]):
            writer.add(seq, Key(ts=ts, mono=ts, key="a", pressed=True, char="a"))
        writer.seal()
        for seq, ts in enumerate([T0 + 1.943, T0 + 3.0], start=4):
            writer.add(seq, Key(ts=ts, mono=ts, key="b", pressed=True, char="b"))
        writer.seal()
    done = run_cli(home, "export")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["session"][-1], r["seq"]) for r in lines] == [
        (s, n) for s in "ab" for n in (1, 2, 0, 4, 3, 5)
    ]

"""One canonical JSON form for every signed format (docs/FORMAT.md, "Canonical JSON").

The chunk manifest and the head record used a second copy (UTF-8 unescaped, NaN let
through); these tests show the one form left gives the same bytes for everything the
writer signs, so existing chunks and head records still verify, and that the form the
policy and the ledger sign is kept byte for byte."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Key, Marker
from storage.canonical import canonical_json
from storage.heads import heads_path, read_heads
from storage.keys import generate_age_identity, public_key_text
from storage.reader import list_chunks, read_meta
from storage.writer import ChunkWriter


def _old_chunk_form(value: Any) -> bytes:
    """The byte form storage.chunk signed manifests and head records with until now."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _writer(sessions: Path, key: Ed25519PrivateKey, public: str) -> ChunkWriter:
    return ChunkWriter(sessions, "laptop-1", "20250101T090000Z-a1b2c3", [public], key)


def test_sealed_manifest_bytes_are_what_the_old_form_gave(tmp_path: Path) -> None:
    """Every field the writer signs is ASCII, so the chunk format's bytes did not move."""
    pair = generate_age_identity()
    key = Ed25519PrivateKey.generate()
    writer = _writer(tmp_path / "sessions", key, pair.public)
    writer.add(0, Marker(ts=1.5, mono=1.5, kind="started"))
    writer.add(1, Key(ts=1.75, mono=1.75, key="e", pressed=True, char="é"))
    writer.seal(removed={"TextRedactor": {"email": 2}}, dropped={"mouse_move": 3})
    [ref] = list_chunks(tmp_path / "sessions")
    stored = read_meta(ref, [pyrage.x25519.Identity.from_str(pair.secret)])
    manifest = json.loads(stored)
    assert stored.isascii()
    assert stored == canonical_json(manifest) == _old_chunk_form(manifest)
    record = heads_path(tmp_path / "sessions").read_bytes().rstrip(b"\n")
    assert record == canonical_json(json.loads(record)) == _old_chunk_form(json.loads(record))


def test_policy_and_ledger_bytes_are_kept() -> None:
    """The form the fleet policy and the ledger sign: sorted, no spaces, escaped."""
    value = {"b": [1, 2.5, None, True], "a": "Sécurité sociale ✓", "c": {"z": 1, "y": ""}}
    assert canonical_json(value) == (
        b'{"a":"S\\u00e9curit\\u00e9 sociale \\u2713","b":[1,2.5,null,true],"c":{"y":"","z":1}}'
    )
    parsed = json.loads(canonical_json(value))
    assert canonical_json(parsed) == canonical_json(value)  # round-trips: hashes recompute


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_manifest_with_nan_is_refused_not_signed(bad: float) -> None:
    """NaN has no JSON form: a forged manifest carrying one fails as ValueError, which
    every verifier turns into 'does not verify' (the old form signed the word NaN)."""
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_json({"start_ts": bad})


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS refuses non-UTF-8 names")
def test_a_session_folder_named_in_undecodable_bytes_does_not_stop_the_writer(
    tmp_path: Path,
) -> None:
    """Attack: a folder whose name is not UTF-8, holding a .chunk, planted in sessions/.

    With the head record missing the writer lists every session with chunks in its
    signed reset; the old UTF-8 form raised UnicodeEncodeError on the name (a surrogate)
    and the seal failed after the chunk was written. Escaped, the record is written and
    verifies, naming the planted folder for `verify` to report."""
    sessions = tmp_path / "sessions"
    planted = Path(os.fsdecode(bytes(sessions) + b"/\xff\xfeplanted"))
    planted.mkdir(parents=True)
    (planted / "000000.chunk").write_bytes(b"not a chunk")
    pair = generate_age_identity()
    key = Ed25519PrivateKey.generate()
    writer = _writer(sessions, key, pair.public)
    writer.add(0, Marker(ts=1.0, mono=1.0, kind="started"))
    assert writer.seal() is not None
    record, problem = read_heads(sessions, {public_key_text(key.public_key()): key.public_key()})
    assert problem is None and record is not None
    assert record.reset is not None and planted.name in record.reset.sessions
    assert heads_path(sessions).read_bytes().isascii()

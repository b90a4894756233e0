"""The chunk writer: rotation, round trip, permissions, interop with the stock age CLI."""

from __future__ import annotations

import io
import itertools
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from capture.events import Frame, Key, Marker, MouseMove
from storage.chunk import EVENTS, MANIFEST, session_anchor
from storage.keys import (
    AgeKeyPair,
    generate_age_identity,
    generate_signing_key,
    load_age_identity,
    load_signing_key,
    write_age_identity,
)
from storage.reader import list_chunks, read_chunk, read_manifest
from storage.writer import ChunkWriter

CANARY = "zebra-quartz-canary-7731"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys(tmp_path: Path) -> tuple[AgeKeyPair, AgeKeyPair, Path]:
    org, person = generate_age_identity(), generate_age_identity()
    write_age_identity(tmp_path / "org.agekey", org, "test organisation")
    generate_signing_key(tmp_path / "sign.pem")
    return org, person, tmp_path


def make_writer(
    keys: tuple[AgeKeyPair, AgeKeyPair, Path], clock: FakeClock | None = None, **kw: Any
) -> ChunkWriter:
    org, person, folder = keys
    return ChunkWriter(
        folder / "sessions",
        "dev-1",
        "sess-1",
        [org.public, person.public],
        load_signing_key(folder / "sign.pem"),
        clock=clock or FakeClock(),
        **kw,
    )


def typed(text: str, start: float = 1.0) -> list[Key]:
    return [
        Key(ts=start + i, mono=start + i, key=c, pressed=True, char=c) for i, c in enumerate(text)
    ]


def test_round_trip_with_either_identity(keys: tuple[AgeKeyPair, AgeKeyPair, Path]) -> None:
    writer = make_writer(keys)
    for seq, event in enumerate(typed("hi")):
        writer.add(seq, event)
    writer.add(2, Frame(ts=5.0, mono=5.0, width=2, height=1, image=b"RIFFfakewebp"))
    sealed = writer.seal()
    assert sealed is not None and sealed.events == 3 and sealed.frames == 1
    _org, person, folder = keys
    import pyrage

    for identity in (
        load_age_identity(folder / "org.agekey"),
        pyrage.x25519.Identity.from_str(person.secret),
    ):
        chunk = read_chunk(list_chunks(folder / "sessions")[0], [identity])
        records = list(chunk.events())
        assert [r.get("char") for r in records[:2]] == ["h", "i"]
        assert records[2]["file"] in chunk.members
        assert chunk.members[records[2]["file"]] == b"RIFFfakewebp"
        assert chunk.manifest["prev_manifest_sha256"] == session_anchor("dev-1", "sess-1")
        assert chunk.manifest["counts"] == {"key": 2, "frame": 1}
        assert chunk.manifest["max_sensitivity"] == 2


def test_rotation_by_time_and_size(keys: tuple[AgeKeyPair, AgeKeyPair, Path]) -> None:
    clock = FakeClock()
    writer = make_writer(keys, clock, max_seconds=30.0, max_bytes=2000)
    assert not writer.due()  # nothing to seal
    writer.add(0, MouseMove(ts=1.0, mono=1.0, x=1, y=1))
    clock.now += 29.9
    assert not writer.due()
    clock.now += 0.2
    assert writer.due()
    assert writer.seal() is not None
    seq = 1
    while not writer.due():
        writer.add(seq, MouseMove(ts=2.0, mono=2.0, x=seq, y=seq))
        seq += 1
    assert writer.pending_bytes >= 2000
    assert writer.seal() is not None
    assert [r.seq for r in list_chunks(keys[2] / "sessions")] == [0, 1]


def test_chunks_chain_to_previous_manifest(keys: tuple[AgeKeyPair, AgeKeyPair, Path]) -> None:
    import hashlib

    writer = make_writer(keys)
    for seq in range(3):
        writer.add(seq, Marker(ts=float(seq), mono=float(seq), kind="test"))
        writer.seal()
    identity = load_age_identity(keys[2] / "org.agekey")
    chunks = [read_chunk(ref, [identity]) for ref in list_chunks(keys[2] / "sessions")]
    for before, after in itertools.pairwise(chunks):
        assert (
            after.manifest["prev_manifest_sha256"]
            == hashlib.sha256(before.manifest_bytes).hexdigest()
        )


def test_files_are_private_and_hold_no_plaintext(keys: tuple[AgeKeyPair, AgeKeyPair, Path]) -> None:
    writer = make_writer(keys)
    for seq, event in enumerate(typed(CANARY)):
        writer.add(seq, event)
    writer.seal()
    session = keys[2] / "sessions" / "sess-1"
    assert stat.S_IMODE(session.stat().st_mode) == 0o700
    files = list(session.iterdir())
    assert {p.suffix for p in files} == {".chunk", ".meta"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = path.read_bytes()
        assert data.startswith(b"age-encryption.org/v1\n")
        assert CANARY.encode() not in data


def test_listing_reads_the_small_metadata_record(keys: tuple[AgeKeyPair, AgeKeyPair, Path]) -> None:
    writer = make_writer(keys)
    writer.add(0, MouseMove(ts=1.0, mono=1.0, x=1, y=1))
    writer.seal()
    ref = list_chunks(keys[2] / "sessions")[0]
    identity = load_age_identity(keys[2] / "org.agekey")
    ref.path.write_bytes(b"age-encryption.org/v1\ncorrupt")  # proves the chunk is not read
    assert read_manifest(ref, [identity])["events"] == 1
    ref.meta_path.unlink()  # without the record it falls back to the (now corrupt) chunk
    from storage.errors import IntegrityError

    with pytest.raises(IntegrityError):
        read_manifest(ref, [identity])


def test_stock_age_cli_decrypts_and_unzip_opens(
    keys: tuple[AgeKeyPair, AgeKeyPair, Path], tmp_path: Path
) -> None:
    for tool in ("age", "unzip"):
        assert shutil.which(tool), f"{tool} is required (make test installs it)"
    writer = make_writer(keys)
    for seq, event in enumerate(typed("ok")):
        writer.add(seq, event)
    sealed = writer.seal()
    assert sealed is not None
    plain = tmp_path / "chunk.zip"
    subprocess.run(
        ["age", "-d", "-i", str(keys[2] / "org.agekey"), "-o", str(plain), str(sealed.path)],
        check=True,
        timeout=30,
    )
    listing = subprocess.run(
        ["unzip", "-l", str(plain)], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert MANIFEST in listing and EVENTS in listing
    with zipfile.ZipFile(io.BytesIO(plain.read_bytes())) as archive:
        assert b'"char":"o"' in archive.read(EVENTS)

"""Property tests: whatever bytes the reader is given, it fails only with IntegrityError."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import pyrage
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture.events import Key
from storage.chunk import open_zip, parse_manifest
from storage.errors import FormatError, IntegrityError
from storage.reader import AGE_MAGIC, Chunk, open_chunk_bytes
from storage.writer import ChunkWriter

IDENTITY = pyrage.x25519.Identity.generate()
RECIPIENT = IDENTITY.to_public()
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _read(data: bytes) -> Chunk | None:
    """Open ``data`` as a chunk; None when it is rejected with the project's own error."""
    try:
        chunk = open_chunk_bytes(data, [IDENTITY], "chunk")
        list(chunk.events())
        return chunk
    except IntegrityError:
        return None


@given(st.binary(max_size=4096))
@SETTINGS
def test_arbitrary_bytes(data: bytes) -> None:
    assert _read(data) is None


@given(st.binary(max_size=2048))
@SETTINGS
def test_arbitrary_bytes_after_the_age_magic(data: bytes) -> None:
    assert _read(AGE_MAGIC + data) is None


@given(st.binary(max_size=4096))
@SETTINGS
def test_arbitrary_plaintext_correctly_encrypted(data: bytes) -> None:
    # Someone who knows the (public) recipient can encrypt anything: the zip and manifest
    # layers must hold on their own.
    assert _read(pyrage.encrypt(data, [RECIPIENT])) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "format",
                "version",
                "device",
                "session",
                "seq",
                "members",
                "prev_manifest_sha256",
                "signature",
            ]
        ),
        json_values,
    ),
    # Names zipfile itself can write (a NUL truncates the name and zipfile fails).
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_.-][A-Za-z0-9_./-]{0,19}", fullmatch=True),
        st.binary(max_size=200),
        max_size=4,
    ),
)
@SETTINGS
def test_arbitrary_manifests_and_members_in_a_real_zip(
    manifest: dict[str, object], members: dict[str, bytes]
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            if name != "manifest.json":
                archive.writestr(name, data)
    with contextlib.suppress(IntegrityError):
        open_zip(buffer.getvalue())


@given(st.binary(max_size=2048))
@SETTINGS
def test_arbitrary_manifest_bytes(data: bytes) -> None:
    with pytest.raises(FormatError):
        parse_manifest(data)


@pytest.fixture(scope="module")
def valid_chunk(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = tmp_path_factory.mktemp("chunk")
    writer = ChunkWriter(folder, "dev", "s", [str(RECIPIENT)], Ed25519PrivateKey.generate())
    for seq, c in enumerate("hello"):
        writer.add(seq, Key(ts=float(seq), mono=float(seq), key=c, pressed=True, char=c))
    sealed = writer.seal()
    assert sealed is not None
    return sealed.path.read_bytes()


@given(data=st.data())
@SETTINGS
def test_mutated_valid_chunk(valid_chunk: bytes, data: st.DataObject) -> None:
    assert _read(valid_chunk) is not None
    mutated = bytearray(valid_chunk)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        mutated[at] ^= data.draw(st.integers(1, 255))  # never a no-op
    cut = data.draw(st.integers(0, len(mutated)))
    assert _read(bytes(mutated[:cut])) is None

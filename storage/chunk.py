"""The chunk format: an age file whose plaintext is a zip of manifest, events and frames.

    <seq>.chunk = age( zip{ manifest.json, events.jsonl, frames/<n>.webp ... } )
    <seq>.meta  = age( manifest.json )          small copy, so listing needs no big decrypt

The manifest binds the chunk to its device, session and position: it holds the SHA-256
of every member, the hash of the previous chunk's manifest (the first chunk of a session
anchors to a session-start value), and an Ed25519 signature by the device key over all
of that. Readers check the format name and version and member sizes before trusting any
content. See docs/FORMAT.md.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from storage.errors import FormatError, MemberError, SignatureError

FORMAT_NAME = "capture-agent/chunk"
FORMAT_VERSION = 3
"""Written by this version. 3: a frame's image may be stored in horizontal bands (its
record lists the members below ``file`` in ``bands``); 2: a frame may hold only the
region that changed (its record says ``key``, ``x``, ``y``, ``number``, ``base``); 1:
every frame is whole."""
READABLE_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
FRAMES_DIR = "frames/"
CHUNK_SUFFIX = ".chunk"
META_SUFFIX = ".meta"

# Bounds checked before anything is decompressed or parsed: a hostile or corrupted
# chunk must not make the reader allocate without limit.
MAX_MANIFEST_BYTES = 1 << 20
MAX_MEMBER_BYTES = 1 << 30
MAX_MEMBERS = 100_000
# Checked on the ciphertext's file size, before a byte is decrypted.
MAX_CHUNK_BYTES = 2 << 30
MAX_META_BYTES = MAX_MANIFEST_BYTES + 4096


def canonical_json(value: Any) -> bytes:
    """The one byte form that is hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def session_anchor(device: str, session: str) -> str:
    """The 'previous manifest hash' of a session's first chunk."""
    return hashlib.sha256(f"{FORMAT_NAME}/session-start\n{device}\n{session}".encode()).hexdigest()


def manifest_hash(manifest_bytes: bytes) -> str:
    """The hash the next chunk's manifest chains to."""
    return hashlib.sha256(manifest_bytes).hexdigest()


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return ``manifest`` with an Ed25519 ``signature`` over its canonical form."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    signature = key.sign(canonical_json(unsigned))
    return {**unsigned, "signature": base64.b64encode(signature).decode("ascii")}


def check_signature(manifest: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    """Raise IntegrityError unless ``manifest`` carries a valid signature by ``public_key``."""
    signature = manifest.get("signature")
    if not isinstance(signature, str):
        raise SignatureError("manifest has no signature")
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    try:
        public_key.verify(base64.b64decode(signature, validate=True), canonical_json(unsigned))
    except (InvalidSignature, ValueError):
        raise SignatureError(
            "manifest signature does not verify with the pinned device key "
            "(the manifest was altered or signed by another key)"
        ) from None


# Deflate level for events.jsonl. Measured on the benchmark's event mix (docs/
# PERFORMANCE.md): level 6 costs 1.3 µs and 8.1 bytes an event, levels 1 and 2 both
# 0.36 µs, with 10.7 and 10.2 bytes. Deflate was ~17 % of the pipeline's time at level
# 6; the extra ~2 bytes an event are a few percent of a chunk next to its frames.
EVENTS_DEFLATE_LEVEL = 2


def build_zip(manifest_bytes: bytes, members: list[tuple[str, bytes]]) -> bytes:
    """The chunk's plaintext: manifest first, then members (events deflated, images stored).

    Built in memory only: plaintext never touches the disk.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_info(MANIFEST), manifest_bytes, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in members:
            method = zipfile.ZIP_STORED if name.startswith(FRAMES_DIR) else zipfile.ZIP_DEFLATED
            archive.writestr(
                _info(name), data, compress_type=method, compresslevel=EVENTS_DEFLATE_LEVEL
            )
    return buffer.getvalue()


def _info(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp and mode: the archive says nothing the manifest does not.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o600 << 16
    return info


def member_digest(data: bytes) -> dict[str, Any]:
    """What the manifest records of one member."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def parse_manifest(data: bytes) -> dict[str, Any]:
    """Parse manifest bytes, checking format name and version before anything else."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise FormatError(f"manifest is {len(data)} bytes, above the {MAX_MANIFEST_BYTES} limit")
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise FormatError("manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise FormatError("not a capture-agent chunk manifest")
    version = manifest.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        *rest, last = (str(v) for v in READABLE_VERSIONS)
        readable = f"{', '.join(rest)} and {last}" if rest else last
        raise FormatError(
            f"chunk format version {version!r} is not supported by this reader "
            f"(it reads versions {readable}); upgrade capture-agent"
        )
    for key, kind in (
        ("device", str),
        ("session", str),
        ("seq", int),
        ("members", dict),
        ("prev_manifest_sha256", str),
    ):
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise FormatError(f"manifest field {key!r} is missing or malformed")
    if manifest["seq"] < 0:
        raise FormatError("manifest field 'seq' is negative")
    return manifest


def open_zip(plaintext: bytes) -> tuple[dict[str, Any], bytes, dict[str, bytes]]:
    """Open a decrypted chunk: (manifest, manifest bytes, members), all hashes checked."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(plaintext))
        infos = archive.infolist()
    except Exception:  # BadZipFile, struct.error, NotImplementedError...: all mean "not a zip"
        raise FormatError("chunk plaintext is not a valid zip archive") from None
    with archive:
        if len(infos) > MAX_MEMBERS:
            raise FormatError(f"chunk has {len(infos)} members, above the limit")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise MemberError("chunk has duplicate member names")
        if MANIFEST not in names:
            raise FormatError("chunk has no manifest.json")
        manifest_bytes = _read_member(archive, MANIFEST, MAX_MANIFEST_BYTES)
        manifest = parse_manifest(manifest_bytes)
        listed: dict[str, Any] = manifest["members"]
        extra = set(names) - set(listed) - {MANIFEST}
        if extra:
            raise MemberError(f"chunk holds {len(extra)} member(s) the manifest does not list")
        members: dict[str, bytes] = {}
        for name, digest in listed.items():
            if name not in names:
                raise MemberError(f"member {name} listed in the manifest is missing")
            if not isinstance(digest, dict) or not isinstance(digest.get("size"), int):
                raise FormatError(f"manifest entry for {name} is malformed")
            size = digest["size"]
            if size < 0 or size > MAX_MEMBER_BYTES:
                raise FormatError(f"member {name} claims an impossible size")
            data = _read_member(archive, name, size)
            if len(data) != size or hashlib.sha256(data).hexdigest() != digest.get("sha256"):
                raise MemberError(f"member {name} does not match its SHA-256 in the manifest")
            members[name] = data
    return manifest, manifest_bytes, members


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit or info.file_size < 0:
        raise FormatError(f"member {name} is larger than expected")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError):
        raise MemberError(f"member {name} is corrupt") from None
    except Exception as exc:  # zlib.error and friends: corrupt compressed data
        raise MemberError(f"member {name} is corrupt ({type(exc).__name__})") from None
    if len(data) > limit:
        raise FormatError(f"member {name} is larger than expected")
    return data

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
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from storage.canonical import canonical_json
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
# chunk must not make the reader allocate without limit (docs/FORMAT.md, "Reading with
# bounded memory"). A chunk holds at most [storage] chunk_max_bytes (<= 1e9) of
# plaintext plus the one event that crossed it, so these caps never refuse a real one.
MAX_MANIFEST_BYTES = 1 << 20
MAX_MEMBER_BYTES = 1 << 30
MAX_INFLATED_BYTES = 1_200_000_000  # all members of one chunk, as the manifest declares
MAX_MEMBERS = 100_000
# Checked on the ciphertext's file size, before a byte is decrypted.
MAX_CHUNK_BYTES = MAX_INFLATED_BYTES + (64 << 20)
READ_BLOCK = 1 << 20  # members are inflated and hashed this many bytes at a time
MEMBER_NAME = re.compile(r"events\.jsonl|frames/[0-9]{1,20}(?:\.[0-9]{1,6})?\.webp")
"""The only member names a chunk may hold besides manifest.json (see frame_record)."""
MAX_META_BYTES = MAX_MANIFEST_BYTES + 4096


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


# Deflate level for events.jsonl: a quarter of level 6's CPU for a few percent more
# bytes a chunk (docs/PERFORMANCE.md, Figures behind choices in the code).
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


class OpenedZip:
    """A decrypted chunk's zip with its directory checked and its manifest parsed.

    Nothing but the manifest has been inflated yet: a reader checks the manifest's
    signature (and, for export, that it is the one `verify` passed) before calling
    ``read_members``, so the sizes that bound inflation are signed ones.
    """

    def __init__(self, plaintext: bytes) -> None:
        _check_entry_count(plaintext)
        try:  # zipfile reads the directory only; members are inflated by _inflate
            with zipfile.ZipFile(io.BytesIO(plaintext)) as archive:
                infos = archive.infolist()
        except Exception:  # BadZipFile, struct.error, NotImplementedError...: all mean "not a zip"
            raise FormatError("chunk plaintext is not a valid zip archive") from None
        self.plaintext = plaintext
        self._infos = _check_directory(infos)
        parts: list[bytes] = []
        _inflate(plaintext, self._infos[MANIFEST], MAX_MANIFEST_BYTES, parts.append, False)
        self.manifest_bytes = b"".join(parts)
        self.manifest = parse_manifest(self.manifest_bytes)
        self._sizes = _declared_sizes(self.manifest, self._infos)

    def read_members(self, keep: bool = True) -> dict[str, bytes]:
        """Inflate and hash-check every listed member, streaming, within the declared sizes.

        With ``keep`` False only the hashes are checked and nothing is kept (``verify``):
        memory stays at one read block whatever the chunk holds.
        """
        listed: dict[str, Any] = self.manifest["members"]
        members: dict[str, bytes] = {}
        for name, size in self._sizes.items():
            digest = hashlib.sha256()
            parts: list[bytes] = []

            def sink(block: bytes, parts: list[bytes] = parts, digest: Any = digest) -> None:
                digest.update(block)
                if keep:
                    parts.append(block)

            # The per-chunk cap holds too: the declared sizes were summed before a byte
            # was inflated, and each member stops at its own.
            _inflate(self.plaintext, self._infos[name], size, sink)
            if digest.hexdigest() != listed[name].get("sha256"):
                raise MemberError(f"member {name} does not match its SHA-256 in the manifest")
            if keep:
                members[name] = b"".join(parts)
        return members


def open_zip(plaintext: bytes) -> tuple[dict[str, Any], bytes, dict[str, bytes]]:
    """Open a decrypted chunk: (manifest, manifest bytes, members), all hashes checked.

    Checks no signature: for callers that trust the manifest by other means. Every
    bound still holds (member count, names, declared sizes, streamed inflation).
    """
    opened = OpenedZip(plaintext)
    return opened.manifest, opened.manifest_bytes, opened.read_members()


_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def _check_entry_count(plaintext: bytes) -> None:
    """Refuse a zip whose directory claims too many entries, before zipfile parses it.

    zipfile builds one object of several hundred bytes per 46-byte directory entry: a
    directory of millions of entries would cost gigabytes before any other check ran.
    """
    at = plaintext.rfind(_EOCD, max(0, len(plaintext) - 22 - 0xFFFF))
    if at < 0 or at + 22 > len(plaintext):
        raise FormatError("chunk plaintext is not a valid zip archive")
    entries = int.from_bytes(plaintext[at + 10 : at + 12], "little")
    if entries == 0xFFFF and at >= 20 and plaintext[at - 20 : at - 16] == _ZIP64_LOCATOR:
        offset = int.from_bytes(plaintext[at - 12 : at - 4], "little")
        record = plaintext[offset : offset + 56]
        if len(record) < 56 or record[:4] != _ZIP64_EOCD:
            raise FormatError("chunk plaintext is not a valid zip archive")
        entries = int.from_bytes(record[32:40], "little")
    if entries > MAX_MEMBERS:
        raise FormatError(f"chunk has {entries} members, above the {MAX_MEMBERS} limit")


def _check_directory(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The zip's entries by name, after the checks that need no inflating."""
    if len(infos) > MAX_MEMBERS:
        raise FormatError(f"chunk has {len(infos)} members, above the {MAX_MEMBERS} limit")
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name != MANIFEST and not MEMBER_NAME.fullmatch(name):
            raise MemberError(f"chunk holds a member named {name[:80]!r}, which no chunk has")
        if name in by_name:
            raise MemberError(f"chunk has duplicate member names ({name})")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FormatError(f"member {name} uses a compression this reader does not accept")
        if info.flag_bits & 0x1:
            raise FormatError(f"member {name} is zip-encrypted")
        by_name[name] = info
    if MANIFEST not in by_name:
        raise FormatError("chunk has no manifest.json")
    return by_name


def _declared_sizes(manifest: dict[str, Any], infos: dict[str, zipfile.ZipInfo]) -> dict[str, int]:
    """Each member's size as the manifest declares it, checked against caps and the zip."""
    listed: dict[str, Any] = manifest["members"]
    extra = set(infos) - set(listed) - {MANIFEST}
    if extra:
        raise MemberError(f"chunk holds {len(extra)} member(s) the manifest does not list")
    if len(listed) > MAX_MEMBERS:
        raise FormatError(f"manifest lists {len(listed)} members, above the {MAX_MEMBERS} limit")
    sizes: dict[str, int] = {}
    total = 0
    for name, digest in listed.items():
        if name not in infos:
            raise MemberError(f"member {name[:80]} listed in the manifest is missing")
        if not isinstance(digest, dict) or not isinstance(digest.get("size"), int):
            raise FormatError(f"manifest entry for {name} is malformed")
        size = digest["size"]
        if isinstance(size, bool) or size < 0 or size > MAX_MEMBER_BYTES:
            raise FormatError(f"member {name} claims an impossible size ({size} bytes)")
        total += size
        if total > MAX_INFLATED_BYTES:
            raise FormatError(
                f"members declare more than {MAX_INFLATED_BYTES} bytes in all, above the "
                "per-chunk limit"
            )
        header = infos[name].file_size
        if header > size:
            raise MemberError(f"member {name} inflates past its declared size")
        if header < size:
            raise MemberError(f"member {name} is shorter than its declared size")
        sizes[name] = size
    return sizes


def _inflate(
    plaintext: bytes,
    info: zipfile.ZipInfo,
    limit: int,
    sink: Callable[[bytes], object],
    exact: bool = True,
) -> int:
    """Stream one member into ``sink``; stop as soon as it passes ``limit`` bytes.

    Inflated here, not by zipfile: zipfile stops silently at the directory's size and
    reports a longer stream as a CRC error, while this says what happened whatever the
    directory claims. With ``exact`` the member must also reach ``limit`` (its declared
    size). Returns the number of bytes read.
    """
    name = info.filename
    if info.file_size > limit:
        raise MemberError(f"member {name} inflates past its declared size")
    data = _stored_bytes(plaintext, info)
    read = 0

    def emit(block: bytes) -> None:
        nonlocal read
        read += len(block)
        if read > limit:
            raise MemberError(f"member {name} inflates past its declared size")
        sink(block)

    if info.compress_type == zipfile.ZIP_STORED:
        for at in range(0, len(data), READ_BLOCK):
            emit(bytes(data[at : at + READ_BLOCK]))
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        fed = 0
        pending = b""
        try:
            while not inflater.eof:
                if not pending and fed < len(data):
                    pending = bytes(data[fed : fed + READ_BLOCK])
                    fed += len(pending)
                # At most one block of output per call, whatever the input holds.
                block = inflater.decompress(pending, READ_BLOCK)
                pending = inflater.unconsumed_tail
                if block:
                    emit(block)
                elif not pending and fed >= len(data):
                    break  # no input left and nothing more comes out
        except zlib.error:
            raise MemberError(f"member {name} is corrupt (bad deflate data)") from None
        if not inflater.eof:
            raise MemberError(f"member {name} is corrupt (its deflate stream is cut short)")
    if exact and read != limit:
        raise MemberError(f"member {name} is shorter than its declared size")
    return read


def _stored_bytes(plaintext: bytes, info: zipfile.ZipInfo) -> memoryview:
    """A member's bytes as stored (compressed), located through its local header."""
    at = info.header_offset
    header = plaintext[at : at + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise MemberError(f"member {info.filename} is corrupt (no local header)")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = at + 30 + name_length + extra_length
    end = start + info.compress_size
    if end > len(plaintext):
        raise MemberError(f"member {info.filename} is corrupt (cut short)")
    return memoryview(plaintext)[start:end]

"""Zip bombs built with public keys only: every reader refuses them in bounded memory.

The attacker knows the format and the recipients (both public), so can build a chunk
whose zip holds three members of 1 GiB of zeros, deflated to about 1 MiB each, and
encrypt it to the recipients. `verify`, `export` and `org verify` must refuse it with a
clear line and exit 1, and their peak RSS must stay far below what inflating would cost.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from storage.canonical import canonical_json
from storage.chunk import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_MEMBERS,
    open_zip,
    session_anchor,
    sign_manifest,
)
from storage.errors import FormatError, MemberError
from storage.keys import public_key_text
from tests.cli_helpers import cli_env, run_cli

GIB = 1 << 30
MIB = 1 << 20
BOMB_MEMBERS = ("events.jsonl", "frames/000000001.webp", "frames/000000002.webp")
RSS_BOUND_KB = 300 * 1024  # ru_maxrss is in KiB on Linux
DEVICE = "dev-a"
SESSION = "S1"


def _zeros_deflated(size: int) -> bytes:
    """``size`` zero bytes as a raw deflate stream, built without holding them.

    One MiB is compressed with a full flush (no reference reaches back past it), so the
    same bytes can be repeated; an empty final block closes the stream.
    """
    assert size % MIB == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    return piece * (size // MIB) + final


def _zeros_digests(size: int) -> tuple[int, str]:
    crc, sha = 0, hashlib.sha256()
    block = bytes(MIB)
    for _ in range(size // MIB):
        crc = zlib.crc32(block, crc)
        sha.update(block)
    return crc, sha.hexdigest()


def _zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written by hand: (name, stored bytes, method, crc, size the header claims)."""
    body, directory = bytearray(), bytearray()
    for name, data, method, crc, size in entries:
        raw = name.encode()
        offset = len(body)
        body += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0
        )
        body += raw + data
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0,
            method,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(raw),
            0,
            0,
            0,
            0,
            0o600 << 16,
            offset,
        )
        directory += raw
    count, end = len(entries), b""
    if count > 0xFFFF:  # the count lives in a zip64 end record
        at = len(body) + len(directory)
        end = struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), len(body)
        )
        end += struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
        count = 0xFFFF
    end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body + directory + end)


@pytest.fixture(scope="module")
def zeros() -> tuple[bytes, int, str]:
    """1 GiB of zeros: its deflate stream (~1 MiB), CRC-32 and SHA-256."""
    crc, sha = _zeros_digests(GIB)
    return _zeros_deflated(GIB), crc, sha


def bomb_plaintext(
    zeros: tuple[bytes, int, str],
    declared: int,
    header: int,
    signer: Ed25519PrivateKey,
    names: tuple[str, ...] = BOMB_MEMBERS,
) -> bytes:
    """The attacker's zip: 1 GiB members; the manifest and zip headers claim sizes."""
    stream, crc, sha = zeros
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "device": DEVICE,
        "session": SESSION,
        "seq": 0,
        "start_ts": 1.0,
        "end_ts": 2.0,
        "events": 1,
        "frames": 2,
        "members": {name: {"sha256": sha, "size": declared} for name in names},
        "prev_manifest_sha256": session_anchor(DEVICE, SESSION),
        "signing_key": public_key_text(signer.public_key()),
    }
    manifest_bytes = canonical_json(sign_manifest(manifest, signer))
    entries = [
        ("manifest.json", manifest_bytes, 0, zlib.crc32(manifest_bytes), len(manifest_bytes))
    ]
    entries += [(name, stream, 8, crc, header) for name in names]
    return _zip(entries)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home made by `init`: the attacker reads its public recipients only."""
    home = tmp_path_factory.mktemp("bomb") / "home"
    done = run_cli(home, "init", "--device-id", DEVICE)
    assert done.returncode == 0, done.stderr
    return home


def plant(home: Path, plaintext: bytes) -> Path:
    """Encrypt ``plaintext`` to the home's public recipients and store it as chunk 0."""
    recipients = [
        pyrage.x25519.Recipient.from_str(r)
        for r in load_config(home / "config.toml").recipient_keys()
    ]
    folder = home / "data" / "sessions" / SESSION
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "000000.chunk"
    path.write_bytes(pyrage.encrypt(plaintext, recipients))
    return path


def measured(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run a CLI command through a small parent that reports the command's peak RSS (KiB)."""
    script = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + '\\n')\n"
        "sys.stdout.write(done.stdout)\n"
        "sys.stderr.write(done.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, sys.executable, "-m", "agent.cli.main", *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    first, _, rest = done.stdout.partition("\n")
    return subprocess.CompletedProcess(done.args, done.returncode, rest, done.stderr), int(first)


def _org_verify(
    home: Path, store: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], int]:
    return measured(
        home,
        "org",
        "verify",
        "--folder",
        str(store),
        "--org",
        "acme",
        "--identity",
        str(home / "keys" / "demo-organisation.agekey"),
        "--json",
        *extra,
    )


@pytest.mark.parametrize(
    ("names", "kind"),
    [(BOMB_MEMBERS, "format"), (BOMB_MEMBERS[:1], "foreign_key")],
    ids=["3-GiB-past-the-chunk-cap", "1-GiB-within-the-caps"],
)
def test_bomb_signed_by_the_attacker_is_refused_in_bounded_memory(
    home: Path,
    tmp_path: Path,
    zeros: tuple[bytes, int, str],
    names: tuple[str, ...],
    kind: str,
) -> None:
    # Honest sizes and hashes, a valid signature by the attacker's own key. Three GiB
    # are refused by the per-chunk cap on the declared sizes; one GiB fits the caps and
    # is refused because the pinned key did not sign it: never inflated either way.
    plaintext = bomb_plaintext(zeros, GIB, GIB, Ed25519PrivateKey.generate(), names)
    assert len(plaintext) < 4 * MIB
    path = plant(home, plaintext)

    done, rss = measured(home, "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"PROBLEM [{kind}] {path}" in done.stdout
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert rss < RSS_BOUND_KB, f"verify peaked at {rss} KiB"

    done, rss = measured(home, "export")
    assert done.returncode == 1 and done.stdout == ""
    assert f"[{kind}]" in done.stderr and "Traceback" not in done.stderr
    assert rss < RSS_BOUND_KB, f"export peaked at {rss} KiB"

    # The organisation's side, with the device key given, then on first use (which pins
    # the key the attacker's manifest names: only the bounds stand then, and verify
    # streams the members through their hashes, keeping none).
    store = tmp_path / "store"
    (store / "acme" / DEVICE / SESSION).mkdir(parents=True)
    (store / "acme" / DEVICE / SESSION / "000000.chunk").write_bytes(path.read_bytes())
    pinned = json.loads(run_cli(home, "keys", "show", "--json").stdout)
    done, rss = _org_verify(
        home, store, "--device-key", f"{DEVICE}={pinned['device_signing_public_key']}"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert {p["kind"] for p in json.loads(done.stdout)["devices"][0]["problems"]} == {kind}
    assert rss < RSS_BOUND_KB, f"org verify peaked at {rss} KiB"
    done, rss = _org_verify(home, store)
    assert "Traceback" not in done.stderr and done.stdout.startswith("{"), done.stderr
    assert rss < RSS_BOUND_KB, f"org verify (first use) peaked at {rss} KiB"


def test_bomb_past_the_chunk_cap_is_refused_even_unverified(
    home: Path, zeros: tuple[bytes, int, str]
) -> None:
    path = plant(home, bomb_plaintext(zeros, GIB, GIB, Ed25519PrivateKey.generate()))
    done, rss = measured(home, "export", "--unverified")
    assert done.returncode == 1 and done.stdout == ""
    assert f"{path}: members declare more than" in done.stderr
    assert rss < RSS_BOUND_KB, f"export --unverified peaked at {rss} KiB"


@pytest.mark.parametrize("header", [GIB, 10], ids=["zip-header-honest", "zip-header-lies"])
def test_member_inflating_past_its_declared_size_is_one_clear_line(
    home: Path, zeros: tuple[bytes, int, str], header: int
) -> None:
    # The manifest declares 10 bytes a member; the stream holds 1 GiB. With the zip
    # header honest the sizes disagree before inflating; with it lying too, inflation
    # stops at byte 11.
    path = plant(home, bomb_plaintext(zeros, 10, header, Ed25519PrivateKey.generate()))
    done, rss = measured(home, "export", "--unverified")
    assert done.returncode == 1 and done.stdout == ""
    assert f"{path}: member events.jsonl inflates past its declared size" in done.stderr
    assert "--unverified" in done.stderr.splitlines()[0]
    assert "Traceback" not in done.stderr
    assert rss < RSS_BOUND_KB, f"export --unverified peaked at {rss} KiB"


def test_directory_checks_come_before_any_inflating(zeros: tuple[bytes, int, str]) -> None:
    stream, crc, _sha = zeros
    manifest = b"{}"
    base = [("manifest.json", manifest, 0, zlib.crc32(manifest), len(manifest))]
    with pytest.raises(MemberError, match="no chunk has"):
        open_zip(_zip([*base, ("../../etc/passwd", stream, 8, crc, GIB)]))
    with pytest.raises(MemberError, match="duplicate"):
        open_zip(_zip([*base, *[("events.jsonl", stream, 8, crc, GIB)] * 2]))
    many = [(f"frames/{n}.webp", b"", 0, 0, 0) for n in range(MAX_MEMBERS + 1)]
    with pytest.raises(FormatError, match="members, above the"):
        open_zip(_zip([*base, *many]))

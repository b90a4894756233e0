"""Readers that show data (export, view, trajectory, org pull) refuse what `verify` flags.

Each test is an attack on a real home (made by `init`, chunks sealed by the real writer
with the device key): a chunk forged with the public recipients only, files swapped,
duplicated, moved from another session, or a validly signed chunk spliced in from
another run. By default none of it is shown and the exit status is 1; ``--unverified``
shows it, saying so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from capture.events import Key
from storage.canonical import canonical_json
from storage.chunk import (
    EVENTS,
    FORMAT_NAME,
    FORMAT_VERSION,
    build_zip,
    member_digest,
    session_anchor,
    sign_manifest,
)
from storage.errors import IntegrityError
from storage.keys import (
    DEVICE_SIGNING_KEY,
    load_age_identity,
    load_signing_key,
    public_key_text,
)
from storage.trust import trusted_chunks
from storage.writer import ChunkWriter
from tests.cli_helpers import run_cli

DEVICE = "dev-a"
FORGED = "FORGEDKEYS"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    done = run_cli(home, "init", "--device-id", DEVICE)
    assert done.returncode == 0, done.stderr
    return home


def sessions(home: Path) -> Path:
    return home / "data" / "sessions"


def chunk_path(home: Path, session: str, seq: int, suffix: str = ".chunk") -> Path:
    return sessions(home) / session / f"{seq:06d}{suffix}"


def seal(
    home: Path, session: str, texts: list[str], folder: Path | None = None, device: str = DEVICE
) -> None:
    """One chunk per text, each key of it typed, sealed by the home's real device key."""
    config = load_config(home / "config.toml")
    writer = ChunkWriter(
        folder or sessions(home),
        device,
        session,
        config.recipient_keys(),
        load_signing_key(home / "keys" / DEVICE_SIGNING_KEY),
    )
    seq = 0
    for n, text in enumerate(texts):
        for char in text:
            ts = 1_700_000_000.0 + n * 10 + seq * 0.01
            writer.add(seq, Key(ts=ts, mono=ts, key=char, pressed=True, char=char))
            seq += 1
        assert writer.seal() is not None


def forge(home: Path, session: str, seq: int, signer: Ed25519PrivateKey | None) -> None:
    """What someone holding only the public recipients can write: fabricated keystrokes.

    The manifest is well formed and names the device's public signing key; it is left
    unsigned, or signed by a key that is not the device's.
    """
    config = load_config(home / "config.toml")
    device_public = public_key_text(
        load_signing_key(home / "keys" / DEVICE_SIGNING_KEY).public_key()
    )
    lines = [
        json.dumps({"seq": i, "type": "key", "ts": 1_700_000_500.0 + i, "key": c, "char": c})
        for i, c in enumerate(FORGED)
    ]
    events = ("\n".join(lines) + "\n").encode()
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "device": DEVICE,
        "session": session,
        "seq": seq,
        "start_ts": 1_700_000_500.0,
        "end_ts": 1_700_000_510.0,
        "events": len(lines),
        "frames": 0,
        "counts": {"key": len(lines)},
        "max_sensitivity": 0,
        "removed": {},
        "dropped": {},
        "members": {EVENTS: member_digest(events)},
        "prev_manifest_sha256": session_anchor(DEVICE, session),
        "signing_key": device_public,
    }
    signed = sign_manifest(manifest, signer) if signer is not None else manifest
    if signer is not None:
        signed["signing_key"] = device_public  # claims the device's key after signing
    manifest_bytes = canonical_json(signed)
    recipients = [pyrage.x25519.Recipient.from_str(r) for r in config.recipient_keys()]
    chunk_path(home, session, seq).parent.mkdir(parents=True, exist_ok=True)
    chunk_path(home, session, seq).write_bytes(
        pyrage.encrypt(build_zip(manifest_bytes, [(EVENTS, events)]), recipients)
    )
    chunk_path(home, session, seq, ".meta").write_bytes(pyrage.encrypt(manifest_bytes, recipients))


def typed(stdout: str) -> str:
    """The characters of every exported key event, in order."""
    return "".join(
        r.get("char") or "" for r in map(json.loads, stdout.splitlines()) if r["type"] == "key"
    )


def refused(home: Path, *args: str) -> str:
    """Run export (default: verified); assert exit 1 and return what it printed."""
    done = run_cli(home, "export", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.mark.parametrize(
    "signer", [None, Ed25519PrivateKey.generate()], ids=["unsigned", "resigned"]
)
def test_forged_chunk_is_not_exported(home: Path, signer: Ed25519PrivateKey | None) -> None:
    seal(home, "S1", ["hello", "world"])
    forge(home, "S1", 1, signer)  # replaces the real chunk 1
    done = run_cli(home, "export")
    assert done.returncode == 1
    assert FORGED not in done.stdout and typed(done.stdout) == "hello"
    line = next(x for x in done.stderr.splitlines() if "000001.chunk" in x)
    assert "skipped a chunk that cannot be trusted [signature]" in line, done.stderr
    # The trajectory format reads the same chunks.
    folded = run_cli(home, "export", "--format", "trajectory")
    assert folded.returncode == 1 and "FORGED" not in folded.stdout
    assert "hello" in folded.stdout
    # --unverified shows it, and says that nothing is verified.
    loose = run_cli(home, "export", "--unverified")
    assert loose.returncode == 0, loose.stderr
    assert typed(loose.stdout) == "hello" + FORGED
    assert "--unverified" in loose.stderr and "nothing shown is verified" in loose.stderr


def test_forged_first_chunk_of_a_new_session_is_not_exported(home: Path) -> None:
    seal(home, "S1", ["hello"])
    forge(home, "S2", 0, None)  # a whole session made up
    assert typed(refused(home)) == "hello"
    assert typed(refused(home, "--session", "S2")) == ""


def test_swapped_chunks_are_not_exported(home: Path) -> None:
    seal(home, "S1", ["aaa", "bbb", "ccc"])
    for suffix in (".chunk", ".meta"):
        a, b = chunk_path(home, "S1", 1, suffix), chunk_path(home, "S1", 2, suffix)
        tmp = a.with_name("swap")
        a.rename(tmp)
        b.rename(a)
        tmp.rename(b)
    assert typed(refused(home)) == "aaa"  # never "aaacccbbb"


def test_duplicated_chunk_is_exported_once(home: Path) -> None:
    seal(home, "S1", ["aaa", "bbb"])
    for suffix in (".chunk", ".meta"):
        shutil.copyfile(chunk_path(home, "S1", 1, suffix), chunk_path(home, "S1", 2, suffix))
    assert typed(refused(home)) == "aaabbb"


def test_chunk_moved_from_another_session_is_not_exported(home: Path) -> None:
    seal(home, "S1", ["aaa", "bbb"])
    seal(home, "S2", ["xxx", "yyy"])
    for suffix in (".chunk", ".meta"):
        shutil.copyfile(chunk_path(home, "S2", 1, suffix), chunk_path(home, "S1", 1, suffix))
    assert typed(refused(home, "--session", "S1")) == "aaa"


def test_chunk_from_another_device_is_not_exported(home: Path, tmp_path: Path) -> None:
    seal(home, "S1", ["aaa", "bbb"])
    other = tmp_path / "other"
    seal(home, "S1", ["xxx", "yyy"], folder=other, device="dev-b")  # same key, other device
    for suffix in (".chunk", ".meta"):
        shutil.copyfile(other / "S1" / f"000001{suffix}", chunk_path(home, "S1", 1, suffix))
    assert typed(refused(home)) == "aaa"


def test_validly_signed_chunk_spliced_from_another_run_is_not_exported(
    home: Path, tmp_path: Path
) -> None:
    seal(home, "S1", ["aaa", "bbb", "ccc"])
    other = tmp_path / "other"
    seal(home, "S1", ["xxx", "yyy", "zzz"], folder=other)  # same device, key and session id
    for suffix in (".chunk", ".meta"):
        shutil.copyfile(other / "S1" / f"000001{suffix}", chunk_path(home, "S1", 1, suffix))
    # Chunk 1 is out of chain, and so is chunk 2 (it follows the real chunk 1).
    assert typed(refused(home)) == "aaa"


def test_view_refuses_a_forged_chunk(home: Path, tmp_path: Path) -> None:
    seal(home, "S1", ["hello"])
    forge(home, "S1", 1, None)
    page = tmp_path / "page.html"
    done = run_cli(home, "view", "--no-open", "-o", str(page))
    assert done.returncode == 1, done.stderr
    assert "[signature]" in done.stderr and "Traceback" not in done.stderr
    assert FORGED not in page.read_text()
    assert "(session S1, 5 events" in done.stdout
    loose = run_cli(home, "view", "--no-open", "-o", str(page), "--unverified")
    assert loose.returncode == 0 and "--unverified" in loose.stderr
    assert "(session S1, 15 events" in loose.stdout


def test_org_pull_decrypts_no_forged_chunk(home: Path, tmp_path: Path) -> None:
    seal(home, "S1", ["hello"])
    forge(home, "S1", 1, None)
    store = tmp_path / "store" / "acme" / DEVICE / "S1"
    store.mkdir(parents=True)
    for path in (sessions(home) / "S1").iterdir():
        shutil.copyfile(path, store / path.name)
    key = run_cli(home, "keys", "show", "--json")
    pinned = json.loads(key.stdout)["device_signing_public_key"]
    out = tmp_path / "pulled"
    done = run_cli(
        home,
        "org",
        "pull",
        "--folder",
        str(tmp_path / "store"),
        "--org",
        "acme",
        "--identity",
        str(home / "keys" / "demo-organisation.agekey"),
        "--device-key",
        f"{DEVICE}={pinned}",
        "--out",
        str(out),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    pulled = (out / DEVICE / "S1" / "events.jsonl").read_text()
    assert typed(pulled) == "hello"
    assert [p.name for p in (out / DEVICE / "S1").glob("*.zip")] == ["000000.zip"]


def test_a_chunk_replaced_after_verify_is_refused_before_inflating(home: Path) -> None:
    seal(home, "S1", ["aaa", "bbb"])
    identities = [load_age_identity(home / "keys" / "demo-organisation.agekey")]
    pinned = [public_key_text(load_signing_key(home / "keys" / DEVICE_SIGNING_KEY).public_key())]
    chunks = trusted_chunks(sessions(home), identities, pinned, DEVICE)
    assert [r.seq for r in chunks.refs] == [0, 1] and chunks.problems == []
    # Between verify and the read, chunk 1 is swapped for chunk 0 (validly signed).
    shutil.copyfile(chunk_path(home, "S1", 0), chunk_path(home, "S1", 1))
    assert chunks.read(chunks.refs[0]).manifest["seq"] == 0
    with pytest.raises(IntegrityError, match="changed since it was verified"):
        chunks.read(chunks.refs[1])

"""Attacks on the home: links, other users' files and hard links put where the agent writes.

Someone with the person's uid plants ``HOME/agent.lock -> /etc/passwd`` (or a linked
``data/``, ``logs/``, ledger, key...) and waits for the agent, perhaps run as root, to
truncate, append to or chmod the target. Each attack checks one clear refusal naming the
path, and the target byte for byte and mode for mode as it was. Targets are sentinel
files in the test's own folder standing in for /etc.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.logsetup import setup_logging
from agent.runtime.daemon import home_lock
from consent.errors import LedgerError
from consent.ledger import Ledger
from storage import safe_fs
from storage.atomic import write_atomic
from storage.errors import StorageError, UnsafePath
from storage.keys import generate_age_identity, generate_signing_key, load_signing_key
from storage.writer import ChunkWriter
from tests.cli_helpers import CLI, ROOT, cli_env, run_cli

SECRET = b"root:x:0:0:root:/root:/bin/bash\n"
OTHER_UID = 12345
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="giving a file to another uid (chown) needs root"
)
# Files the agent writes or chmods under its home (relative to CAPTURE_AGENT_HOME).
FILES = [
    "agent.lock",
    "logs/agent.log",
    "consent-ledger.jsonl",
    "consent-ledger.jsonl.head",
    "consent-state.json",
    "status.json",
    "config.toml",
    "keys/device-signing.pem",
    "data/deletions.jsonl",
]
# Folders it creates or writes into.
FOLDERS = ["data", "data/sessions", "logs", "keys", "data/sessions/20260101T000000Z-abcdef"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised, opted-in home; each test works on a copy (init is slow)."""
    home = tmp_path_factory.mktemp("template") / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    (home / "data" / "sessions" / "20260101T000000Z-abcdef").mkdir(mode=0o700)
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(template, copy, symlinks=True)
    return copy


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the home holding a sentinel 'system file' (0644)."""
    folder = tmp_path / "etc"
    folder.mkdir()
    target = folder / "passwd"
    target.write_bytes(SECRET)
    target.chmod(0o644)
    folder.chmod(0o755)
    return folder


def snapshot(folder: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every entry under ``folder`` (itself included): content, mode, owner."""
    out: dict[str, tuple[bytes | None, int, int]] = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        st = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
        out[str(path.relative_to(folder))] = (data, stat.S_IMODE(st.st_mode), st.st_uid)
    return out


def replace_with_link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    err = done.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.jsonl"
    lines = [
        json.dumps({"type": "key", "t": 0.01 * i, "key": "a", "pressed": True, "char": "a"})
        for i in range(5)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- the daemon (and every command) refuses a home with a planted link -------------------


@pytest.mark.parametrize("rel", FILES)
def test_run_refuses_a_linked_file_and_leaves_its_target_alone(
    home: Path, outside: Path, tmp_path: Path, rel: str
) -> None:
    replace_with_link(home / rel, outside / "passwd")
    before = snapshot(outside)
    done = run_cli(home, "run", "--replay", str(trace(tmp_path)))
    err = one_line(done)
    assert done.returncode == 78, err
    assert f"{home / rel} is a symbolic link; remove it" in err
    assert snapshot(outside) == before


@pytest.mark.parametrize("rel", FOLDERS)
def test_run_refuses_a_linked_folder_and_writes_nothing_through_it(
    home: Path, outside: Path, tmp_path: Path, rel: str
) -> None:
    replace_with_link(home / rel, outside)
    before = snapshot(outside)
    done = run_cli(home, "run", "--replay", str(trace(tmp_path)))
    err = one_line(done)
    assert done.returncode == 78, err
    assert f"{home / rel} is a symbolic link; remove it" in err
    assert snapshot(outside) == before


@needs_root
@pytest.mark.parametrize("rel", ["agent.lock", "consent-ledger.jsonl", "logs/agent.log", "data"])
def test_run_refuses_a_file_or_folder_of_another_user(home: Path, tmp_path: Path, rel: str) -> None:
    path = home / rel
    if not path.exists():
        path.write_bytes(SECRET)
    path.chmod(0o755 if path.is_dir() else 0o644)
    os.chown(path, OTHER_UID, OTHER_UID)
    before = snapshot(path) if path.is_dir() else (path.read_bytes(), path.stat())
    done = run_cli(home, "run", "--replay", str(trace(tmp_path)))
    err = one_line(done)
    assert done.returncode == 78, err
    assert f"{path} is owned by another user (uid {OTHER_UID}" in err
    after = snapshot(path) if path.is_dir() else (path.read_bytes(), path.stat())
    assert after == before


def test_run_refuses_a_lock_hard_linked_to_a_system_file(
    home: Path, outside: Path, tmp_path: Path
) -> None:
    # As root, the owner check alone would pass a hard link to a root-owned file.
    lock = home / "agent.lock"
    lock.unlink(missing_ok=True)
    os.link(outside / "passwd", lock)
    before = snapshot(outside)
    done = run_cli(home, "run", "--replay", str(trace(tmp_path)))
    err = one_line(done)
    assert done.returncode == 78 and f"{lock} has 1 other hard link(s)" in err, err
    assert snapshot(outside) == before


def test_a_linked_ledger_is_refused_by_opt_out_too(home: Path, outside: Path) -> None:
    replace_with_link(home / "consent-ledger.jsonl", outside / "passwd")
    before = snapshot(outside)
    done = run_cli(home, "opt-out")
    assert done.returncode == 78 and "is a symbolic link" in one_line(done)
    assert snapshot(outside) == before


# -- init ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", ["keys", "data", "logs", "data/sessions"])
def test_init_refuses_a_planted_folder_link(tmp_path: Path, outside: Path, rel: str) -> None:
    home = tmp_path / "new-home"
    replace_with_link(home / rel, outside)
    before = snapshot(outside)
    done = run_cli(home, "init")
    err = one_line(done)
    assert done.returncode == 78, err
    assert f"{home / rel} is a symbolic link; remove it" in err
    assert snapshot(outside) == before


def test_init_replaces_a_dangling_config_link_and_never_creates_its_target(
    tmp_path: Path, outside: Path
) -> None:
    home = tmp_path / "new-home"
    home.mkdir()
    (home / "config.toml").symlink_to(outside / "created-by-agent")
    assert run_cli(home, "init").returncode == 0
    assert not (outside / "created-by-agent").exists()
    assert not (home / "config.toml").is_symlink()


# -- at the moment of use (a link swapped in after the start's checks) ----------------


def test_lock_through_a_link_is_refused_untouched(home: Path, outside: Path) -> None:
    replace_with_link(home / "agent.lock", outside / "passwd")
    before = snapshot(outside)
    with (
        pytest.raises(UnsafePath, match=r"agent\.lock is a symbolic link"),
        home_lock(home / "agent.lock", home),
    ):
        pass
    assert snapshot(outside) == before


def test_log_through_a_linked_folder_is_refused_untouched(home: Path, outside: Path) -> None:
    replace_with_link(home / "logs", outside)
    before = snapshot(outside)
    with pytest.raises(UnsafePath, match="logs is a symbolic link"):
        setup_logging(home / "logs" / "agent.log", stderr=False, root=home)
    assert snapshot(outside) == before


def test_ledger_append_through_a_link_is_refused_untouched(home: Path, outside: Path) -> None:
    ledger_path = home / "consent-ledger.jsonl"
    replace_with_link(ledger_path, outside / "passwd")
    before = snapshot(outside)
    with pytest.raises(LedgerError, match=r"consent-ledger\.jsonl is a symbolic link"):
        Ledger(ledger_path).append("paused", "person")
    with pytest.raises(LedgerError, match="is a symbolic link"):
        Ledger(ledger_path).read()
    assert snapshot(outside) == before


@needs_root
def test_ledger_of_another_user_is_neither_appended_nor_chmodded(home: Path) -> None:
    ledger_path = home / "consent-ledger.jsonl"
    before = ledger_path.read_bytes()
    ledger_path.chmod(0o644)
    os.chown(ledger_path, OTHER_UID, OTHER_UID)
    with pytest.raises(LedgerError, match=f"owned by another user \\(uid {OTHER_UID}"):
        Ledger(ledger_path).append("paused", "person")
    assert ledger_path.read_bytes() == before
    assert stat.S_IMODE(ledger_path.stat().st_mode) == 0o644


def test_a_session_folder_swapped_for_a_link_gets_no_chunk(tmp_path: Path, outside: Path) -> None:
    data = tmp_path / "data"
    generate_signing_key(tmp_path / "sign.pem")
    writer = ChunkWriter(
        data / "sessions",
        "dev-1",
        "sess-1",
        [generate_age_identity().public],
        load_signing_key(tmp_path / "sign.pem"),
    )
    writer.root = data
    safe_fs.ensure_dir(data / "sessions", data)
    from capture.events import Key

    writer.add(0, Key(ts=1.0, mono=1.0, key="a", pressed=True, char="a"))
    assert writer.seal() is not None  # the first chunk makes the session folder
    replace_with_link(data / "sessions" / "sess-1", outside)
    before = snapshot(outside)
    writer.add(1, Key(ts=2.0, mono=2.0, key="b", pressed=True, char="b"))
    with pytest.raises(StorageError, match="sess-1 is a symbolic link"):
        writer.seal()
    assert snapshot(outside) == before
    # And with the whole data folder swapped: refused at the first component below root.
    replace_with_link(data / "sessions", outside)
    with pytest.raises(StorageError, match="sessions is a symbolic link"):
        writer.seal()
    assert snapshot(outside) == before


def test_atomic_write_never_writes_through_a_link(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    (root / "keys").mkdir(parents=True)
    before = snapshot(outside)
    # A link in the file's place is replaced, its target untouched.
    (root / "keys" / "k.pem").symlink_to(outside / "passwd")
    write_atomic(root / "keys" / "k.pem", b"new", root=root)
    assert (root / "keys" / "k.pem").read_bytes() == b"new"
    assert not (root / "keys" / "k.pem").is_symlink()
    # A link in a folder's place is refused.
    replace_with_link(root / "keys", outside)
    with pytest.raises(UnsafePath, match="keys is a symbolic link"):
        write_atomic(root / "keys" / "k.pem", b"new", root=root)
    assert snapshot(outside) == before


# -- root -----------------------------------------------------------------------------


def run_as_root(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`capture-agent ARGS` with euid 0: the real thing when the tests run as root, else
    the CLI with ``os.geteuid`` answering 0 (the refusal reads nothing else)."""
    if os.geteuid() == 0:
        command = [*CLI, *args]
    else:
        code = (
            "import os,sys; os.geteuid=lambda:0; from agent.cli.main import main; sys.exit(main())"
        )
        command = [sys.executable, "-c", code, *args]
    return subprocess.run(
        command,
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_run_as_root_is_refused_without_allow_root(home: Path, tmp_path: Path) -> None:
    before = snapshot(home)
    done = run_as_root(home, "run", "--replay", str(trace(tmp_path)))
    err = one_line(done)
    assert done.returncode == 69, err
    assert "refusing to run as root" in err and "--allow-root" in err
    assert snapshot(home) == before  # no lock, no log line, no ledger line


def test_run_as_root_with_allow_root_records(home: Path, tmp_path: Path) -> None:
    done = run_as_root(home, "run", "--allow-root", "--replay", str(trace(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert list((home / "data" / "sessions").glob("*/*.chunk"))

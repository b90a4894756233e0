"""Acceptance: crash safety under SIGKILL, no plaintext anywhere, private home permissions."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
from pathlib import Path

from bench.crash_soak import soak
from tests.cli_helpers import CLI, cli_env, run_cli
from tests.waiting import wait_for

CANARY_TITLE = "Kestrel-Umber-Canary-5521 private notes"
CANARY_TYPED = "violet-harbour-canary-9043"


def test_sigkill_soak_leaves_only_verifiable_chunks(tmp_path: Path) -> None:
    figures = soak(tmp_path, trials=5, seed=3, events=30_000)
    assert figures["problems"] == 0
    assert figures["chunks"] == figures["chunks_verified"] > 0
    assert figures["killed"] + figures["finished_before_kill"] == 5
    assert not list((tmp_path / "home").rglob(".tmp-*"))


def canary_trace(path: Path) -> None:
    lines = [json.dumps({"type": "window", "t": 0, "title": CANARY_TITLE, "app": "Editor"})]
    for i, c in enumerate(CANARY_TYPED * 20):
        lines.append(
            json.dumps({"type": "key", "t": 0.001 * i, "key": c, "pressed": True, "char": c})
        )
    path.write_text("\n".join(lines) + "\n")


def test_no_plaintext_in_any_file_the_agent_wrote(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    config = home / "config.toml"
    config.write_text(
        config.read_text().replace("chunk_max_bytes = 16000000", "chunk_max_bytes = 10000")
    )
    trace = tmp_path / "canary.jsonl"
    canary_trace(trace)
    env = {"TMPDIR": str(tmpdir)}
    done = run_cli(home, "run", "--replay", str(trace), "--log-level", "debug", TMPDIR=str(tmpdir))
    assert done.returncode == 0, done.stderr
    # And once killed mid-way, so that temporary files and an unsealed chunk may remain.
    proc = subprocess.Popen(
        [
            *CLI,
            "run",
            "--allow-root",
            "--replay",
            str(trace),
            "--speed",
            "0.2",
            "--log-level",
            "debug",
        ],
        env=cli_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(
        lambda: proc.poll() is not None or len(list(home.glob("data/sessions/*/*.chunk"))) >= 2,
        "two sealed chunks (or the agent to end)",
        timeout=30,
    )
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    exported = run_cli(home, "export")
    assert CANARY_TITLE in exported.stdout  # it was recorded...
    written = [p for p in [*home.rglob("*"), *tmpdir.rglob("*")] if p.is_file()]
    assert any(p.suffix == ".chunk" for p in written) and any(p.suffix == ".log" for p in written)
    needles = [
        CANARY_TITLE.encode(),
        CANARY_TYPED.encode(),
        b'"type":"key"',
        b"events.jsonl",
        CANARY_TITLE.encode("utf-16-le"),
    ]
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} in plaintext in {path}"
    for stream in (done.stderr, err.decode(errors="replace")):
        assert CANARY_TITLE not in stream and CANARY_TYPED not in stream


def test_loose_home_permissions_are_repaired_with_a_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    home.chmod(0o755)
    (home / "keys").chmod(0o750)
    (home / "keys" / "person.agekey").chmod(0o644)
    (home / "config.toml").chmod(0o664)
    done = run_cli(home, "status")
    assert done.returncode == 3, done.stderr  # not running (README's exit codes)
    assert f"{home} was accessible to others (mode 755); made private (0700)" in done.stderr
    assert "person.agekey was readable by others (mode 644)" in done.stderr
    assert "capture-agent keys rotate" in done.stderr
    for path in [home, *home.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    assert run_cli(home, "status").stderr == ""  # repaired once, quiet after


def test_the_daemon_repairs_permissions_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"type":"key","t":0,"key":"a","pressed":true,"char":"a"}\n')
    assert run_cli(home, "run", "--replay", str(trace)).returncode == 0
    session = next(p for p in (home / "data" / "sessions").iterdir() if p.is_dir())
    session.chmod(0o755)
    done = run_cli(home, "run", "--replay", str(trace))
    assert done.returncode == 0
    assert f"{session} was accessible to others" in done.stderr
    assert stat.S_IMODE(session.stat().st_mode) == 0o700

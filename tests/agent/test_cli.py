"""The command line: init, run with a replayed trace, status, ls, export, and bad input."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from storage.keys import generate_age_identity
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for

TRACE = (
    "\n".join(
        [
            '{"type":"window","t":0,"title":"Quarterly notes","app":"Editor"}',
            '{"type":"mouse_move","t":0.01,"x":10,"y":20}',
            '{"type":"mouse_button","t":0.02,"x":10,"y":20,"button":"left","pressed":true}',
            '{"type":"key","t":0.03,"key":"h","pressed":true,"char":"h"}',
            '{"type":"key","t":0.04,"key":"h","pressed":false,"char":"h"}',
        ]
    )
    + "\n"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return recording_home(tmp_path)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    err = done.stderr.strip()
    assert done.returncode != 0
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_init_creates_private_home_and_says_demo_plainly(tmp_path: Path) -> None:
    home = tmp_path / "h"
    done = run_cli(home, "init")
    assert done.returncode == 0, done.stderr
    assert "LOCAL DEMO organisation identity" in done.stdout
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    again = run_cli(home, "init")
    assert "already initialised" in one_line_error(again)


def test_init_with_org_recipient_creates_no_demo_key(tmp_path: Path) -> None:
    org = generate_age_identity()
    done = run_cli(tmp_path / "h", "init", "--org-recipient", org.public, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["organisation_recipients"] == [org.public]
    assert result["demo_organisation_identity"] is None
    assert not (tmp_path / "h" / "keys" / "demo-organisation.agekey").exists()


def test_init_refuses_a_bad_org_recipient_and_creates_nothing(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "h", "init", "--org-recipient", "ssh-rsa AAAA")
    assert "--org-recipient" in one_line_error(done)
    assert not (tmp_path / "h").exists()


def test_commands_before_init_say_run_init(tmp_path: Path) -> None:
    for command in (["run"], ["status"], ["ls"], ["export"], ["pause"], ["opt-in"]):
        err = one_line_error(run_cli(tmp_path / "nohome", *command))
        assert "capture-agent init" in err, command


def test_invalid_config_names_file_and_key(home: Path) -> None:
    config = home / "config.toml"
    config.write_text(config.read_text().replace("mouse_move_hz = 60", "mouse_move_hz = -1"))
    err = one_line_error(run_cli(home, "run"))
    assert str(config) in err and "capture.mouse_move_hz" in err


def test_no_display_is_one_clear_line(home: Path) -> None:
    err = one_line_error(
        run_cli(home, "run", DISPLAY=None, WAYLAND_DISPLAY=None, XDG_SESSION_TYPE=None)
    )
    assert "DISPLAY" in err


def test_wayland_without_x_is_one_clear_line(home: Path) -> None:
    err = one_line_error(
        run_cli(home, "run", DISPLAY=None, WAYLAND_DISPLAY="wayland-0", XDG_SESSION_TYPE="wayland")
    )
    assert "Wayland" in err


def test_unwritable_data_folder_is_one_clear_line(home: Path) -> None:
    blocker = home / "not-a-folder"
    blocker.write_text("")
    with (home / "config.toml").open("a") as handle:
        handle.write("")
    text = (
        (home / "config.toml")
        .read_text()
        .replace("[storage]", f'[storage]\ndata_dir = "{blocker}/data"')
    )
    (home / "config.toml").write_text(text)
    done = run_cli(home, "run", "--replay", "/dev/null")
    err = one_line_error(done)
    # The home check covers a configured data folder, so it names what is in the way
    # (before, only the later write probe caught it: "cannot write to the data folder").
    assert f"{blocker} is not a folder; remove it" in err
    assert done.returncode == 78


def test_bad_trace_is_one_clear_line(home: Path, tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text("{not json\n")
    err = one_line_error(run_cli(home, "run", "--replay", str(trace)))
    assert "bad.jsonl:1" in err


def test_unknown_command_and_option_are_usage_errors(home: Path) -> None:
    assert run_cli(home, "frobnicate").returncode == 2
    done = run_cli(home, "export", "--sesion", "x")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_replay_then_ls_and_export(home: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    done = run_cli(home, "run", "--replay", str(trace))
    assert done.returncode == 0, done.stderr
    assert "produced=7 stored=7 dropped=0 filtered=0" in done.stderr

    listing = json.loads(run_cli(home, "ls", "--json").stdout)
    assert len(listing) == 1 and listing[0]["events"] == 7 and listing[0]["seq"] == 0

    exported = run_cli(home, "export")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["type"] for r in records] == [
        "marker",
        "window",
        "mouse_move",
        "mouse_button",
        "key",
        "key",
        "marker",
    ]
    assert [r["kind"] for r in records if r["type"] == "marker"] == ["started", "stopped"]
    assert records[0]["detail"]["consent"] == "recording"
    assert all(isinstance(r["ts"], float) for r in records)
    assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)
    window = records[1]
    assert window["title"] == "Quarterly notes" and window["app"] == "Editor"
    key = records[4]
    assert (key["key"], key["pressed"], key["char"]) == ("h", True, "h")
    assert records[3]["x"] == 10 and records[3]["y"] == 20
    session = listing[0]["session"]
    assert run_cli(home, "export", "--session", session).stdout == exported.stdout
    err = one_line_error(run_cli(home, "export", "--session", "nope"))
    assert "--session 'nope': no session" in err


def test_corrupt_chunk_is_reported_not_crashed_on(home: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    for _ in range(2):
        assert run_cli(home, "run", "--replay", str(trace)).returncode == 0
    chunks = sorted((home / "data" / "sessions").glob("*/*.chunk"))
    assert len(chunks) == 2
    data = bytearray(chunks[0].read_bytes())
    data[-10] ^= 0xFF
    chunks[0].write_bytes(bytes(data))
    exported = run_cli(home, "export")
    assert exported.returncode == 1
    assert "skipped a chunk that cannot be trusted" in exported.stderr
    assert "Traceback" not in exported.stderr
    assert len(exported.stdout.splitlines()) == 7  # the other chunk is still exported


def test_status_while_running_and_after(home: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, proc)
        status = json.loads(run_cli(home, "status", "--json").stdout)
        assert status["running"] is True and status["state"] == "recording"
        assert status["sources"] == ["scripted"]
        assert status["dropped_total"] == 0
        for key in ("events_per_second", "buffered_chunks", "buffered_bytes", "session"):
            assert key in status
        human = run_cli(home, "status").stdout
        assert "recording" in human and "buffered:" in human
        second = run_cli(home, "run", "--replay", str(trace))
        assert "already running" in one_line_error(second)
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    after = json.loads(run_cli(home, "status", "--json").stdout)
    assert after["running"] is False and after["buffered_chunks"] == 1
    assert after["buffered_bytes"] > 0


def test_help_describes_every_command(home: Path) -> None:
    done = run_cli(home, "--help")
    assert done.returncode == 0
    for command in ("init", "run", "status", "ls", "export"):
        assert command in done.stdout
    assert "CAPTURE_AGENT_HOME" in done.stdout


def test_forget_drops_the_open_chunk_of_a_running_agent(home: Path, tmp_path: Path) -> None:
    # What was just recorded sits in the daemon's memory until the chunk is sealed:
    # `forget` must reach it too, and nothing of it may ever be written.
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, proc)
        wait_for(
            lambda: json.loads(run_cli(home, "status", "--json").stdout)["open_chunk_events"] >= 5,
            "the replay to reach the open chunk",
            timeout=30,
        )
        refused = run_cli(home, "forget", "--last", "10m")  # no terminal, no --yes
        assert "the 6 event(s) being recorded now" in one_line_error(refused)
        done = run_cli(home, "forget", "--last", "10m", "--yes", "--json")
        assert done.returncode == 0, done.stderr
        dropped = json.loads(done.stdout)["open_chunk"]
        assert dropped["events"] >= 5 and dropped["frames"] == 0
        status = json.loads(run_cli(home, "status", "--json").stdout)
        assert status["open_chunk_events"] == 1  # the "forgotten" marker alone
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    records = [json.loads(line) for line in run_cli(home, "export").stdout.splitlines()]
    assert not [r for r in records if r["type"] in ("key", "mouse_button", "window")]
    forgotten = [r for r in records if r["type"] == "marker" and r["kind"] == "forgotten"]
    assert len(forgotten) == 1 and forgotten[0]["detail"]["events"] == dropped["events"]
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(len(seqs)))  # no gap: the marker took the dropped numbers
    assert run_cli(home, "verify").returncode == 0

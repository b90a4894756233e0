"""Every word the command line says is true (issue 21): consent, status, init, errors.

Each test runs the real `capture-agent` on a private home and asserts the message a
person reads and the exit code the README's table gives it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_helpers import (
    CLI,
    cli_env,
    recording_home,
    run_cli,
    start_agent,
    stop_agent,
    wait_until_running,
)
from tests.waiting import wait_for

TRACE = (
    "\n".join(
        [
            '{"type":"window","t":0,"title":"Quarterly notes","app":"Editor"}',
            '{"type":"mouse_move","t":0.01,"x":10,"y":20}',
            '{"type":"key","t":0.03,"key":"h","pressed":true,"char":"h"}',
            '{"type":"key","t":0.04,"key":"h","pressed":false,"char":"h"}',
        ]
    )
    + "\n"
)
FAKE_SECRET = "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a failed command (never a traceback)."""
    err = done.stderr.strip()
    assert done.returncode != 0
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def record_once(home: Path, tmp_path: Path) -> None:
    """One short recording (a replayed trace), sealed into one chunk."""
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    done = run_cli(home, "run", "--replay", str(trace))
    assert done.returncode == 0, done.stderr


def configure_upload(home: Path, store: Path, hold_back_minutes: int = 10) -> None:
    """Send uploads to a folder (the folder transport), after the given hold-back."""
    store.mkdir(exist_ok=True)
    with (home / "config.toml").open("a") as handle:
        handle.write(
            f'\n[upload]\ntransport = "folder"\nfolder = "{store}"\norg = "acme"\n'
            f"hold_back_minutes = {hold_back_minutes}\ninterval_seconds = 5\n"
        )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return recording_home(tmp_path)


# -- consent ------------------------------------------------------------------------------


def test_opt_out_says_what_recorded_chunks_will_do_and_offers_purge(
    home: Path, tmp_path: Path
) -> None:
    configure_upload(home, tmp_path / "store")
    record_once(home, tmp_path)
    done = run_cli(home, "opt-out")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("opted out: nothing more is recorded from now on\n")
    assert "1 chunk(s)" in out and "WILL BE UPLOADED" in out and "10-minute hold-back" in out
    assert "capture-agent opt-out --purge" in out
    again = run_cli(home, "opt-out")
    assert again.returncode == 0 and again.stdout.startswith("already opted out")
    purged = run_cli(home, "opt-out", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 chunk(s)" in purged.stderr and "none of them will be uploaded" in (
        purged.stderr
    )
    after = run_cli(home, "opt-out")
    assert "nothing recorded before is waiting on this machine" in after.stdout


def test_opt_out_without_upload_says_the_chunks_stay_here(home: Path, tmp_path: Path) -> None:
    record_once(home, tmp_path)
    out = run_cli(home, "opt-out").stdout
    assert "stay on this machine, encrypted" in out and "none is sent" in out
    assert "WILL BE UPLOADED" not in out


def test_opt_in_and_resume_say_already(home: Path) -> None:
    assert run_cli(home, "opt-in").stdout == "already recording\n"
    assert run_cli(home, "resume").stdout == "already recording\n"
    paused = run_cli(home, "pause")
    assert paused.returncode == 0
    assert re.fullmatch(
        r"snoozed: 30 minutes left \(until \d\d:\d\d\), then recording resumes\n", paused.stdout
    )
    assert run_cli(home, "resume").stdout == "recording\n"
    assert run_cli(home, "opt-out").returncode == 0
    assert run_cli(home, "opt-in").stdout == "recording\n"


def test_pause_over_the_maximum_is_a_usage_error(home: Path) -> None:
    for minutes in ("45", "-3", "0", "abc"):
        done = run_cli(home, "pause", "--minutes", minutes)
        assert done.returncode == 2, (minutes, done.stderr)
        one_line_error(done)
    assert "the maximum is 30" in run_cli(home, "pause", "--minutes", "45").stderr


# -- status ---------------------------------------------------------------------------------


def test_status_without_the_agent_says_so_and_exits_3(home: Path) -> None:
    done = run_cli(home, "status")
    assert done.returncode == 3, done.stderr
    out = done.stdout
    assert "consent: " not in out and "recording\n" not in out
    assert out.startswith("state:            not running: nothing is being recorded\n")
    assert "your choice:      record (saved; recording starts when the agent runs)" in out
    assert "sources:          stopped (the agent is not running" in out
    assert "capture scope:    when running: keys, mouse, window titles, screen" in out
    assert "upload:           not configured: nothing leaves this laptop" in out
    as_json = run_cli(home, "status", "--json")
    assert as_json.returncode == 3
    offline = json.loads(as_json.stdout)
    assert offline["running"] is False
    # the same scope as the text's line, for scripts
    assert offline["scope"] == {
        "keys": True,
        "mouse": True,
        "window": True,
        "screen": True,
        "min_frame_interval": 1.0,
    }


def test_status_while_snoozed_without_the_agent_shows_minutes_and_end(home: Path) -> None:
    assert run_cli(home, "pause", "--minutes", "20").returncode == 0
    out = run_cli(home, "status").stdout
    assert re.search(r"^snoozed: +20 minutes left \(until \d\d:\d\d\)$", out, re.MULTILINE), out
    assert "20.0" not in out


def test_status_of_a_paused_agent_shows_scope_stopped_sources_and_upload(
    home: Path, tmp_path: Path
) -> None:
    configure_upload(home, tmp_path / "store")
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, proc)

        def uploader_ran() -> str | None:
            out = run_cli(home, "status").stdout
            return out if "next attempt" in out else None

        text = wait_for(uploader_ran, "the uploader's first pass")
        assert "capture scope:    keys, mouse, window titles, screen" in text
        upload = r"^upload: +\d+ chunk\(s\) waiting here; next attempt "
        assert re.search(upload, text, re.MULTILINE)
        too_long = run_cli(home, "pause", "--minutes", "45")
        assert too_long.returncode == 2 and "the maximum is 30" in one_line_error(too_long)
        assert run_cli(home, "pause", "--minutes", "15").returncode == 0

        def paused() -> str | None:
            out = run_cli(home, "status").stdout
            return out if "sources:          stopped (snoozed" in out else None

        text = wait_for(paused, "status to say the sources stopped")
        assert re.search(r"^snoozed: +15 minutes left \(until \d\d:\d\d\)", text, re.MULTILINE)
        assert "sources:          scripted" not in text
        assert "they start again when the snooze ends (scripted)" in text
        assert run_cli(home, "status").returncode == 0
        assert run_cli(home, "resume").stdout == "recording\n"
        assert run_cli(home, "resume").stdout == "already recording\n"
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err


# -- init -----------------------------------------------------------------------------------


def test_init_refuses_a_secret_key_and_never_prints_it(tmp_path: Path) -> None:
    target = tmp_path / "h"
    done = run_cli(target, "init", "--org-recipient", FAKE_SECRET)
    err = one_line_error(done)
    assert done.returncode == 2
    assert "that is a secret key" in err and "public key (age1" in err
    assert FAKE_SECRET[16:] not in done.stdout + done.stderr
    assert FAKE_SECRET[20:30] not in done.stdout + done.stderr
    assert not target.exists()


def test_init_names_the_next_steps(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "h", "init")
    assert done.returncode == 0, done.stderr
    tail = done.stdout.split("Next:\n", 1)[1]
    for step in ("capture-agent doctor", "capture-agent opt-in", "capture-agent run"):
        assert step in tail


# -- no tracebacks --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["init"], ["ls"], ["pause"]])
def test_home_pointing_at_a_file_is_one_line(tmp_path: Path, command: list[str]) -> None:
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    done = run_cli(afile, *command)
    assert done.returncode == 78
    assert f"CAPTURE_AGENT_HOME={afile} is not a folder" in one_line_error(done)
    assert afile.read_text() == "x"


def test_a_full_standard_output_is_one_line_not_a_traceback(home: Path, tmp_path: Path) -> None:
    record_once(home, tmp_path)
    for command in (["export"], ["ls", "--json"], ["status"], ["--help"], ["export", "--help"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [*CLI, *command],
                env=cli_env(home),
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
                check=False,
            )
        err = done.stderr.strip()
        assert done.returncode == 1, (command, err)
        assert err == "capture-agent: error: cannot write the output: No space left on device"


def test_no_raw_python_warning_without_xdg_runtime_dir(tmp_path: Path) -> None:
    env = {
        "CAPTURE_AGENT_HOME": None,
        "XDG_RUNTIME_DIR": None,
        "XDG_CONFIG_HOME": None,
        "XDG_DATA_HOME": None,
        "XDG_STATE_HOME": None,
        "HOME": str(tmp_path),
    }
    codes = []
    for command in (["init"], ["status"], ["ls"]):
        done = subprocess.run(
            [*CLI, *command],
            env=cli_env(tmp_path, **env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "RuntimeDirWarning" not in done.stderr and "Traceback" not in done.stderr
        assert all(line.startswith("capture-agent: ") for line in done.stderr.splitlines()), (
            done.stderr
        )
        codes.append(done.returncode)
    assert codes == [0, 3, 0]


# -- progress on a terminal -----------------------------------------------------------------


def _on_a_terminal(home: Path, *args: str) -> tuple[int, str]:
    """Run a command with stderr on a pseudo-terminal; (exit code, what the terminal got)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, *args],
        env=cli_env(home, COLUMNS="100", TERM="xterm"),
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the command closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_export_frames_and_verify_show_progress_on_a_terminal_only(
    home: Path, tmp_path: Path
) -> None:
    record_once(home, tmp_path)
    frames = tmp_path / "frames"
    code, terminal = _on_a_terminal(home, "export", "--frames", str(frames))
    assert code == 0, terminal
    assert "exporting" in terminal  # the bar's label, drawn on the terminal
    assert f"wrote 0 frame file(s) (WebP, unencrypted) to {frames}" in terminal
    code, terminal = _on_a_terminal(home, "verify")
    assert code == 0 and "verifying" in terminal
    piped = run_cli(home, "export", "--frames", str(frames))
    assert "exporting" not in piped.stderr and "\x1b[" not in piped.stderr
    assert piped.stderr.strip().startswith("capture-agent: wrote 0 frame file(s)")


# -- forget ---------------------------------------------------------------------------------


def test_forget_dry_run_previews_and_deletes_nothing(home: Path, tmp_path: Path) -> None:
    record_once(home, tmp_path)
    before = sorted((home / "data" / "sessions").rglob("*.chunk"))
    done = run_cli(home, "forget", "--last", "10m", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("would delete 1 chunk(s)")
    assert "nothing was deleted (--dry-run)" in done.stdout
    as_json = json.loads(run_cli(home, "forget", "--last", "10m", "--dry-run", "--json").stdout)
    assert as_json["would_delete"]["chunks"] == 1 and as_json["deleted"] is None
    assert sorted((home / "data" / "sessions").rglob("*.chunk")) == before
    assert not (home / "data" / "deletions.jsonl").exists()


def test_time_words_are_read_as_local_time() -> None:
    from agent.cli.timespan import TimeSpan, parse_moment
    from agent.errors import UsageError

    now = time.mktime((2026, 12, 7, 15, 0, 0, 0, 0, -1))
    assert parse_moment("10m", "--since", now) == now - 600
    assert parse_moment("today", "--since", now) == time.mktime((2026, 12, 7, 0, 0, 0, 0, 0, -1))
    assert parse_moment("yesterday", "--since", now) == time.mktime(
        (2026, 12, 6, 0, 0, 0, 0, 0, -1)
    )
    assert parse_moment("14:30", "--since", now) == now - 1800
    assert parse_moment("2026-12-07T14:30", "--since", now) == now - 1800
    for bad in ("garbage", "25:00", "10x", ""):
        with pytest.raises(UsageError, match="not a time"):
            parse_moment(bad, "--since", now)
    span = TimeSpan(since=100.0, until=200.0)
    assert span.overlaps(50, 100) and span.overlaps(150, 300) and not span.overlaps(200, 250)
    assert not span.overlaps(None, None) and TimeSpan().overlaps(None, None)


def test_no_help_text_sends_a_pip_user_to_a_docs_file() -> None:
    """A pip-installed agent has no docs/ folder: every --help stands on its own."""
    import argparse

    from agent.cli.main import build_parser

    def texts(parser: argparse.ArgumentParser) -> list[str]:
        found = [parser.format_help()]
        for action in parser._actions:  # argparse has no public walk of subcommands
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found += texts(sub)
        return found

    helps = texts(build_parser())
    assert len(helps) > 30
    offenders = [h.splitlines()[0] for h in helps if re.search(r"docs/|\.md\b", h)]
    assert offenders == []


def test_org_pull_shows_progress_on_a_terminal_and_says_what_it_wrote(tmp_path: Path) -> None:
    from storage.upload import FolderTransport
    from storage.uploader import Uploader
    from tests.storage.test_upload import make_home, sessions_of, settings, write_chunks

    home = make_home(tmp_path)
    write_chunks(home, "S1", 3)
    store = tmp_path / "share"
    store.mkdir()
    assert Uploader(sessions_of(home), FolderTransport(store), settings()).run_once().uploaded == 3
    out = tmp_path / "pulled"
    identity = str(home / "keys" / "demo-organisation.agekey")
    pull = ["org", "pull", "--folder", str(store), "--org", "acme", "--identity", identity]
    code, terminal = _on_a_terminal(home, *pull, "--out", str(out))
    assert code == 0, terminal
    assert "downloading" in terminal and "verifying" in terminal
    piped = run_cli(home, *pull, "--out", str(tmp_path / "again"))
    assert piped.returncode == 0 and "downloading" not in piped.stderr + piped.stdout
    assert piped.stdout.splitlines()[-1] == (
        f"wrote 3 decrypted chunk(s) to {tmp_path / 'again'}/<device>/<session>/ "
        f"(events.jsonl and <seq>.zip; downloaded objects in {tmp_path / 'again' / 'raw'})"
    )

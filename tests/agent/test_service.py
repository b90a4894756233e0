"""`capture-agent service`: the generated unit is valid for systemd, install and uninstall
do what they say, and a restarted agent keeps the person's choice."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli, start_agent, stop_agent, wait_until_running

AGENT = Path(sys.executable).parent / "capture-agent"
UNIT = "capture-agent.service"


def dry_run_text(home: Path, *args: str, **env: Any) -> str:
    done = run_cli(home, "service", "install", "--dry-run", *args, **env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# would write ") and lines[-1].startswith("# then run: ")
    return "\n".join(lines[1:-1]) + "\n"


def systemd_verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail(
            "systemd-analyze is missing: `make test` installs it "
            "(Debian/Ubuntu: apt-get install systemd)"
        )
    folder = tmp_path / "unit"
    folder.mkdir()
    (folder / UNIT).write_text(unit_text)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return subprocess.run(
        [tool, "verify", "--user", str(folder / UNIT)],
        env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fake_systemctl(tmp_path: Path, reachable: bool) -> tuple[str, Path]:
    """A `systemctl` on PATH that logs its arguments; unreachable means every call fails."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bindir / "systemctl"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {log}\n'
        + ("exit 0\n" if reachable else "echo 'Failed to connect to bus' >&2\nexit 1\n")
    )
    script.chmod(0o755)
    return f"{bindir}:{os.environ.get('PATH', '')}", log


def test_dry_run_unit_restarts_on_failure_only_and_passes_systemd_verify(tmp_path: Path) -> None:
    home = tmp_path / "home with space %h"
    xdg = tmp_path / "xdg"
    text = dry_run_text(home, XDG_CONFIG_HOME=str(xdg))
    assert f"ExecStart={AGENT} run\n" in text
    assert 'Environment="CAPTURE_AGENT_HOME=' + str(home).replace("%", "%%") + '"\n' in text
    assert "Restart=on-failure\n" in text and "RestartSec=10\n" in text
    assert "RestartPreventExitStatus=75 78\n" in text
    assert "persisted consent state" in text  # the reason a restart is safe, in the unit
    assert not xdg.exists()  # a dry run touches nothing
    verified = systemd_verify(text, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert UNIT not in verified.stderr, verified.stderr  # no warning about our unit


def test_unit_without_a_home_has_no_environment_line(tmp_path: Path) -> None:
    text = dry_run_text(tmp_path, CAPTURE_AGENT_HOME=None, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    assert "Environment=" not in text
    assert systemd_verify(text, tmp_path).returncode == 0


def test_install_without_a_user_manager_writes_the_unit_and_says_what_to_run(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    path, log = fake_systemctl(tmp_path, reachable=False)
    done = run_cli(home, "service", "install", XDG_CONFIG_HOME=str(xdg), PATH=path)
    assert done.returncode == 0, done.stderr
    unit = xdg / "systemd" / "user" / UNIT
    assert unit.is_file() and f"ExecStart={AGENT} run" in unit.read_text()
    assert "not reachable" in done.stdout
    assert (
        "systemctl --user daemon-reload && systemctl --user enable --now "
        "capture-agent.service" in done.stdout
    )
    assert log.read_text().splitlines() == ["--user show-environment"]  # only the probe

    status = json.loads(
        run_cli(home, "service", "status", "--json", XDG_CONFIG_HOME=str(xdg), PATH=path).stdout
    )
    assert status["installed"] is True and status["up_to_date"] is True
    assert status["manager_reachable"] is False

    removed = run_cli(home, "service", "uninstall", XDG_CONFIG_HOME=str(xdg), PATH=path)
    assert removed.returncode == 0 and not unit.exists()
    assert "systemctl --user disable --now capture-agent.service" in removed.stdout


def test_install_and_uninstall_drive_a_reachable_user_manager(tmp_path: Path) -> None:
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    path, log = fake_systemctl(tmp_path, reachable=True)
    done = run_cli(home, "service", "install", XDG_CONFIG_HOME=str(xdg), PATH=path)
    assert done.returncode == 0, done.stderr
    assert "enabled and started" in done.stdout
    calls = log.read_text().splitlines()
    assert calls[-3:] == [
        "--user daemon-reload",
        f"--user enable --now {UNIT}",
        "--user show-environment",
    ]
    # The fake manager's environment has no DISPLAY: install says how to give it one.
    assert "systemctl --user import-environment DISPLAY XAUTHORITY" in done.stdout
    human = run_cli(home, "service", "status", XDG_CONFIG_HOME=str(xdg), PATH=path)
    assert "installed, up to date" in human.stdout and "enabled:" in human.stdout
    assert (
        run_cli(home, "service", "uninstall", XDG_CONFIG_HOME=str(xdg), PATH=path).returncode == 0
    )
    assert f"--user disable --now {UNIT}" in log.read_text().splitlines()
    assert not (xdg / "systemd" / "user" / UNIT).exists()


def test_macos_launch_agent_keeps_alive_on_crash_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    text = dry_run_text(home, "--platform", "darwin", HOME=str(tmp_path / "user"))
    plist = plistlib.loads(text.encode("utf-8"))
    assert plist["Label"] == "org.capture-agent.agent"
    assert plist["ProgramArguments"] == [str(AGENT), "run"]
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["RunAtLoad"] is True and plist["ThrottleInterval"] == 10
    assert plist["EnvironmentVariables"] == {"CAPTURE_AGENT_HOME": str(home)}


def test_windows_task_starts_at_logon_and_restarts_on_failure(tmp_path: Path) -> None:
    home = tmp_path / "home"
    text = dry_run_text(home, "--platform", "win32", USERNAME="ana", USERDOMAIN="CORP")
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    root = ET.fromstring(text.encode("utf-16"))
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", ns).text == "CORP\\ana"  # type: ignore[union-attr]
    assert root.find("t:Settings/t:RestartOnFailure/t:Count", ns) is not None
    assert root.find("t:Settings/t:MultipleInstancesPolicy", ns).text == "IgnoreNew"  # type: ignore[union-attr]
    command = root.find("t:Actions/t:Exec/t:Command", ns).text  # type: ignore[union-attr]
    arguments = root.find("t:Actions/t:Exec/t:Arguments", ns).text or ""  # type: ignore[union-attr]
    assert command == "cmd.exe"
    assert f"CAPTURE_AGENT_HOME={home}" in arguments and arguments.endswith(' run"')


def test_other_platforms_only_for_a_dry_run(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "service", "install", "--platform", "darwin")
    assert done.returncode == 2 and "only `service install --dry-run`" in done.stderr  # usage
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_restarted_agent_keeps_the_persons_opt_out(tmp_path: Path) -> None:
    """What makes Restart=on-failure safe: a fresh `run` reads the persisted choice."""
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    assert run_cli(home, "opt-out").returncode == 0
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"type":"key","t":0,"key":"a","pressed":true,"char":"a"}\n')
    proc = start_agent(home, "--replay", str(trace), "--speed", "0")  # as after a crash
    try:
        wait_until_running(home, proc)
        status = json.loads(run_cli(home, "status", "--json").stdout)
        assert status["state"] == "opted_out"
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    records = [json.loads(line) for line in run_cli(home, "export").stdout.splitlines()]
    assert [r for r in records if r["type"] != "marker"] == []  # nothing was captured


def test_install_notes_when_the_user_manager_has_no_display() -> None:
    from agent.setup.service import display_hint

    without = "HOME=/home/someone\nLANG=C.UTF-8\nPATH=/usr/bin\n"
    hint = display_hint(without)
    assert hint is not None and "systemctl --user import-environment DISPLAY" in hint
    assert display_hint(without + "DISPLAY=:0\n") is None
    assert display_hint(None) is None  # could not ask: say nothing rather than guess

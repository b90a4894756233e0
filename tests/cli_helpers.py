"""Running the real `capture-agent` command in tests, on a private home."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for

CLI = [sys.executable, "-m", "agent.cli.main"]
ROOT = Path(__file__).resolve().parent.parent


def cli_env(home: Path, **extra: str | None) -> dict[str, str]:
    """An environment whose CAPTURE_AGENT_HOME is ``home``; None values are removed."""
    env = dict(os.environ, CAPTURE_AGENT_HOME=str(home), PYTHONPATH=str(ROOT))
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def with_allow_root(args: tuple[str, ...] | list[str]) -> list[str]:
    """``args`` with ``--allow-root`` after a leading ``run``: the tests run as root in
    containers, where `run` is refused without it (tests/storage/test_home_symlinks.py checks
    that refusal by calling the CLI directly)."""
    args = list(args)
    return ["run", "--allow-root", *args[1:]] if args[:1] == ["run"] else args


def run_cli(
    home: Path, *args: str, timeout: float = 60, input: str | None = None, **env: str | None
) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to completion; returns the completed process (never raises)."""
    return subprocess.run(
        [*CLI, *with_allow_root(args)],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )


def recording_home(tmp_path: Path) -> Path:
    """A new home under ``tmp_path`` (`init`), opted in: an agent started on it records."""
    home = tmp_path / "home"
    done = run_cli(home, "init")
    assert done.returncode == 0, done.stderr
    assert run_cli(home, "opt-in").returncode == 0
    return home


def start_agent(home: Path, *args: str, **env: str | None) -> subprocess.Popen[str]:
    """Start `capture-agent run ARGS` in the background."""
    return subprocess.Popen(
        [*CLI, "run", "--allow-root", *args],
        env=cli_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_running(home: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until the agent answers `status` as running; fail with its stderr if it died.

    The deadline is generous: a loaded 2-core machine takes seconds to start Python.
    """

    def running() -> bool:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"agent exited early ({proc.returncode}): {err}")
        done = run_cli(home, "status", "--json")
        return done.returncode == 0 and '"running": true' in done.stdout

    wait_for(running, "the agent to answer `status` as running", timeout=timeout)


def stop_agent(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    """SIGTERM the agent, wait for it; return (exit code, stderr)."""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"agent did not stop within {timeout}s: {err}") from None
    return proc.returncode, err

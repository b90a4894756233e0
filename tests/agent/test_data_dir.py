"""A data folder set in the config (``[storage] data_dir``) is checked like the home's.

The sessions folder used to be computed three ways, and the home check looked only at
the home's own ``data/``: a configured folder elsewhere with loose modes or a planted
link went unnoticed. Attacks through the real CLI and daemon; targets are sentinels in
the test's own folder."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from agent.config import load_config
from agent.paths import check_home_permissions, resolve_paths
from agent.runtime.daemon import Daemon
from tests.cli_helpers import run_cli

SESSION = "20260101T000000Z-abcdef"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised home (init is slow); each test copies it."""
    home = tmp_path_factory.mktemp("template") / "home"
    done = run_cli(home, "init")
    assert done.returncode == 0, done.stderr
    return home


def with_data_dir(template: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the home whose config puts the chunks in ``tmp_path/elsewhere``."""
    home = tmp_path / "home"
    subprocess.run(["cp", "-a", str(template), str(home)], check=True)
    data = tmp_path / "elsewhere"
    config = home / "config.toml"
    text = config.read_text()
    assert "\n[storage]\n" in text
    text = text.replace("\n[storage]\n", f"\n[storage]\ndata_dir = {json.dumps(str(data))}\n")
    config.write_text(text)
    (data / "sessions" / SESSION).mkdir(parents=True)
    return home, data


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    err = done.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_every_part_finds_the_chunks_in_the_configured_folder(
    template: Path, tmp_path: Path
) -> None:
    """Daemon, CLI and home check agree on one folder, a relative one taken from the home."""
    from agent.cli.common import sessions_dir

    home, data = with_data_dir(template, tmp_path)
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
    config = load_config(paths.config_file)
    daemon = Daemon(paths, config, sources=[])
    assert daemon.sessions_dir == sessions_dir(paths, config) == data / "sessions"
    assert daemon.paths.data_dir == data  # what its start-up home check looks at
    assert paths.with_data_dir("chunks").sessions_dir == home / "chunks" / "sessions"
    assert paths.with_data_dir(None) == paths


def test_loose_modes_in_the_configured_folder_are_repaired_and_said(
    template: Path, tmp_path: Path
) -> None:
    """Attack: the configured folder and a session in it left readable by others."""
    home, data = with_data_dir(template, tmp_path)
    for folder in (data, data / "sessions", data / "sessions" / SESSION):
        folder.chmod(0o755)
    done = run_cli(home, "ls")
    assert done.returncode == 0, done.stderr
    for folder in (data, data / "sessions", data / "sessions" / SESSION):
        assert f"{folder} was accessible to others (mode 755); made private (0700)" in (done.stderr)
        assert mode(folder) == 0o700
    # The daemon's own check at start sees the same folders.
    for folder in (data, data / "sessions" / SESSION):
        folder.chmod(0o750)
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
    daemon = Daemon(paths, load_config(paths.config_file), sources=[])
    messages = check_home_permissions(daemon.paths)
    assert [re.sub(r" was .*", "", m) for m in messages] == [
        str(data),
        str(data / "sessions" / SESSION),
    ]


@pytest.mark.parametrize("rel", ["sessions", f"sessions/{SESSION}"])
@pytest.mark.parametrize("command", [["ls"], ["run", "--replay", os.devnull]])
def test_a_link_in_the_configured_folder_is_refused(
    template: Path, tmp_path: Path, rel: str, command: list[str]
) -> None:
    """Attack: the sessions folder, or one session, of the configured folder swapped for a
    link to a folder of someone else's choosing: refused (exit 78), nothing written."""
    home, data = with_data_dir(template, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    (outside / "sentinel").write_bytes(b"untouched")
    target = data / rel
    subprocess.run(["rm", "-rf", str(target)], check=True)
    target.symlink_to(outside)
    done = run_cli(home, *command)
    err = one_line(done)
    assert done.returncode == 78, err
    assert f"{target} is a symbolic link; remove it" in err
    assert sorted(p.name for p in outside.iterdir()) == ["sentinel"]
    assert mode(outside) == 0o755 and (outside / "sentinel").read_bytes() == b"untouched"

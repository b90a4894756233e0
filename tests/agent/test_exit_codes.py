"""Every command follows the README's one table of exit codes (issue 21).

0 ok, 1 a data problem, 2 a usage error, 3 the agent is not running, 69 capture cannot
start here, 75 already running, 78 configuration missing or invalid. Each row runs the
real command on a home with one recorded session and no running agent, and checks the
code and that the error is one line, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import recording_home, run_cli

TRACE = '{"type":"window","t":0,"title":"Notes","app":"Editor"}\n'

CASES: list[tuple[list[str], int]] = [
    (["status"], 3),
    (["status", "--json"], 3),
    (["frobnicate"], 2),
    (["export", "--sesion", "x"], 2),
    (["pause", "--minutes", "45"], 2),
    (["pause", "--minutes", "-3"], 2),
    (["pause", "--minutes", "abc"], 2),
    (["ls", "--session", "nope"], 2),
    (["export", "--session", "nope"], 2),
    (["view", "--session", "nope", "--no-open"], 2),
    (["verify", "--session", "nope"], 2),
    (["purge", "--session", "nope", "--yes"], 2),
    (["ls", "--since", "garbage"], 2),
    (["export", "--until", "25:99"], 2),
    (["ls", "--today", "--since", "1h"], 2),
    (["ls", "--identity", "/nonexistent/key"], 2),
    (["forget", "--last", "10x"], 2),
    (["forget", "--last", "1d"], 2),  # would delete: needs --yes off a terminal
    (["purge", "--all"], 2),
    (["init"], 2),  # already initialised
    (["privacy", "allow", "--app", "never-denied"], 2),  # not on the person's list
    (["privacy", "allow"], 2),
    (["service", "install", "--platform", "win32"], 2),
    (["init", "--org-recipient", "age1notakey"], 2),
    (["ls"], 0),
    (["ls", "--session", "latest"], 0),
    (["ls", "--uploaded"], 0),
    (["verify"], 0),
    (["forget", "--last", "1d", "--dry-run"], 0),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with one recorded session (the rows only read it or are refused)."""
    tmp = tmp_path_factory.mktemp("codes")
    home = recording_home(tmp)
    trace = tmp / "trace.jsonl"
    trace.write_text(TRACE)
    done = run_cli(home, "run", "--replay", str(trace))
    assert done.returncode == 0, done.stderr
    return home


@pytest.mark.parametrize(("command", "code"), CASES, ids=[" ".join(c) for c, _ in CASES])
def test_exit_code(home: Path, command: list[str], code: int) -> None:
    done = run_cli(home, *command)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    if code not in (0, 3):
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("capture-agent"), done.stderr


def test_a_home_naming_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("")
    for command in (["status"], ["init"], ["export"], ["opt-out"]):
        done = run_cli(afile, *command)
        assert done.returncode == 78, (command, done.stderr)


def test_before_init_every_command_says_run_init(tmp_path: Path) -> None:
    for command in (["ls"], ["export"], ["verify"], ["pause"], ["opt-in"]):
        done = run_cli(tmp_path / "none", *command)
        assert done.returncode == 78, (command, done.stderr)
        assert "run `capture-agent init` first" in done.stderr


def test_the_readme_table_lists_every_code_the_cli_uses() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ("| 0 ", "| 1 ", "| 2 ", "| 3 ", "| 69 ", "| 75 ", "| 78 "):
        assert code in table, code

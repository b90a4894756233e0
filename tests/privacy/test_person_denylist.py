"""The person's own denylist: `privacy deny`, the file, and a running agent applying it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from privacy.denylist import Denylist
from privacy.errors import DenylistError
from privacy.person_denylist import append_entry, load_person_rules
from tests.cli_helpers import recording_home, run_cli, start_agent, wait_until_running

TITLE = "Family photos - Viewer"


def test_entries_are_validated_appended_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "denylist.toml"
    assert load_person_rules(path) == []
    append_entry(path, apps=["lumen-notes"], titles=['Family "photos"'])
    append_entry(path, domains=["example-clinic.test"], category="health")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("# Your own additions")
    denylist = Denylist()
    denylist.set_additions([], load_person_rules(path))
    assert denylist.match("x", "Lumen-Notes") == "custom"
    assert denylist.match('my Family "Photos" album', "eog") == "custom"
    assert denylist.match("Results - example-clinic.test - Browser", "firefox") == "health"
    assert denylist.match("Notes", "gedit") is None
    # The shipped list stays whatever the person's file says.
    assert denylist.match("Passwords.kdbx - KeePassXC", "keepassxc") == "password_manager"


def test_a_bad_entry_or_a_broken_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "denylist.toml"
    with pytest.raises(DenylistError, match="bad regular expression"):
        append_entry(path, titles=["re:(unclosed"])
    assert not path.exists()
    path.write_text('[[entry]]\napps = ["a"]\n[allow]\napps = ["keepassxc"]\n')
    before = path.read_text()
    with pytest.raises(DenylistError, match=r"denylist.toml: only \[\[entry\]\] tables"):
        append_entry(path, apps=["signal"])
    assert path.read_text() == before  # nothing can be allowed, and nothing was written


def test_cli_adds_shows_and_checks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    check = run_cli(home, "privacy", "check-window", "--title", TITLE, "--app", "eog")
    assert check.returncode == 0 and check.stdout.strip() == "recorded"
    added = run_cli(home, "privacy", "deny", "--title", "Family photos", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["added"]["category"] == "custom"
    check = run_cli(home, "privacy", "check-window", "--title", TITLE, "--app", "eog")
    assert check.stdout.strip() == "not recorded: denylist category custom"
    shown = json.loads(run_cli(home, "privacy", "denylist", "--json").stdout)
    assert len(shown["yours"]) == 1 and shown["organisation"] == []
    enforced = {c["category"] for c in shown["categories"] if c["enforced"]}
    assert enforced >= {"password_manager", "banking", "health"}
    assert {r["category"] for r in shown["shipped"]} == {"credential_dialog"}
    human = run_cli(home, "privacy", "denylist").stdout
    assert "yours: 1" in human and "Family photos" in human
    bad = run_cli(home, "privacy", "deny", "--title", "re:(unclosed")
    assert bad.returncode != 0 and "bad regular expression" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    none = run_cli(home, "privacy", "deny")
    assert none.returncode != 0 and "at least one of --app" in none.stderr


def test_a_running_agent_applies_an_addition_within_seconds(tmp_path: Path) -> None:
    home = recording_home(tmp_path)
    trace = tmp_path / "trace.jsonl"
    lines = [
        {"type": "window", "t": 0.0, "title": "Notes", "app": "gedit"},
        {"type": "key", "t": 0.1, "key": "a", "pressed": True, "char": "a"},
        {"type": "key", "t": 0.2, "key": "a", "pressed": False, "char": "a"},
        # Long enough after the start for `privacy deny` below to have been applied.
        {"type": "window", "t": 10.0, "title": TITLE, "app": "eog"},
        {"type": "key", "t": 10.1, "key": "b", "pressed": True, "char": "b"},
        {"type": "key", "t": 10.2, "key": "b", "pressed": False, "char": "b"},
        {"type": "window", "t": 11.0, "title": "Notes", "app": "gedit"},
        {"type": "key", "t": 11.1, "key": "c", "pressed": True, "char": "c"},
        {"type": "key", "t": 11.2, "key": "c", "pressed": False, "char": "c"},
    ]
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = start_agent(home, "--replay", str(trace))
    try:
        wait_until_running(home, proc)  # the denylist is built: this is a live change
        assert run_cli(home, "privacy", "deny", "--title", "Family photos").returncode == 0
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "denylist updated" in err and TITLE not in err
    records = [json.loads(x) for x in run_cli(home, "export").stdout.splitlines()]
    chars = [r.get("char") for r in records if r["type"] == "key"]
    assert chars == ["a", "a", "c", "c"]
    assert TITLE not in json.dumps(records)
    assert [r for r in records if r["type"] == "marker" and r["kind"] == "suppressed"]

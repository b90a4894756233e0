"""`doctor` finds decrypted pages older versions of `view` left behind, `--fix` deletes them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import run_cli

OLD_PAGE = "<!DOCTYPE html>\n<html><head><title>capture-agent session s1</title></head>"
NEW_PAGE = '<!DOCTYPE html>\n<meta name="generator" content="capture-agent view">'


def test_doctor_flags_stray_decrypted_pages_and_fix_deletes_only_those(tmp_path: Path) -> None:
    home, user, tmp = tmp_path / "capture", tmp_path / "user", tmp_path / "tmp"
    user.mkdir()
    tmp.mkdir()
    assert run_cli(home, "init").returncode == 0
    strays = [home / "view-20261207T090000Z-aaaaaa.html", tmp / "view-s2.html"]
    strays[0].write_text(OLD_PAGE)
    strays[1].write_text(NEW_PAGE)
    mine = user / "view-notes.html"  # the person's own file of that name: not ours
    mine.write_text("<html><title>my notes</title></html>")
    kept = tmp_path / "elsewhere" / "view-x.html"  # `view -o` where the person asked
    kept.parent.mkdir()
    kept.write_text(NEW_PAGE)
    link = user / "view-link.html"  # a link is never followed or deleted
    link.symlink_to(strays[1])

    found = run_cli(home, "doctor", "--json", HOME=str(user), TMPDIR=str(tmp))
    check = next(c for c in json.loads(found.stdout)["checks"] if c["name"] == "decrypted")
    assert check["status"] == "warn"
    assert check["detail"].startswith("2 decrypted page(s) of your recordings left on disk: ")
    assert all(str(p) in check["detail"] for p in strays)
    assert check["fix"] == "delete them: `capture-agent doctor --fix`"
    human = run_cli(home, "doctor", HOME=str(user), TMPDIR=str(tmp))
    assert "warn  decrypted" in human.stdout and "capture-agent doctor --fix" in human.stdout

    fixed = run_cli(home, "doctor", "--fix", "--json", HOME=str(user), TMPDIR=str(tmp))
    report = json.loads(fixed.stdout)
    assert sorted(report["deleted"]) == sorted(str(p) for p in strays)
    check = next(c for c in report["checks"] if c["name"] == "decrypted")
    assert check["status"] == "ok"
    assert not any(p.exists() for p in strays)
    assert mine.exists() and kept.exists() and link.is_symlink()
    again = run_cli(home, "doctor", "--fix", HOME=str(user), TMPDIR=str(tmp))
    assert "deleted" not in again.stdout and "Traceback" not in again.stderr

"""`privacy check-window --file F --json`: one result per line, bad lines named, not fatal."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli_helpers import run_cli


def test_batch_gives_one_result_per_line_and_names_bad_lines(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    lines = [
        json.dumps({"title": "lab_results.pdf — Document Viewer", "app": "evince", "expect": "x"}),
        "not json",
        json.dumps({"title": "Notes", "app": 3}),
        "",
        json.dumps(
            {
                "title": "Bank holidays - GOV.UK",
                "app": "firefox",
                "url": "https://www.gov.uk/bank-holidays?year=2026",
            }
        ),
        json.dumps({"title": "t" * 70_000, "app": "x"}),
        json.dumps(["title", "app"]),
        json.dumps(
            {"title": "Sign in", "app": "firefox", "url": "https://www.gov.uk/universal-credit"}
        ),
    ]
    batch = tmp_path / "windows.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_cli(home, "privacy", "check-window", "--file", str(batch), "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "4 line(s) could not be read" in done.stderr
    results = [json.loads(x) for x in done.stdout.splitlines()]
    assert [r["line"] for r in results] == [1, 2, 3, 5, 6, 7, 8]
    assert results[0]["recorded"] is False and results[0]["category"] == "health"
    assert results[1] == {"line": 2, "error": "not valid JSON"}
    assert results[2]["error"] == '"app" must be a string'
    assert results[3]["recorded"] is True
    assert results[3]["stored_url"] == "https://www.gov.uk/"
    assert "longer than" in results[4]["error"]
    assert "expected an object" in results[5]["error"]
    assert results[6]["category"] == "government_benefits" and results[6]["reason"] == "url"


def test_batch_refuses_what_is_not_a_file_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, words in ((fifo, "not a regular file"), (tmp_path / "nope", "no such file")):
        done = run_cli(home, "privacy", "check-window", "--file", str(target), "--json")
        assert done.returncode == 2 and words in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    both = run_cli(home, "privacy", "check-window", "--file", "x", "--title", "t", "--app", "a")
    assert both.returncode == 2 and "not both" in both.stderr


def test_batch_reads_standard_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    line = json.dumps({"title": "(3) WhatsApp - Google Chrome", "app": "google-chrome"})
    done = run_cli(home, "privacy", "check-window", "--file", "-", input=line + "\n")
    assert done.returncode == 0 and done.stdout.strip() == "line 1: not recorded: messaging"

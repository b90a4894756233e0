"""The privacy chain as built for the daemon: order, fail-closed, counts, levels, pause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capture.events import Event, Frame, Key, Marker, MouseButton, MouseMove, Window
from privacy.chain import Chain
from privacy.check import check_file, check_text, check_window
from privacy.password_fields import PasswordFieldRedactor
from privacy.pipeline import build_chain
from privacy.sensitivity import SensitivityFilter, level_of
from privacy.titles import TitleRedactor
from tests.privacy_helpers import keys_for, stored_chars, visible


def run(chain: Chain, events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for event in events:
        out.extend(chain.process(event))
    return out + chain.flush()


def test_a_raising_stage_drops_its_event_and_counts_it() -> None:
    def broken(event: Event) -> Event | None:
        raise RuntimeError("content 4111 1111 1111 1111 must not be logged")

    chain = Chain([broken])
    assert chain.process(MouseMove(ts=1.0, mono=1.0, x=1, y=1)) == []
    assert chain.take_removed() == {"broken": {"stage_error": 1}}


def test_stage_counts_are_merged_into_the_chains() -> None:
    chain = build_chain()
    run(chain, [*keys_for("card 4111 1111 1111 1111\n")])
    removed = chain.take_removed()
    assert removed["typed_text"] == {"payment_card": 19}
    assert chain.take_removed() == {}


def test_full_chain_redacts_suppresses_and_levels() -> None:
    chain = build_chain()
    events: list[Event] = [
        Window(ts=0.1, mono=0.1, title="Inbox - sam@example.com - Mail", app="thunderbird"),
        *keys_for("sam@example.com\n", start=1.0),
        Window(ts=5.0, mono=5.0, title="KeePassXC", app="KeePassXC"),
        *keys_for("hunter2", start=6.0),
        Window(ts=9.0, mono=9.0, title="Terminal", app="xterm", pid=9),
        MouseButton(ts=9.5, mono=9.5, x=1, y=1, button="left", pressed=True),
    ]
    out = run(chain, events)
    titles = [e.title for e in out if isinstance(e, Window)]
    assert titles == ["Inbox - [email] - Mail", "Terminal"]
    assert "hunter2" not in stored_chars(out) and "sam@" not in stored_chars(out)
    assert visible(out) == "#" * 15
    assert any(isinstance(e, Marker) and e.kind == "suppressed" for e in out)
    assert max(e.sensitivity for e in out) <= 2
    click = next(e for e in out if isinstance(e, MouseButton))
    assert click.sensitivity == 1


def test_sensitivity_levels_and_the_placeholder_rule() -> None:
    assert level_of(MouseMove(ts=0, mono=0, x=0, y=0)) == 1
    assert level_of(Key(ts=0, mono=0, key="shift_l", pressed=True)) == 1
    assert level_of(Key(ts=0, mono=0, key="a", pressed=True, char="a")) == 2
    assert level_of(Window(ts=0, mono=0, title="t", app="a")) == 2
    assert level_of(Frame(ts=0, mono=0, width=1, height=1, image=b"")) == 2
    redacted = Key(ts=0, mono=0, key="redacted", pressed=True, redacted="ssn", sensitivity=4)
    assert level_of(redacted) == 2
    raised = Key(ts=0, mono=0, key="a", pressed=True, char="a", sensitivity=3)
    assert level_of(raised) == 3
    f = SensitivityFilter(2)
    assert f(raised) is None
    kept = f(redacted)
    assert kept is not None and kept.sensitivity == 2
    assert SensitivityFilter(1)(Key(ts=0, mono=0, key="a", pressed=True, char="a")) is None
    with pytest.raises(ValueError, match="max_sensitivity must be between 1 and 4"):
        SensitivityFilter(5)


def test_password_titles_and_secure_input_redact_keys() -> None:
    stage = PasswordFieldRedactor()
    stage(Window(ts=0, mono=0, title="Change password - Settings", app="firefox"))
    out = [stage(e) for e in keys_for("abc")]
    assert all(isinstance(e, Key) and e.char is None and e.redacted == "password" for e in out)
    stage(Window(ts=0, mono=0, title="Editor", app="gedit"))
    assert stage(keys_for("a")[0]) == keys_for("a")[0]
    stage(Marker(ts=0, mono=0, kind="secure_input", detail={"active": True}))
    e = stage(keys_for("z")[0])
    assert isinstance(e, Key) and e.char is None and e.key == "redacted"


def test_title_redactor() -> None:
    stage = TitleRedactor()
    w = stage(Window(ts=0, mono=0, title="Call (201) 555-0123 - Zoom", app="zoom"))
    assert isinstance(w, Window) and w.title == "Call [phone] - Zoom"


def test_pause_flush_releases_held_text_redacted() -> None:
    chain = build_chain()
    held = [e for k in keys_for("4111 1111 1111 1111") for e in chain.process(k)]
    assert held == []
    flushed = chain.flush()
    assert "4111" not in stored_chars(flushed) and len(flushed) == 38


def test_check_text_shape_and_offsets() -> None:
    result = check_text("mail sam@example.com\tthen 219-45-6789")
    assert result["spans"] == [[5, 20, "email"], [26, 37, "ssn"]]
    assert result["redacted"] == "mail " + "█" * 15 + "\tthen " + "█" * 11
    assert check_text("sudo ls\nhunter2\n")["spans"] == [[8, 15, "password"]]
    assert check_text("nothing here") == {"redacted": "nothing here", "spans": []}


def test_check_file_jsonl_and_plain(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "a\\tsam@example.com"}\n{"text": "ok"}\n', encoding="utf-8")
    assert [r["spans"] for r in check_file(jsonl)] == [[[2, 17, "email"]], []]
    plain = tmp_path / "in.txt"
    plain.write_text("ok\n219-45-6789\n", encoding="utf-8")
    assert [r["spans"] for r in check_file(plain)] == [[], [[0, 11, "ssn"]]]


def test_check_window() -> None:
    assert check_window("KeePassXC", "KeePassXC")["recorded"] is False
    ok = check_window("Enter PIN - Bank of Nowhere", "firefox")
    assert ok["recorded"] is False and ok["category"] in {"banking", "credential_dialog"}
    pw = check_window("Change password - Example", "firefox")
    assert pw["recorded"] is True and pw["password_field"] is True


CLI = """
import argparse, sys
from privacy.check import register_cli
p = argparse.ArgumentParser(prog="capture-agent")
register_cli(p.add_subparsers(dest="cmd"))
a = p.parse_args(sys.argv[1:])
sys.exit(a.func(a))
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        check=False,
    )


def test_cli_json_and_errors(tmp_path: Path) -> None:
    done = _cli("privacy", "check", "card 4111 1111 1111 1111", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["spans"] == [[5, 24, "payment_card"]]
    missing = _cli("privacy", "check", "--file", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no such file" in missing.stderr
    both = _cli("privacy", "check", "x", "--file", "y")
    assert both.returncode == 2 and "not both" in both.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": 1}\n', encoding="utf-8")
    done = _cli("privacy", "check", "--file", str(bad))
    assert done.returncode == 2 and "bad.jsonl:1" in done.stderr
    win = _cli("privacy", "check-window", "--title", "Signal", "--app", "Signal", "--json")
    assert json.loads(win.stdout)["recorded"] is False

"""Denylist: default categories, org/person rule, suppression with a generic marker."""

from __future__ import annotations

import json

import pytest

from capture.events import Event, Frame, Key, Marker, MouseMove, Window
from privacy.denylist import DeniedWindowSuppressor, Denylist, DenyRule, rules_from_toml
from privacy.errors import DenylistError


@pytest.mark.parametrize(
    ("title", "app", "process", "category"),
    [
        ("Passwords - KeePassXC", "KeePassXC", "keepassxc", "password_manager"),
        ("1Password", "1Password", None, "password_manager"),
        ("Chase Online Banking - Mozilla Firefox", "firefox", "firefox", "banking"),
        ("Send money | PayPal — Mozilla Firefox", "firefox", None, "banking"),
        ("TurboTax Online - Google Chrome", "Google-chrome", None, "tax"),
        ("ELSTER - Ihr Online-Finanzamt", "firefox", None, "tax"),
        ("MyChart - Test Results", "firefox", None, "health"),
        ("Patient Chart - Epic Hyperspace", "Epic", None, "health"),
        ("Workday - Performance Review 2024", "firefox", None, "hr"),
        ("Payroll summary - Google Sheets", "firefox", None, "hr"),
        ("Signal", "Signal", "signal-desktop", "messaging"),
        ("(3) WhatsApp", "firefox", None, "messaging"),
        ("Telegram (12)", "TelegramDesktop", None, "messaging"),
        (
            "New Incognito Tab - Google Chrome (Incognito)",
            "Google-chrome",
            None,
            "private_browsing",
        ),
        ("Mozilla Firefox Private Browsing", "firefox", None, "private_browsing"),
        ("New InPrivate tab - Microsoft Edge", "Microsoft-edge", None, "private_browsing"),
        (
            "Authentication Required",
            "Polkit-gnome-authentication-agent-1",
            None,
            "credential_dialog",
        ),
        ("", "pinentry-gtk-2", "pinentry-gtk-2", "credential_dialog"),
        ("Unlock Login Keyring", "Gcr-prompter", None, "credential_dialog"),
    ],
)
def test_default_list_covers_each_category(
    title: str, app: str, process: str | None, category: str
) -> None:
    assert Denylist.default().match(title, app, process) == category


@pytest.mark.parametrize(
    ("title", "app"),
    [
        ("main.py - capture-agent - Visual Studio Code", "Code"),
        ("pip install requests", "xterm"),
        ("Signal processing notes.md - gedit", "gedit"),
        ("Epic Games Launcher", "EpicGamesLauncher"),
        ("Test results - CI - Mozilla Firefox", "firefox"),
        ("Inbox - Thunderbird", "thunderbird"),
        ("Slack | general | Example Co", "Slack"),
    ],
)
def test_ordinary_windows_are_recorded(title: str, app: str) -> None:
    assert Denylist.default().match(title, app) is None


def test_person_can_add_but_not_remove() -> None:
    dl = Denylist.default()
    dl.add_person([{"titles": ["Secret Project"], "category": "custom"}])
    assert dl.match("Secret Project plan", "gedit") == "custom"
    assert dl.match("KeePassXC", "KeePassXC") == "password_manager"
    assert not hasattr(dl, "remove")
    with pytest.raises(DenylistError, match="only"):
        rules_from_toml('[[allow]]\napps = ["keepassxc"]\n', "person.toml")
    with pytest.raises(DenylistError, match="unknown field"):
        DenyRule.from_mapping({"apps": ["x"], "remove": True})


def test_org_entries_are_matched_before_the_persons() -> None:
    dl = Denylist(org=[DenyRule.from_mapping({"category": "org_thing", "apps": ["foo"]})])
    dl.add_person([{"category": "mine", "apps": ["foo", "bar"]}])
    assert dl.match("", "foo") == "org_thing"
    assert dl.match("", "bar") == "mine"
    assert [r.category for r in dl.org_rules] == ["org_thing"]


def test_bad_entries_have_clear_errors() -> None:
    with pytest.raises(DenylistError, match="regular expression"):
        DenyRule.from_mapping({"titles": ["re:("]})
    with pytest.raises(DenylistError, match="at least one"):
        DenyRule.from_mapping({"category": "x"})
    with pytest.raises(DenylistError, match="list of non-empty strings"):
        DenyRule.from_mapping({"apps": "keepassxc"})


def _w(title: str, app: str, t: float) -> Window:
    return Window(ts=t, mono=t, title=title, app=app, process=app.lower(), pid=3)


def test_suppressor_drops_everything_and_marks_the_gap_without_naming_it() -> None:
    stage = DeniedWindowSuppressor(Denylist.default())
    out: list[Event] = []
    out += stage.process(_w("Editor", "gedit", 1.0))
    out += stage.process(_w("Passwords - KeePassXC", "KeePassXC", 2.0))
    out += stage.process(Key(ts=3.0, mono=3.0, key="h", pressed=True, char="h"))
    out += stage.process(MouseMove(ts=3.5, mono=3.5, x=1, y=1))
    out += stage.process(Frame(ts=4.0, mono=4.0, width=1, height=1, image=b"x"))
    paused = Marker(ts=5.0, mono=5.0, kind="paused")
    out += stage.process(paused)
    out += stage.process(_w("Editor", "gedit", 12.4))
    kinds = [e.type for e in out]
    assert kinds == ["window", "marker", "marker", "window"]
    assert out[1] is paused
    marker = out[2]
    assert isinstance(marker, Marker) and marker.kind == "suppressed"
    assert marker.detail == {"seconds": 10}
    stored = json.dumps([getattr(e, "__dict__", None) or repr(e) for e in out]).lower()
    assert "keepass" not in stored and "password" not in stored
    assert stage.take_removed() == {"window": 1, "key": 1, "mouse_move": 1, "frame": 1}


def test_suppressor_flush_accounts_for_the_gap_so_far() -> None:
    stage = DeniedWindowSuppressor(Denylist.default())
    stage.process(_w("Signal", "Signal", 10.0))
    stage.process(Key(ts=14.0, mono=14.0, key="a", pressed=True, char="a"))
    flushed = stage.flush()
    assert [m.detail for m in flushed if isinstance(m, Marker)] == [{"seconds": 4}]
    assert stage.suppressing
    assert stage.tick(20.0) == []

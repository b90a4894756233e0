"""Password fields through real AT-SPI on the test X server: a GTK dialog with a hidden entry.

A private D-Bus session starts the accessibility bus; zenity (GTK 3, which speaks AT-SPI
through at-spi2-atk) shows a password entry; xdotool moves the focus between it and an
xterm. The dialog's title says nothing of passwords, so only the platform signal can
hide what is typed there.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from capture.events import Event, Marker
from capture.secure_input.atspi import FOCUS_EVENT, AtspiSecureInput, connect_atspi
from capture.secure_input.common import SECURE_INPUT
from tests.a11y_session import A11ySession, start_a11y_session
from tests.agent_status import non_frame_events
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.conftest import XTerm
from tests.waiting import wait_for
from tests.xserver import XServer

pytestmark = pytest.mark.x11

DIALOG_TITLE = "Enter access code"  # no word the title heuristic knows
TERMINAL_TITLE = "Plain notes terminal"
SECRET = "zq7Xv3Kw"
PLAIN = "hello there"


@pytest.fixture
def a11y(x_server: XServer, tmp_path: Path) -> Iterator[A11ySession]:
    """A private session bus with the accessibility bus for the test X server."""
    session = start_a11y_session(tmp_path / "runtime", x_server.display)
    try:
        yield session
    finally:
        session.stop()


PasswordDialog = Callable[[], str]


@pytest.fixture
def password_dialog(x_server: XServer, a11y: A11ySession) -> Iterator[PasswordDialog]:
    """Opens a zenity entry with hidden text on the session; returns its X window id."""
    procs: list[subprocess.Popen[bytes]] = []

    def open_dialog() -> str:
        procs.append(
            subprocess.Popen(
                ["zenity", "--entry", "--hide-text", "--title", DIALOG_TITLE, "--text", "Code:"],
                env=a11y.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        return x_server.window_named(f"^{DIALOG_TITLE}$", timeout=20)

    yield open_dialog
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def activate(x_server: XServer, window: str) -> None:
    x_server.run("xdotool", "windowactivate", "--sync", window, timeout=30)


class Recorder:
    """Collects the markers a source emits (from its thread)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def actives(self) -> list[bool]:
        return [
            e.detail["active"]
            for e in self.events
            if isinstance(e, Marker) and e.kind == SECURE_INPUT
        ]

    def wait_last(self, active: bool, timeout: float = 15.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.actives()[-1:] == [active], timeout):
                raise AssertionError(
                    f"no secure_input active={active} marker; got {self.actives()}"
                )


def test_atspi_source_follows_focus_into_and_out_of_a_password_field(
    x_server: XServer, xterm: XTerm, a11y: A11ySession, password_dialog: PasswordDialog
) -> None:
    terminal = xterm(TERMINAL_TITLE)
    recorder = Recorder()
    source = AtspiSecureInput(connect=lambda: connect_atspi(a11y.env), retry_interval=0.5)
    source.start(recorder)
    try:
        assert source.connected.wait(20), f"AT-SPI not followed: {source.unavailable}"
        recorder.wait_last(False)  # nothing focused at start
        dialog = password_dialog()
        activate(x_server, dialog)
        recorder.wait_last(True)
        activate(x_server, terminal)
        recorder.wait_last(False)
        activate(x_server, dialog)
        recorder.wait_last(True)
    finally:
        source.stop()
    assert recorder.actives()[:4] == [False, True, False, True]


def test_password_field_focused_before_the_source_starts_is_seen_at_once(
    x_server: XServer, a11y: A11ySession, password_dialog: PasswordDialog
) -> None:
    activate(x_server, password_dialog())
    # The entry takes the focus once the window is active: a probe source sees it do so.
    probe = AtspiSecureInput(connect=lambda: connect_atspi(a11y.env), retry_interval=0.5)
    seen = Recorder()
    probe.start(seen)
    try:
        assert probe.connected.wait(20), f"AT-SPI not followed: {probe.unavailable}"
        seen.wait_last(True)
    finally:
        probe.stop()
    recorder = Recorder()
    source = AtspiSecureInput(connect=lambda: connect_atspi(a11y.env), retry_interval=0.5)
    source.start(recorder)
    try:
        assert source.connected.wait(20), f"AT-SPI not followed: {source.unavailable}"
        assert recorder.actives()[:1] == [True]
    finally:
        source.stop()


def test_agent_hides_what_is_typed_into_a_platform_password_field(
    x_server: XServer,
    xterm: XTerm,
    a11y: A11ySession,
    password_dialog: PasswordDialog,
    tmp_path: Path,
) -> None:
    home = recording_home(tmp_path)
    terminal = xterm(TERMINAL_TITLE)
    dialog = password_dialog()
    activate(x_server, terminal)

    env = {
        "DISPLAY": x_server.display,
        "WAYLAND_DISPLAY": None,
        "DBUS_SESSION_BUS_ADDRESS": a11y.address,
        "AT_SPI_BUS_ADDRESS": None,
    }
    proc = start_agent(home, **env)
    try:
        wait_until_running(home, proc)
        a11y.wait_for_listener(FOCUS_EVENT)  # the agent's source follows focus now
        wait_for(lambda: non_frame_events(home), "the start-up events")

        def focus_seen(window: str) -> None:
            # A person looks at the field before typing; the agent has both the window
            # event and the secure_input marker before the first key (nothing else but
            # frames, which are not counted, comes meanwhile).
            before = non_frame_events(home) or 0
            activate(x_server, window)
            wait_for(lambda: (non_frame_events(home) or 0) >= before + 2, "the focus change")

        focus_seen(dialog)
        x_server.run("xdotool", "type", "--delay", "60", SECRET, timeout=30)
        focus_seen(terminal)
        before = non_frame_events(home) or 0
        x_server.run("xdotool", "type", "--delay", "40", PLAIN, timeout=30)
        x_server.run("xdotool", "key", "Return", timeout=30)
        # Every key reached the pipeline (a press and a release each, Return included).
        wait_for(lambda: (non_frame_events(home) or 0) >= before + 2 * (len(PLAIN) + 1), "the keys")
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    assert "Traceback" not in err
    assert DIALOG_TITLE not in err and SECRET not in err  # logs name no title or text

    exported = run_cli(home, "export")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    markers = [
        r["detail"]["active"]
        for r in records
        if r["type"] == "marker" and r["kind"] == SECURE_INPUT
    ]
    assert markers[:3] == [False, True, False], markers
    typed = "".join(
        r["char"]
        for r in records
        if r["type"] == "key" and r["pressed"] and isinstance(r.get("char"), str)
    )
    assert PLAIN in typed  # keys outside the field are kept
    hidden = [
        r
        for r in records
        if r["type"] == "key" and r["pressed"] and r.get("redacted") == "password"
    ]
    assert len(hidden) >= len(SECRET), typed
    for ch in set(SECRET) - set(PLAIN):
        assert ch not in typed, f"{ch!r} of the secret was stored"
    assert SECRET not in exported.stdout
    assert DIALOG_TITLE in {r.get("title") for r in records if r["type"] == "window"}

"""The tray: state → view and menu, actions → socket commands, and the real icon docked in
trayer on Xvfb, driven through its real popup menu with xdotool."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import NotRunning
from agent.runtime.status import read_status
from agent.tray.app import (
    COMMANDS,
    OPT_OUT_CONFIRM,
    OPT_OUT_PURGE_CONFIRM,
    Action,
    Look,
    TrayController,
    TrayView,
    menu_entries,
    view_of,
)
from agent.tray.icons import draw_icon
from tests.agent_status import consent_reply, daemon_reply
from tests.cli_helpers import CLI, cli_env, run_cli, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for
from tests.xserver import XServer, require_tools

NOW = 1_000_000.0
CHUNK = 30.0


def running_status(state: str = "recording", **consent: Any) -> dict[str, Any]:
    """A `status` reply of a running daemon, as agent.runtime.daemon builds it."""
    return daemon_reply(
        state=state,
        consent=consent_reply(state, **consent),
        events_per_second=0.0,
        last_sealed_ts=NOW - 5,
        started_ts=NOW - 600,
        blocked_reason=consent.get("reason"),
    )


def shown(status: dict[str, Any] | None, problem: str | None, now: float, chunk: float) -> TrayView:
    """The view of a raw reply, decoded as the tray decodes it."""
    return view_of(None if status is None else read_status(status), problem, now, chunk)


def enabled_actions(view: TrayView) -> set[Action]:
    """The actions whose menu rows may be chosen (submenus included)."""
    out = set()
    for entry in menu_entries(view):
        for e in (entry, *entry.children):
            if e.enabled and e.action is not None:
                out.add(e.action)
    return out


# -- state → view ---------------------------------------------------------------------------


def test_recording_with_a_recent_chunk_shows_recording() -> None:
    view = shown(running_status(), None, NOW, CHUNK)
    assert view.look is Look.RECORDING and view.title == "capture-agent: recording"
    assert enabled_actions(view) == {
        Action.SNOOZE_5,
        Action.SNOOZE_15,
        Action.SNOOZE_30,
        Action.OPT_OUT,
        Action.OPT_OUT_PURGE,
        Action.SHOW,
        Action.QUIT,
    }


def test_a_denied_window_in_focus_shows_not_recorded_not_the_red_dot() -> None:
    status = running_status()
    status["focus_denied"] = True
    view = shown(status, None, NOW, CHUNK)
    assert view.look is Look.NOT_RECORDED
    assert view.title == "capture-agent: this window is not recorded (it is on the denylist)"
    assert draw_icon(Look.NOT_RECORDED).tobytes() != draw_icon(Look.RECORDING).tobytes()
    status["focus_denied"] = False
    assert shown(status, None, NOW, CHUNK).look is Look.RECORDING


def test_recording_with_events_flowing_but_no_chunk_yet_shows_recording() -> None:
    status = running_status()
    status.update(last_sealed_ts=None, events_per_second=12.5)
    assert shown(status, None, NOW, CHUNK).look is Look.RECORDING


def test_recording_with_nothing_written_lately_is_quiet_and_says_how_long() -> None:
    status = running_status()
    status["last_sealed_ts"] = NOW - 300
    view = shown(status, None, NOW, CHUNK)
    assert view.look is Look.QUIET and "nothing written for 5 min" in view.title


def test_young_session_without_a_chunk_is_still_recording() -> None:
    status = running_status()
    status.update(last_sealed_ts=None, started_ts=NOW - 10)
    assert shown(status, None, NOW, CHUNK).look is Look.RECORDING


def test_snoozed_shows_whole_minutes_left_and_allows_resume() -> None:
    view = shown(running_status("snoozed", minutes_left=4.2), None, NOW, CHUNK)
    assert view.look is Look.SNOOZED and view.minutes_left == 5
    assert "snoozed, 5 min left" in view.title
    assert Action.RESUME in enabled_actions(view)


def test_opted_out_allows_only_opt_in_show_and_quit() -> None:
    view = shown(running_status("opted_out"), None, NOW, CHUNK)
    assert view.look is Look.OPTED_OUT
    assert enabled_actions(view) == {Action.OPT_IN, Action.SHOW, Action.QUIT}


def test_no_consent_says_so_and_offers_opt_in() -> None:
    view = shown(running_status("no_consent"), None, NOW, CHUNK)
    assert view.look is Look.NO_CONSENT and "not opted in" in view.title
    assert enabled_actions(view) == {
        Action.OPT_IN,
        Action.OPT_OUT,
        Action.OPT_OUT_PURGE,
        Action.SHOW,
        Action.QUIT,
    }


def test_blocked_shows_the_reason() -> None:
    view = shown(
        running_status("blocked", reason="fleet policy: collect is false"), None, NOW, CHUNK
    )
    assert view.look is Look.BLOCKED
    assert view.title == "capture-agent: blocked: fleet policy: collect is false"


def test_policy_snooze_maximum_disables_longer_snoozes() -> None:
    view = shown(running_status(snooze_max_minutes=10), None, NOW, CHUNK)
    assert view.enabled(Action.SNOOZE_5)
    assert not view.enabled(Action.SNOOZE_15) and not view.enabled(Action.SNOOZE_30)


@pytest.mark.parametrize(
    ("status", "problem", "expected"),
    [
        (None, "the agent did not answer in time", "the agent did not answer in time"),
        (
            {**running_status(), "state": "error", "capture_error": "DISPLAY is not set"},
            None,
            "DISPLAY is not set",
        ),
        ({**running_status(), "storage_error": "disk full"}, None, "disk full"),
        ({**running_status(), "state": "error"}, None, "capture is not running"),
        (
            {
                **running_status(),
                "state": "error",
                "health": ["screen capture returns black frames"],
            },
            None,
            "black frames",
        ),
    ],
)
def test_errors_show_the_error_look_and_say_why(
    status: dict[str, Any] | None, problem: str | None, expected: str
) -> None:
    view = shown(status, problem, NOW, CHUNK)
    assert view.look is Look.ERROR and expected in view.title


def test_daemon_not_running_offers_start_and_consent_changes_but_no_snooze() -> None:
    status = {"running": False, "consent": consent_reply("recording")}
    view = shown(status, None, NOW, CHUNK)
    assert view.look is Look.STOPPED and "not running" in view.title and "opted in" in view.title
    assert enabled_actions(view) == {
        Action.START,
        Action.OPT_OUT,
        Action.OPT_OUT_PURGE,
        Action.SHOW,
        Action.QUIT,
    }
    labels = [e.label for e in menu_entries(view)]
    assert labels[1] == "Start agent" and labels[-1] == "Quit tray"
    running = menu_entries(shown(running_status(), None, NOW, CHUNK))
    assert "Start agent" not in [e.label for e in running]


HOSTILE_REPLIES = [
    ("not an object", "garbage", "not an object"),
    ("no running", {"state": "recording"}, "`running` must be true or false"),
    ("an old daemon's partial reply", {"running": True, "state": "recording"}, "missing"),
    ("consent of the wrong type", {**running_status(), "consent": 5}, "$.consent"),
    (
        "a string where a count goes",
        {**running_status(), "events_per_second": "fast"},
        "$.events_per_second",
    ),
    ("health not a list", {**running_status(), "health": {"a": 1}}, "$.health"),
    ("offline without consent", {"running": False}, "consent"),
]


@pytest.mark.parametrize(
    ("reply", "says"), [h[1:] for h in HOSTILE_REPLIES], ids=[h[0] for h in HOSTILE_REPLIES]
)
def test_a_status_reply_the_tray_cannot_read_is_an_error_view_not_a_crash(
    reply: object, says: str
) -> None:
    controller = TrayController(lambda c, a: reply, CHUNK, show=lambda: None, clock=lambda: NOW)
    view = controller.refresh()
    assert view.look is Look.ERROR
    assert "malformed status" in view.title and says in view.title
    assert "\n" not in view.title and "Traceback" not in view.title
    assert not view.can_snooze  # nothing read, nothing offered as if recording


# -- menu and commands ----------------------------------------------------------------------


def test_menu_order_heading_and_opt_out_confirmation() -> None:
    view = shown(running_status(), None, NOW, CHUNK)
    entries = menu_entries(view)
    assert [e.label for e in entries] == [
        "capture-agent: recording",
        "Snooze 5 minutes",
        "Snooze 15 minutes",
        "Snooze 30 minutes",
        "Resume recording",
        "Opt out…",
        "Opt in (start recording)",
        "Show what is recorded",
        "Quit tray (the agent keeps running)",
    ]
    assert not entries[0].enabled and entries[0].action is None
    opt_out = entries[5]
    assert opt_out.action is None  # choosing it only opens the confirmation
    assert [(c.label, c.action) for c in opt_out.children] == [
        (OPT_OUT_CONFIRM, Action.OPT_OUT),
        (OPT_OUT_PURGE_CONFIRM, Action.OPT_OUT_PURGE),
    ]
    assert "uploaded" in OPT_OUT_CONFIRM and "delete" in OPT_OUT_PURGE_CONFIRM


def test_each_consent_action_sends_its_socket_command() -> None:
    assert COMMANDS == {
        Action.SNOOZE_5: ("pause", {"minutes": 5}),
        Action.SNOOZE_15: ("pause", {"minutes": 15}),
        Action.SNOOZE_30: ("pause", {"minutes": 30}),
        Action.RESUME: ("resume", {}),
        Action.OPT_OUT: ("opt_out", {}),
        Action.OPT_OUT_PURGE: ("opt_out", {}),
        Action.OPT_IN: ("opt_in", {}),
    }


class FakeDaemon:
    """Answers `status` with a fixed reply and records every other command."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def __call__(self, cmd: str, args: dict[str, Any]) -> Any:
        if cmd == "status":
            return running_status()
        self.sent.append((cmd, args))
        if self.fail is not None:
            raise self.fail
        return running_status()


def test_controller_sends_each_action_and_refreshes() -> None:
    daemon = FakeDaemon()
    shown: list[bool] = []
    done: list[str] = []
    controller = TrayController(
        daemon,
        CHUNK,
        show=lambda: shown.append(True),
        clock=lambda: NOW,
        start=lambda: done.append("start"),
        purge=lambda: done.append("purge"),
    )
    for action in Action:
        assert controller.perform(action) is None
    assert daemon.sent == [COMMANDS[a] for a in Action if a in COMMANDS]
    assert shown == [True]
    assert done == ["purge", "start"]  # the purge after the opt-out, in Action's order
    assert controller.view.look is Look.RECORDING


def test_controller_turns_a_refusal_into_a_message_and_a_tooltip_line() -> None:
    from agent.runtime.control import ControlError

    clock = [NOW]
    daemon = FakeDaemon(fail=ControlError("cannot resume: you have opted out; opt in to record"))
    controller = TrayController(daemon, CHUNK, show=lambda: None, clock=lambda: clock[0])
    controller.refresh()
    message = controller.perform(Action.RESUME)
    assert message == "Resume failed: cannot resume: you have opted out; opt in to record"
    assert controller.view.title.endswith("| " + message)
    clock[0] += 120  # an old error leaves the tooltip
    assert "failed" not in controller.view.title


def test_controller_reports_a_missing_daemon_and_a_failing_show() -> None:
    def absent(cmd: str, args: dict[str, Any]) -> Any:
        raise NotRunning("the agent is not running")

    def broken_show() -> None:
        raise FileNotFoundError(2, "No such file or directory")

    controller = TrayController(absent, CHUNK, show=broken_show, clock=lambda: NOW)
    view = controller.refresh()
    assert view.look is Look.ERROR and "not running" in view.title
    assert controller.perform(Action.OPT_OUT) == "Opt out failed: the agent is not running"
    assert (
        controller.perform(Action.SHOW) == "Show what is recorded failed: No such file or directory"
    )


def test_every_look_has_its_own_icon() -> None:
    images = {
        look: draw_icon(look, 12 if look is Look.SNOOZED else None).tobytes()
        for look in Look
        if look is not Look.NO_CONSENT
    }
    assert len(set(images.values())) == len(images)
    assert draw_icon(Look.SNOOZED, 5).tobytes() != draw_icon(Look.SNOOZED, 25).tobytes()
    assert draw_icon(Look.RECORDING, size=22).size == (22, 22)


@pytest.mark.parametrize(("width", "height"), [(24, 46), (46, 24), (22, 22), (1, 30)])
def test_an_icon_fitted_to_a_window_of_any_shape_stays_round(width: int, height: int) -> None:
    from agent.tray.icons import fit_icon

    fitted = fit_icon(draw_icon(Look.RECORDING), width, height)
    assert fitted.size == (width, height)
    box = fitted.getchannel("A").point(lambda a: 255 if a > 128 else 0).getbbox()
    assert box is not None
    dot_width, dot_height = box[2] - box[0], box[3] - box[1]
    assert abs(dot_width - dot_height) <= 1, (box, fitted.size)
    # centred: the margins on each side differ by at most a pixel
    assert abs(box[0] - (width - box[2])) <= 1 and abs(box[1] - (height - box[3])) <= 1


def test_offline_client_reads_and_changes_persisted_consent(tmp_path: Path) -> None:
    from agent.config import load_config
    from agent.paths import resolve_paths
    from agent.tray.ui import DaemonClient

    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
    client = DaemonClient(paths, load_config(paths.config_file))
    assert read_status(client("status", {})).consent.state == "no_consent"
    assert read_status(client("opt_in", {})).consent.state == "recording"
    with pytest.raises(NotRunning):
        client("pause", {"minutes": 5})
    assert json.loads(run_cli(home, "status", "--json").stdout)["running"] is False


def test_tray_without_a_display_is_one_clear_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    done = run_cli(home, "tray", DISPLAY=None, WAYLAND_DISPLAY=None, PYSTRAY_BACKEND="xorg")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "DISPLAY" in done.stderr


# -- the real icon in a real tray host --------------------------------------------------------

ROW_LABELS = [e.label for e in menu_entries(TrayView(Look.RECORDING, "heading"))]
TRACE = '{"type":"key","t":0.0,"key":"h","pressed":true,"char":"h"}\n'
DEADLINE = 30.0


class X:
    """A python-xlib connection to the test server, for reading windows."""

    def __init__(self, display: str) -> None:
        import Xlib.display

        self.d = Xlib.display.Display(display)
        self.display = display

    def tray_owner(self) -> int:
        atom = self.d.intern_atom(f"_NET_SYSTEM_TRAY_S{self.d.get_default_screen()}")
        return int(self.d.get_selection_owner(atom).id) if self.d.get_selection_owner(atom) else 0

    def window(self, wid: int) -> Any:
        return self.d.create_resource_object("window", wid)

    def ancestors_classes(self, wid: int) -> list[tuple[str, ...]]:
        out = []
        window = self.window(wid)
        root = self.d.screen().root.id
        while window.id != root:
            window = window.query_tree().parent
            out.append(tuple(window.get_wm_class() or ()))
        return out

    def name(self, wid: int) -> str:
        """The window's WM_NAME, read by xprop ("" while it cannot be read). A client of
        its own: in a full run, an X error on this connection once came back as
        python-xlib's RANDR error class (its error table is one for every connection of
        the process), whose parsing raised AttributeError and broke the connection."""
        done = subprocess.run(
            ["xprop", "-id", str(wid), "-notype", "WM_NAME"],
            env={**os.environ, "DISPLAY": self.display},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        value = done.stdout.partition("=")[2].strip() if done.returncode == 0 else ""
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else ""

    def origin(self, wid: int) -> tuple[int, int]:
        coords = self.window(wid).translate_coords(self.d.screen().root, 0, 0)
        return -int(coords.x), -int(coords.y)

    def drawn_box(self, wid: int) -> tuple[int, int, int, int] | None:
        """The box of the icon's drawn (dark) pixels in window ``wid``: left, top, right, bottom."""
        from PIL import Image, ImageOps

        window = self.window(wid)
        size = window.get_geometry()
        raw = window.get_image(0, 0, size.width, size.height, 2, 0xFFFFFFFF)  # ZPixmap
        picture = Image.frombytes("RGB", (size.width, size.height), raw.data, "raw", "BGRX")
        # The tray paints its background light grey; every shape is darker or coloured.
        ink = ImageOps.invert(picture.convert("L")).point(lambda v: 255 if v > 90 else 0)
        box: tuple[int, int, int, int] | None = ink.getbbox()
        return box

    def close(self) -> None:
        self.d.close()


def search(x_server: XServer, *args: str) -> list[int]:
    """Window ids from `xdotool search ARGS` (empty when none)."""
    done = subprocess.run(
        ["xdotool", "search", *args],
        env=x_server.env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return [int(w) for w in done.stdout.split()]


def wait_for_title(x: X, icon: int, what: str, test: Callable[[str], bool]) -> None:
    """Wait until the icon's title (its tooltip, the window name) passes ``test``."""
    titles: list[str] = []

    def read() -> bool:
        titles.append(x.name(icon))
        return test(titles[-1])

    try:
        wait_for(read, what, timeout=DEADLINE)
    except AssertionError:
        raise AssertionError(
            f"timed out waiting for {what}; the tooltip says {titles[-1] if titles else None!r}"
        ) from None


def wait_for_docked_icon(x_server: XServer, x: X) -> int:
    """The tray icon's window id, once trayer has embedded it (XEmbed reparents it)."""
    icon: int = wait_for(
        lambda: search(x_server, "--classname", "^capture-agentSystemTrayIcon$"),
        "the tray icon window",
        timeout=DEADLINE,
    )[0]
    wait_for(
        lambda: ("panel", "trayer") in x.ancestors_classes(icon),
        "the icon to be embedded in trayer's panel",
        timeout=DEADLINE,
    )
    return icon


def start_tray(home: Path) -> subprocess.Popen[str]:
    """`capture-agent tray` on pystray's Xorg backend (its stderr kept for the test)."""
    return subprocess.Popen(
        [*CLI, "tray"],
        env=cli_env(home, PYSTRAY_BACKEND="xorg"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def running_trayer(x_server: XServer, height: int) -> Iterator[subprocess.Popen[bytes]]:
    """Debian's trayer, the system tray host, as a ``height`` px panel on the test X server."""
    require_tools(("trayer", "xdotool"))
    proc = x_server.spawn(
        "trayer",
        "--edge",
        "top",
        "--align",
        "right",
        "--widthtype",
        "request",
        "--height",
        str(height),
        "--SetDockType",
        "true",
    )
    x = X(x_server.display)
    try:
        wait_for(x.tray_owner, "trayer to own the system tray selection", timeout=DEADLINE)
        yield proc
    finally:
        x.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def trayer(x_server: XServer) -> Iterator[subprocess.Popen[bytes]]:
    """trayer in a 24 px panel, the usual size."""
    with running_trayer(x_server, 24) as proc:
        yield proc


def consent_state(home: Path) -> dict[str, Any]:
    done = run_cli(home, "status", "--json")
    assert done.returncode == 0, done.stderr
    status: dict[str, Any] = json.loads(done.stdout)
    return status


@pytest.mark.x11
def test_tray_docks_in_trayer_and_every_menu_action_changes_the_daemon(
    x_server: XServer, trayer: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    agent = start_agent(home, "--replay", str(trace), "--keep-running")
    tray = start_tray(home)
    x = X(x_server.display)
    try:
        wait_until_running(home, agent)
        # Docked: the icon window is reparented into trayer's panel (XEmbed), not the root.
        icon = wait_for_docked_icon(x_server, x)

        def title_is(what: str, test: Callable[[str], bool]) -> None:
            wait_for_title(x, icon, what, test)

        title_is("the recording tooltip", lambda t: t == "capture-agent: recording")

        def choose(*labels: str) -> None:
            """Click the icon, then each row (a submenu's rows follow its parent's)."""
            wait_for(
                lambda: not search(x_server, "--name", "^capture-agent menu$"),
                "the previous menu to close",
                timeout=DEADLINE,
            )
            for _ in range(3):
                x_server.run("xdotool", "mousemove", "--window", str(icon), "6", "6", "click", "1")
                try:
                    menu = wait_for(
                        lambda: search(x_server, "--onlyvisible", "--name", "^capture-agent menu$"),
                        "the popup menu",
                        timeout=5.0,
                    )[0]
                    break
                except AssertionError:
                    continue
            else:
                raise AssertionError(f"clicking the icon never opened the menu (for {labels})")
            rows = ROW_LABELS
            for label in labels:
                left, top = x.origin(menu)
                row = rows.index(label)
                x_server.run(
                    "xdotool", "mousemove", str(left + 30), str(top + row * 26 + 13), "click", "1"
                )
                rows = ["Opt out", OPT_OUT_CONFIRM, OPT_OUT_PURGE_CONFIRM, "Cancel"]

        def state_is(state: str, **consent: Any) -> Callable[[], bool]:
            def probe() -> bool:
                got = consent_state(home)["consent"]
                return got["state"] == state and all(
                    got.get(k) is not None and got[k] <= v for k, v in consent.items()
                )

            return probe

        def snoozed_for(m: int) -> Callable[[str], bool]:
            return lambda t: t.startswith(f"capture-agent: snoozed, {m} min left")

        for minutes in (5, 15, 30):
            choose(f"Snooze {minutes} minutes")
            wait_for(
                state_is("snoozed", minutes_left=minutes),
                f"a {minutes}-minute snooze",
                timeout=DEADLINE,
            )
            assert consent_state(home)["consent"]["minutes_left"] > minutes - 1
            title_is("the snoozed tooltip", snoozed_for(minutes))
        choose("Resume recording")
        wait_for(state_is("recording"), "recording after resume", timeout=DEADLINE)

        choose("Opt out…", "Cancel")  # the confirmation can be declined
        wait_for(
            lambda: not search(x_server, "--name", "^capture-agent menu$"),
            "the menu to close",
            timeout=DEADLINE,
        )
        assert consent_state(home)["consent"]["state"] == "recording"
        choose("Opt out…", OPT_OUT_CONFIRM)
        wait_for(state_is("opted_out"), "opted out", timeout=DEADLINE)
        title_is("the opted-out tooltip", lambda t: "opted out" in t)
        choose("Opt in (start recording)")
        wait_for(state_is("recording"), "recording after opt in", timeout=DEADLINE)

        choose("Show what is recorded")
        shown = wait_for(
            lambda: search(x_server, "--name", "^capture-agent: what is recorded$"),
            "the 'what is recorded' window",
            timeout=DEADLINE,
        )
        for window in shown:
            x_server.run("xdotool", "windowkill", str(window))

        choose("Quit tray (the agent keeps running)")
        assert tray.wait(timeout=DEADLINE) == 0
        assert consent_state(home)["running"] is True
    finally:
        x.close()
        if tray.poll() is None:
            tray.terminate()
        _, tray_err = tray.communicate(timeout=10)
        code, err = stop_agent(agent)
    assert "Traceback" not in tray_err, tray_err
    assert code == 0, err


@pytest.mark.x11
def test_run_with_tray_shows_the_icon_and_stops_it_with_the_daemon(
    x_server: XServer, trayer: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    agent = start_agent(
        home, "--replay", str(trace), "--keep-running", "--tray", PYSTRAY_BACKEND="xorg"
    )
    x = X(x_server.display)
    try:
        wait_until_running(home, agent)
        icon = wait_for_docked_icon(x_server, x)
        wait_for_title(x, icon, "the recording tooltip", lambda t: t == "capture-agent: recording")
    finally:
        x.close()
        code, err = stop_agent(agent)
    assert code == 0, err
    assert "Traceback" not in err, err
    wait_for(
        lambda: not search(x_server, "--classname", "^capture-agentSystemTrayIcon$"),
        "the icon to go with the daemon",
        timeout=DEADLINE,
    )


@pytest.mark.x11
def test_the_icon_keeps_its_shape_in_a_panel_that_gives_it_a_tall_window(
    x_server: XServer, tmp_path: Path
) -> None:
    # trayer in a 48 px panel gives the icon a 24 x 46 window; pystray stretched the picture
    # to it (the stopped look's square became a 15 x 29 bar, the recording dot an oval).
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    with running_trayer(x_server, 48):
        tray = start_tray(home)
        x = X(x_server.display)
        try:
            icon = wait_for_docked_icon(x_server, x)
            wait_for_title(x, icon, "the stopped tooltip", lambda t: "not running" in t)
            size = x.window(icon).get_geometry()
            assert size.width != size.height, "the panel gave a square window: nothing to test"
            boxes: list[tuple[int, int, int, int] | None] = []

            def square_drawn() -> bool:
                boxes.append(x.drawn_box(icon))
                box = boxes[-1]
                return box is not None and abs((box[2] - box[0]) - (box[3] - box[1])) <= 1

            try:
                wait_for(square_drawn, "the stopped square drawn square", timeout=DEADLINE)
            except AssertionError:
                raise AssertionError(
                    f"the icon's square is drawn as {boxes[-1]} in a "
                    f"{size.width}x{size.height} window"
                ) from None
        finally:
            x.close()
            tray.terminate()
            _, err = tray.communicate(timeout=DEADLINE)
    assert "Traceback" not in err, err


def test_opt_out_mode_recording_is_announced_once() -> None:
    from agent.tray.app import OPT_OUT_MODE_NOTICE

    replies = [running_status(mode="opt-out", choice="undecided")] * 3 + [
        running_status(mode="opt-out", choice="opted_in")
    ]

    def send(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        return replies.pop(0)

    controller = TrayController(send, CHUNK, show=lambda: None, clock=lambda: NOW)
    controller.refresh()
    assert controller.take_notices() == [OPT_OUT_MODE_NOTICE]
    assert "opt-out mode" in OPT_OUT_MODE_NOTICE and "Opt out or snooze" in OPT_OUT_MODE_NOTICE
    controller.refresh()
    controller.refresh()
    assert controller.take_notices() == []  # once, not at every poll
    opted_in = TrayController(
        lambda c, a: running_status(), CHUNK, show=lambda: None, clock=lambda: NOW
    )
    opted_in.refresh()
    assert opted_in.take_notices() == []  # the person chose: nothing to announce


def test_start_from_the_tray_starts_the_agent_and_the_view_turns_from_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start, as the tray's menu runs it (the real DaemonClient and `capture-agent run`)."""
    from agent.config import load_config
    from agent.paths import resolve_paths
    from agent.tray.ui import DaemonClient, start_agent

    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "trace.jsonl"
    trace.write_text(TRACE)
    monkeypatch.setenv("CAPTURE_AGENT_HOME", str(home))
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
    config = load_config(paths.config_file)
    # As root (test containers) `run` needs --allow-root; the replay needs no display.
    argv = [*CLI, "run", "--allow-root", "--replay", str(trace), "--keep-running"]
    started: list[subprocess.Popen[str]] = []
    controller = TrayController(
        DaemonClient(paths, config),
        CHUNK,
        show=lambda: None,
        start=lambda: started.append(start_agent(paths, argv)),
    )
    before = controller.refresh()
    assert before.look is Look.STOPPED and Action.START in enabled_actions(before)
    try:
        assert controller.perform(Action.START) is None
        after = controller.refresh()
        assert after.running and Action.START not in enabled_actions(after)
        assert consent_state(home)["running"] is True
    finally:
        for proc in started:
            proc.terminate()
            proc.wait(timeout=DEADLINE)


def test_a_start_that_fails_says_why_in_one_line(tmp_path: Path) -> None:
    from agent.paths import resolve_paths
    from agent.tray.ui import start_agent

    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
    failing = ["sh", "-c", "echo 'capture-agent: no display: set DISPLAY' >&2; exit 69"]
    started: list[subprocess.Popen[str]] = []
    controller = TrayController(
        lambda c, a: {"running": False, "consent": consent_reply("recording")},
        CHUNK,
        show=lambda: None,
        start=lambda: started.append(start_agent(paths, failing)),
    )
    message = controller.perform(Action.START)
    assert message == (
        "Start agent failed: the agent did not start (exit 69): capture-agent: no display: "
        "set DISPLAY; run `capture-agent run` to see why"
    )
    assert not started


def test_a_real_agent_with_a_denied_window_focused_shows_not_recorded(tmp_path: Path) -> None:
    """The daemon's status says a denylisted window has the focus; the tray shows it."""
    from agent.config import load_config
    from agent.paths import resolve_paths
    from agent.tray.ui import DaemonClient

    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        '{"type":"window","t":0.0,"title":"Passwords.kdbx - KeePassXC","app":"keepassxc"}\n'
        '{"type":"key","t":0.1,"key":"h","pressed":true,"char":"h"}\n'
    )
    agent = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, agent)
        wait_for(
            lambda: consent_state(home).get("focus_denied") is True,
            "status to say a denied window has the focus",
            timeout=DEADLINE,
        )
        paths = resolve_paths({"CAPTURE_AGENT_HOME": str(home)})
        controller = TrayController(
            DaemonClient(paths, load_config(paths.config_file)), CHUNK, show=lambda: None
        )
        view = controller.refresh()
        assert view.look is Look.NOT_RECORDED
        assert "this window is not recorded" in view.title
    finally:
        code, err = stop_agent(agent)
    assert code == 0, err

"""Privacy end to end on a real X server: the real agent, real input through xdotool.

Acceptance for issue 5: what is typed into windows titled like a password manager or an
online bank, and their titles, are stored nowhere; a payment card, an AWS key pair and
a password typed at a sudo prompt in an ordinary terminal are redacted before anything
reaches disk (export shows placeholders, no file holds the secrets, the words around
them are kept); a denied window that is visible but not focused is a solid rectangle in
every stored frame. All secrets are generated fakes.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image
from stdnum import luhn

from tests.agent_status import non_frame_events, running_status, screen_grabs
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.waiting import wait_for
from tests.xserver import XServer

pytestmark = pytest.mark.x11

VAULT = "Passwords.kdbx - KeePassXC"  # default denylist: password_manager
BANK = "Example Bank - Online Banking"  # default denylist: banking
NOTES = "Plain terminal notes"
# Terminals whose typed text goes nowhere: nothing is executed, so the test depends on
# no shell, no sudo and no prompt (the agent never sees terminal output anyway; its
# heuristics judge the typed lines). The quiet one does not even echo it.
QUIET_TERMINAL = ("sh", "-c", "stty -echo; exec cat > /dev/null")
ECHO_TERMINAL = ("sh", "-c", "exec cat > /dev/null")


def fake_card() -> str:
    """A random 16-digit number with a Visa prefix and a valid Luhn check digit."""
    body = "4" + "".join(secrets.choice(string.digits) for _ in range(14))
    return body + luhn.calc_check_digit(body)


def fake_aws_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def fake_aws_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(36)) + "x7K/"


def fake_password() -> str:
    return "plum" + "".join(secrets.choice(string.ascii_letters) for _ in range(6)) + "7"


class Desktop:
    """Terminals on the test X server, closed after the test."""

    def __init__(self, server: XServer, home: Path) -> None:
        self.server = server
        self.home = home  # the agent's home: its status tells what the agent has seen
        self.procs: list[subprocess.Popen[bytes]] = []
        self.grabs_before_last_key: int | None = None

    def terminal(
        self, title: str, x: int, y: int, cols: int = 60, rows: int = 15, echo: bool = False
    ) -> str:
        """Open an xterm at (x, y) titled ``title``; return its window id."""
        self.procs.append(
            self.server.spawn(
                "xterm",
                "-T",
                title,
                "-geometry",
                f"{cols}x{rows}+{x}+{y}",
                "-e",
                *(ECHO_TERMINAL if echo else QUIET_TERMINAL),
            )
        )
        return self.server.window_named(f"^{re.escape(title)}$", timeout=15)

    def xdo(self, *args: str) -> str:
        return self.server.run("xdotool", *args, timeout=60)

    def focus(self, window: str) -> None:
        already = self.server.active_window() == window
        seen = None if already else non_frame_events(self.home)
        self.xdo("windowactivate", "--sync", window)
        # A person does not type within milliseconds of a focus change; the focus
        # watcher's event must reach the pipeline before the first key does. Until
        # then no key, click or frame is made: the next event it counts is that one.
        if seen is not None:
            wait_for(lambda: (non_frame_events(self.home) or 0) > seen, "the focus change")

    def type_lines(self, *lines: str) -> None:
        for i, line in enumerate(lines):
            self.xdo("type", "--delay", "25", line)
            if i == len(lines) - 1:
                self.grabs_before_last_key = screen_grabs(self.home)
            self.xdo("key", "Return")

    def wait_for_typing_frame(self) -> None:
        """Wait until the screen was grabbed after the last line typed (its trailing frame).

        The last Return arms a typing trigger: the next grab judged covers it (a frame,
        or a skip when nothing changed, or withheld when a denied window is focused).
        """
        before = self.grabs_before_last_key
        if before is not None:
            wait_for(lambda: (screen_grabs(self.home) or 0) > before, "the typing's frame")

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def desktop(x_server: XServer, home: Path) -> Iterator[Desktop]:
    d = Desktop(x_server, home)
    yield d
    d.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return recording_home(tmp_path)


def recording(home: Path) -> bool:
    now = running_status(home)
    return now is not None and now["state"] == "recording"


def record_session(home: Path, server: XServer, act: Callable[[], None], desktop: Desktop) -> str:
    """Run the real agent around ``act``; return its stderr (after a clean stop)."""
    proc = start_agent(home, DISPLAY=server.display, WAYLAND_DISPLAY=None)
    try:
        wait_until_running(home, proc)
        wait_for(lambda: recording(home), "recording", timeout=15)
        # The start-up frame (the focused window may be a denied one: no event for it).
        wait_for(lambda: screen_grabs(home), "the start-up frame")
        act()
        desktop.wait_for_typing_frame()
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    assert "Traceback" not in err
    return err


def export(home: Path, *args: str) -> tuple[str, list[dict[str, Any]]]:
    done = run_cli(home, "export", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout, [json.loads(line) for line in done.stdout.splitlines()]


def typed(records: list[dict[str, Any]]) -> str:
    return "".join(
        r["char"]
        for r in records
        if r["type"] == "key" and r["pressed"] and isinstance(r.get("char"), str)
    )


def files_containing(root: Path, needles: list[str]) -> list[tuple[str, Path]]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [(n, path) for n in needles if n.encode() in data]
    return found


def test_secrets_and_denied_windows_never_reach_storage(
    x_server: XServer, desktop: Desktop, home: Path
) -> None:
    card, key_id, secret, password = (
        fake_card(),
        fake_aws_key_id(),
        fake_aws_secret(),
        fake_password(),
    )
    vault_words, bank_words = "vaultonlyword quokka", "bankonlyword zeppelin"
    notes = desktop.terminal(NOTES, 40, 40)
    vault = desktop.terminal(VAULT, 520, 60)
    bank = desktop.terminal(BANK, 520, 380)

    def act() -> None:
        desktop.focus(notes)
        desktop.type_lines("alpha opening words")
        desktop.focus(vault)
        desktop.type_lines(vault_words)
        desktop.focus(bank)
        desktop.type_lines(bank_words)
        desktop.focus(notes)
        desktop.type_lines(
            f"paying with card {card} today",
            f"export AWS_ACCESS_KEY_ID={key_id}",
            f"export AWS_SECRET_ACCESS_KEY={secret}",
            "sudo -k true",
            password,
            "charlie closing words",
        )

    err = record_session(home, x_server, act, desktop)
    stdout, records = export(home)
    text = typed(records)

    # What was typed around the secrets is there: the test cannot pass on an empty stream.
    for words in (
        "alpha opening words",
        "paying with card ",
        " today",
        "export AWS_",
        "sudo -k true",
        "charlie closing words",
    ):
        assert words in text, f"{words!r} was not recorded"
    # The secrets, the denied windows' titles and what was typed into them are not.
    forbidden = [
        card,
        key_id,
        secret,
        password,
        VAULT,
        BANK,
        "KeePassXC",
        "Online Banking",
        *vault_words.split(),
        *bank_words.split(),
    ]
    for needle in forbidden:
        assert needle not in stdout, f"{needle!r} is in the export"
        assert needle not in text, f"{needle!r} was typed into the stored stream"
    assert card not in re.sub(r"\D", "", text), "the card's digits are in the stored stream"
    assert not files_containing(home, forbidden)
    for needle in forbidden:
        assert needle not in err

    # Exactly the secrets are gone from the typed text: every other character is kept.
    markers = [(r["kind"], r.get("detail")) for r in records if r["type"] == "marker"]
    assert (
        "paying with card  today"
        "export AWS_ACCESS_KEY_ID="
        "export AWS_SECRET_ACCESS_KEY="
        "sudo -k true"
        "charlie closing words"
    ) in text, (text, markers)
    # Redacted, not lost: placeholders that name the category and keep the timing.
    redacted = [r for r in records if r["type"] == "key" and r["pressed"] and r.get("redacted")]
    categories = {r["redacted"] for r in redacted}
    assert {"payment_card", "password"} <= categories, categories
    assert categories & {"aws_key", "credential"}, categories
    assert categories & {"secret_key", "credential", "high_entropy"}, categories
    assert all(r["char"] is None and r["key"] == "redacted" for r in redacted)

    titles = [r["title"] for r in records if r["type"] == "window"]
    assert NOTES in titles
    assert any(r["type"] == "marker" and r["kind"] == "suppressed" for r in records)


def outer_rect(server: XServer, window: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a window with its decorations, from xwininfo and xprop."""
    info = server.run("xwininfo", "-id", window)

    def field(name: str) -> int:
        match = re.search(rf"{name}:\s+(-?\d+)", info)
        assert match, name
        return int(match.group(1))

    extents = server.run("xprop", "-id", window, "_NET_FRAME_EXTENTS")
    left, right, top, bottom = (int(v) for v in re.findall(r"\d+", extents.split("=")[1]))
    border = field("Border width")
    x, y = field("Absolute upper-left X") - border, field("Absolute upper-left Y") - border
    width, height = field("Width") + 2 * border, field("Height") + 2 * border
    return x - left, y - top, width + left + right, height + top + bottom


def spread(image: Image.Image) -> int:
    """The largest difference between the lowest and highest value of any channel."""
    bands = cast(tuple[tuple[int, int], ...], image.getextrema())
    return max(high - low for low, high in bands)


def test_a_visible_unfocused_denied_window_is_a_solid_rectangle_in_every_frame(
    x_server: XServer, desktop: Desktop, home: Path, tmp_path: Path
) -> None:
    notes = desktop.terminal(NOTES, 40, 40, cols=70, rows=20, echo=True)
    vault = desktop.terminal(VAULT, 200, 200)
    desktop.xdo("windowmove", "--sync", vault, "640", "360")
    desktop.xdo("windowsize", "--sync", vault, "420", "260")
    desktop.focus(notes)
    x, y, width, height = outer_rect(x_server, vault)
    assert (x, y) == (640, 360)

    def act() -> None:
        desktop.focus(notes)
        desktop.xdo("mousemove", "--sync", "120", "120")
        desktop.xdo("click", "1")
        desktop.type_lines("bravo words for a frame")
        desktop.wait_for_typing_frame()  # the rate cap: one frame a second
        desktop.type_lines("charlie words for another frame")

    record_session(home, x_server, act, desktop)
    frames_dir = tmp_path / "frames"
    stdout, records = export(home, "--frames", str(frames_dir))
    assert VAULT not in stdout
    frames = [r for r in records if r["type"] == "frame"]
    assert len(frames) >= 2, "too few frames were recorded"

    margin = 3  # lossy WebP blurs a few pixels at the mask's edges
    inside = (x + margin, y + margin, x + width - margin, y + height - margin)
    for frame in frames:
        with Image.open(frame["file"]) as opened:
            image = opened.convert("RGB")
        assert image.size == (x_server.width, x_server.height)
        masked = image.crop(inside)
        assert spread(masked) <= 12, "the denied window is not a uniform rectangle"
        assert max(masked.getpixel((0, 0))) <= 24  # type: ignore[arg-type]  # painted black
        # The rest of the screen is a real screenshot: blank out the window, look at it.
        rest = image.copy()
        rest.paste((0, 0, 0), (x, y, x + width, y + height))
        assert spread(rest) > 100, "the rest of the frame is uniform too"

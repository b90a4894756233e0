"""Screen privacy end to end (issue 18 acceptance): nothing the filters remove is readable
in a stored frame, and ordinary text beside it still is.

The real agent records a real Xvfb + openbox desktop driven by xdotool; every frame it
stored is exported (`export --frames`) and read back with RapidOCR (tests/ocr_reader.py),
an engine the agent does not use, so a secret only the agent's own OCR fails to see
still fails the test. All identifiers are generated fakes with valid checksums.

A secret counts as readable when any 6 consecutive digits of a number (card, SSN, IBAN,
MRN, date of birth) or 8 consecutive characters of a key, or an e-mail's whole local
part, appear in one OCR line of one frame. Over-masking fails too: each ordinary
sentence shown beside the secrets must be read in at least one frame.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from stdnum import iban as stdnum_iban
from stdnum import luhn

from tests.agent_status import running_status, screen_grabs
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.ocr_reader import FrameText, ScreenReader, readable_number, readable_text, words_read
from tests.waiting import wait_for
from tests.xserver import XServer, start_xserver

pytestmark = pytest.mark.x11

WIDTH, HEIGHT = 1024, 640  # small: RapidOCR's cost grows with the pixels it scans
ECHO_TERMINAL = ("sh", "-c", "exec cat > /dev/null")  # the tty echoes what is typed


# --- fakes ------------------------------------------------------------------------------


def fake_card() -> str:
    """16 digits, Visa test prefix, valid Luhn digit, grouped by four as people type them."""
    body = "4" + "".join(secrets.choice(string.digits) for _ in range(14))
    digits = body + luhn.calc_check_digit(body)
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def fake_ssn() -> str:
    """A valid-format SSN (area 001-665/667-899, group and serial not zero)."""
    area = secrets.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{secrets.randbelow(99) + 1:02d}-{secrets.randbelow(9999) + 1:04d}"


def fake_iban() -> str:
    """A German IBAN with a computed mod-97 check, in groups of four."""
    bban = "".join(secrets.choice(string.digits) for _ in range(18))
    number = int("".join(str(int(c, 36)) for c in bban + "DE00"))
    value = f"DE{98 - number % 97:02d}{bban}"
    assert stdnum_iban.is_valid(value)
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def fake_aws_key() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def fake_email() -> str:
    name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
    return f"{name}.quill{secrets.randbelow(90) + 10}@example.org"


def fake_mrn() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(8))


def fake_birth_date() -> str:
    month, day = secrets.randbelow(12) + 1, secrets.randbelow(28) + 1
    return f"19{secrets.randbelow(50) + 40}-{month:02d}-{day:02d}"


@dataclass(frozen=True)
class Secret:
    """One identifier shown on screen and how to tell it was read."""

    label: str
    value: str
    kind: str  # "number", "key" or "email"

    def read_in(self, lines: tuple[str, ...]) -> str | None:
        """What of this secret one frame's OCR lines show, or None."""
        if self.kind == "number":
            return readable_number(self.value, lines)
        if self.kind == "email":
            return readable_text(self.value.split("@")[0], lines)
        return readable_text(self.value.removeprefix("AKIA"), lines, run=8)


def typed_secrets() -> list[Secret]:
    return [
        Secret("card", fake_card(), "number"),
        Secret("ssn", fake_ssn(), "number"),
        Secret("iban", fake_iban(), "number"),
        Secret("key", fake_aws_key(), "key"),
        Secret("mail", fake_email(), "email"),
    ]


# --- the desktop and the agent ----------------------------------------------------------


class Desktop:
    """Windows on the test X server, driven by xdotool, closed after the session."""

    def __init__(self, server: XServer, home: Path) -> None:
        self.server = server
        self.home = home
        self.procs: list[subprocess.Popen[bytes]] = []

    def open(self, title: str, *command: str) -> str:
        """Start an X client whose window is titled ``title``; return its window id."""
        self.procs.append(self.server.spawn(*command))
        return self.server.window_named(f"^{re.escape(title)}$", timeout=30)

    def xdo(self, *args: str) -> str:
        return self.server.run("xdotool", *args, timeout=60)

    def focus(self, window: str) -> None:
        self.xdo("windowactivate", "--sync", window)
        wait_for(lambda: self.server.active_window() == window, "the focus")

    def settled_frame(self, act: Callable[[], object]) -> None:
        """Do ``act`` (input), then wait until the agent judged a screen grab after it.

        The grab that covers the last key of ``act`` comes after the typing burst ends:
        waiting for the counter to pass what it was before the last key means the screen
        as ``act`` left it was grabbed (stored, skipped as unchanged, or withheld).
        """
        act()
        before = screen_grabs(self.home) or 0
        self.xdo("key", "shift")  # a key after the screen settled: its trailing grab
        wait_for(lambda: (screen_grabs(self.home) or 0) > before, "a grab after the input")

    def type_lines(self, *lines: str) -> None:
        for line in lines:
            self.xdo("type", "--delay", "20", line)
            self.xdo("key", "Return")

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def recording(home: Path) -> bool:
    now = running_status(home)
    return now is not None and now["state"] == "recording"


@dataclass(frozen=True)
class Session:
    """What one recorded session left: every stored frame as RapidOCR read it."""

    frames: tuple[FrameText, ...]
    status: dict[str, Any]


def record(
    home: Path, server: XServer, reader: ScreenReader, act: Callable[[], None], tmp: Path
) -> Session:
    """Run the real agent around ``act``, export every frame, read each with RapidOCR."""
    proc = start_agent(home, DISPLAY=server.display, WAYLAND_DISPLAY=None)
    try:
        wait_until_running(home, proc)
        wait_for(lambda: recording(home), "recording", timeout=30)
        wait_for(lambda: screen_grabs(home), "the start-up grab", timeout=30)
        act()
        status = running_status(home) or {}
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    assert "Traceback" not in err
    frames_dir = tmp / "frames"
    done = run_cli(home, "export", "--frames", str(frames_dir))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    files = [Path(r["file"]) for r in records if r["type"] == "frame"]
    assert files, "no frame was stored"
    texts = []
    for file in files:
        with Image.open(file) as image:
            texts.append(reader.read(image, file.name))
    return Session(tuple(texts), status)


def leaks(session: Session, shown: list[Secret]) -> list[str]:
    """Every (frame, secret, what was read) where a secret is readable."""
    return [
        f"{frame.name}: {secret.label} read as {found!r}"
        for frame in session.frames
        for secret in shown
        if (found := secret.read_in(frame.lines)) is not None
    ]


def assert_readable(session: Session, sentence: str) -> None:
    """Over-masking fails: all words of ``sentence`` but one are read in one frame."""
    count, where = words_read(sentence, session.frames)
    words = len(sentence.split())
    assert count >= words - 1, (
        f"{sentence!r}: at most {count}/{words} words readable in any frame ({where}); "
        f"the last frame read: {session.frames[-1].lines}"
    )


# --- fixtures: one X server and one OCR engine for the module, one session per scene ----


@pytest.fixture(scope="module")
def reader() -> ScreenReader:
    return ScreenReader()


@pytest.fixture(scope="module")
def server() -> Iterator[XServer]:
    x = start_xserver(WIDTH, HEIGHT)
    try:
        yield x
    finally:
        x.stop()


TERMINAL_SENTENCE = "the otter paddles upstream before breakfast"
# Short enough to show whole in zenity's entry (about 22 characters wide): a longer one
# scrolls its first words out of the field, and no frame could show them.
FORM_SENTENCE = "quiet otters nap"


@dataclass(frozen=True)
class TypedScene:
    terminal: list[Secret]
    form: list[Secret]
    session: Session


@pytest.fixture(scope="module")
def typed_scene(
    server: XServer, reader: ScreenReader, tmp_path_factory: pytest.TempPathFactory
) -> TypedScene:
    """(a) secrets typed into an echoing xterm, scrolled off and back; (b) other secrets
    typed into a GTK form (zenity --forms); one recorded session."""
    tmp = tmp_path_factory.mktemp("typed")
    home = recording_home(tmp)
    desktop = Desktop(server, home)
    terminal_secrets, form_secrets = typed_secrets(), typed_secrets()
    term = desktop.open(
        "Issue18 terminal",
        *("xterm", "-T", "Issue18 terminal", "-geometry", "80x12+10+30", "-e", *ECHO_TERMINAL),
    )
    form = desktop.open(
        "Issue18 form",
        *("zenity", "--forms", "--title", "Issue18 form", "--text", "Payment details"),
        *(f"--add-entry={s.label}" for s in form_secrets),
        *("--add-entry=note", "--width", "620"),
    )
    desktop.xdo("windowmove", "--sync", form, "10", "260")

    def act() -> None:
        desktop.focus(term)
        desktop.settled_frame(
            lambda: desktop.type_lines(
                TERMINAL_SENTENCE, *(f"{s.label} {s.value}" for s in terminal_secrets)
            )
        )
        # Scroll the secrets out of the terminal, then back into view where they were
        # never typed: the mask must follow the text, not the place it was typed at.
        desktop.settled_frame(lambda: desktop.xdo("key", "--delay", "30", *["Return"] * 12))
        desktop.settled_frame(lambda: desktop.xdo("key", "shift+Prior"))
        # Back to the top, the sentence in view above them again: where a secret was
        # found before this scroll is not masked any more (the sentence is there now).
        desktop.settled_frame(lambda: desktop.xdo("key", "shift+Prior"))
        desktop.focus(form)
        desktop.settled_frame(fill_form)

    def fill_form() -> None:
        for text in [*(s.value for s in form_secrets), FORM_SENTENCE]:
            desktop.xdo("type", "--delay", "20", text)
            desktop.xdo("key", "Tab")

    try:
        session = record(home, server, reader, act, tmp)
    finally:
        desktop.close()
    return TypedScene(terminal_secrets, form_secrets, session)


PAYSLIP_WORDS = "payslip march net pay"
PATIENT_WORDS = "patient seen in the cardiology ward"
CONTACT_WORDS = "please contact about the quarterly otter report"


@dataclass(frozen=True)
class DisplayedScene:
    money: list[Secret]
    health: list[Secret]
    session: Session


@pytest.fixture(scope="module")
def displayed_scene(
    server: XServer, reader: ScreenReader, tmp_path_factory: pytest.TempPathFactory
) -> DisplayedScene:
    """(c) a file with a payslip line, a patient line and an e-mail address, shown (not
    typed) by `cat` in an xterm and by a GTK viewer (zenity --text-info)."""
    tmp = tmp_path_factory.mktemp("displayed")
    home = recording_home(tmp)
    desktop = Desktop(server, home)
    ssn, iban, email = fake_ssn(), fake_iban(), fake_email()
    mrn, born = fake_mrn(), fake_birth_date()
    text = tmp / "records.txt"
    text.write_text(
        f"{PAYSLIP_WORDS} 3,412.50 EUR to IBAN {iban} SSN {ssn}\n"
        f"{PATIENT_WORDS} MRN {mrn} date of birth {born}\n"
        f"please contact {email} about the quarterly otter report\n"
    )
    money = [Secret("iban", iban, "number"), Secret("ssn", ssn, "number")]
    money.append(Secret("mail", email, "email"))
    health = [Secret("mrn", mrn, "number"), Secret("birth date", born, "number")]

    def act() -> None:
        term = desktop.open(
            "Issue18 cat",
            *("xterm", "-T", "Issue18 cat", "-geometry", "100x8+10+30", "-e", "sh", "-c"),
            f"cat {text}; exec cat > /dev/null",
        )
        desktop.focus(term)
        desktop.settled_frame(lambda: desktop.type_lines("the file is shown above"))
        viewer = desktop.open(
            "Issue18 viewer",
            *("zenity", "--text-info", "--title", "Issue18 viewer", f"--filename={text}"),
            *("--width", "900", "--height", "240"),
        )
        desktop.xdo("windowmove", "--sync", viewer, "10", "250")
        desktop.focus(viewer)
        desktop.settled_frame(lambda: desktop.xdo("key", "ctrl+Home"))

    try:
        session = record(home, server, reader, act, tmp)
    finally:
        desktop.close()
    return DisplayedScene(money, health, session)


# --- (a), (b), (c): nothing readable, ordinary words readable ----------------------------


def test_secrets_typed_into_an_echoing_terminal_are_unreadable_in_every_frame(
    typed_scene: TypedScene,
) -> None:
    assert not leaks(typed_scene.session, typed_scene.terminal)


def test_the_sentence_typed_beside_them_in_the_terminal_stays_readable(
    typed_scene: TypedScene,
) -> None:
    assert_readable(typed_scene.session, TERMINAL_SENTENCE)


def test_secrets_typed_into_a_gtk_entry_are_unreadable_in_every_frame(
    typed_scene: TypedScene,
) -> None:
    assert not leaks(typed_scene.session, typed_scene.form)


def test_the_sentence_typed_beside_them_in_the_gtk_form_stays_readable(
    typed_scene: TypedScene,
) -> None:
    assert_readable(typed_scene.session, FORM_SENTENCE)


def test_displayed_financial_and_contact_identifiers_are_unreadable(
    displayed_scene: DisplayedScene,
) -> None:
    assert not leaks(displayed_scene.session, displayed_scene.money)
    assert_readable(displayed_scene.session, PAYSLIP_WORDS)
    assert_readable(displayed_scene.session, CONTACT_WORDS)


def test_displayed_health_identifiers_are_unreadable(displayed_scene: DisplayedScene) -> None:
    assert not leaks(displayed_scene.session, displayed_scene.health)
    assert_readable(displayed_scene.session, PATIENT_WORDS)


# --- (d): a frame that cannot be scrubbed is never stored --------------------------------


def test_a_frame_the_scrub_cannot_judge_is_withheld_counted_and_explained(
    server: XServer, tmp_path: Path
) -> None:
    """Tesseract with damaged language data (TESSDATA_PREFIX naming a folder whose
    eng.traineddata is garbage) cannot read: the agent keeps running, stores no frame,
    counts each one withheld, and `status` and `doctor` say it is the OCR and how to fix
    it."""
    home = recording_home(tmp_path)
    damaged = tmp_path / "tessdata"
    damaged.mkdir()
    (damaged / "eng.traineddata").write_bytes(secrets.token_bytes(4096))
    broken: dict[str, str | None] = {
        "TESSDATA_PREFIX": str(damaged),
        "DISPLAY": server.display,
        "WAYLAND_DISPLAY": None,
    }
    desktop = Desktop(server, home)
    term = desktop.open(
        "Issue18 blind",
        *("xterm", "-T", "Issue18 blind", "-geometry", "60x8+10+30", "-e", *ECHO_TERMINAL),
    )
    proc = start_agent(home, **broken)
    try:
        wait_until_running(home, proc)
        wait_for(lambda: recording(home), "recording", timeout=30)
        wait_for(lambda: screen_grabs(home), "the start-up grab", timeout=30)
        desktop.focus(term)
        desktop.settled_frame(lambda: desktop.type_lines("nothing of this may be stored"))
        status = wait_for(
            lambda: (now := running_status(home)) and now["screen"]["withheld"] >= 2 and now,
            "frames withheld",
        )
        doctor = run_cli(home, "doctor", timeout=60, **broken)
    finally:
        code, err = stop_agent(proc)
        desktop.close()
    assert code == 0, err
    assert "Traceback" not in err
    assert status["screen"]["frames"] == 0, status["screen"]
    why = json.dumps(status).lower()
    assert "ocr" in why and "tesseract" in why, status
    said = (doctor.stdout + doctor.stderr).lower()
    assert "ocr" in said and "tesseract-ocr" in said, said
    frames_dir = tmp_path / "frames"
    done = run_cli(home, "export", "--frames", str(frames_dir))
    assert done.returncode == 0, done.stderr
    assert not [r for r in map(json.loads, done.stdout.splitlines()) if r["type"] == "frame"]
    assert not list(frames_dir.glob("*"))

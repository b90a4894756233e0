"""The daemon's OCR scrub, wired: the real agent, the real Tesseract, a real X server.

A card number merely displayed in a terminal (never typed, so only the OCR can find it)
is masked in every stored frame while the sentence beside it stays readable; the frame
records say where (stage ``screen_ocr``), `status` counts it with the engine that read
it, and `verify` finds no chunk unscrubbed. The wiring between the scrub and the ledger
is checked on its own with the fake engine. (The acceptance test that reads frames with a
second OCR engine is tests/privacy/test_screen_privacy_e2e.py.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image, ImageDraw

from capture.ocr.base import OcrWord
from capture.ocr.fake import FakeOcr
from capture.ocr.tesseract import TesseractOcr
from capture.screen.frame_maker import RawShot
from privacy.screen_scrub import FrameScrubber, ScreenScrubber, line_text, lines_of
from privacy.scrub_ledger import ScrubLedger
from tests.agent_status import running_status
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running
from tests.privacy.test_privacy_e2e import fake_card
from tests.waiting import wait_for
from tests.xserver import XServer, start_xserver

SENTENCE = "please review the quarterly report"


def screen(home: Path) -> dict[str, Any]:
    now = running_status(home)
    return {} if now is None or not now.get("screen") else dict(now["screen"])


@pytest.fixture(scope="module")
def tesseract() -> Iterator[ScreenScrubber]:
    """The reader of stored frames: Tesseract in strips, as the agent reads the screen."""
    ocr = TesseractOcr()
    yield ScreenScrubber(ocr)
    ocr.close()


@pytest.fixture(scope="module")
def own_x_server() -> Iterator[XServer]:
    """A desktop of this test's own: the session's shared one may still hold another
    test's windows over the terminal (seen once in a full run: the card never showed)."""
    server = start_xserver(width=1024, height=640)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.x11
@pytest.mark.parametrize("ocr_process", ["inline", "separate"])
def test_a_displayed_card_number_is_masked_in_every_stored_frame(
    own_x_server: XServer, tmp_path: Path, tesseract: ScreenScrubber, ocr_process: str
) -> None:
    x_server = own_x_server
    card = fake_card()
    shown = f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}"
    home = recording_home(tmp_path)
    config = home / "config.toml"
    screen_section = "[capture.screen]\n"
    assert screen_section in config.read_text()
    config.write_text(
        config.read_text().replace(
            screen_section, f'{screen_section}ocr_process = "{ocr_process}"\n'
        )
    )
    script = f'printf "card {shown} ok\\n\\n{SENTENCE}\\n"; exec cat > /dev/null'
    term = x_server.spawn(
        "xterm", "-T", "Statement", "-fa", "DejaVu Sans Mono", "-fs", "12",
        "-geometry", "70x10+40+40", "-e", "sh", "-c", script,
    )  # fmt: skip
    proc = start_agent(home, DISPLAY=x_server.display, WAYLAND_DISPLAY=None)
    try:
        x_server.window_named("^Statement$", timeout=15)
        wait_until_running(home, proc)
        counts = wait_for(
            lambda: (now := screen(home)).get("scrub_masked", {}).get("payment_card") and now,
            "a frame with the card masked by the OCR scrub",
            # The start-up key frame is scrubbed whole first: under a CPU hog that took
            # longer than 60 s once.
            timeout=180,
        )
        # "separate": the engine runs in a worker process of the agent's, which stops
        # with it; "inline" (the default): in the agent, no worker.
        children = psutil.Process(proc.pid).children()
        workers = [c for c in children if "capture.ocr.worker" in c.cmdline()]
        expected = 1 if ocr_process == "separate" else 0
        assert len(workers) == expected, [c.cmdline() for c in children]
    finally:
        code, err = stop_agent(proc)
        term.terminate()
        term.wait(10)
    assert code == 0 and "Traceback" not in err, err
    assert all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers)
    assert counts["scrub_engine"].startswith("tesseract "), counts
    assert counts["scrub_cpu_s"] > 0 and counts["scrub_error"] is None, counts
    assert counts["masked"]["screen_ocr"]["payment_card"] >= 1, counts

    frames_dir = tmp_path / "frames"
    done = run_cli(home, "export", "--frames", str(frames_dir))
    assert done.returncode == 0, done.stderr
    frames = [r for r in map(json.loads, done.stdout.splitlines()) if r["type"] == "frame"]
    assert frames
    painted = [m for f in frames for m in f.get("masks", []) if m["stage"] == "screen_ocr"]
    assert {m["category"] for m in painted} >= {"payment_card"}, painted
    groups = [card[i : i + 4] for i in range(0, 16, 4)]
    readable = False
    for record in frames:
        with Image.open(frames_dir / record["file"]) as image:
            words = tesseract.read(image.convert("RGB"))
        text = "\n".join(line_text(line)[0] for line in lines_of(words))
        digits = re.sub(r"\D", "", text)
        assert card not in digits, record["file"]
        assert not [g for g in groups if g in text], (record["file"], text)
        # The first word touches the window's border, where strips read it poorly.
        readable = readable or SENTENCE.split(" ", 1)[1] in text
    assert readable, f"the sentence beside the card was masked too (last read: {text!r})"
    verify = run_cli(home, "verify", "--json")
    assert "unscrubbed" not in verify.stdout, verify.stdout


def shot_of(image: Image.Image, left: int = 0, top: int = 0) -> RawShot:
    """A raw BGRA shot of ``image`` placed at (left, top) of the virtual screen."""
    bgra = bytearray(image.convert("RGBA").tobytes("raw", "BGRA"))
    return RawShot(left, top, image.width, image.height, bgra)


def inked(width: int, height: int) -> Image.Image:
    """A white image with a line of text on it (the scrub reads no blank rows)."""
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((2, height // 3), "card 4111", fill="black")
    return image


def test_the_scrubs_masks_and_engine_reach_the_ledger() -> None:
    card = OcrWord("4111111111111111", 10, 4, 160, 14, 95.0)
    ledger = ScrubLedger()
    scrub = FrameScrubber(
        ScreenScrubber(FakeOcr([OcrWord("card", 0, 4, 8, 14, 95.0), card])), ledger
    )
    assert ledger.engine == "fake 1"  # every manifest from now on names it
    shot = shot_of(inked(200, 40), 100, 50)
    ledger.judged({"window": {"denied_window": 1}})  # the window mask ran first
    masks = scrub(shot, 0, 40)
    assert masks, "the card was not masked"
    ledger.tag(7)
    judged = ledger.take(7)
    assert judged is not None
    assert judged.counts == {"window": {"denied_window": 1}, "screen_ocr": {"payment_card": 1}}
    (where,) = [r for r in judged.rects if r.stage == "screen_ocr"]
    assert (where.category, where.x, where.y) == ("payment_card", masks[0].x, masks[0].y)
    assert where.x >= 90 and where.y >= 40  # virtual-screen coordinates (the shot at 100, 50)


def test_without_an_engine_each_frame_is_withheld_in_the_ledger_and_none_is_named() -> None:
    ledger = ScrubLedger(engine="stale")
    scrub = FrameScrubber(ScreenScrubber(None, unavailable="no tesseract"), ledger)
    assert ledger.engine is None
    shot = shot_of(Image.new("RGB", (64, 32), "white"))
    for _ in range(3):
        ledger.judged({})
        assert scrub(shot, 0, 32) is None
        ledger.tag(1)  # nothing pending: the withheld shot makes no frame
        assert ledger.take(1) is None
    assert ledger.totals().withheld == {"no_ocr": 3}


def test_a_failing_engine_withholds_and_the_ledger_counts_it() -> None:
    ocr = FakeOcr()
    ocr.fail = "engine crashed"
    ledger = ScrubLedger()
    scrub = FrameScrubber(ScreenScrubber(ocr), ledger)
    ledger.judged({})
    assert scrub(shot_of(inked(64, 32)), 0, 32) is None
    assert ledger.take_withheld() == {"ocr_failed": 1}


def test_a_rectangle_two_bands_of_one_shot_found_counts_once() -> None:
    from privacy.scrub_ledger import MaskedRect

    ledger = ScrubLedger()
    ledger.judged({})
    card = MaskedRect("screen_ocr", "payment_card", 10, 500, 200, 18)
    ledger.also("screen_ocr", {"payment_card": 1}, [card])  # the band above the edge
    other = MaskedRect("screen_ocr", "email", 10, 540, 150, 18)
    ledger.also("screen_ocr", {"payment_card": 1, "email": 1}, [card, other])  # below
    ledger.tag(7)
    judged = ledger.take(7)
    assert judged is not None
    assert judged.counts == {"screen_ocr": {"payment_card": 1, "email": 1}}
    assert sorted(judged.rects) == sorted([card, other])

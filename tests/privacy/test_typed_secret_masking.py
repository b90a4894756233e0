"""A card number typed into a terminal is masked in every stored frame that shows its echo.

The attack of issue 18: type ``echo card 4111 1111 1111 1111`` while recording; the key
stream said "redacted" but the next stored frame showed the number. Here the real parts
run together: the screen source's own thread over an in-memory screen that reports what
is drawn (``ScriptedDamage``), the real window mask with ``KnownSecrets``, and the real
privacy chain (``build_chain``) fed in the order events are emitted, as the pipeline
thread would. Each typed character paints a glyph cell and reports its damage. The
stored frames, composed as ``export`` composes them, must show no card glyph from the
first card key on, while the words typed before it and the output printed later stay.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw

from capture.events import Event, Frame, Key, Window
from capture.screen.damage import ScriptedDamage
from capture.screen.frame_diff import Box
from capture.screen.mss_source import ScreenSource
from capture.screen.options import ScreenOptions
from capture.window.visible import Rect, StaticWindowLister, VisibleWindow
from privacy.denylist import Denylist
from privacy.known_secrets import ECHO_SLACK, LEAD_SLACK, KnownSecrets
from privacy.masking import WindowMasker
from privacy.pipeline import build_chain
from privacy.scrub_ledger import ScrubLedger
from storage.compose import full_frames
from storage.keys import generate_age_identity, public_key_text
from storage.reader import list_chunks, read_chunk
from storage.verify import verify
from storage.writer import ChunkWriter, frame_record
from tests.image_screen import ImageScreen
from tests.waiting import wait_for

W, H = 480, 240
BG = (20, 20, 20)
TERM = VisibleWindow("Terminal", "xterm", geometry=Rect(0, 0, W, H), focused=True)


class Terminal(ImageScreen):
    """An in-memory screen: each character typed paints a cell in its own colour."""

    def __init__(self) -> None:
        super().__init__(Image.new("RGB", (W, H), BG))
        self.damage = ScriptedDamage(W, H)

    def cell(self, col: int, row: int) -> Box:
        return Box(8 + col * 10, 10 + row * 20, 8, 14)

    def draw(self, col: int, row: int, colour: tuple[int, int, int]) -> None:
        box = self.cell(col, row)
        with self.lock:
            ImageDraw.Draw(self.image).rectangle(
                (box.x, box.y, box.x + box.width - 1, box.y + box.height - 1), fill=colour
            )
        self.damage.draw(box)


def colour_of(ch: str, secret: bool) -> tuple[int, int, int]:
    # Secret cells are reddish, ordinary ones greenish: none is the mask's black.
    return (200, 40 + ord(ch) % 50, 60) if secret else (60, 200, 40 + ord(ch) % 50)


class Recording:
    """Screen source + mask + chain, events processed in the order they are emitted."""

    def __init__(self) -> None:
        self.term = Terminal()
        self.known = KnownSecrets()
        self.chain = build_chain(Denylist(), known_secrets=self.known)
        self.stored: list[Event] = []
        self.last_frame: int | None = None
        self.lock = threading.Lock()
        self.masker: WindowMasker | None = None
        self.source = ScreenSource(
            ScreenOptions(
                min_interval=0.01, debounce=0.0, idle_interval=3600.0, encoding="lossless"
            ),
            grabber_factory=lambda: self.term,
            damage_factory=lambda: self.term.damage,
            mask_factory=self._mask,
        )
        self.source.start(self.emit)
        wait_for(lambda: self.source.frames == 1, "the first frame")

    def _mask(self) -> Any:
        self.masker = WindowMasker(StaticWindowLister([TERM]), Denylist(), self.known)
        return self.masker

    def emit(self, event: Event) -> None:
        with self.lock:
            for out in self.chain.process(event):
                self._store(out)

    def _store(self, event: Event) -> None:
        # The chunk writer's rule (ChunkWriter.add): a changed region is kept only right
        # after the frame it was drawn onto; else a whole frame is asked for at once.
        if isinstance(event, Frame):
            if not event.key and event.base != self.last_frame:
                self.source.request_key_frame(urgent=True)
                return
            self.last_frame = event.number
        self.stored.append(event)

    def grab(self) -> None:
        s = self.source
        before = s.frames + s.maker.skipped_unchanged + s.suppressed
        s.grab_now("manual")
        wait_for(lambda: s.frames + s.maker.skipped_unchanged + s.suppressed > before, "a grab")

    def type(self, text: str, row: int, col: int, secret: str = "") -> float:
        """Type ``text``, echoing each character; returns the last key's time."""
        mono = 0.0
        for i, ch in enumerate(text):
            mono = time.monotonic()
            name = "space" if ch == " " else ch
            self.emit(Key(ts=time.time(), mono=mono, key=name, pressed=True, char=ch))
            self.emit(Key(ts=time.time(), mono=mono, key=name, pressed=False, char=ch))
            if ch != " ":
                self.term.draw(col + i, row, colour_of(ch, ch in secret))
            if i % 5 == 4:
                self.grab()  # frames taken while typing (held by the text stage)
        return mono

    def enter(self) -> float:
        mono = time.monotonic()
        self.emit(Key(ts=time.time(), mono=mono, key="enter", pressed=True))
        return mono

    def frames(self) -> list[Image.Image]:
        """Every stored frame, composed to the whole screen."""
        records: list[dict[str, Any]] = []
        members: dict[str, bytes] = {}
        with self.lock:
            for out in self.chain.flush():
                self._store(out)
            stored = list(self.stored)
        for seq, event in enumerate(e for e in stored if isinstance(e, Frame)):
            record, images = frame_record(seq, event)
            records.append(record)
            members.update(images)
        full = full_frames(records, members)
        assert len(full) == len(records)
        return [Image.open(io.BytesIO(full[r["file"]])).convert("RGB") for r in records]


def shows(image: Image.Image, box: Box, colour: tuple[int, int, int]) -> bool:
    return image.getpixel((box.x + box.width // 2, box.y + box.height // 2)) == colour


def test_a_typed_card_number_is_masked_in_every_stored_frame_after_it() -> None:
    rec = Recording()
    try:
        rec.emit(Window(ts=time.time(), mono=time.monotonic(), title="Terminal", app="xterm"))
        prefix, card = "echo card ", "4111 1111 1111 1111"
        rec.type(prefix, row=0, col=0)
        rec.grab()
        # Drawing read before the card's first key (by more than the lead slack) is not
        # the card's: the words before it must stay readable.
        after_prefix = time.monotonic()
        wait_for(lambda: time.monotonic() > after_prefix + 2 * LEAD_SLACK, "the lead slack")
        last = rec.type(card, row=0, col=len(prefix), secret="0123456789")
        rec.enter()
        rec.grab()
        assert len(rec.known) == 1
        # Output printed later, beyond the echo slack, is ordinary text.
        wait_for(lambda: time.monotonic() > last + 2 * ECHO_SLACK, "the echo slack")
        rec.grab()  # the typing trigger's grab after the last key (nothing drawn since)
        rec.type("ok", row=1, col=0)
        rec.enter()
        rec.grab()
        rec.grab()  # nothing changed: nothing new, and nothing unmasked either
        frames = rec.frames()
        # A region drawn onto a dropped frame asked for a whole one: it shows the screen
        # now, masked.
        wait_for(lambda: rec.last_frame == rec.source.frames, "the last frame stored")
        frames = rec.frames()
    finally:
        rec.source.stop()
    digits = [
        (rec.term.cell(len(prefix) + i, 0), colour_of(ch, True))
        for i, ch in enumerate(card)
        if ch != " "
    ]
    assert len(frames) >= 2
    for n, image in enumerate(frames):
        readable = [box for box, colour in digits if shows(image, box, colour)]
        assert readable == [], f"stored frame {n} shows {len(readable)} card digits"
    last_frame = frames[-1]
    for box, _ in digits:
        assert shows(last_frame, box, (0, 0, 0)), "the card's cells are painted over"
    for i, ch in enumerate(prefix):
        if ch != " ":
            assert shows(last_frame, rec.term.cell(i, 0), colour_of(ch, False)), "over-masked"
    for i, ch in enumerate("ok"):
        assert shows(last_frame, rec.term.cell(i, 1), colour_of(ch, False)), "over-masked"
    assert rec.masker is not None and rec.masker.regions.get("payment_card", 0) > 0
    assert rec.chain.take_removed()["typed_text"]["payment_card"] == 16 + 3


# -- the manifest's scrub record and verify ----------------------------------------------


def _frame(number: int, base: int | None) -> Frame:
    image = io.BytesIO()
    Image.new("RGB", (8, 8), BG).save(image, "WEBP", lossless=True)
    return Frame(
        ts=float(number),
        mono=float(number),
        width=8,
        height=8,
        image=image.getvalue(),
        key=base is None,
        number=number,
        base=base,
    )


def test_verify_tells_a_scrubbed_chunk_from_an_unscrubbed_one(tmp_path: Path) -> None:
    pair = generate_age_identity()
    key = Ed25519PrivateKey.generate()
    sessions = tmp_path / "sessions"
    writer = ChunkWriter(sessions, "dev-1", "s1", [pair.public], key)
    ledger = ScrubLedger(engine="tesseract 5.3.0")
    writer.scrub = ledger
    # Chunk 0: both frames judged by the mask (one with a card masked).
    ledger.judged({})
    ledger.tag(1)
    ledger.judged({"typed_secret": {"payment_card": 2}})
    ledger.tag(2)
    ledger.withheld("secret_unlocated")
    writer.add(0, _frame(1, None))
    writer.add(1, _frame(2, 1))
    writer.seal()
    # Chunk 1: a frame the mask never judged (the attack: a frame around the scrub).
    writer.add(2, _frame(3, None))
    writer.seal()
    # Chunk 2: written by a writer with no scrub at all (an older agent, or a forged one).
    plain = ChunkWriter(sessions, "dev-1", "s2", [pair.public], key)
    plain.add(0, _frame(1, None))
    plain.seal()
    identity = pyrage.x25519.Identity.from_str(pair.secret)
    report = verify(sessions, [identity], [public_key_text(key.public_key())], "dev-1")
    assert report.ok  # signatures and chains are fine: these are notes, not tampering
    notes = {(n.session, n.seq): n.message for n in report.notes if n.kind == "unscrubbed"}
    assert set(notes) == {("s1", 1), ("s2", 0)}
    assert "1 of 1 frame(s) stored unscrubbed" in notes[("s1", 1)]
    assert "without a scrub record" in notes[("s2", 0)]
    manifest = read_chunk(list_chunks(sessions, "s1")[0], [identity]).manifest
    assert manifest["scrub"] == {
        "engine": "tesseract 5.3.0",
        "frames": 2,
        "unscrubbed": 0,
        "masked": {"typed_secret": {"payment_card": 2}},
        "withheld": {"secret_unlocated": 1},
    }
    # Counts only: no text of any kind beyond engine and category names.
    assert "4111" not in json.dumps(manifest)

"""`view` draws what the screen mask painted over as masked, never as black screen.

Frames are masked by the real ``WindowMasker`` (a denied window and an echoed typed card
number), stored by the real ``ChunkWriter`` with the real ``ScrubLedger`` between them,
verified and read back through ``trusted_chunks`` and rendered; headless Chromium
shows the page. The stored pixels under a mask are black by construction (the mask
runs before encoding): the page only adds outlines and labels over them.
"""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from agent.export.masks import MaskBox, chunk_masks
from agent.export.page import render_html
from agent.export.viewer import SessionData, load_session
from capture.events import Frame
from capture.screen.frame_maker import RawShot
from capture.window.visible import Rect, StaticWindowLister, VisibleWindow
from privacy.denylist import Denylist
from privacy.known_secrets import KnownSecrets
from privacy.masking import WindowMasker
from privacy.scrub_ledger import ScrubLedger
from storage.keys import generate_age_identity, public_key_text
from storage.trust import trusted_chunks
from storage.writer import ChunkWriter
from tests.agent.test_viewer import chromium

W, H = 640, 400
BG = (40, 120, 200)  # the screen's colour: nothing on it is black but what is masked
VAULT = VisibleWindow(
    "Passwords.kdbx - KeePassXC", "keepassxc", geometry=Rect(400, 220, 200, 150), focused=False
)
TERM = VisibleWindow("Terminal", "xterm", geometry=Rect(0, 0, 380, 200), focused=True)
CARD_ECHO = Rect(40, 60, 160, 16)  # where the terminal drew the card while it was typed


def shot(region: tuple[int, int, int, int] = (0, 0, W, H)) -> RawShot:
    x, y, w, h = region
    image = Image.new("RGB", (w, h), BG)
    return RawShot(x, y, w, h, bytearray(image.convert("RGBA").tobytes("raw", "BGRA")))


def frame_of(raw: RawShot, number: int, base: int | None) -> Frame:
    image = Image.frombytes("RGBA", (raw.width, raw.height), bytes(raw.bgra), "raw", "BGRA")
    out = io.BytesIO()
    image.convert("RGB").save(out, "WEBP", lossless=True)
    return Frame(
        ts=1000.0 + number,
        mono=float(number),
        width=W,
        height=H,
        image=out.getvalue(),
        key=base is None,
        number=number,
        base=base,
        x=raw.left,
        y=raw.top,
    )


def record(tmp_path: Path) -> tuple[Path, pyrage.x25519.Identity, str]:
    """One chunk: a key frame and a region frame masked by the real mask; one shot withheld."""
    pair = generate_age_identity()
    key = Ed25519PrivateKey.generate()
    sessions = tmp_path / "sessions"
    writer = ChunkWriter(sessions, "dev-1", "s1", [pair.public], key)
    ledger = ScrubLedger()
    writer.scrub = ledger
    clock = [100.0]
    known = KnownSecrets(clock=lambda: clock[0])
    known.note_damage(CARD_ECHO, 99.0, 100.5)
    known.add("payment_card", "4111 1111 1111 1111", "xterm", "Terminal", 99.5, 100.2)
    lister = StaticWindowLister([TERM, VAULT])
    masker = WindowMasker(lister, Denylist.default(), known, ledger)

    key_shot = shot()
    assert masker(key_shot)
    masker.tag_frame(1)
    writer.add(0, frame_of(key_shot, 1, None))
    # A region drawn below the terminal: the masks above it stay on the composed frame.
    region = shot((0, 300, 320, 100))
    assert masker(region)
    masker.tag_frame(2)
    writer.add(1, frame_of(region, 2, 1))
    # The vault takes the focus: the shot is withheld, counted with its reason.
    lister.windows = [TERM, dataclasses.replace(VAULT, focused=True)]
    assert not masker(shot())
    writer.seal()
    return sessions, pyrage.x25519.Identity.from_str(pair.secret), public_key_text(key.public_key())


def test_a_masked_chunk_records_where_and_view_labels_it(tmp_path: Path) -> None:
    sessions, identity, device_key = record(tmp_path)
    chunks = trusted_chunks(sessions, [identity], [device_key], "dev-1")
    assert chunks.verified and not chunks.problems
    data = load_session(chunks, "s1")
    assert data.masked == {"typed_secret": {"payment_card": 2}, "window": {"denied_window": 2}}
    assert data.withheld == {"denied_focused": 1} and data.unscrubbed == 0
    shown = [data.masks[str(r["file"])] for r in data.records if r["type"] == "frame"]
    assert len(shown) == 2
    for boxes in shown:  # the key frame's masks, and the same on the composed region
        assert {(b.category, b.x, b.y, b.width, b.height) for b in boxes} == {
            ("payment_card", 40, 60, 160, 16),
            ("denied_window", 400, 220, 200, 150),
        }
    # The stored pixels under each mask are the mask's black, the rest the screen.
    first = Image.open(io.BytesIO(data.frames[str(data.records[0]["file"])])).convert("RGB")
    assert first.getpixel((500, 300)) == (0, 0, 0) and first.getpixel((100, 68)) == (0, 0, 0)
    assert first.getpixel((300, 150)) == BG

    page = render_html(data)
    assert page.count('class="masked" data-category="payment_card"') == 2
    assert page.count('class="masked" data-category="denied_window"') == 2
    assert "4 screen region(s) masked before storage (denied_window 2, payment_card 2)" in page
    assert "1 frame(s) withheld (denied_focused 1)" in page
    assert "4111" not in page


def test_view_page_in_chromium_shows_masks_as_labelled_hatching(tmp_path: Path) -> None:
    sessions, identity, device_key = record(tmp_path)
    data = load_session(trusted_chunks(sessions, [identity], [device_key], "dev-1"), "s1")
    page = tmp_path / "page.html"
    page.write_text(render_html(data), encoding="utf-8")
    dumped = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert 'data-ready="1"' in dom
    current = re.search(r'<figure class="frame current".*?</figure>', dom, re.DOTALL)
    assert current is not None
    labels = re.findall(r'class="masked" data-category="([a-z_]+)"[^>]*><b>([^<]+)</b>', current[0])
    assert sorted(labels) == [("denied_window", "denied window"), ("payment_card", "payment card")]
    assert "masked: denied_window × 1, payment_card × 1" in current[0]

    shot_png = tmp_path / "shot.png"
    taken = chromium(
        f"--screenshot={shot_png}", "--window-size=1400,900", page.as_uri(), profile=tmp_path / "p2"
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    with Image.open(shot_png) as image:
        colours: list[tuple[int, Any]] = image.convert("RGB").getcolors(1 << 20) or []
    # The hatching's amber over the black mask: a masked region does not render as black.
    amber = sum(n for n, (r, g, b) in colours if r > 120 and 60 < g < 130 and b < 60)
    black = sum(n for n, (r, g, b) in colours if max(r, g, b) < 12)
    assert amber > 2000, "no hatching drawn over the masked regions"
    assert amber > black / 4, "the masked regions render mostly as black screen"


def test_masks_from_a_hostile_chunk_are_bounded_and_escaped() -> None:
    frame = {"type": "frame", "file": "f", "width": 100, "height": 50, "left": 0, "top": 0}
    masks: list[Any] = [
        {
            "stage": "x",
            "category": "<img src=x onerror=alert(1)>",
            "x": 5,
            "y": 5,
            "width": 10,
            "height": 10,
        },
        {"category": "c", "x": "1", "y": 0, "width": 5, "height": 5},  # wrong type: skipped
        {"category": "c", "x": 90, "y": 40, "width": 500, "height": 500},  # clipped
        {"category": "c", "x": 500, "y": 500, "width": 5, "height": 5},  # off the frame
        "not a mask",
    ] + [{"category": "many", "x": 0, "y": 0, "width": 1, "height": 1}] * 10_000
    got = chunk_masks([{**frame, "masks": masks}], {})["f"]
    assert len(got) == 512 - 3  # the first 512 entries read, 3 of them unusable
    assert got[1] == MaskBox("masked", "c", 90, 40, 10, 10)
    page = render_html(
        SessionData(
            "s", [{**frame, "ts": 1.0, "file": "f"}], frames={"f": b"\x89PNG"}, masks={"f": got[:2]}
        )
    )
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_region_replaces_the_masks_it_was_drawn_over() -> None:
    png = io.BytesIO()
    Image.new("RGB", (100, 20), BG).save(png, "PNG")
    members = {"r": png.getvalue()}
    key = {
        "type": "frame",
        "file": "k",
        "width": 100,
        "height": 100,
        "masks": [
            {
                "stage": "window",
                "category": "denied_window",
                "x": 0,
                "y": 0,
                "width": 100,
                "height": 50,
            }
        ],
    }
    region = {
        "type": "frame",
        "file": "r",
        "width": 100,
        "height": 100,
        "key": False,
        "x": 0,
        "y": 10,
    }
    got = chunk_masks([key, region], members)
    assert {(b.y, b.height) for b in got["r"]} == {(0, 10), (30, 20)}
    assert chunk_masks([key, {**region, "file": "gone"}], members)["gone"] == got["k"]
    assert pytest.approx(sum(b.width * b.height for b in got["r"])) == 100 * 30

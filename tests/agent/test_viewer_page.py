"""The page `view` serves: a two-session day with masked windows and redacted typing,
recorded by the real mask and ``ChunkWriter``, verified, rendered, served on loopback by
the real ``PageServer`` and opened in headless Chromium.

Chromium is told what to show through the page's address (``#f=..&z=..&q=..``); its DOM
and screenshots are checked. The screenshots stay in the test's pytest tmp dir (pytest
keeps the last three runs': ``/tmp/pytest-of-$USER/pytest-current/``) as artefacts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import io
import re
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from agent.export.page import ForgetOffer, render_page
from agent.export.serve import PageServer
from agent.export.summary import NOT_RECORDED, summarise
from agent.export.viewer import SessionData, load_session
from capture.events import Event, Frame, Key, Marker, Window
from capture.window.visible import StaticWindowLister
from privacy.denylist import Denylist
from privacy.known_secrets import KnownSecrets
from privacy.masking import WindowMasker
from privacy.scrub_ledger import ScrubLedger
from storage.keys import generate_age_identity, public_key_text
from storage.trust import trusted_chunks
from storage.writer import ChunkWriter
from tests.agent.test_viewer import chromium
from tests.agent.test_viewer_masks import CARD_ECHO, TERM, VAULT, H, W, shot

T0 = dt.datetime.now().replace(hour=9, minute=0, second=0, microsecond=0).timestamp()
S1, S2 = "20261207T090000Z-aaaaaa", "20261207T100000Z-bbbbbb"


def frame(raw: Any, ts: float, number: int, base: int | None) -> Frame:
    image = Image.frombytes("RGBA", (raw.width, raw.height), bytes(raw.bgra), "raw", "BGRA")
    out = io.BytesIO()
    image.convert("RGB").save(out, "WEBP", lossless=True)
    return Frame(
        ts=ts,
        mono=ts - T0,
        width=W,
        height=H,
        image=out.getvalue(),
        key=base is None,
        number=number,
        base=base,
        x=raw.left,
        y=raw.top,
    )


def typed(ts: float, text: str) -> list[Event]:
    return [Key(ts + i * 0.001, ts - T0, c, True, c) for i, c in enumerate(text)]


def record_session(
    sessions: Path, pair: Any, key: Ed25519PrivateKey, session: str, start: float
) -> None:
    """One session's chunk: windows, kept and redacted typing, masked frames."""
    writer = ChunkWriter(sessions, "dev-1", session, [pair.public], key)
    ledger = ScrubLedger()
    writer.scrub = ledger
    clock = [100.0]
    known = KnownSecrets(clock=lambda: clock[0])
    known.note_damage(CARD_ECHO, 99.0, 100.5)
    known.add("payment_card", "4111 1111 1111 1111", "xterm", "Terminal", 99.5, 100.2)
    masker = WindowMasker(StaticWindowLister([TERM, VAULT]), Denylist.default(), known, ledger)

    def masked_frame(ts: float, number: int) -> Frame:
        raw = shot()
        assert masker(raw)
        masker.tag_frame(number)
        return frame(raw, ts, number, None)

    events: list[Event]
    if session == S1:
        events = [
            Window(start, 0.0, "Invoice 42 - LibreOffice Calc", "libreoffice"),
            masked_frame(start + 1, 1),
            *typed(start + 2, "invoice total"),
            *[
                Key(start + 5 + i * 0.01, 5.0, "redacted", True, None, "payment_card")
                for i in range(16)
            ],
            Window(start + 10, 10.0, "Terminal", "xterm"),
            masked_frame(start + 11, 2),
            Marker(start + 40, 40.0, "suppressed", {"seconds": 29}),
            Window(start + 40, 40.0, "Mail - Inbox", "thunderbird"),
            masked_frame(start + 41, 3),
        ]
    else:
        events = [
            Window(start, 0.0, "Quarterly plan QX-7781 - Editor", "gedit"),
            masked_frame(start + 1, 1),
            *typed(start + 2, "zebra notes"),
            masked_frame(start + 10, 2),
        ]
    for seq, event in enumerate(events):
        writer.add(seq, event)
    writer.seal()


def note(calls: list[bool], answer: str) -> str:
    """A forget stand-in: counts the call and answers like `forget`."""
    calls.append(True)
    return answer


def two_sessions(tmp_path: Path) -> list[SessionData]:
    pair = generate_age_identity()
    key = Ed25519PrivateKey.generate()
    sessions = tmp_path / "sessions"
    record_session(sessions, pair, key, S1, T0)
    record_session(sessions, pair, key, S2, T0 + 3600)
    identity = pyrage.x25519.Identity.from_str(pair.secret)
    chunks = trusted_chunks(sessions, [identity], [public_key_text(key.public_key())], "dev-1")
    assert chunks.verified and not chunks.problems
    return [load_session(chunks, S1), load_session(chunks, S2)]


def test_the_day_summary_counts_active_time_per_app_and_what_was_kept_out(
    tmp_path: Path,
) -> None:
    summary = summarise(two_sessions(tmp_path))
    assert [s.session for s in summary.sessions] == [S1, S2]
    assert [s.frames for s in summary.sessions] == [3, 2]
    assert summary.per_app == {
        "libreoffice": 10.0,
        "xterm": 1.0,
        "thunderbird": 1.0,
        "gedit": 10.0,
    }
    # The stretch before "suppressed" was spent in a denied window: never the terminal's.
    assert summary.per_window[NOT_RECORDED] == 29.0
    assert summary.suppressed_seconds == 29.0
    assert summary.redacted == {"payment_card": 16}
    assert summary.masked == {"denied_window": 5, "payment_card": 5}


def open_in_chromium(
    server: PageServer, tmp_path: Path, name: str, fragment: str
) -> tuple[str, Path]:
    """The DOM after the page's script ran, and a screenshot (kept in tmp_path)."""
    dumped = chromium("--dump-dom", server.new_link() + fragment, profile=tmp_path / f"p-{name}")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    console = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    assert 'data-ready="1"' in dumped.stdout
    png = tmp_path / f"{name}.png"
    taken = chromium(
        f"--screenshot={png}",
        "--window-size=1600,1400",
        server.new_link() + fragment,
        profile=tmp_path / f"q-{name}",
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    return dumped.stdout, png


def current_figure(dom: str) -> str:
    found = re.search(r'<figure class="frame current".*?</figure>', dom, re.DOTALL)
    assert found is not None, "no frame shown"
    return found[0]


def test_the_served_day_page_in_chromium(tmp_path: Path) -> None:
    shown = two_sessions(tmp_path)
    images = [
        f for d in shown for f in (d.frames[str(r["file"])] for r in d.records if r.get("file"))
    ]
    forgot: list[bool] = []
    page = render_page(
        shown,
        title="today",
        image_url=lambda n: f"f/{n}",
        forget=ForgetOffer(10, 2, 50_000, served=True),
    )
    assert "4111" not in page  # the card typed was never stored
    server = PageServer(page, images, forget=lambda: note(forgot, "deleted 2 chunk(s)"))
    try:
        # Day view: both sessions, time per app, what was kept out.
        dom, day_png = open_in_chromium(server, tmp_path, "day", "")
        sessions = re.findall(r'<tr data-session="([^"]+)">', dom)
        assert sessions == [S1, S2]
        apps = re.search(r'<div class="card" id="apps">.*?</div>', dom, re.DOTALL)
        assert apps is not None
        assert re.findall(
            r'<span class="app">([a-z]+)</span></td><td class="t">(\w+)</td>', apps[0]
        ) == [
            ("libreoffice", "10s"),
            ("gedit", "10s"),
            ("xterm", "1s"),
            ("thunderbird", "1s"),
        ]
        assert "not recorded (denied window)" in apps[0]
        assert "typed keys redacted (stored without the character): 16 (payment_card 16)" in dom
        assert "screen regions masked before storage: 10" in dom
        assert "<b>not recorded</b>: a denied window had the focus for 29s" in dom
        assert 'id="forget"' in dom and "capture-agent forget --last 10m" in dom
        # The list follows the slider: the first frame's row is current.
        current_row = re.search(r'<li class="frame current" data-frame="(\d+)"', dom)
        assert current_row is not None and current_row[1] == "0"

        # Search over window titles and kept typing.
        dom, search_png = open_in_chromium(server, tmp_path, "search", "#q=invoice")
        matched = re.findall(r'<li class="([^"]*\bmatch\b[^"]*)"', dom)
        assert len(matched) == 2, matched  # the Calc title and "invoice total"
        assert "2 match(es) in window titles and typed text" in dom
        assert all("hidden" not in css for css in matched)
        assert 'class="window searchable hidden"' in dom  # the other windows are hidden
        dom, _ = open_in_chromium(server, tmp_path, "search2", "#q=ZEBRA")
        assert "1 match(es)" in dom

        # A frame of the second session, zoomed to 200 %, masked regions drawn over it.
        dom, zoom_png = open_in_chromium(server, tmp_path, "zoom", "#f=4&z=2")
        figure = current_figure(dom)
        assert f"session {S2}" in figure and 'alt="frame 5"' in figure
        assert 'data-zoom="2"' in figure and f"width: {2 * W}px" in figure
        labels = re.findall(r'class="masked" data-category="([a-z_]+)"[^>]*><b>([^<]+)</b>', figure)
        assert sorted(labels) == [
            ("denied_window", "denied window"),
            ("payment_card", "payment card"),
        ]
        assert 'data-seg="1"' in figure

        # Play runs through both sessions (virtual time: no waiting); the list follows.
        played = chromium(
            "--virtual-time-budget=30000",
            "--dump-dom",
            server.new_link() + "#play=1",
            profile=tmp_path / "p-play",
        )
        assert played.returncode == 0, played.stderr[-2000:]
        figure = current_figure(played.stdout)
        assert 'alt="frame 5"' in figure, "play did not reach the last frame"
        assert re.search(r'<li class="frame current" data-frame="4"', played.stdout)
        assert '<button id="play" type="button">Play</button>' in played.stdout  # stopped
    finally:
        server.close()

    for png in (day_png, search_png):
        with Image.open(png) as image:
            assert image.size == (1600, 1400)
    with Image.open(zoom_png) as image:
        colours: list[tuple[int, Any]] = image.convert("RGB").getcolors(1 << 22) or []
    # The hatching's amber over the black mask: masked regions do not render as black.
    amber = sum(n for n, (r, g, b) in colours if r > 120 and 60 < g < 130 and b < 60)
    black = sum(n for n, (r, g, b) in colours if max(r, g, b) < 12)
    screen = sum(n for n, rgb in colours if rgb == (40, 120, 200))
    assert amber > 8000, "no hatching drawn over the masked regions"
    assert amber > black / 4, "the masked regions render mostly as black screen"
    assert screen > (W * 2) * (H * 2) // 8, "the zoomed frame is not drawn large"
    assert not forgot


def get(
    server: PageServer, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, headers={"Host": f"127.0.0.1:{server.port}", **(headers or {})})
    return conn.getresponse()


def test_the_server_lets_in_only_the_browser_it_gave_the_link() -> None:
    called: list[bool] = []
    server = PageServer("<p>page</p>", [b"\x89PNGimage"], forget=lambda: note(called, "done"))
    try:
        assert get(server, "/").status == 403  # no cookie
        link = server.new_link().removeprefix(f"http://127.0.0.1:{server.port}")
        assert get(server, link, {"Host": "evil.example:80"}).status == 403  # rebinding
        opened = get(server, link)
        assert opened.status == 303 and opened.getheader("Location") == "/"
        cookie = (opened.getheader("Set-Cookie") or "").split(";")[0]
        assert "HttpOnly" in (opened.getheader("Set-Cookie") or "")
        assert "SameSite=Lax" in (opened.getheader("Set-Cookie") or "")
        assert get(server, link).status == 403  # the link works once
        page = get(server, "/", {"Cookie": cookie})
        assert page.status == 200 and page.read() == b"<p>page</p>"
        assert page.getheader("Cache-Control") == "no-store"
        assert "frame-ancestors 'none'" in (page.getheader("Content-Security-Policy") or "")
        image = get(server, "/f/0", {"Cookie": cookie})
        assert image.status == 200 and image.getheader("Content-Type") == "image/png"
        assert get(server, "/f/1", {"Cookie": cookie}).status == 404
        assert get(server, "/f/0", {"Cookie": "capture_agent_view=guess"}).status == 403
        # A call needs the cookie and the header no other site's page can send.
        assert get(server, "/forget", {"Cookie": cookie}, "POST").status == 404
        assert get(server, "/forget", {"X-Capture-Agent": "forget"}, "POST").status == 403
        assert not called
        done = get(server, "/forget", {"Cookie": cookie, "X-Capture-Agent": "forget"}, "POST")
        assert done.status == 200 and done.read() == b"done" and called == [True]
    finally:
        server.close()


def test_the_server_stops_when_the_page_is_closed_or_never_opened() -> None:
    now = [0.0]
    server = PageServer("<p>x</p>", [], clock=lambda: now[0])
    try:
        assert server.finished() is None
        now[0] = 601.0
        assert server.finished() == "nobody opened the page"
        link = server.new_link().removeprefix(f"http://127.0.0.1:{server.port}")
        cookie = (get(server, link).getheader("Set-Cookie") or "").split(";")[0]
        assert server.finished() is None
        now[0] += 20
        assert (
            get(server, "/alive", {"Cookie": cookie, "X-Capture-Agent": "alive"}, "POST").status
            == 204
        )
        now[0] += 20
        assert server.finished() is None  # heard from 20 s ago
        now[0] += 11
        assert server.finished() == "the page was closed"
    finally:
        server.close()


def test_rows_say_what_each_marker_is() -> None:
    from agent.export.page import marker_html

    assert marker_html({"kind": "suppressed", "detail": {"seconds": 90}}) == (
        "marker suppressed",
        "<b>not recorded</b>: a denied window had the focus for 1m 30s "
        "(nothing typed, clicked or shown there was kept)",
    )
    assert marker_html({"kind": "paused", "detail": {"minutes": 5}})[1] == (
        "consent: <b>paused</b> minutes=5"
    )
    assert marker_html({"kind": "stopped", "detail": {}})[1] == "recording: <b>stopped</b>"
    assert marker_html({"kind": "forgotten", "detail": {"events": 3}})[0] == "marker forgotten"


def test_a_page_written_to_a_file_shows_the_forget_command_to_copy() -> None:
    data = SessionData("s", [{"type": "marker", "ts": 1.0, "kind": "started", "detail": {}}])
    page = render_page([dataclasses.replace(data)], title="t", forget=ForgetOffer(10, 1, 10, False))
    assert 'id="forget"' not in page
    assert 'To forget it, run: <code class="copy">capture-agent forget --last 10m</code>' in page


def test_hostile_requests_get_a_short_answer_and_the_server_goes_on() -> None:
    import socket

    def broken() -> str:
        raise RuntimeError("the home went away")

    server = PageServer("<p>page</p>", [], forget=broken)
    try:
        link = server.new_link().removeprefix(f"http://127.0.0.1:{server.port}")
        cookie = (get(server, link).getheader("Set-Cookie") or "").split(";")[0]
        bad_length = get(
            server,
            "/forget",
            {"Cookie": cookie, "X-Capture-Agent": "forget", "Content-Length": "lots"},
            "POST",
        )
        assert bad_length.status == 413
        failed = get(server, "/forget", {"Cookie": cookie, "X-Capture-Agent": "forget"}, "POST")
        assert failed.read() == b"forget failed: RuntimeError: the home went away"
        for junk in (b"\x00\xff garbage\r\n\r\n", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
                raw.sendall(junk)
                raw.recv(1024)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\n")  # and hangs up halfway
        assert get(server, "/", {"Cookie": cookie}).status == 200  # still serving
    finally:
        server.close()

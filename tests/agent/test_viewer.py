"""`capture-agent view`: a self-contained page, rendered for real in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageStat

from agent.export.page import render_html
from agent.export.viewer import SessionData
from tests.cli_helpers import run_cli

CHROMIUM = "/usr/bin/chromium"
HOSTILE_TITLE = (
    "</script><script>document.body.setAttribute('data-pwned','1')</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">"
)


def chromium(*args: str, profile: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with no network, sync or first-run noise."""
    binary = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if binary is None:
        pytest.fail(
            "headless Chromium is missing: `make test` installs it "
            "(Debian/Ubuntu: apt-get install chromium)"
        )
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def webp(background: tuple[int, int, int], label: str) -> bytes:
    image = Image.new("RGB", (640, 400), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 400, 300), fill=(250, 250, 250))
    draw.text((120, 120), label, fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, "WEBP", quality=60)
    return out.getvalue()


def frame_line(t: float, trigger: str, image: bytes) -> dict[str, Any]:
    return {
        "type": "frame",
        "t": t,
        "width": 640,
        "height": 400,
        "left": 0,
        "top": 0,
        "trigger": trigger,
        "image_b64": base64.b64encode(image).decode("ascii"),
    }


def keys(t: float, text: str) -> list[dict[str, Any]]:
    return [
        {"type": "key", "t": t + i * 0.001, "key": c, "pressed": True, "char": c}
        for i, c in enumerate(text)
    ]


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A home holding one replayed session with two frames, a click and hostile text."""
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    lines = [
        {"type": "window", "t": 0, "title": HOSTILE_TITLE, "app": "Editor"},
        frame_line(0.01, "window", webp((30, 60, 120), "first")),
        {"type": "mouse_button", "t": 0.02, "x": 320, "y": 200, "button": "left", "pressed": True},
        {"type": "mouse_button", "t": 0.03, "x": 320, "y": 200, "button": "left", "pressed": False},
        frame_line(0.04, "click", webp((120, 30, 60), "second")),
        *keys(0.05, "<b>bold</b> & done"),
        {"type": "key", "t": 0.08, "key": "enter", "pressed": True},
    ]
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    done = run_cli(home, "run", "--replay", str(trace), "--speed", "0")
    assert done.returncode == 0, done.stderr
    return home


def test_view_renders_frames_clicks_text_and_markers_in_chromium(
    recorded: Path, tmp_path: Path
) -> None:
    page = tmp_path / "out" / "session.html"
    done = run_cli(recorded, "view", "--no-open", "-o", str(page))
    assert done.returncode == 0, done.stderr
    assert str(page) in done.stdout and "2 frames" in done.stdout
    assert page.stat().st_mode & 0o777 == 0o600
    source = page.read_text(encoding="utf-8")
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", source)
    assert "Content-Security-Policy" in source and "default-src &#x27;none&#x27;" in source

    dumped = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    console = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console  # no script error, no warning from the page
    assert 'data-ready="1"' in dom  # the page's script ran to its end
    assert "data-pwned=" not in dom  # the hostile title did not run
    assert len(re.findall(r'<img alt="frame \d" src="data:image/webp;base64,', dom)) == 2
    assert len(re.findall(r'<figure class="frame current"', dom)) == 1
    assert len(re.findall(r'<span class="mark" style="left:50\.00%;top:50\.00%"', dom)) == 1
    assert "click left at (320, 200)" in dom
    assert '<span class="typed">&lt;b&gt;bold&lt;/b&gt; &amp; done</span>' in dom
    assert "<kbd>enter</kbd>" in dom
    assert "&lt;/script&gt;&lt;script&gt;document.body.setAttribute" in dom
    assert "recording: <b>started</b>" in dom and "recording: <b>stopped</b>" in dom

    shot = tmp_path / "shot.png"
    taken = chromium(
        f"--screenshot={shot}",
        "--window-size=1280,900",
        page.as_uri(),
        profile=tmp_path / "profile2",
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        stats = ImageStat.Stat(image.convert("L"))
        assert stats.stddev[0] > 20  # a rendered page, not a blank one
        # The first frame's blue background is on screen.
        colors: list[tuple[int, Any]] = image.convert("RGB").getcolors(1 << 20) or []
        assert any(
            abs(rgb[0] - 30) < 12
            and abs(rgb[1] - 60) < 12
            and abs(rgb[2] - 120) < 12
            and n > 10_000
            for n, rgb in colors
        )


def test_page_shows_consent_markers_gaps_and_redaction_placeholders() -> None:
    s = "s1"
    records: list[dict[str, Any]] = [
        {"type": "marker", "ts": 1000.0, "kind": "started", "detail": {}, "session": s},
        {
            "type": "key",
            "ts": 1001.0,
            "key": "redacted",
            "pressed": True,
            "char": None,
            "redacted": "payment_card",
            "session": s,
        },
        {
            "type": "key",
            "ts": 1001.1,
            "key": "redacted",
            "pressed": True,
            "char": None,
            "redacted": "payment_card",
            "session": s,
        },
        {"type": "marker", "ts": 1002.0, "kind": "paused", "detail": {"minutes": 30}, "session": s},
        {"type": "marker", "ts": 2800.0, "kind": "resumed", "detail": {}, "session": s},
        {"type": "window", "ts": 2801.0, "title": "a & b", "app": "x<y", "session": s},
    ]
    page = render_html(SessionData(s, records))
    assert '<span class="redacted">[redacted: payment_card &times; 2]</span>' in page
    assert '<li class="marker consent"' in page and "consent: <b>paused</b> minutes=30" in page
    assert "gap: nothing recorded for 1798 s" in page
    assert "a &amp; b" in page and "x&lt;y" in page
    assert "no frames in this session" in page


def test_view_and_export_frames_never_write_through_a_planted_link(
    recorded: Path, tmp_path: Path
) -> None:
    """Decrypted output is refused, not written, where a link waits at its name."""
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("untouched\n")
    page = tmp_path / "page.html"
    page.symlink_to(sentinel)
    viewed = run_cli(recorded, "view", "--no-open", "-o", str(page))
    assert viewed.returncode != 0
    assert "symbolic link" in viewed.stderr and "Traceback" not in viewed.stderr
    assert sentinel.read_text() == "untouched\n"

    frames = tmp_path / "frames"
    frames.mkdir()
    first = run_cli(recorded, "export", "--frames", str(frames))
    assert first.returncode == 0, first.stderr
    written = sorted(frames.iterdir())
    assert written, "the recording holds frames"
    written[0].unlink()
    written[0].symlink_to(sentinel)
    again = run_cli(recorded, "export", "--frames", str(frames))
    assert again.returncode != 0
    assert "symbolic link" in again.stderr and "Traceback" not in again.stderr
    assert sentinel.read_text() == "untouched\n"

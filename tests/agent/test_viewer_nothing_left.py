"""Nothing decrypted is left on disk by `view` or by the tray's "Show what is recorded".

The person's home and temp folder are private folders of the test (``HOME``, ``TMPDIR``;
the capture home and the browser's profile live inside that home). The "browser"
(``BROWSER``, which Python's webbrowser honours) is headless Chromium dumping the page's
DOM into an evidence folder outside both, so the test knows the page really showed the
recording. Afterwards no file under the home or the temp folder holds any of it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.test_viewer import CHROMIUM
from tests.cli_helpers import CLI, cli_env, run_cli
from tests.waiting import wait_for
from tests.xserver import XServer

TITLE = "Quarterly plan QX-7781 - Editor"
TYPED = "zebra-secret-phrase"
NEEDLES = [s.encode(enc) for s in (TITLE, TYPED) for enc in ("utf-8", "utf-16-le")]


_SHORT_TEMPS: list[Path] = []


@pytest.fixture(autouse=True)
def _remove_short_temps() -> Iterator[None]:
    yield
    while _SHORT_TEMPS:
        shutil.rmtree(_SHORT_TEMPS.pop(), ignore_errors=True)


def person(tmp_path: Path) -> dict[str, Path]:
    """A home with a recording in it, a temp folder, a browser and an evidence folder.

    The temp folder is a short path of its own under /tmp: Chromium puts a socket in
    it, and under pytest's folder the socket's path grew past the 107 bytes a Unix
    socket's path may hold ("Socket path too long": the browser never started)."""
    folders = {name: tmp_path / name for name in ("home", "evidence")}
    for folder in folders.values():
        folder.mkdir(mode=0o700)
    folders["tmp"] = Path(tempfile.mkdtemp(prefix="cav-", dir="/tmp"))
    _SHORT_TEMPS.append(folders["tmp"])
    capture = folders["home"] / "capture"
    assert run_cli(capture, "init").returncode == 0
    assert run_cli(capture, "opt-in").returncode == 0
    lines = [
        {"type": "window", "t": 0, "title": TITLE, "app": "gedit"},
        *[
            {"type": "key", "t": 0.1 + i * 0.001, "key": c, "pressed": True, "char": c}
            for i, c in enumerate(TYPED)
        ],
    ]
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    done = run_cli(capture, "run", "--replay", str(trace), "--speed", "0")
    assert done.returncode == 0, done.stderr
    binary = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    assert binary, "headless Chromium is missing: `make test` installs it"
    # The "browser" follows the launcher file `view` hands it to the one-time link, as a
    # browser's meta refresh would, then loads the page in headless Chromium. (Headless
    # Chromium's --dump-dom of the launcher itself sometimes prints nothing when the
    # refresh replaces the document: about 1 run in 10 here.)
    browser = tmp_path / "browser.py"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import html, os, pathlib, re, subprocess, sys, urllib.parse\n"
        "launcher = pathlib.Path(urllib.parse.unquote(urllib.parse.urlsplit(sys.argv[1]).path))\n"
        'link = html.unescape(re.search(r\'content="0;url=([^"]+)"\', launcher.read_text())[1])\n'
        f"evidence = pathlib.Path({str(folders['evidence'])!r})\n"
        "done = subprocess.run(\n"
        f"    [{binary!r}, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',\n"
        "     '--disable-background-networking', '--disable-sync',\n"
        "     '--user-data-dir=' + os.environ['HOME'] + '/.config/chromium', '--dump-dom', link],\n"
        "    capture_output=True, text=True, timeout=120)\n"
        "(evidence / 'chromium.log').write_text(done.stderr)\n"
        "(evidence / 'dom.html').write_text(done.stdout)\n"
    )
    browser.chmod(stat.S_IRWXU)
    folders["capture"] = capture
    folders["browser"] = browser
    return folders


def env_of(folders: dict[str, Path]) -> dict[str, str]:
    return {
        "HOME": str(folders["home"]),
        "TMPDIR": str(folders["tmp"]),
        "BROWSER": str(folders["browser"]),
    }


def shown(folders: dict[str, Path]) -> bool:
    """The browser got the page, with the recording in it."""
    dom = folders["evidence"] / "dom.html"
    text = dom.read_text(errors="replace") if dom.exists() else ""
    return 'data-ready="1"' in text and TITLE in text and TYPED in text


def wait_until_shown(folders: dict[str, Path]) -> None:
    """Wait for the browser to have shown the page; on a timeout, say what Chromium said."""
    try:
        wait_for(lambda: shown(folders), "the browser to show the page", timeout=120)
    except AssertionError as exc:
        log = folders["evidence"] / "chromium.log"
        said = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        raise AssertionError(f"{exc}; Chromium's stderr ends: {said}") from None


def assert_nothing_decrypted(folders: dict[str, Path]) -> None:
    holding = []
    files = 0
    for root in (folders["home"], folders["tmp"]):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                files += 1
                data = path.read_bytes()
                if any(needle in data for needle in NEEDLES):
                    holding.append(str(path))
    assert files > 5  # the capture home and the browser profile are in there
    assert not holding, f"decrypted content left on disk: {holding}"
    assert not list(folders["home"].rglob("view-*.html"))
    assert not list(folders["tmp"].glob("capture-agent-view-*"))  # the launcher is gone


def test_view_serves_the_page_and_leaves_nothing_decrypted(tmp_path: Path) -> None:
    folders = person(tmp_path)
    viewer = subprocess.Popen(
        [*CLI, "view"],
        env=cli_env(folders["capture"], **env_of(folders)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_shown(folders)
        # The browser is gone: without its heartbeat the page counts as closed.
        out, err = viewer.communicate(timeout=120)
    finally:
        if viewer.poll() is None:
            viewer.kill()
            viewer.communicate()
    assert viewer.returncode == 0, err
    assert "page no longer served (the page was closed)" in out
    assert "nothing decrypted is written to disk" in out
    assert "Traceback" not in err
    assert_nothing_decrypted(folders)


def test_view_names_a_missing_session_and_an_empty_home(tmp_path: Path) -> None:
    folders = person(tmp_path)
    missing = run_cli(folders["capture"], "view", "--no-open", "--session", "nope")
    assert missing.returncode == 2 and "--session 'nope'" in missing.stderr
    empty = tmp_path / "empty"
    assert run_cli(empty, "init").returncode == 0
    nothing = run_cli(empty, "view", "--no-open")
    assert nothing.returncode == 1 and "nothing to view" in nothing.stderr
    assert "Traceback" not in nothing.stderr + missing.stderr


@pytest.mark.x11
def test_the_trays_show_what_is_recorded_leaves_nothing_decrypted(
    x_server: XServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.config import load_config
    from agent.paths import resolve_paths
    from agent.tray.ui import SHOW_TITLE, show_recorded

    folders = person(tmp_path)
    for key, value in env_of(folders).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CAPTURE_AGENT_HOME", str(folders["capture"]))
    paths = resolve_paths(dict(os.environ))
    show_recorded(paths, load_config(paths.config_file))

    def terminal() -> list[str]:
        done = subprocess.run(
            ["xdotool", "search", "--name", f"^{SHOW_TITLE}$"],
            env=x_server.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.split()

    wait_for(terminal, "the 'what is recorded' terminal", timeout=60)
    wait_until_shown(folders)

    def view_ended() -> bool:
        """`view` deletes its launcher folder once it stops serving."""
        return not list(folders["tmp"].glob("capture-agent-view-*"))

    wait_for(view_ended, "view to stop serving once the page closed", timeout=120)
    for window in terminal():
        x_server.run("xdotool", "windowkill", window)
    assert_nothing_decrypted(folders)


def test_the_launcher_holds_only_the_link_in_a_private_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from agent.cli.view import _launcher

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    link = "http://127.0.0.1:4242/open/a&b"
    page = _launcher(link)
    assert page.parent.parent == tmp_path and page.parent.name.startswith("capture-agent-view-")
    assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    text = page.read_text()
    assert '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:4242/open/a&amp;b">' in text
    assert [p.name for p in page.parent.iterdir()] == ["open.html"]

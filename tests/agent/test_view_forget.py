"""The served page forgets the hold-back window for real, and lists what was sent.

A real `capture-agent view` serves the page; the test is the browser (http.client, with
the one-time link and the cookie it gets), so it can press "Forget this" (the POST the
page's button sends) and check what `forget` deleted on disk.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
import urllib.parse
from pathlib import Path

from storage.deletion import scan
from storage.upload_record import UploadedChunk, append
from tests.cli_helpers import CLI, cli_env, run_cli


def test_forget_from_the_page_deletes_the_hold_back_window_and_sent_chunks_are_listed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        json.dumps({"type": "window", "t": 0, "title": "Notes", "app": "gedit"}) + "\n"
    )
    assert run_cli(home, "run", "--replay", str(trace), "--speed", "0").returncode == 0
    sessions = home / "data" / "sessions"
    stored = scan(sessions)
    assert stored
    session = stored[0].ref.session
    now = time.time()
    append(
        home / "data",
        UploadedChunk(
            session=session,
            seq=0,
            from_ts=now - 60,
            to_ts=now - 30,
            bytes=4321,
            uploaded_ts=now - 20,
            destination="folder",
            key="org/x/0.chunk",
            sha256="0" * 64,
        ),
    )

    viewer = subprocess.Popen(
        [*CLI, "view", "--no-open"],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert viewer.stdout is not None
        line = ""
        while not line.startswith("page: "):
            line = viewer.stdout.readline()
            assert line, viewer.stderr.read() if viewer.stderr else ""
        link = urllib.parse.urlsplit(line.removeprefix("page: ").strip())
        conn = http.client.HTTPConnection(link.hostname or "", link.port, timeout=30)
        conn.request("GET", link.path)
        opened = conn.getresponse()
        opened.read()
        cookie = (opened.getheader("Set-Cookie") or "").split(";")[0]
        conn.request("GET", "/", headers={"Cookie": cookie})
        page = conn.getresponse().read().decode()
        assert f"{len(stored)} chunk(s)" in page and "not uploaded yet" in page
        assert 'id="sent"' in page and f"{session} #0" in page and "folder" in page
        conn.request("POST", "/forget", headers={"Cookie": cookie, "X-Capture-Agent": "forget"})
        said = conn.getresponse().read().decode()
        assert said.startswith(f"deleted {len(stored)} chunk(s)"), said
        assert scan(sessions) == []
    finally:
        viewer.terminate()
        out, err = viewer.communicate(timeout=60)
    assert viewer.returncode == 0, err
    assert "page no longer served (stopped)" in out and "Traceback" not in err

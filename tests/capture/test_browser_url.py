"""The extension's reports: the native-messaging host and the agent's socket take
hostile input (size caps, schema, peer checks) and a report lends its URL only to the
window showing that tab."""

from __future__ import annotations

import io
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capture.window.browser_host import MAX_MESSAGE, ProtocolError, forward, read_message
from capture.window.browser_url import BrowserTabs, TabListener, TabReport, parse_report
from tests.waiting import wait_for


def frame(body: bytes) -> bytes:
    return struct.pack("=I", len(body)) + body


def msg(**fields: object) -> bytes:
    return frame(json.dumps(fields).encode())


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ([], "not an object"),
        (
            {"v": 1, "browser": "chromium", "title": "t", "url": "https://x.example/", "x": 1},
            "unknown",
        ),
        ({"v": 2, "browser": "chromium", "title": "t", "url": "https://x.example/"}, "version"),
        ({"v": 1, "browser": "chro mium", "title": "t", "url": "https://x.example/"}, "browser"),
        ({"v": 1, "browser": "chromium", "title": 5, "url": "https://x.example/"}, "title"),
        (
            {"v": 1, "browser": "chromium", "title": "t" * 2000, "url": "https://x.example/"},
            "title",
        ),
        ({"v": 1, "browser": "chromium", "title": "t", "url": "file:///etc/passwd"}, "url"),
        ({"v": 1, "browser": "chromium", "title": "t", "url": "https://x.example/\\nX"}, "url"),
        ({"v": 1, "browser": "chromium", "title": "t", "url": "https://x/" + "a" * 3000}, "url"),
    ],
)
def test_reports_of_the_wrong_shape_are_refused(data: object, why: str) -> None:
    data = json.loads(json.dumps(data).replace("\\\\n", "\\n"))
    refused = parse_report(data)
    assert isinstance(refused, str) and why in refused


def test_a_report_lends_its_url_only_to_its_own_tab() -> None:
    tabs = BrowserTabs()
    tabs.report(TabReport("chromium", "Bank", "https://bank.example/", time.monotonic()))
    assert tabs.url_for("Bank - Chromium") == "https://bank.example/"
    assert tabs.url_for("Bank\u200b - Chromium") == "https://bank.example/"
    assert tabs.url_for("Bank holidays - Chromium") is None
    assert tabs.url_for("Other - Chromium") is None
    assert tabs.url_for("") is None


def test_the_host_forwards_valid_messages_and_drops_the_rest() -> None:
    stream = io.BytesIO(
        msg(title="Page", url="https://a.example/p?q=1")
        + frame(b"not json")
        + msg(title="x", url="javascript:alert(1)")
        + frame(b"{" + b" " * (MAX_MESSAGE + 10) + b"}")
        + msg(title="Two", url="https://b.example/", browser="evil name", v=1)
    )
    left, right = socket.socketpair()
    with left, right:
        refused = forward(stream, left, "chromium")
        left.shutdown(socket.SHUT_WR)
        lines = right.makefile("rb").read().splitlines()
    assert refused == 3
    sent = [json.loads(line) for line in lines]
    assert sent == [
        {"v": 1, "browser": "chromium", "title": "Page", "url": "https://a.example/p?q=1"},
        {"v": 1, "browser": "chromium", "title": "Two", "url": "https://b.example/"},
    ]


@pytest.mark.parametrize(
    "stream",
    [b"\x01\x00", struct.pack("=I", 10) + b"short", struct.pack("=I", 50 * 1024 * 1024)],
)
def test_a_broken_or_absurd_stream_stops_the_host(stream: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_message(io.BytesIO(stream))


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[TabListener]:
    tabs = BrowserTabs()
    listening = TabListener(tmp_path / "browser.sock", tabs)
    listening.start()
    yield listening
    listening.stop()


def test_the_agent_socket_takes_reports_and_survives_garbage(listener: TabListener) -> None:
    assert oct(listener.path.stat().st_mode & 0o777) == "0o600"
    woken: list[int] = []
    listener.target.subscribe(lambda: woken.append(1))
    with socket.socket(socket.AF_UNIX) as bad:
        bad.connect(str(listener.path))
        bad.sendall(b"garbage\n" + b"x" * 20_000 + b"\n")
    wait_for(lambda: listener.refused >= 2, "the garbage to be refused")
    with socket.socket(socket.AF_UNIX) as good:
        good.connect(str(listener.path))
        line = {"v": 1, "browser": "chromium", "title": "Docs", "url": "https://d.example/x"}
        good.sendall(json.dumps(line).encode() + b"\n")
        wait_for(lambda: listener.target.url_for("Docs - Chromium") is not None, "the report")
        assert listener.target.hosts == 1 and listener.target.awaiting("Chromium")
    assert woken
    wait_for(lambda: listener.target.hosts == 0, "the host to be counted gone")
    assert not listener.target.awaiting("chromium")

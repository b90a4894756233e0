"""The native-messaging host the browser extension talks to.

The browser starts this process (its manifest names the launcher that
`capture-agent privacy browser-host install` writes) and writes messages to its
standard input: a 4-byte length in native byte order, then that many bytes of UTF-8
JSON. Each message is checked (``read_message`` caps its size, ``parse_report`` its
shape) and passed on, as one JSON line, to the agent's socket; the host answers
nothing. The browser is not trusted either: a page controls its title and URL, and a
compromised extension could send anything. Exits when the browser closes the pipe.

    python -m capture.window.browser_host --socket PATH
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import struct
import sys
import time
from pathlib import Path
from typing import BinaryIO

from capture.window.browser_url import MAX_BROWSER, parse_report

MAX_MESSAGE = 8 * 1024
"""Bytes in one message from the extension; a longer one is skipped unread."""
MAX_SKIP = 1024 * 1024
"""A message claiming more than this ends the host: the stream is not ours."""
_LENGTH = struct.Struct("=I")


class ProtocolError(Exception):
    """The stream from the browser cannot be read as native messages."""


def read_message(stream: BinaryIO) -> bytes | None:
    """The next message's bytes; None at the end of the stream; ``b""`` for a message
    skipped for its size. Raises ProtocolError on a truncated or absurd stream."""
    header = stream.read(_LENGTH.size)
    if not header:
        return None
    if len(header) < _LENGTH.size:
        raise ProtocolError("truncated length")
    (length,) = _LENGTH.unpack(header)
    if length > MAX_SKIP:
        raise ProtocolError("message too long")
    body = stream.read(length)
    if len(body) < length:
        raise ProtocolError("truncated message")
    return body if length <= MAX_MESSAGE else b""


def forward(stream: BinaryIO, send: socket.socket, browser: str) -> int:
    """Pass every valid message from ``stream`` to ``send``; the count refused."""
    refused = 0
    while True:
        body = read_message(stream)
        if body is None:
            return refused
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            refused += 1
            continue
        if isinstance(data, dict):
            data = {"v": 1, **data, "browser": browser}
        report = parse_report(data)
        if isinstance(report, str):
            refused += 1
            continue
        line = {"v": 1, "browser": report.browser, "title": report.title, "url": report.url}
        send.sendall(json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n")


def _connect(path: Path, attempts: int = 20) -> socket.socket:
    # The agent may be starting: retry for a few seconds, then give up (the browser
    # restarts the host when the extension reconnects).
    for _ in range(attempts):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            time.sleep(0.25)
    raise OSError(f"the agent is not listening on {path}")


def _browser_name(origin: str) -> str:
    # Chromium passes the caller's origin as the first argument; Firefox passes the
    # manifest path and the extension id. Only the kind of browser is kept.
    kind = "firefox" if origin.endswith(".json") or "@" in origin else "chromium"
    return kind[:MAX_BROWSER]


def main(argv: list[str] | None = None) -> int:
    """Run the host: read the browser's messages, forward them to the agent."""
    parser = argparse.ArgumentParser(prog="capture-agent-browser-host", description=__doc__)
    parser.add_argument("--socket", required=True, type=Path, help="the agent's browser socket")
    parser.add_argument("origin", nargs="*", help="what the browser passes (its caller)")
    args = parser.parse_args(argv)
    browser = _browser_name(args.origin[0] if args.origin else "")
    try:
        sock = _connect(args.socket)
    except OSError as exc:
        sys.stderr.write(f"capture-agent browser host: {exc}\n")
        return 1
    with contextlib.closing(sock):
        try:
            forward(sys.stdin.buffer, sock, browser)
        except ProtocolError as exc:
            sys.stderr.write(f"capture-agent browser host: {exc}; stopping\n")
            return 1
        except OSError:
            sys.stderr.write("capture-agent browser host: the agent closed the connection\n")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

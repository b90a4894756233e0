"""`privacy check-window --file windows.jsonl`: judge a fleet's window titles in one go.

Each input line is a JSON object with ``title`` and ``app`` (strings) and optionally
``process`` and ``url``; other keys are ignored, so an evaluation set's labels can stay
on the line. Each output line is the verdict of the input line of the same rank, or an
``error`` naming what is wrong with it; a bad line never stops the others. The file is
streamed (a fleet's export may be large) and nothing read is logged or stored.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from typing import IO, Any

from privacy.errors import CheckInputError

MAX_LINE = 64 * 1024
"""Bytes in one input line; a longer one is refused (no title is that long)."""
FIELDS = {"title": True, "app": True, "process": False, "url": False}


def open_windows_file(path: str) -> IO[bytes]:
    """The batch file opened for reading, or ``-`` for standard input; a folder, a FIFO
    or a device is refused (it could block or never end)."""
    if path == "-":
        import sys

        return sys.stdin.buffer
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CheckInputError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise CheckInputError(f"cannot read {path}: it is a folder") from None
    except OSError as exc:
        raise CheckInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CheckInputError(f"cannot read {path}: not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def parse_line(raw: bytes) -> dict[str, str | None] | str:
    """A line's window (title, app, process, url), or a one-line reason it is refused."""
    if len(raw) > MAX_LINE:
        return f"line longer than {MAX_LINE} bytes"
    try:
        item = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except json.JSONDecodeError:
        return "not valid JSON"
    if not isinstance(item, dict):
        return 'expected an object with "title" and "app" strings'
    window: dict[str, str | None] = {}
    for name, required in FIELDS.items():
        value = item.get(name)
        if value is None and not required:
            window[name] = None
        elif not isinstance(value, str):
            need = "a string" if required else "a string or null"
            return f'"{name}" must be {need}'
        else:
            window[name] = value
    return window


def windows(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str | None] | str]]:
    """(line number, window or error) for every non-blank line of ``stream``."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            # Skip the rest of an over-long line so the next line is read whole.
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(MAX_LINE + 1)
            yield number, f"line longer than {MAX_LINE} bytes"
            continue
        if raw.strip():
            yield number, parse_line(raw.strip())


def batch_results(path: str, judge: Any) -> Iterator[dict[str, Any]]:
    """One result per window line of ``path``: ``judge(title, app, process, url)``'s
    dict with the line number, or {"line", "error"}."""
    stream = open_windows_file(path)
    try:
        for number, window in windows(stream):
            if isinstance(window, str):
                yield {"line": number, "error": window}
            else:
                yield {"line": number, **judge(**window)}
    finally:
        if path != "-":
            stream.close()

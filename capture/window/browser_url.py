"""The focused browser tab's URL, reported by the browser extension, for window events.

The extension (browser/extension/) sends the focused tab's title and URL to its
native-messaging host (``capture.window.browser_host``), a process the browser starts;
the host passes each report on over a Unix socket to the agent, where ``BrowserTabs``
keeps the last one per browser, in memory only. A window event's URL is that of the
last report whose tab title begins the window's title ("<tab title> - Google Chrome"),
so a stale report never lends its URL to another page; when a report arrives after the
window event, the window source is woken (``subscribe``) and emits the window again
with its URL.

Everything on the socket is treated as hostile: one line of at most ``MAX_LINE`` bytes
per report, a strict schema (``parse_report``), a peer that must run as our own user,
a handful of connections at most. Nothing received is logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 8 * 1024
"""Bytes in one report on the socket (a title and a URL, both capped below)."""
MAX_TITLE = 1024
MAX_URL = 2048
MAX_BROWSER = 40
MAX_CONNECTIONS = 8
REPORT_TTL = 24 * 3600.0
"""A report older than this (seconds) is forgotten: the browser was closed long ago."""
SOCKET_NAME = "browser.sock"
TAB_WAIT = 1.0
"""Seconds a browser window's event waits for its tab's report while a host is
connected: the page title and the report race, and a title must not go out alone."""
BROWSER_CLASSES = frozenset(
    {"chromium", "chromium-browser", "google-chrome", "google-chrome-beta", "chrome",
     "firefox", "firefox-esr", "navigator", "microsoft-edge", "msedge", "brave-browser",
     "vivaldi-stable", "librewolf", "com.google.chrome", "org.mozilla.firefox",
     "com.microsoft.edgemac", "com.brave.browser"}
)  # fmt: skip
"""App names of browsers the extension runs in (WM_CLASS, process, bundle id; lowercase)."""


@dataclass(frozen=True)
class TabReport:
    """The focused tab of one browser: its title and URL, when it was reported."""

    browser: str
    title: str
    url: str
    mono: float


def parse_report(data: Any) -> TabReport | str:
    """A report from its JSON form, or why it is refused (one line, never its content).

    The form: ``{"v": 1, "browser": "chromium", "title": "...", "url": "https://..."}``;
    unknown keys are refused, URLs must be http(s) and short, titles short.
    """
    if not isinstance(data, dict):
        return "not an object"
    if set(data) - {"v", "browser", "title", "url"}:
        return "unknown fields"
    if data.get("v") != 1:
        return "unsupported version"
    browser, title, url = data.get("browser"), data.get("title"), data.get("url")
    if not isinstance(browser, str) or not 0 < len(browser) <= MAX_BROWSER:
        return "bad browser name"
    if not browser.replace("-", "").replace("_", "").isalnum():
        return "bad browser name"
    if not isinstance(title, str) or len(title) > MAX_TITLE:
        return "bad title"
    if not isinstance(url, str) or len(url) > MAX_URL:
        return "bad url"
    if not url.lower().startswith(("http://", "https://")) or any(c in url for c in "\r\n\0 "):
        return "bad url"
    return TabReport(browser, title, url, time.monotonic())


def _visible(text: str) -> str:
    # Browsers and window managers differ in invisible characters (Edge's U+200B).
    return "".join(c for c in text if c.isprintable() and c not in "\u200b\u200c\u200d\ufeff")


class BrowserTabs:
    """The last tab each browser reported, matched against window titles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[str, TabReport] = {}
        self._subscribers: list[Callable[[], None]] = []
        self.last_report: float | None = None
        """When the last report arrived (monotonic), None if none ever did."""
        self.hosts = 0
        """Native-messaging hosts connected now (the listener counts them)."""

    def report(self, tab: TabReport) -> None:
        """Keep ``tab`` as its browser's focused tab and wake the subscribers."""
        with self._lock:
            self._reports[tab.browser] = tab
            self.last_report = tab.mono
            subscribers = list(self._subscribers)
        for wake in subscribers:
            # A source stopping while we wake it has closed its pipe: nothing to wake.
            with contextlib.suppress(OSError):
                wake()

    def url_for(self, title: str) -> str | None:
        """The URL of the last report whose tab title begins ``title``, if any."""
        if not title:
            return None
        shown = _visible(title)
        now = time.monotonic()
        with self._lock:
            reports = sorted(self._reports.values(), key=lambda r: -r.mono)
        for tab in reports:
            if now - tab.mono > REPORT_TTL:
                continue
            head = _visible(tab.title)
            if head and shown.startswith(head) and _ends_at_separator(shown, len(head)):
                return tab.url
        return None

    def awaiting(self, app: str) -> bool:
        """Whether a window of ``app`` should wait up to ``TAB_WAIT`` for its tab's
        report: it is a browser and an extension host is connected."""
        return self.hosts > 0 and app.strip().lower().removesuffix(".exe") in BROWSER_CLASSES

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from the listener's thread) after every report."""
        with self._lock:
            self._subscribers.append(wake)

    def unsubscribe(self, wake: Callable[[], None]) -> None:
        """Stop calling ``wake``."""
        with self._lock, contextlib.suppress(ValueError):
            self._subscribers.remove(wake)

    def clear(self) -> None:
        """Forget every report (the agent stops or pauses)."""
        with self._lock:
            self._reports.clear()


def _ends_at_separator(title: str, at: int) -> bool:
    # "<tab title> - Google Chrome": the tab title must end where the browser's name
    # begins, so the tab "Bank" does not lend its URL to the window "Bank holidays - …".
    rest = title[at : at + 3]
    return not rest or (len(rest) == 3 and rest[0] == " " and rest[1] in "-–—|·" and rest[2] == " ")


_TABS = BrowserTabs()


def tabs() -> BrowserTabs:
    """The agent's one ``BrowserTabs`` (the listener fills it, window sources read it)."""
    return _TABS


class TabListener:
    """The Unix socket the native-messaging hosts write reports to (owner-only)."""

    def __init__(self, path: Path, target: BrowserTabs | None = None) -> None:
        self.path = path
        self.target = target or tabs()
        self.refused = 0
        """Reports refused (bad shape, too long, wrong peer), for status and tests."""
        self._server: socket.socket | None = None
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._connections = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and serve on a thread."""
        if sys.platform == "win32":
            # The host would need a named pipe there: not written yet, titles only.
            raise OSError(0, "no Unix-domain sockets on Windows")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old)
        server.listen(MAX_CONNECTIONS)
        self._server = server
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="browser-tabs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the socket, forget every report, join the thread."""
        wake, self._wake = self._wake, None
        if wake is not None:
            os.write(wake[1], b"x")
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if wake is not None:
            for fd in wake:
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.target.clear()

    def _serve(self) -> None:
        assert self._server is not None and self._wake is not None
        server, wake = self._server, self._wake[0]
        while True:
            readable, _, _ = select.select([server.fileno(), wake], [], [])
            if wake in readable:
                return
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            if not _same_user(conn):
                self.refused += 1
                conn.close()
                continue
            with self._lock:
                if self._connections >= MAX_CONNECTIONS:
                    self.refused += 1
                    conn.close()
                    continue
                self._connections += 1
                self.target.hosts = self._connections
            threading.Thread(
                target=self._read, args=(conn,), name="browser-tab", daemon=True
            ).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            with conn, conn.makefile("rb") as stream:
                while True:
                    line = stream.readline(MAX_LINE + 1)
                    if not line:
                        return
                    if len(line) > MAX_LINE:
                        self.refused += 1
                        return  # a peer that ignores the protocol is dropped
                    self._take(line)
        except OSError:
            return
        finally:
            with self._lock:
                self._connections -= 1
                self.target.hosts = self._connections

    def _take(self, line: bytes) -> None:
        try:
            data = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.refused += 1
            return
        tab = parse_report(data)
        if isinstance(tab, str):
            self.refused += 1
            log.debug("browser tab report refused: %s", tab)
            return
        self.target.report(tab)


def _same_user(conn: socket.socket) -> bool:
    """Whether the peer runs as our user (SO_PEERCRED; where unknown, the socket's
    owner-only mode is the guard)."""
    peercred = getattr(socket, "SO_PEERCRED", None)
    if peercred is None:
        return True
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", raw)
    return sys.platform != "win32" and bool(uid == os.getuid())


def start_listener(path: Path) -> TabListener | None:
    """Listen for the browser extension's reports at ``path``; None (logged) if the
    socket cannot be made: windows are then judged by their titles alone."""
    listener = TabListener(path)
    try:
        listener.start()
    except OSError as exc:
        log.warning("browser tab socket %s unavailable (%s): titles only", path, exc.strerror)
        return None
    return listener

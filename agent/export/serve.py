"""Serve `view`'s page from memory on loopback, to this person's browser only.

Nothing decrypted touches the disk: the page and its frames live in this process and go
out over 127.0.0.1 with ``Cache-Control: no-store`` (so the browser keeps no copy in its
disk cache either). Loopback is open to every local account, so each request must
prove it comes from the browser this process opened:

- the browser is sent to a one-time link ``/open/<token>``; that request exchanges the
  token (used once, then forgotten) for a random cookie, ``HttpOnly`` and
  ``SameSite=Lax``; every other request needs that cookie (Lax, not Strict: the browser
  arrives from `view`'s launcher file, a cross-site start after which a Strict cookie
  would not be sent; Lax still keeps it off every other site's subrequests and POSTs);
- the ``Host`` header must name this server's own address (no DNS rebinding);
- the two calls that change something (``forget``) or keep the server up (``alive``)
  are POSTs with an ``X-Capture-Agent`` header, which no other site's page can send
  without a CORS preflight this server never grants.

The server stops when asked (Ctrl-C, SIGTERM), when the page was opened and then closed
(no heartbeat for ``CLOSED_AFTER`` seconds), or when nobody opened it in
``UNOPENED_AFTER`` seconds.
"""

from __future__ import annotations

import hmac
import http.server
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.export.page import csp, image_type

CLOSED_AFTER = 30.0
"""Seconds without the page's heartbeat (every 5 s) after which the page is closed."""
UNOPENED_AFTER = 600.0
"""Seconds to wait for the browser to open the link at all."""
COOKIE = "capture_agent_view"
MAX_BODY = 0  # no request carries a body: anything longer is refused


@dataclass
class PageState:
    """What the server holds: the page, its frames, and who may read them."""

    page: bytes
    frames: Sequence[bytes]
    forget: Callable[[], str] | None = None
    cookie: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    tokens: set[str] = field(default_factory=set)
    opened: float | None = None
    last_seen: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class PageServer:
    """The page on ``http://127.0.0.1:<port>/``, until ``wait`` returns."""

    def __init__(
        self,
        page: str,
        frames: Sequence[bytes],
        forget: Callable[[], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = PageState(page.encode("utf-8"), frames, forget)
        self.clock = clock
        self.started = clock()
        self._stop = threading.Event()
        handler = _handler(self.state, clock)
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        handler.origin = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="view-server", daemon=True
        )
        self._thread.start()

    def new_link(self) -> str:
        """A one-time link that lets one browser in."""
        token = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.tokens.add(token)
        return f"http://127.0.0.1:{self.port}/open/{token}"

    @property
    def opened(self) -> bool:
        """Whether a browser has come in through a link."""
        return self.state.opened is not None

    def finished(self) -> str | None:
        """Why to stop now, or None to keep serving."""
        now = self.clock()
        with self.state.lock:
            last = self.state.last_seen
        if self._stop.is_set():
            return "stopped"
        if last is None:
            return "nobody opened the page" if now - self.started > UNOPENED_AFTER else None
        return "the page was closed" if now - last > CLOSED_AFTER else None

    def wait(self, poll: float = 1.0) -> str:
        """Serve until ``finished`` says why; then stop and forget the page."""
        while (reason := self.finished()) is None:
            self._stop.wait(poll)
        self.close()
        return reason

    def stop(self) -> None:
        """Make ``wait`` return (from a signal handler or another thread)."""
        self._stop.set()

    def close(self) -> None:
        """Stop serving and drop the page and frames from this object."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.state.page = b""
        self.state.frames = ()


class _QuietServer(http.server.ThreadingHTTPServer):
    """A request that breaks off (the browser closed, a client gone mad) is dropped
    without a traceback on the person's terminal."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Nothing to tell: the connection is closed and the server goes on."""


def _handler(state: PageState, clock: Callable[[], float]) -> Any:
    class Handler(http.server.BaseHTTPRequestHandler):
        origin = ""
        server_version = "capture-agent-view"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: request lines would print frame numbers on the terminal."""

        def _send(
            self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header(
                "Content-Security-Policy", csp(served=True) + "; frame-ancestors 'none'"
            )
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _refuse(self, code: int, why: str) -> None:
            self._send(code, (why + "\n").encode(), "text/plain; charset=utf-8")

        def _cookie_ok(self) -> bool:
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE and hmac.compare_digest(value.encode(), state.cookie.encode()):
                    return True
            return False

        def _allowed(self) -> bool:
            if self.headers.get("Host") != self.origin:
                self._refuse(403, "wrong host")
                return False
            if not self._cookie_ok():
                self._refuse(403, "open the page through the link `capture-agent view` printed")
                return False
            return True

        def do_GET(self) -> None:
            """The link, the page, and frame images."""
            path = self.path.split("?", 1)[0]
            if path.startswith("/open/"):
                self._open(path.removeprefix("/open/"))
                return
            if not self._allowed():
                return
            if path == "/":
                self._send(200, state.page, "text/html; charset=utf-8")
                return
            if path.startswith("/f/"):
                number = path.removeprefix("/f/")
                if number.isdigit() and int(number) < len(state.frames):
                    image = state.frames[int(number)]
                    self._send(200, image, image_type(image))
                    return
            self._refuse(404, "not found")

        def _open(self, token: str) -> None:
            if self.headers.get("Host") != self.origin:
                self._refuse(403, "wrong host")
                return
            with state.lock:
                known = any(hmac.compare_digest(token, t) for t in state.tokens)
                state.tokens.discard(token)
                if known:
                    state.opened = state.last_seen = clock()
            if not known:
                self._refuse(403, "this link was used already: run `capture-agent view` again")
                return
            self._send(
                303,
                b"",
                "text/plain",
                {
                    "Location": "/",
                    "Set-Cookie": f"{COOKIE}={state.cookie}; HttpOnly; SameSite=Lax; Path=/",
                },
            )

        def do_POST(self) -> None:
            """``alive`` (the page's heartbeat) and ``forget``."""
            if not self._allowed():
                return
            asked = self.headers.get("X-Capture-Agent")
            length = self.headers.get("Content-Length") or "0"
            if not length.isdigit() or int(length) > MAX_BODY:
                self._refuse(413, "no body expected")
                return
            if self.path == "/alive" and asked == "alive":
                with state.lock:
                    state.last_seen = clock()
                self._send(204, b"", "text/plain")
                return
            if self.path == "/forget" and asked == "forget" and state.forget is not None:
                try:
                    said = state.forget()
                except Exception as exc:  # the person sees why, the server goes on
                    said = f"forget failed: {type(exc).__name__}: {exc}"
                self._send(200, said.encode("utf-8"), "text/plain; charset=utf-8")
                return
            self._refuse(404, "not found")

    return Handler

"""The control socket: how the CLI and the tray talk to the running daemon.

A Unix-domain socket in the home, mode 0600, and the peer's uid checked with
SO_PEERCRED: only the person who runs the agent may control it, whatever the file
mode says. The protocol is JSON lines, versioned:

    request   {"v": 1, "cmd": "status", "args": {}}
    response  {"v": 1, "ok": true, "result": {...}}
              {"v": 1, "ok": false, "error": "one line a person can read"}

One request per connection keeps the server trivially robust.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.errors import AgentError, NotRunning

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_REQUEST = 64 * 1024
Handler = Callable[[dict[str, Any]], Any]


class ControlError(AgentError):
    """The daemon refused or failed a request; the message is the daemon's."""


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), else None."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    data = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", data)
    return int(uid)


class ControlServer:
    """Serves requests on the control socket from a background thread."""

    def __init__(self, path: Path, handlers: dict[str, Handler]) -> None:
        self.path = path
        self.handlers = handlers
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket (0600, stale socket replaced) and start serving."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        self._sock = sock  # accept() blocks: the thread wakes only for a connection
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and remove the socket."""
        self._stop.set()
        if self._thread is not None:
            self._wake_accept()
            self._thread.join(5.0)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _wake_accept(self) -> None:
        # The thread blocks in accept(): a connection of our own wakes it to see the
        # stop. Should that fail (the socket file removed), shutting the listening
        # socket down wakes it on Linux.
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as waker:
                waker.settimeout(2.0)
                waker.connect(str(self.path))
        except OSError:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._stop.is_set():
                    return
                continue
            if self._stop.is_set():
                conn.close()
                return
            with conn, contextlib.suppress(OSError):
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)
        uid = peer_uid(conn)
        if uid is not None and uid != os.getuid():
            log.warning("control socket: refused a connection from uid %d", uid)
            self._reply(
                conn,
                {
                    "ok": False,
                    "error": "permission denied: the control socket "
                    "accepts only the user who runs the agent",
                },
            )
            return
        data = b""
        while b"\n" not in data and len(data) < MAX_REQUEST:
            part = conn.recv(4096)
            if not part:
                break
            data += part
        try:
            request = json.loads(data.split(b"\n", 1)[0])
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            self._reply(conn, {"ok": False, "error": "malformed request"})
            return
        if request.get("v") != PROTOCOL_VERSION:
            self._reply(
                conn,
                {
                    "ok": False,
                    "error": f"unsupported protocol version "
                    f"{request.get('v')!r} (this daemon speaks {PROTOCOL_VERSION})",
                },
            )
            return
        handler = self.handlers.get(str(request.get("cmd")))
        if handler is None:
            self._reply(conn, {"ok": False, "error": f"unknown command {request.get('cmd')!r}"})
            return
        args = request.get("args") or {}
        try:
            result = handler(args if isinstance(args, dict) else {})
        except AgentError as exc:
            self._reply(conn, {"ok": False, "error": str(exc)})
            return
        except Exception as exc:
            log.error("control command %s failed (%s)", request.get("cmd"), type(exc).__name__)
            self._reply(conn, {"ok": False, "error": f"internal error ({type(exc).__name__})"})
            return
        self._reply(conn, {"ok": True, "result": result})

    @staticmethod
    def _reply(conn: socket.socket, body: dict[str, Any]) -> None:
        conn.sendall(json.dumps({"v": PROTOCOL_VERSION, **body}).encode() + b"\n")


def request(path: Path, cmd: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """Send one command to the daemon and return its result; NotRunning if none answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotRunning(
                "the agent is not running (start it with `capture-agent run`)"
            ) from None
        except PermissionError:
            raise ControlError(f"{path}: permission denied") from None
        body = {"v": PROTOCOL_VERSION, "cmd": cmd, "args": args or {}}
        sock.sendall(json.dumps(body).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except TimeoutError:
        raise ControlError("the agent did not answer in time") from None
    finally:
        sock.close()
    try:
        reply = json.loads(data)
    except ValueError:
        raise ControlError("the agent sent a malformed reply") from None
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "request failed")))
    return reply.get("result")

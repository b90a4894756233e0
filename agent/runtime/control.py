"""The control socket: how the CLI and the tray talk to the running daemon.

A Unix-domain socket in the home, mode 0600, and the peer's uid checked with
SO_PEERCRED: only the person who runs the agent may control it, whatever the file
mode says. One JSON line per connection (agent/runtime/control_protocol.py has the messages).

`pause` must always get through, whatever else is connected. So the server never
waits on one client: one thread (``control``) accepts and reads every connection
without blocking (a selector), each connection has ``read_deadline`` seconds in all to
send its request line, and a complete request is carried out on a thread of its own.
At most ``max_reading`` connections may be sending and ``max_handling`` requests be
carried out at once; a connection beyond either gets an immediate "busy" reply and is
closed (the client tries again), never queued behind an idle one. Nothing a client
sends or a handler raises ends the server thread: each failure is one log line,
without the request's content.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from msgspec import UNSET

from agent.errors import AgentError, NotRunning
from agent.runtime.control_protocol import (
    BUSY,
    MAX_REPLY,
    MAX_REQUEST,
    PROTOCOL_VERSION,
    BadRequest,
    ControlError,
    Reply,
    Request,
    encode,
    encode_request,
    error_reply,
    parse_reply,
    parse_request,
    reply_error,
)

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Any]

READ_DEADLINE = 2.0  # seconds a connection has, from accept, to send its request line
MAX_READING = 64  # connections sending their request at once
MAX_HANDLING = 8  # requests being carried out at once
SEND_TIMEOUT = 2.0  # seconds a reply may wait for a client that does not read
LISTEN_BACKLOG = 128
LOG_EVERY = 60.0  # seconds between two log lines of the same kind of trouble
RETRY_EVERY = 0.02  # seconds a client waits before trying a full or busy socket again

__all__ = [
    "MAX_REQUEST",
    "PROTOCOL_VERSION",
    "BadRequest",
    "ControlError",
    "ControlServer",
    "Handler",
    "peer_uid",
    "request",
]


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), else None."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    data = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", data)
    return int(uid)


class _Throttled:
    """Log lines of one kind at most once a minute, saying how many were left out."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, level: int, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every:
                self._skipped[kind] = self._skipped.get(kind, 0) + 1
                return
            self._last[kind] = now
            skipped = self._skipped.pop(kind, 0)
        more = f" ({skipped} more since the last such line)" if skipped else ""
        log.log(level, "control socket: %s%s", message, more)


class _Reading:
    """A connection still sending its request: what came so far and its deadline."""

    __slots__ = ("data", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.data = bytearray()
        self.deadline = deadline


class ControlServer:
    """Serves requests on the control socket from background threads."""

    def __init__(
        self,
        path: Path,
        handlers: dict[str, Handler],
        *,
        read_deadline: float = READ_DEADLINE,
        max_reading: int = MAX_READING,
        max_handling: int = MAX_HANDLING,
    ) -> None:
        self.path = path
        self.handlers = handlers
        self.read_deadline = read_deadline
        self.max_reading = max_reading
        self.max_handling = max_handling
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._reading: dict[int, _Reading] = {}
        self._handling = 0
        self._handling_lock = threading.Lock()
        self._log = _Throttled()

    @property
    def serving(self) -> bool:
        """True while the thread that accepts and reads connections runs."""
        return self._thread is not None and self._thread.is_alive()

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
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
        self._sock = sock
        # The thread sleeps in select() until a connection, a byte or a deadline: the
        # pipe wakes it to see a stop.
        self._wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)
        self._selector.register(self._wake[0], selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and remove the socket."""
        self._stop.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")
        if self._thread is not None:
            self._thread.join(5.0)
        for reading in list(self._reading.values()):
            self._close(reading)
        if self._selector is not None:
            self._selector.close()
        if self._sock is not None:
            self._sock.close()
        if self._wake is not None:
            for fd in self._wake:
                with contextlib.suppress(OSError):
                    os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- the accepting and reading thread --------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:
                # A bug of ours, not a client's doing: said once, and the loop goes on.
                self._log(logging.ERROR, "loop", f"serving failed ({type(exc).__name__})")
                self._stop.wait(0.05)  # a fault that repeats must not spin a core

    def _step(self) -> None:
        assert self._selector is not None
        timeout = None
        if self._reading:
            soonest = min(r.deadline for r in self._reading.values())
            timeout = max(0.0, soonest - time.monotonic())
        for key, _ in self._selector.select(timeout):
            if self._stop.is_set():
                return
            if key.fileobj is self._sock:
                self._accept()
            elif isinstance(key.data, _Reading):
                self._read(key.data)
            else:  # the wake pipe
                with contextlib.suppress(OSError):
                    os.read(key.fd, 64)
        self._expire()

    def _accept(self) -> None:
        assert self._sock is not None and self._selector is not None
        for _ in range(self.max_reading + 1):  # what is waiting, without starving readers
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                # Out of file descriptors: the connection stays in the backlog. Said once
                # a minute; a short pause keeps the loop from spinning on it.
                self._log(logging.ERROR, "accept", f"cannot accept ({exc.strerror or exc})")
                self._stop.wait(0.1)
                return
            try:
                self._admit(conn)
            except Exception as exc:
                self._log(logging.WARNING, "admit", f"dropped a connection ({type(exc).__name__})")
                conn.close()

    def _admit(self, conn: socket.socket) -> None:
        assert self._selector is not None
        conn.setblocking(False)
        uid = peer_uid(conn)
        if uid is not None and uid != os.getuid():
            self._log(logging.WARNING, "uid", f"refused a connection from uid {uid}")
            self._answer_now(
                conn,
                error_reply(
                    "permission denied: the control socket accepts only the user who runs the agent"
                ),
            )
            return
        if len(self._reading) >= self.max_reading:
            self._log(logging.WARNING, "busy", "too many connections at once; told one to retry")
            self._answer_now(conn, BUSY)
            return
        reading = _Reading(conn, time.monotonic() + self.read_deadline)
        self._reading[conn.fileno()] = reading
        self._selector.register(conn, selectors.EVENT_READ, reading)

    def _read(self, reading: _Reading) -> None:
        try:
            part = reading.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(reading)
            return
        if part:
            reading.data += part
            end = reading.data.find(b"\n")
            if end < 0 and len(reading.data) <= MAX_REQUEST:
                return  # more to come
            line = bytes(reading.data[: end if end >= 0 else len(reading.data)])
        elif reading.data:
            # The sender stopped before the end of its line: a request cut short is
            # never carried out, however complete it looks.
            self._forget(reading)
            self._answer_now(
                reading.sock, error_reply("malformed request: no newline at its end", 2)
            )
            return
        else:
            self._close(reading)  # connected and left (a probe, or our own stop)
            return
        self._forget(reading)
        if len(line) > MAX_REQUEST:
            self._answer_now(
                reading.sock, error_reply(f"request too long (more than {MAX_REQUEST} bytes)", 2)
            )
            return
        self._dispatch(reading.sock, line)

    def _expire(self) -> None:
        now = time.monotonic()
        for reading in [r for r in self._reading.values() if r.deadline <= now]:
            self._log(logging.WARNING, "slow", "closed a connection that sent no request in time")
            self._forget(reading)
            self._answer_now(
                reading.sock,
                error_reply(f"no request line within {self.read_deadline:g} seconds", 2),
            )

    def _forget(self, reading: _Reading) -> None:
        assert self._selector is not None
        self._reading.pop(reading.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(reading.sock)

    def _close(self, reading: _Reading) -> None:
        self._forget(reading)
        reading.sock.close()

    @staticmethod
    def _answer_now(conn: socket.socket, line: bytes) -> None:
        # A short refusal, sent without waiting (it fits any socket buffer), then closed.
        with contextlib.suppress(OSError):
            conn.send(line)
        conn.close()

    # -- carrying a request out -------------------------------------------------------------

    def _dispatch(self, conn: socket.socket, line: bytes) -> None:
        with self._handling_lock:
            room = self._handling < self.max_handling
            if room:
                self._handling += 1
        if not room:
            self._log(logging.WARNING, "busy", "too many requests at once; told one to retry")
            self._answer_now(conn, BUSY)
            return
        try:
            threading.Thread(
                target=self._handle, args=(conn, line), name="control-request", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had: the client is told to retry
            self._done()
            self._answer_now(conn, BUSY)

    def _done(self) -> None:
        with self._handling_lock:
            self._handling -= 1

    def _handle(self, conn: socket.socket, line: bytes) -> None:
        try:
            reply = self._respond(line)
            conn.setblocking(True)
            conn.settimeout(SEND_TIMEOUT)
            conn.sendall(reply)
        except OSError:
            pass  # the client left before its answer: nothing to tell anyone
        except Exception as exc:
            self._log(logging.ERROR, "handle", f"a request failed ({type(exc).__name__})")
        finally:
            conn.close()
            self._done()

    def _respond(self, line: bytes) -> bytes:
        """The reply line to a request line; never raises for anything a client sent."""
        try:
            req = parse_request(line)
        except BadRequest as exc:
            # Said without the request's content, which an attacker chose.
            self._log(logging.WARNING, "malformed", "refused a malformed request")
            return error_reply(str(exc), exc.exit_code)
        handler = self.handlers.get(req.cmd)
        if handler is None:
            return error_reply(f"unknown command {req.cmd[:40]!r}", 2)
        try:
            return encode(Reply(ok=True, result=handler(req.args)))
        except AgentError as exc:
            return error_reply(str(exc), exc.exit_code)
        except Exception as exc:  # RecursionError included: one line, no traceback
            self._log(
                logging.ERROR,
                f"failed {req.cmd}",
                f"command {req.cmd} failed ({type(exc).__name__})",
            )
            return error_reply(f"internal error ({type(exc).__name__})")


# -- the client ---------------------------------------------------------------------------


def request(path: Path, cmd: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """Send one command to the daemon and return its result.

    NotRunning when no daemon listens; ControlError (one line, with the exit code the
    daemon named) for a refusal, a timeout, a full or busy socket or a garbled reply.
    A full backlog or a busy reply is tried again until ``timeout``.
    """
    line = encode_request(Request(v=PROTOCOL_VERSION, cmd=cmd, args=args or {}))
    deadline = time.monotonic() + timeout
    while True:
        reply = parse_reply(_exchange(path, line, deadline))
        if reply.ok:
            return None if reply.result is UNSET else reply.result
        if reply.busy is True and time.monotonic() + RETRY_EVERY < deadline:
            time.sleep(RETRY_EVERY)
            continue
        raise reply_error(reply)


def _exchange(path: Path, line: bytes, deadline: float) -> bytes:
    """Connect, send ``line`` and read the reply, all before ``deadline``."""
    sock = _connect(path, deadline)
    try:
        # The daemon may answer (busy) and close before reading: the answer is read anyway.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(line)
        data = bytearray()
        while b"\n" not in data and len(data) <= MAX_REPLY:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                part = sock.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
    except TimeoutError:
        raise ControlError("the agent did not answer in time") from None
    except OSError as exc:
        raise ControlError(f"lost the connection to the agent ({exc.strerror or exc})") from None
    finally:
        sock.close()
    if not data:
        raise ControlError("the agent closed the connection without answering")
    return bytes(data)


def _connect(path: Path, deadline: float) -> socket.socket:
    """A socket connected to the daemon; a full backlog (EAGAIN) is tried again."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            sock.connect(str(path))
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise NotRunning(
                "the agent is not running (start it with `capture-agent run`)"
            ) from None
        except PermissionError:
            sock.close()
            raise ControlError(f"{path}: permission denied") from None
        except (BlockingIOError, InterruptedError):
            # EAGAIN: the listen backlog is full (a non-blocking connect on a Unix
            # socket does not wait for room). The daemon drains it at once unless stuck.
            sock.close()
            if time.monotonic() + RETRY_EVERY >= deadline:
                raise ControlError(
                    "the agent's control socket is full (too many connections waiting); try again"
                ) from None
            time.sleep(RETRY_EVERY)
        except TimeoutError:
            sock.close()
            raise ControlError("the agent did not answer in time") from None
        except OSError as exc:
            sock.close()
            if exc.errno == errno.ENAMETOOLONG:
                raise ControlError(f"{path}: path too long for a socket") from None
            raise ControlError(
                f"cannot reach the agent at {path} ({exc.strerror or exc})"
            ) from None

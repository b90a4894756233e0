"""Attacks on the control socket: whatever a client sends, `pause` still answers in time.

Issue 16, items 1, 2 and 12. Any process of the person's uid can connect to the socket,
so every byte on it is the attacker's. Against a real ControlServer on a real Unix
socket (and, at the end, the real daemon through the CLI): deep nesting (a 2.2 KB line
of brackets killed the server thread for good), huge and endless lines, wrong types in
every field, partial and slow sends, binary garbage, idle connections by the dozen
(ten of them blocked every command), a full backlog (a raw BlockingIOError traceback).
After each attack a pause must be answered within BOUND seconds, and the server must
have said at most one line per failure, without a traceback and without the content.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import NotRunning
from agent.runtime.control import ControlServer, request
from agent.runtime.control_protocol import (
    MAX_DEPTH,
    MAX_REQUEST,
    BadRequest,
    ControlError,
    check_args,
)
from tests.cli_helpers import recording_home, run_cli, start_agent, stop_agent, wait_until_running

BOUND = 2.0  # seconds within which a pause must be answered, whatever else goes on
ISSUE_PAYLOAD = b'{"v":1,"cmd":"status","args":' + b"[" * 1100 + b"]" * 1100 + b"}\n"
MARK = "ZQXJ-attack-content"  # put in attacks; must never reach a log line


@dataclass
class Served:
    """A real ControlServer on a socket in a private folder, and what its pause did."""

    path: Path
    server: ControlServer
    paused: list[int] = field(default_factory=list)


def _pause_handler(paused: list[int]) -> Callable[[dict[str, Any]], Any]:
    def pause(args: dict[str, Any]) -> dict[str, Any]:
        # The daemon's own checks (agent/runtime/daemon.py _cmd_pause), without the daemon.
        check_args("pause", args, ("minutes",))
        minutes = args.get("minutes", 30)
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise BadRequest("pause: `minutes` must be a whole number")
        paused.append(minutes)
        return {"state": "snoozed", "minutes": minutes}

    return pause


def _explode(_args: dict[str, Any]) -> Any:
    raise RecursionError("maximum recursion depth exceeded " + MARK)


@contextlib.contextmanager
def serving(**options: Any) -> Iterator[Served]:
    """A started server (socket under /tmp: a Unix socket path holds 107 bytes)."""
    base = Path(tempfile.mkdtemp(prefix="ca-ctl-", dir="/tmp"))
    paused: list[int] = []
    handlers = {
        "status": lambda _args: {"running": True},
        "pause": _pause_handler(paused),
        "explode": _explode,
        "unserialisable": lambda _args: {"x": object()},
    }
    server = ControlServer(base / "control.sock", handlers, **options)
    server.start()
    try:
        yield Served(base / "control.sock", server, paused)
        assert server.serving, "the control thread died"
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def served() -> Iterator[Served]:
    with serving() as s:
        yield s


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(BOUND)
    sock.connect(str(path))
    return sock


def read_reply(sock: socket.socket, timeout: float = BOUND) -> dict[str, Any]:
    """The one reply line the server sends on ``sock`` (the test fails if none comes)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):  # the server closed with our bytes unread
        while b"\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data[:200]
    reply = json.loads(data)
    assert isinstance(reply, dict) and isinstance(reply["ok"], bool)
    if not reply["ok"]:
        error = reply["error"]
        assert isinstance(error, str) and error and "\n" not in error
    return reply


def send(path: Path, data: bytes) -> dict[str, Any]:
    """Send ``data`` on a new connection and return the reply."""
    with connect(path) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        return read_reply(sock)


def probe(served: Served) -> float:
    """Pause through the real client; fails unless answered within BOUND. Seconds taken."""
    before = len(served.paused)
    started = time.monotonic()
    result = request(served.path, "pause", {"minutes": 5}, timeout=BOUND)
    took = time.monotonic() - started
    assert result == {"state": "snoozed", "minutes": 5}
    assert len(served.paused) == before + 1
    return took


def check_log(caplog: pytest.LogCaptureFixture) -> None:
    """Every control-socket log line is one line, with no traceback and no content."""
    for record in caplog.records:
        if record.name != "agent.runtime.control":
            continue
        message = record.getMessage()
        assert record.exc_info is None and "\n" not in message
        assert MARK not in message and "[[[" not in message


# -- item 1: the nested payload of the issue ----------------------------------------------


def test_the_issue_payload_is_refused_and_the_server_lives_on(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(ISSUE_PAYLOAD) > 2200
    for _ in range(20):
        reply = send(served.path, ISSUE_PAYLOAD)
        assert reply["ok"] is False and f"nested deeper than {MAX_DEPTH}" in reply["error"]
        assert reply["code"] == 2
    assert served.server.serving
    probe(served)
    check_log(caplog)
    lines = [r for r in caplog.records if r.name == "agent.runtime.control"]
    assert len(lines) == 1, [r.getMessage() for r in lines]  # 20 refusals, one line a minute


def test_depth_is_judged_before_decoding_and_strings_do_not_count(served: Served) -> None:
    ok = b'{"v":1,"cmd":"pause","args":{"minutes":5,"x":"' + b"[" * 5000 + b'"}}\n'
    reply = send(served.path, ok)  # brackets inside a string nest nothing
    assert reply["ok"] is False and "unknown argument 'x'" in reply["error"]
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        deep = b'{"v":1,"cmd":"pause","args":{"minutes":' + opener * 60 + b"1" + closer * 60
        reply = send(served.path, deep + b"}}\n")
        assert reply["ok"] is False and "nested deeper" in reply["error"]
        unclosed = b'{"v":1,"cmd":"pause","args":' + opener * 10000 + b"\n"  # under the size limit
        assert "nested deeper" in send(served.path, unclosed)["error"]
    assert served.paused == []
    probe(served)


def test_a_handler_that_raises_or_returns_garbage_is_one_line(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    for cmd in ("explode", "unserialisable"):
        for _ in range(5):
            with pytest.raises(ControlError, match=r"^internal error \(\w+\)$"):
                request(served.path, cmd, timeout=BOUND)
    check_log(caplog)
    probe(served)


# -- the request's shape (item 12: a non-object `args` paused for 30 minutes) ------------

PAUSE = {"v": 1, "cmd": "pause", "args": {"minutes": 5}}
MALFORMED = [
    ([], "not a JSON object"),
    ("pause", "not a JSON object"),
    (5, "not a JSON object"),
    ({k: v for k, v in PAUSE.items() if k != "v"}, "`v` must be an integer"),
    ({**PAUSE, "v": "1"}, "`v` must be an integer"),
    ({**PAUSE, "v": True}, "`v` must be an integer"),
    ({**PAUSE, "v": 1.0}, "`v` must be an integer"),
    ({**PAUSE, "v": 2}, "unsupported protocol version 2"),
    ({k: v for k, v in PAUSE.items() if k != "cmd"}, "`cmd` must be a string"),
    ({**PAUSE, "cmd": ["pause"]}, "`cmd` must be a string"),
    ({**PAUSE, "cmd": None}, "`cmd` must be a string"),
    ({**PAUSE, "cmd": "pause" + MARK}, "unknown command"),
    ({k: v for k, v in PAUSE.items() if k != "args"}, "`args` must be an object"),
    ({**PAUSE, "args": []}, "`args` must be an object"),
    ({**PAUSE, "args": [["minutes", 5]]}, "`args` must be an object"),
    ({**PAUSE, "args": "minutes=5"}, "`args` must be an object"),
    ({**PAUSE, "args": None}, "`args` must be an object"),
    ({**PAUSE, "args": 0}, "`args` must be an object"),
    ({**PAUSE, "args": {"minutes": "5"}}, "`minutes` must be a whole number"),
    ({**PAUSE, "args": {"minutes": 5.0}}, "`minutes` must be a whole number"),
    ({**PAUSE, "args": {"minutes": True}}, "`minutes` must be a whole number"),
    ({**PAUSE, "args": {"minutes": 5, "until": 0}}, "unknown argument 'until'"),
]


@pytest.mark.parametrize(("body", "says"), MALFORMED, ids=[m[1] for m in MALFORMED])
def test_a_malformed_request_is_refused_and_never_pauses(
    served: Served, body: Any, says: str
) -> None:
    reply = send(served.path, json.dumps(body).encode() + b"\n")
    assert reply["ok"] is False and says in reply["error"], reply
    assert reply["code"] == 2  # a usage error, as the same mistake without a daemon
    assert served.paused == []


def test_a_request_cut_short_is_never_carried_out(served: Served) -> None:
    line = json.dumps(PAUSE).encode()
    with connect(served.path) as sock:
        sock.sendall(line)  # complete JSON, but no newline: then the sender stops
        sock.shutdown(socket.SHUT_WR)
        reply = read_reply(sock)
    assert reply["ok"] is False and "no newline" in reply["error"]
    for cut in (1, len(line) // 2, len(line) - 1):
        with connect(served.path) as sock:
            sock.sendall(line[:cut])
        # closed mid-request: nothing to answer, nothing done
    probe(served)
    assert served.paused == [5]


def test_lines_at_and_past_the_size_limit(served: Served) -> None:
    def padded(size: int) -> bytes:
        head = b'{"v":1,"cmd":"status","args":{"pad":"'
        return head + b"x" * (size - len(head) - 3) + b'"}}'

    assert len(padded(MAX_REQUEST)) == MAX_REQUEST
    assert send(served.path, padded(MAX_REQUEST) + b"\n")["ok"] is True
    for size in (MAX_REQUEST + 1, MAX_REQUEST * 4):
        reply = send(served.path, padded(size) + b"\n")
        assert reply["ok"] is False and "too long" in reply["error"]
    with connect(served.path) as sock:  # an endless line without a newline
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"[" * (MAX_REQUEST * 2))
        assert "too long" in read_reply(sock)["error"]
    probe(served)


# -- item 2: idle and slow connections, busy, a full backlog ------------------------------


@pytest.mark.parametrize("idle", [10, 50])
def test_idle_and_slow_connections_do_not_hold_up_status_and_pause(
    served: Served, idle: int
) -> None:
    held = [connect(served.path) for _ in range(idle)]
    try:
        for i, sock in enumerate(held):
            if i % 2:
                sock.sendall(json.dumps(PAUSE).encode()[: i % 20])  # a sender that stalled
        started = time.monotonic()
        assert request(served.path, "status", timeout=BOUND) == {"running": True}
        assert time.monotonic() - started < BOUND
        probe(served)
    finally:
        for sock in held:
            sock.close()


def test_a_slow_sender_is_served_while_others_are(served: Served) -> None:
    line = json.dumps({"v": 1, "cmd": "status", "args": {}}).encode() + b"\n"
    with connect(served.path) as slow:
        sent = threading.Event()

        def drip() -> None:
            # The attack itself is slow: a byte every few ms, ~1 s for the line.
            for i in range(len(line)):
                slow.sendall(line[i : i + 1])
                time.sleep(0.02)
            sent.set()

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        probe(served)  # answered while the slow line is still coming
        assert not sent.is_set()
        dripper.join(10)
        assert read_reply(slow)["ok"] is True  # and the slow sender gets its answer too


def test_a_connection_that_sends_nothing_in_time_is_told_and_closed() -> None:
    with serving(read_deadline=0.3) as served, connect(served.path) as sock:
        sock.sendall(b'{"v":1,')
        reply = read_reply(sock, timeout=BOUND + 0.3)
        assert reply["ok"] is False and "no request line within 0.3 seconds" in reply["error"]
        assert sock.recv(10) == b""


def test_beyond_the_connection_limit_busy_at_once_and_pause_gets_through() -> None:
    with serving(read_deadline=1.0, max_reading=4) as served:
        held = [connect(served.path) for _ in range(4)]
        try:
            with connect(served.path) as extra:
                started = time.monotonic()
                reply = read_reply(extra)  # immediately, never queued behind the idle ones
                assert reply["ok"] is False and reply["busy"] is True
                assert time.monotonic() - started < BOUND
            with pytest.raises(ControlError, match="busy") as refused:
                request(served.path, "status", timeout=0.2)  # gives up at its own timeout
            assert refused.value.exit_code == 1
            # The client tries again; room is made when an idle one's deadline passes.
            started = time.monotonic()
            assert request(served.path, "pause", {"minutes": 5}, timeout=1.0 + BOUND)
            assert time.monotonic() - started < 1.0 + BOUND
        finally:
            for sock in held:
                sock.close()


def test_a_full_backlog_is_one_clear_error_not_a_traceback(tmp_path: Path) -> None:
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        home = recording_home(tmp_path)
        path = home / "control.sock"
        stuck.bind(str(path))
        stuck.listen(0)  # a daemon that never accepts: the backlog fills at once
        while True:
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            try:
                filler.connect(str(path))
            except BlockingIOError:
                break
        with pytest.raises(ControlError, match="control socket is full") as caught:
            request(path, "status", timeout=0.3)
        assert caught.value.exit_code == 1
        done = run_cli(home, "pause", "--minutes", "5")  # retries for its 5 s, then says so
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and "control socket is full" in done.stderr
    finally:
        for sock in (*fillers, stuck):
            sock.close()


# -- the client against a broken daemon -------------------------------------------------


@contextlib.contextmanager
def fake_daemon(answer: Callable[[socket.socket], None]) -> Iterator[Path]:
    """A socket whose one connection is served by ``answer`` (reply, close, or nothing)."""
    base = Path(tempfile.mkdtemp(prefix="ca-ctl-", dir="/tmp"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(base / "c.sock"))
    listener.listen(4)
    held: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            held.append(conn)
            answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield base / "c.sock"
    finally:
        listener.close()
        thread.join(5)
        for conn in held:
            conn.close()
        shutil.rmtree(base, ignore_errors=True)


def _reply(data: bytes) -> Callable[[socket.socket], None]:
    def answer(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(data)
        conn.close()

    return answer


BROKEN = [
    ("closes", lambda conn: conn.close(), "closed the connection without answering"),
    ("garbage", _reply(b"\xff\xfe garbage\n"), "malformed reply"),
    ("not an object", _reply(b"[1, 2]\n"), "malformed reply"),
    ("no ok", _reply(b'{"v": 1, "result": 5}\n'), "malformed reply"),
    ("deep", _reply(b"[" * 100000 + b"\n"), "malformed reply"),
    ("silent", lambda conn: conn.recv(65536), "did not answer in time"),
    ("partial", lambda conn: conn.sendall(b'{"v": 1, "ok"'), "did not answer in time"),
]


@pytest.mark.parametrize(("answer", "says"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_the_client_turns_a_broken_daemon_into_one_line(
    answer: Callable[[socket.socket], None], says: str
) -> None:
    with fake_daemon(answer) as path, pytest.raises(ControlError, match=says) as caught:
        request(path, "status", timeout=0.5)
    assert caught.value.exit_code == 1


def test_a_refusal_carries_its_exit_code_and_only_a_known_one() -> None:
    for code, expected in ((2, 2), (78, 78), (0, 1), (999, 1), ("2", 1), (True, 1)):
        body = json.dumps({"v": 1, "ok": False, "error": "no", "code": code}).encode()
        with fake_daemon(_reply(body + b"\n")) as path, pytest.raises(ControlError) as caught:
            request(path, "status", timeout=BOUND)
        assert caught.value.exit_code == expected


def test_no_daemon_is_not_running() -> None:
    base = Path(tempfile.mkdtemp(prefix="ca-ctl-", dir="/tmp"))
    try:
        with pytest.raises(NotRunning):
            request(base / "c.sock", "status", timeout=BOUND)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(base / "c.sock"))
        stale.close()  # the file stays, nobody listens: a daemon that died
        with pytest.raises(NotRunning):
            request(base / "c.sock", "status", timeout=BOUND)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- the fuzzer -------------------------------------------------------------------------

STATUS = b'{"v":1,"cmd":"status","args":{}}'
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[bytes, bool]:
    """An attack line (no newline) and whether it is a request that should succeed."""
    kind = draw(st.sampled_from(["nested", "huge", "types", "garbage", "valid"]))
    if kind == "nested":
        depth = draw(st.integers(MAX_DEPTH + 1, 5000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        tail = closer * depth if draw(st.booleans()) else b""
        return b'{"v":1,"cmd":"pause","args":' + opener * depth + b"1" + tail + b"}", False
    if kind == "huge":
        size = draw(st.integers(MAX_REQUEST - 64, MAX_REQUEST + 4096))
        head = b'{"v":1,"cmd":"status","args":{"pad":"'
        line = head + MARK.encode() + b"x" * max(0, size - len(head) - len(MARK) - 3) + b'"}}'
        return line, len(line) <= MAX_REQUEST
    if kind == "types":
        body: dict[str, Any] = {"v": 1, "cmd": "pause", "args": {"minutes": 5}}
        key = draw(st.sampled_from(["v", "cmd", "args", "minutes"]))
        value = draw(_json)
        if key == "minutes":
            body["args"]["minutes"] = value
        elif key == "cmd" and isinstance(value, str):
            body["cmd"] = value + MARK  # never a real command
        else:
            body[key] = value
        if key != "cmd" and _valid_pause(body):
            return STATUS, True  # the draw happened to be a valid pause: ask status instead
        return json.dumps(body).encode(), False
    if kind == "garbage":
        return MARK.encode() + draw(st.binary(max_size=2048)).replace(b"\n", b""), False
    return STATUS, True


def _valid_pause(body: dict[str, Any]) -> bool:
    args = body["args"]
    if type(body["v"]) is not int or body["v"] != 1 or not isinstance(args, dict):
        return False
    minutes = args.get("minutes", 30)
    return set(args) <= {"minutes"} and type(minutes) is int


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    attack=payloads(),
    delivery=st.sampled_from(["line", "pieces", "half-close", "hold", "close-early"]),
    connections=st.integers(1, 40),
)
def test_fuzz_whatever_is_sent_pause_still_answers(
    served: Served,
    caplog: pytest.LogCaptureFixture,
    attack: tuple[bytes, bool],
    delivery: str,
    connections: int,
) -> None:
    line, succeeds = attack
    before = len(served.paused)
    socks = [connect(served.path) for _ in range(connections)]
    try:
        for sock in socks:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if delivery == "line":
                    sock.sendall(line + b"\n")
                elif delivery == "pieces":  # partial sends: the line in four parts
                    step = max(1, (len(line) + 1) // 4)
                    data = line + b"\n"
                    for i in range(0, len(data), step):
                        sock.sendall(data[i : i + step])
                elif delivery == "half-close":
                    sock.sendall(line)
                    sock.shutdown(socket.SHUT_WR)
                elif delivery == "hold":  # no newline, kept open while pause is asked
                    sock.sendall(line[: MAX_REQUEST // 2])
                else:
                    sock.sendall(line[: len(line) // 2])
                    sock.close()
        took = probe(served)  # the attack's connections still open
        assert took < BOUND
        if delivery in ("line", "pieces", "half-close"):
            for sock in socks:
                reply = read_reply(sock)
                if delivery == "half-close" or not succeeds:
                    assert reply["ok"] is False
                else:  # served, or told to retry when 8 requests were being served
                    assert reply["ok"] is True or reply.get("busy") is True
    finally:
        for sock in socks:
            sock.close()
    assert len(served.paused) == before + 1  # no attack paused; the probe did
    assert served.server.serving
    check_log(caplog)


# -- the real daemon, through the CLI --------------------------------------------------


def test_the_real_daemon_survives_the_attacks_and_pause_exits_alike(tmp_path: Path) -> None:
    home = recording_home(tmp_path)
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        "\n".join(f'{{"type":"mouse_move","t":{i / 10},"x":{i},"y":5}}' for i in range(600))
    )
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    held: list[socket.socket] = []
    try:
        wait_until_running(home, proc)
        path = home / "control.sock"
        reply = send(path, ISSUE_PAYLOAD)
        assert reply["ok"] is False and "nested deeper" in reply["error"]
        reply = send(path, b'{"v":1,"cmd":"pause","args":[]}\n')  # used to pause 30 minutes
        assert reply["ok"] is False and "`args` must be an object" in reply["error"]
        reply = send(path, b'{"v":1,"cmd":"resume","args":{"x":1}}\n')
        assert reply["ok"] is False and "unknown argument" in reply["error"]
        held = [connect(path) for _ in range(12)]
        held[0].sendall(b'{"v":1,"cmd":"pau')  # and a sender that stalled
        state = run_cli(home, "status", "--json", timeout=30)
        assert state.returncode == 0 and json.loads(state.stdout)["state"] == "recording"

        too_long = run_cli(home, "pause", "--minutes", "45")
        assert too_long.returncode == 2, too_long.stderr
        assert too_long.stderr.count("\n") == 1 and "the maximum is 30" in too_long.stderr

        started = time.monotonic()
        paused = run_cli(home, "pause", "--minutes", "5", "--json")
        assert paused.returncode == 0, paused.stderr
        assert json.loads(paused.stdout)["state"] == "snoozed"
        assert time.monotonic() - started < 15  # a CLI start, not five 2-second waits
    finally:
        for sock in held:
            sock.close()
        code, err = stop_agent(proc)
    assert code == 0, err
    log_text = (home / "logs" / "agent.log").read_text()
    assert "Traceback" not in log_text and "[[[" not in log_text
    assert "control socket: refused a malformed request" in log_text
    offline = run_cli(home, "pause", "--minutes", "45")  # the same refusal without a daemon
    assert (offline.returncode, offline.stderr) == (2, too_long.stderr)

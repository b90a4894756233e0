"""The control protocol's messages: requests checked before they are believed, replies.

Whatever arrives on the control socket is written by an attacker (any process of the
person's uid can connect). A request is judged here, as bytes, before any handler sees
it: a bounded length, a bounded nesting depth (checked before decoding, because
Python's JSON decoder recurses and a 2 KB line of brackets raised RecursionError in the
server thread), then its shape: an object with an integer ``v``, a string ``cmd`` and
an object ``args``. Anything else is refused with one line saying what is wrong.

    request   {"v": 1, "cmd": "pause", "args": {"minutes": 15}}
    reply     {"v": 1, "ok": true, "result": {...}}
              {"v": 1, "ok": false, "error": "one line", "code": 2}
              {"v": 1, "ok": false, "error": "the agent is busy...", "busy": true}

``code`` is the exit code the CLI gives the refusal (2: the request itself is wrong or
refused, as without a daemon; 1 otherwise); ``busy`` says the server had no room for the
connection and that trying again shortly is the thing to do.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from agent.errors import AgentError

PROTOCOL_VERSION = 1
MAX_REQUEST = 64 * 1024  # bytes in a request line, newline excluded
MAX_DEPTH = 16  # the deepest our own requests go is 2 (an object in an object)
MAX_REPLY = 8 * 1024 * 1024  # what a client reads at most (a status reply is a few KB)
MAX_NAME = 40  # characters of a client-sent name echoed back in an error

# Exit codes a reply may carry (README): anything else becomes 1.
_KNOWN_CODES = frozenset({1, 2, 3, 69, 75, 78})


class ControlError(AgentError):
    """The daemon refused or failed a request, or could not be reached in time.

    ``exit_code`` is the one the daemon named for the refusal (2 for a refused or
    malformed request), else 1.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code if exit_code in _KNOWN_CODES else 1


class BadRequest(ControlError):
    """The request is malformed or its arguments are wrong (usage, exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@dataclass(frozen=True)
class Request:
    """A request that passed every check: a command name and its arguments."""

    cmd: str
    args: dict[str, Any]


def too_deep(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``[`` and ``{`` nest more than ``limit`` deep in ``line`` (strings skipped).

    ``line`` must be valid UTF-8 (no other byte then looks like a bracket or a quote).
    One pass, never recursive, stopping at the first level too deep: ~15 ms for the
    worst 64 KB line. Exact on valid JSON; on any other line, at least as deep as the
    decoder goes before it fails, which is what matters. (A regular expression to skip
    strings was tried: it backtracks quadratically on ``"\\"\\"\\...``.)
    """
    if line.count(b"[") + line.count(b"{") <= limit:
        return False  # every request of ours: decided without the loop
    depth = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False


_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENERS, _CLOSERS = frozenset(b"[{"), frozenset(b"]}")


def short(value: Any) -> str:
    """A client-sent value for an error line: its repr, cut to a few dozen characters."""
    text = repr(value)
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 3] + "..."


def parse_request(line: bytes) -> Request:
    """The request in ``line`` (no newline), or BadRequest saying what is wrong with it."""
    if len(line) > MAX_REQUEST:
        raise BadRequest(f"request too long (more than {MAX_REQUEST} bytes)")
    try:
        # UTF-8 only: json.loads would also guess UTF-16/32 from bytes, in which a
        # bracket can hide inside another character from the depth check.
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("malformed request: not UTF-8") from None
    if too_deep(line):
        raise BadRequest(f"malformed request: nested deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("malformed request: not a JSON line") from None
    if not isinstance(body, dict):
        raise BadRequest("malformed request: not a JSON object")
    version = body.get("v")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadRequest("malformed request: `v` must be an integer")
    if version != PROTOCOL_VERSION:
        raise BadRequest(
            f"unsupported protocol version {short(version)} (this daemon speaks {PROTOCOL_VERSION})"
        )
    cmd = body.get("cmd")
    if not isinstance(cmd, str):
        raise BadRequest("malformed request: `cmd` must be a string")
    args = body.get("args")
    if not isinstance(args, dict):
        raise BadRequest("malformed request: `args` must be an object")
    return Request(cmd, args)


def check_args(cmd: str, args: dict[str, Any], allowed: Collection[str]) -> None:
    """Refuse (BadRequest) any argument of ``cmd`` not in ``allowed``."""
    unknown = sorted(k for k in args if k not in allowed)
    if unknown:
        raise BadRequest(f"{cmd}: unknown argument {short(unknown[0])}")


def encode(body: dict[str, Any]) -> bytes:
    """One reply line (ValueError or TypeError if the body cannot be JSON)."""
    return json.dumps({"v": PROTOCOL_VERSION, **body}).encode() + b"\n"


def error_reply(message: str, code: int = 1) -> bytes:
    """The line of a refusal: ``message`` and the exit code it calls for."""
    return encode({"ok": False, "error": message, "code": code})


BUSY = encode(
    {
        "ok": False,
        "error": "the agent is busy with other connections; try again",
        "busy": True,
        "code": 1,
    }
)


def parse_reply(data: bytes) -> dict[str, Any]:
    """The daemon's reply from the bytes read, or ControlError if it is not one."""
    line = data.split(b"\n", 1)[0]
    try:
        text = line.decode("utf-8")
        if too_deep(line):
            raise ValueError("too deep")
        reply = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ControlError("the agent sent a malformed reply") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise ControlError("the agent sent a malformed reply")
    return reply


def reply_error(reply: dict[str, Any]) -> ControlError:
    """The error a refusal reply stands for, with the exit code it names."""
    message = reply.get("error")
    code = reply.get("code")
    return ControlError(
        str(message) if isinstance(message, str) and message else "the agent refused the request",
        code if isinstance(code, int) and not isinstance(code, bool) else 1,
    )

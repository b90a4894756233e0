"""The control protocol's messages: requests checked before they are believed, replies.

Whatever arrives on the control socket is written by an attacker (any process of the
person's uid can connect). A request is judged here, as bytes, before any handler sees
it: a bounded length, a bounded nesting depth (checked before decoding, because
Python's JSON decoder recurses and a short line of brackets raised RecursionError in
the server thread, docs/PERFORMANCE.md), then its shape: an object with an integer
``v``, a string ``cmd`` and an object ``args``. Anything else is refused with one line
saying what is wrong.

    request   {"v": 1, "cmd": "pause", "args": {"minutes": 15}}
    reply     {"v": 1, "ok": true, "result": {...}}
              {"v": 1, "ok": false, "error": "one line", "code": 2}
              {"v": 1, "ok": false, "error": "the agent is busy...", "busy": true}

``code`` is the exit code the CLI gives the refusal (2: the request itself is wrong or
refused, as without a daemon; 1 otherwise); ``busy`` says the server had no room for the
connection and that trying again shortly is the thing to do.

Both messages are declared records (``Request``, ``Reply``) that the server and the
client share; msgspec decodes a line into one only after the byte-level checks (its
decoder recurses too). A `status` result is itself a record: agent/runtime/status.py.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

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


class Request(Struct, frozen=True, kw_only=True):
    """A request: the protocol version, a command name and its arguments (all required)."""

    v: int
    cmd: str
    args: dict[str, Any]


class Reply(Struct, frozen=True, kw_only=True):
    """A reply: ``result`` when ``ok``, else ``error`` and the exit ``code`` it calls for."""

    ok: bool
    v: int = PROTOCOL_VERSION
    result: Any = UNSET
    error: str | UnsetType = UNSET
    code: int | UnsetType = UNSET
    busy: bool | UnsetType = UNSET


# What is wrong with a request, by the field msgspec names in its error.
_FIELD_PROBLEMS = {
    "v": "`v` must be an integer",
    "cmd": "`cmd` must be a string",
    "args": "`args` must be an object",
}


def too_deep(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``[`` and ``{`` nest more than ``limit`` deep in ``line`` (strings skipped).

    ``line`` must be valid UTF-8 (no other byte then looks like a bracket or a quote).
    One pass, never recursive, stopping at the first level too deep: cheap even for the
    worst line (docs/PERFORMANCE.md). Exact on valid JSON; on any other line, at least as
    deep as the decoder goes before it fails, which is what matters. (A regular expression to skip
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
        # UTF-8 only, before the depth count: in UTF-16/32 a bracket can hide inside
        # another character.
        line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("malformed request: not UTF-8") from None
    if too_deep(line):
        raise BadRequest(f"malformed request: nested deeper than {MAX_DEPTH} levels")
    try:
        req = msgspec.json.decode(line, type=Request)
    except msgspec.ValidationError as exc:  # before DecodeError: it is one
        raise BadRequest(f"malformed request: {_shape_problem(str(exc))}") from None
    except (msgspec.DecodeError, RecursionError):
        raise BadRequest("malformed request: not a JSON line") from None
    if req.v != PROTOCOL_VERSION:
        raise BadRequest(
            f"unsupported protocol version {short(req.v)} (this daemon speaks {PROTOCOL_VERSION})"
        )
    return req


def _shape_problem(message: str) -> str:
    """Our words for msgspec's ``message`` about a request's shape."""
    for name, problem in _FIELD_PROBLEMS.items():
        if message.endswith((f"`$.{name}`", f"field `{name}`")):
            return problem
    if " - at " not in message:
        return "not a JSON object"  # the line is an array, a string, a number...
    return message  # deeper in ``args``: msgspec names types and a path, no content


def check_args(cmd: str, args: dict[str, Any], allowed: Collection[str]) -> None:
    """Refuse (BadRequest) any argument of ``cmd`` not in ``allowed``."""
    unknown = sorted(k for k in args if k not in allowed)
    if unknown:
        raise BadRequest(f"{cmd}: unknown argument {short(unknown[0])}")


def encode(reply: Reply) -> bytes:
    """One reply line (TypeError if the result cannot be JSON)."""
    return msgspec.json.encode(reply) + b"\n"


def encode_request(req: Request) -> bytes:
    """One request line."""
    return msgspec.json.encode(req) + b"\n"


def error_reply(message: str, code: int = 1) -> bytes:
    """The line of a refusal: ``message`` and the exit code it calls for."""
    return encode(Reply(ok=False, error=message, code=code))


BUSY = encode(
    Reply(
        ok=False,
        error="the agent is busy with other connections; try again",
        busy=True,
        code=1,
    )
)


def parse_reply(data: bytes) -> Reply:
    """The daemon's reply from the bytes read, or ControlError if it is not one."""
    line = data.split(b"\n", 1)[0]
    try:
        line.decode("utf-8")
        if too_deep(line):
            raise ValueError("too deep")
        return msgspec.json.decode(line, type=Reply)
    except (ValueError, RecursionError, msgspec.DecodeError):  # UnicodeDecodeError too
        raise ControlError("the agent sent a malformed reply") from None


def reply_error(reply: Reply) -> ControlError:
    """The error a refusal reply stands for, with the exit code it names."""
    message = reply.error if isinstance(reply.error, str) and reply.error else None
    return ControlError(
        message or "the agent refused the request",
        reply.code if isinstance(reply.code, int) else 1,
    )

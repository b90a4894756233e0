"""The messages between the agent and its OCR worker process (``capture.ocr.process``).

Both sides write frames of one kind byte, a little-endian 32-bit length and that many
bytes, over the worker's standard input and output (pipes: in memory, nothing on disk).

* agent → worker ``R``: an image to read: width, height and channels (1 grey, 3 RGB) as
  ``IMAGE``, then its pixels, rows top to bottom.
* worker → agent ``H`` once at start: the engine's version (UTF-8); or ``E``.
* worker → agent ``W`` for each image: msgpack ``Reply``: the words and the worker's CPU
  seconds spent on the read; or ``E``: why it could not read (UTF-8: a reason and a fix,
  never anything read).

Every frame is checked as written by an attacker: kinds, lengths (at most
``MAX_FRAME`` bytes), sizes against the pixels, and the reply against its schema.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import IO

import msgspec

HEADER = struct.Struct("<cI")
"""A frame's kind byte and its length."""
IMAGE = struct.Struct("<IIB")
"""An image's width, height and channels, before its pixels."""
MAX_FRAME = 64 << 20
"""The longest frame either side accepts: a 4K screen's band is 4 MB of RGB."""
MAX_WORDS = 100_000
"""The most words a reply may hold."""

HELLO = b"H"
READ = b"R"
WORDS = b"W"
ERROR = b"E"


class WireError(Exception):
    """The other side sent something that is not a valid frame, or went away."""


class Reply(msgspec.Struct, array_like=True, frozen=True):
    """The words of one image: each ``(text, left, top, width, height, confidence)``."""

    words: list[tuple[str, int, int, int, int, float]]
    cpu_s: float
    """The worker's CPU seconds on this read (the scrub's figures count them)."""


_REPLY = msgspec.msgpack.Decoder(Reply)
_ENCODER = msgspec.msgpack.Encoder()


def encode_reply(reply: Reply) -> bytes:
    """``reply`` as a ``W`` frame's body."""
    return _ENCODER.encode(reply)


def decode_reply(body: bytes) -> Reply:
    """A ``W`` frame's body; WireError when it is not a valid reply."""
    try:
        reply = _REPLY.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireError(f"a malformed reply ({type(exc).__name__})") from None
    if len(reply.words) > MAX_WORDS:
        raise WireError("a reply with too many words")
    return reply


def write_frame(out: IO[bytes], kind: bytes, body: bytes) -> None:
    """Write one frame and flush it."""
    out.write(HEADER.pack(kind, len(body)))
    out.write(body)
    out.flush()


def read_frame(source: IO[bytes] | Callable[[int], bytes]) -> tuple[bytes, bytes]:
    """The next frame's kind and body, from a stream or a function reading up to so
    many bytes (b"" at the end); WireError at the end of the stream, or when the header
    or length is not valid."""
    read = source if callable(source) else source.read
    head = _read_exactly(read, HEADER.size)
    kind, length = HEADER.unpack(head)
    if kind not in (HELLO, READ, WORDS, ERROR):
        raise WireError("an unknown frame kind")
    if length > MAX_FRAME:
        raise WireError("a frame longer than allowed")
    return kind, _read_exactly(read, length)


def _read_exactly(read: Callable[[int], bytes], count: int) -> bytes:
    parts: list[bytes] = []
    left = count
    while left:
        part = read(left)
        if not part:
            raise WireError("the stream ended")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def image_body(width: int, height: int, channels: int, pixels: bytes) -> bytes:
    """An ``R`` frame's body."""
    return IMAGE.pack(width, height, channels) + pixels


def parse_image(body: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, pixels) of an ``R`` frame's body; WireError when the
    sizes do not match the pixels."""
    if len(body) < IMAGE.size:
        raise WireError("an image frame too short")
    width, height, channels = IMAGE.unpack_from(body)
    pixels = body[IMAGE.size :]
    if channels not in (1, 3) or width == 0 or height == 0:
        raise WireError("an image of no size or unknown channels")
    if width * height * channels != len(pixels):
        raise WireError("an image whose size does not match its pixels")
    return width, height, channels, pixels

"""The OCR worker: this platform's engine in a process of its own (``capture.ocr.process``).

Run as ``python -m capture.ocr.worker`` by the agent, never by hand: it reads images from
its standard input and writes their words to its standard output (``capture.ocr.wire``)
until its input ends (the agent closed it, or died). It imports only the engine and what
it needs, so the agent's process does not hold the engine, its model or its libraries
(~30 MB with Tesseract, docs/PERFORMANCE.md), and an engine that crashes on what the
screen showed takes only this process with it: the agent withholds the frame and starts
another worker.

Nothing read is logged or written anywhere but the pipe: the engine's own messages go
to the null device, not to the agent's log.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import IO

from capture.ocr import wire


def serve(source: IO[bytes], out: IO[bytes]) -> int:
    """Start the engine, say hello, then answer every image until ``source`` ends."""
    from PIL import Image

    from capture.backends import ocr_backend
    from capture.errors import CaptureError

    try:
        engine = ocr_backend()
    except Exception as exc:  # OcrUnavailable, SourceUnavailable, an engine's bug
        why = str(exc) if isinstance(exc, CaptureError) else type(exc).__name__
        wire.write_frame(out, wire.ERROR, why.encode())
        return 1
    wire.write_frame(out, wire.HELLO, engine.version.encode())
    try:
        while True:
            try:
                kind, body = wire.read_frame(source)
                if kind != wire.READ:
                    raise wire.WireError("not an image")
                width, height, channels, pixels = wire.parse_image(body)
            except wire.WireError:
                return 0  # the agent closed the pipe (or broke it): nothing to answer
            mode = "L" if channels == 1 else "RGB"
            started = time.process_time()
            try:
                words = engine.read(Image.frombytes(mode, (width, height), pixels))
            except Exception as exc:  # the type only: a message could quote text
                reason = str(exc) if isinstance(exc, CaptureError) else type(exc).__name__
                wire.write_frame(out, wire.ERROR, reason.encode())
                continue
            reply = wire.Reply(
                [(w.text, w.left, w.top, w.width, w.height, w.confidence) for w in words],
                time.process_time() - started,
            )
            wire.write_frame(out, wire.WORDS, wire.encode_reply(reply))
    finally:
        engine.close()


def main() -> int:
    """The worker's entry point: the pipes set up, then ``serve``."""
    # Ctrl-C in the agent's terminal reaches the whole process group: the agent stops
    # its sources (and closes this pipe) itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol keeps the real standard output; anything else writing to fd 1 (an
    # engine's C library printing a warning) goes to the null device, so it can neither
    # corrupt the frames nor reach a log.
    out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    with out:
        return serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    sys.exit(main())

"""``ProcessOcr``: this platform's OCR engine run in a worker process of its own.

The screen scrub reads text new on the screen with an engine that is most of the
agent's memory (Tesseract: its libraries, model and buffers, ~30 MB of the agent's
~90 at 1920x1080) and that parses whatever the screen shows. Run in its own process
(``capture.ocr.worker``), the engine's memory is the worker's, reported on its own
(docs/PERFORMANCE.md), and an engine crash on some pixels costs a withheld frame and a
new worker, not the recorder.

Images go to the worker and words come back over pipes (``capture.ocr.wire``): memory
only, nothing on disk. The worker is started with the backend and stopped with
``close``; a worker that dies, hangs past ``timeout`` or answers anything but a valid
frame is killed, the read raises ``OcrUnavailable`` (the frame is withheld, fail
closed), and the next read starts a new one, at most once every ``RESTART_AFTER``
seconds.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

from capture.ocr import wire
from capture.ocr.base import OcrUnavailable, OcrWord

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

WORKER = (sys.executable, "-P", "-m", "capture.ocr.worker")
"""The worker's command: this interpreter, this package."""
RESTART_AFTER = 5.0
"""Seconds after a failed or stopped worker before another is started."""


class ProcessOcr:
    """``OcrBackend`` whose engine runs in a worker process (see the module docstring).

    Starts the worker at once: ``OcrUnavailable`` when it cannot (its engine is missing:
    the same reason and fix as in process). ``cpu_s`` adds up the worker's CPU seconds
    on reads, which the scrub's figures count as its own.
    """

    name = "process"

    def __init__(
        self,
        command: Sequence[str] = WORKER,
        *,
        timeout: float = 30.0,
        start_timeout: float = 60.0,
    ) -> None:
        self.command = tuple(command)
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.cpu_s = 0.0
        """The worker's CPU seconds on reads, all workers together."""
        self.restarts = 0
        """Workers started after the first (one died, hung or misbehaved)."""
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._failed_at = float("-inf")
        self._version = ""
        self._start()

    @property
    def version(self) -> str:
        """The worker's engine and its version (``tesseract 5.3.0``)."""
        return self._version

    @property
    def pid(self) -> int | None:
        """The running worker's process id (benchmarks report its memory and CPU)."""
        proc = self._proc
        return None if proc is None else proc.pid

    def read(self, image: Image.Image) -> list[OcrWord]:
        """The words of ``image``, read by the worker; OcrUnavailable when it fails."""
        pixels = image if image.mode in ("L", "RGB") else image.convert("RGB")
        channels = 1 if pixels.mode == "L" else 3
        body = wire.image_body(pixels.width, pixels.height, channels, pixels.tobytes())
        with self._lock:
            if self._closed:
                raise OcrUnavailable("the OCR worker was stopped")
            if self._proc is None:
                if time.monotonic() - self._failed_at < RESTART_AFTER:
                    raise OcrUnavailable("the OCR worker stopped; starting another shortly")
                self.restarts += 1
                self._start()
            kind, reply = self._ask(body)
            if kind == wire.ERROR:
                raise OcrUnavailable(_text(reply))
            try:
                answer = wire.decode_reply(reply)
            except wire.WireError as exc:
                self._fail(str(exc))
                raise OcrUnavailable(f"the OCR worker answered wrongly ({exc})") from None
        # A figure the worker could not have spent on one read is not added.
        if 0.0 <= answer.cpu_s <= self.timeout:
            self.cpu_s += answer.cpu_s
        return [OcrWord(*word) for word in answer.words]

    def close(self) -> None:
        """Stop the worker (its input closed; killed if it does not end within 5 s)."""
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            _stop(proc)

    def _start(self) -> None:
        """Start a worker and wait for its hello (the caller holds the lock, or is
        ``__init__``); OcrUnavailable when it does not start."""
        try:
            proc = subprocess.Popen(  # our own interpreter and module
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            self._failed_at = time.monotonic()
            raise OcrUnavailable(f"cannot start the OCR worker ({type(exc).__name__})") from None
        self._proc = proc
        kind, body = self._ask(None, self.start_timeout)
        if kind == wire.ERROR:
            self._fail("its engine did not start")
            raise OcrUnavailable(_text(body))
        if kind != wire.HELLO:
            self._fail("no hello")
            raise OcrUnavailable("the OCR worker answered wrongly (no hello)")
        self._version = _text(body)
        log.info("OCR worker %d started (%s)", proc.pid, self._version)

    def _ask(self, body: bytes | None, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Send ``body`` as an image (None: nothing, await the hello) and read the
        answer, within ``timeout`` (the worker is killed past it); OcrUnavailable when
        the worker is gone, hangs or breaks the protocol (it is then stopped)."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            if body is not None:
                wire.write_frame(proc.stdin, wire.READ, body)
            kind, answer = wire.read_frame(_reader(proc, deadline))
        except (OSError, ValueError, wire.WireError, _TimedOut) as exc:
            self._fail(type(exc).__name__)
            why = "did not answer in time" if isinstance(exc, _TimedOut) else "stopped"
            raise OcrUnavailable(f"the OCR worker {why}") from None
        if body is not None and kind not in (wire.WORDS, wire.ERROR):
            self._fail("an answer of the wrong kind")
            raise OcrUnavailable("the OCR worker answered wrongly")
        return kind, answer

    def _fail(self, why: str) -> None:
        """Stop the worker after a failure (the next read starts another)."""
        proc, self._proc = self._proc, None
        self._failed_at = time.monotonic()
        if proc is not None:
            log.warning("OCR worker %d stopped (%s)", proc.pid, why)
            _stop(proc, grace=0.0)  # it misbehaved: no time to end on its own


class _TimedOut(Exception):
    """The worker did not answer within its time."""


def _reader(proc: subprocess.Popen[bytes], deadline: float) -> Callable[[int], bytes]:
    """A function reading up to so many bytes of the worker's answer, raising
    ``_TimedOut`` past ``deadline`` (monotonic)."""
    stdout = proc.stdout
    assert stdout is not None
    if sys.platform == "win32":  # pipes cannot be waited on with select() there

        def read_windows(count: int) -> bytes:
            # A timer kills a worker that hangs: the read then ends.
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), proc.kill)
            watchdog.daemon = True
            watchdog.start()
            try:
                part = stdout.read(count)
            finally:
                watchdog.cancel()
            if not part and not watchdog.is_alive() and time.monotonic() >= deadline:
                raise _TimedOut
            return part

        return read_windows
    fd = stdout.fileno()

    def read(count: int) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise _TimedOut
        return os.read(fd, count)

    return read


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Close the worker's pipes (it ends at the end of its input) and wait for it,
    killing it after ``grace`` seconds."""
    if grace <= 0:
        proc.kill()
    streams: list[IO[bytes] | None] = [proc.stdin, proc.stdout]
    for stream in streams:
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass  # a broken pipe: the worker is gone already
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _text(body: bytes) -> str:
    """A worker's message, printable and short (it is logged and shown by `status`)."""
    text = body.decode("utf-8", "replace")[:500]
    return "".join(c if c.isprintable() else "?" for c in text)

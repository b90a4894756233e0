"""The OCR engine in a worker process (``capture.ocr.process``): it reads as the engine
does in process, and a worker that dies, hangs, cannot start or answers anything but the
protocol costs a read (``OcrUnavailable``: the frame is withheld), never the agent, and
is replaced. The hostile workers are small scripts run by the same interpreter."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFont

import capture.ocr.process as process_module
from capture.ocr import wire
from capture.ocr.base import OcrUnavailable
from capture.ocr.process import ProcessOcr
from capture.ocr.tesseract import TesseractOcr
from tests.waiting import wait_for

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def _line(text: str) -> Image.Image:
    image = Image.new("L", (24 + 12 * len(text), 40), 255)
    ImageDraw.Draw(image).text((8, 8), text, font=ImageFont.truetype(FONT, 20), fill=0)
    return image


@pytest.fixture
def worker() -> Iterator[ProcessOcr]:
    ocr = ProcessOcr()
    try:
        yield ocr
    finally:
        ocr.close()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")  # a zombie is gone too
    except OSError:
        return True


def test_the_worker_reads_what_the_engine_reads_in_process(worker: ProcessOcr) -> None:
    inline = TesseractOcr()
    try:
        for text in ("card 4111 1111 1111 1111 ok", "jane.quill42@example.org", "4096"):
            image = _line(text)
            assert worker.read(image) == inline.read(image)
            assert worker.read(image.convert("RGB")) == inline.read(image.convert("RGB"))
        assert worker.version == inline.version
    finally:
        inline.close()
    assert worker.cpu_s > 0  # the scrub's figures count the worker's CPU
    assert worker.pid is not None and worker.restarts == 0


def test_a_worker_that_dies_costs_one_read_and_is_replaced(
    worker: ProcessOcr, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _line("card 4111 1111 1111 1111 ok")
    first = worker.pid
    assert first is not None
    subprocess.run(["kill", "-9", str(first)], check=True)
    with pytest.raises(OcrUnavailable, match="OCR worker stopped"):
        worker.read(image)
    assert worker.pid is None and _gone(first)
    # Not again at once: a worker that keeps dying must not be restarted in a loop.
    with pytest.raises(OcrUnavailable, match="starting another shortly"):
        worker.read(image)
    monkeypatch.setattr(process_module, "RESTART_AFTER", 0.0)
    words = worker.read(image)
    assert [w.text for w in words][:2] == ["card", "4111"]
    assert worker.pid not in (None, first) and worker.restarts == 1


def test_close_stops_the_worker_and_later_reads_fail() -> None:
    ocr = ProcessOcr()
    pid = ocr.pid
    assert pid is not None
    ocr.close()
    assert _gone(pid)
    with pytest.raises(OcrUnavailable, match="stopped"):
        ocr.read(_line("4096"))
    ocr.close()  # twice is harmless


def test_an_engine_that_cannot_start_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTURE_AGENT_BACKEND_OCR", "no-such-engine")
    with pytest.raises(OcrUnavailable, match="CAPTURE_AGENT_BACKEND_OCR"):
        ProcessOcr()


def _fake(answer: str) -> list[str]:
    """A worker that says hello, reads one image and then does ``answer`` (Python
    statements with ``out``, the protocol's stream, and ``struct``)."""
    code = (
        "import struct, sys, time\n"
        "out = sys.stdout.buffer\n"
        "out.write(struct.pack('<cI', b'H', 8) + b'fake 1.0'); out.flush()\n"
        "head = sys.stdin.buffer.read(5)\n"
        "sys.stdin.buffer.read(struct.unpack('<cI', head)[1])\n"
        f"{answer}\n"
        "out.flush()\n"
        "time.sleep(60)\n"
    )
    return [sys.executable, "-c", code]


HOSTILE = {
    "nothing, then hangs": "pass",
    "an unknown kind": "out.write(struct.pack('<cI', b'Z', 0))",
    "a hello again": "out.write(struct.pack('<cI', b'H', 1) + b'x')",
    "a length past the limit": "out.write(struct.pack('<cI', b'W', 1 << 30))",
    "a header cut short": "out.write(b'W\\x05')",
    "a body cut short": "out.write(struct.pack('<cI', b'W', 100) + b'abc')",
    "not msgpack": "out.write(struct.pack('<cI', b'W', 4) + b'\\xc1\\xc1\\xc1\\xc1')",
    "a reply of the wrong shape": (
        "import msgspec; body = msgspec.msgpack.encode([[['x', 'a', 0, 0, 0, 1.0]], 0.1])\n"
        "out.write(struct.pack('<cI', b'W', len(body)) + body)"
    ),
}


@pytest.mark.parametrize("answer", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_worker_answering_anything_but_the_protocol_is_stopped(answer: str) -> None:
    ocr = ProcessOcr(_fake(answer), timeout=2.0)
    pid = ocr.pid
    assert pid is not None and ocr.version == "fake 1.0"
    try:
        started = time.monotonic()
        with pytest.raises(OcrUnavailable, match="OCR worker"):
            ocr.read(_line("4096"))
        assert time.monotonic() - started < 30
        assert ocr.pid is None
        wait_for(lambda: _gone(pid), "the misbehaving worker stopped", timeout=30)
    finally:
        ocr.close()


def test_a_worker_that_hangs_is_stopped_within_its_time() -> None:
    ocr = ProcessOcr(_fake("pass"), timeout=0.5)
    try:
        with pytest.raises(OcrUnavailable, match="did not answer in time"):
            ocr.read(_line("4096"))
    finally:
        ocr.close()


def test_an_engine_error_is_a_failed_read_and_the_worker_stays() -> None:
    ocr = ProcessOcr(_fake("out.write(struct.pack('<cI', b'E', 12) + b'engine broke')"))
    pid = ocr.pid
    try:
        with pytest.raises(OcrUnavailable, match="engine broke"):
            ocr.read(_line("4096"))
        assert ocr.pid == pid  # the worker answered: it is still the one
    finally:
        ocr.close()


def test_a_worker_that_never_says_hello_does_not_start() -> None:
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(OcrUnavailable, match="did not answer in time"):
        ProcessOcr(silent, start_timeout=0.5)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (struct.pack("<IIB", 2, 2, 3) + bytes(11), "does not match"),
        (struct.pack("<IIB", 0, 2, 1), "no size"),
        (struct.pack("<IIB", 1, 1, 4) + bytes(4), "unknown channels"),
        (b"\x01\x02", "too short"),
    ],
)
def test_an_image_frame_that_does_not_add_up_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(wire.WireError, match=why):
        wire.parse_image(body)


def test_a_reply_with_too_many_words_is_refused() -> None:
    words = [("x", 0, 0, 1, 1, 1.0)] * (wire.MAX_WORDS + 1)
    with pytest.raises(wire.WireError, match="too many"):
        wire.decode_reply(wire.encode_reply(wire.Reply(words, 0.0)))

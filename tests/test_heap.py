"""agent/heap.py: freed frame-sized buffers go back to the system (glibc, Linux)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")

_PROBE = """
import sys, threading
from agent.heap import tune_heap
if sys.argv[1] == "tuned":
    assert tune_heap()
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6
def frames():
    for _ in range(3):  # what a frame does: a screen-sized buffer, filled, then freed
        buf = bytearray(8_294_400)
        buf[::4096] = b"x" * len(buf[::4096])
        del buf
before = rss_mb()
worker = threading.Thread(target=frames)
worker.start()
worker.join()
frames()
print(rss_mb() - before)
"""


def _growth(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                          check=True, timeout=60)
    return float(done.stdout)


def test_freed_frame_buffers_do_not_stay_resident() -> None:
    assert _growth("tuned") < 2.0  # MB
    # And the probe can tell: glibc's defaults keep at least one buffer's pages.
    assert _growth("default") > 6.0

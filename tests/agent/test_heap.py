"""agent/runtime/heap.py: freed screen-sized buffers go back to the system; a band's working set
stays warm (glibc, Linux)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")

_PROBE = """
import sys, threading
from agent.runtime.heap import tune_heap
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
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return float(done.stdout)


def test_freed_frame_buffers_do_not_stay_resident() -> None:
    assert _growth("tuned") < 2.0  # MB
    # And the probe can tell: glibc's defaults keep at least one buffer's pages.
    assert _growth("default") > 6.0


_WARM_PROBE = """
import resource, sys, threading
from agent.runtime.heap import tune_heap
if sys.argv[1] == "tuned":
    assert tune_heap()
faults = []
def bands():
    for _ in range(8):  # what encoding a band does: a few MB allocated, filled, freed
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        planes = [bytearray(1_500_000) for _ in range(3)]
        for plane in planes:
            plane[::4096] = b"x" * len(plane[::4096])
        del planes
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
worker = threading.Thread(target=bands)
worker.start()
worker.join()
print(sum(faults[1:]) / len(faults[1:]))
"""


def _faults_per_band(mode: str, env: dict[str, str] | None = None) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _WARM_PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )
    return float(done.stdout)


def test_a_bands_working_set_is_reused_without_page_faults() -> None:
    # 4.5 MB a band is ~1,100 pages; once warm, a band faults on almost none of them.
    assert _faults_per_band("tuned") < 100
    # And the probe can tell: a 1 MB mmap threshold with the default trim threshold (the
    # settings before) hands the pages back after every band.
    assert (
        _faults_per_band("default", {"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_ARENA_MAX": "2"})
        > 700
    )

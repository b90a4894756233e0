"""glibc heap settings for a long-running, many-threaded daemon (Linux; no-op elsewhere).

glibc's defaults suit short programs. Two of them cost this daemon 15-20 MB of resident
memory for nothing (docs/PERFORMANCE.md, "Resident memory"):

- Every thread that allocates gets its own arena (up to 8 per core), and freed memory
  stays in the arena it came from. The agent's threads (input, pipeline, screen,
  window, control, uploader) each kept several MB. Two arenas are plenty: the threads
  contend little, most of them sleep.
- Blocks of 128 KB and more come from ``mmap`` and go back to the system when freed,
  but glibc raises that threshold to the size of the largest block freed (up to 32 MB).
  After the first frame, every 8 MB screen buffer and encoder plane is carved from an
  arena instead, and the pages stay resident. A fixed 1 MB threshold keeps the dynamic
  raise off, so a frame's buffers are returned as soon as they are freed.

Call ``tune_heap()`` before any thread starts; later calls change nothing more.
"""

from __future__ import annotations

import sys

M_MMAP_THRESHOLD = -3  # <malloc.h>
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 20
ARENA_MAX = 2


def tune_heap() -> bool:
    """Apply the settings above; True if the C library took them (glibc on Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; musl's stub returns 0 and changes nothing.
    return bool(mallopt(M_ARENA_MAX, ARENA_MAX)) and bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))

"""glibc heap settings for a long-running, many-threaded daemon (Linux; no-op elsewhere).

glibc's defaults suit short programs. Two of them cost this daemon resident memory
for nothing (docs/PERFORMANCE.md, "Figures behind choices in the code"):

- Every thread that allocates gets its own arena (up to 8 per core), and freed memory
  stays in the arena it came from. The agent's threads (input, pipeline, screen,
  window, control, uploader) each kept several MB. Two arenas are plenty: the threads
  contend little, most of them sleep.
- Blocks of 128 KB and more come from ``mmap`` and go back to the system when freed,
  but glibc raises that threshold to the size of the largest block freed (up to 32 MB).
  After the first frame, every 8 MB screen buffer is carved from an arena instead, and
  the pages stay resident. A fixed 4 MB threshold keeps the dynamic raise off, so the
  screen-sized buffers (a whole grab, 8 MB at 1920x1080) are returned as soon as they
  are freed.

Blocks under the threshold come from the arenas. When the free space at the top of an
arena exceeds the trim threshold (128 KB by default), glibc hands it back at once, so
the next block of that size is fresh memory again, and every 4 KB page of it costs a
page fault. WebP encoding allocates and frees a few MB per band of a frame, so with a
small trim threshold the faults were a large share of the encoding's CPU
(docs/PERFORMANCE.md, "Figures behind choices in the code"). An 8 MB trim threshold keeps
that working set warm from band to band; an arena holds at most that much free memory
at its top.

Call ``tune_heap()`` before any thread starts; later calls change nothing more.
"""

from __future__ import annotations

import sys

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 8 << 20
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
    return all(
        mallopt(option, value) == 1
        for option, value in (
            (M_ARENA_MAX, ARENA_MAX),
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        )
    )

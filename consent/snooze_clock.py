"""The clocks a snooze keeps time with, and how its end survives a restart.

A snooze's length runs on a clock that never steps (:func:`boot_clock`); the wall
clock only names its end for people ("until 14:35") and carries it across a reboot,
where no monotonic reference survives. The wall clock can be stepped by NTP, by a
person, or by anyone who may set the time: trusted, a step forward would end a pause
at once and a step back would stretch it for hours.

:func:`remaining` is the one rule for how much of a persisted snooze is left; the
state machine (consent.state) applies it when it loads the state file.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

Clock = Callable[[], float]
"""A clock: seconds as a float."""

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
MAX_BOOT_ID = 64  # a UUID is 36 characters; anything longer is not one


def boot_clock() -> float:
    """Seconds on a clock that never steps and counts time asleep (CLOCK_BOOTTIME on
    Linux, so a pause ends on time through a suspend); ``time.monotonic`` elsewhere."""
    if sys.platform.startswith("linux"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


def current_boot_id() -> str | None:
    """This boot's identity (Linux's random boot id), None where it is not known.

    :func:`boot_clock` readings compare only within one boot: the id says whether a
    persisted reading still means anything.
    """
    try:
        raw = BOOT_ID_PATH.read_bytes()[: MAX_BOOT_ID + 1]
    except OSError:
        return None
    text = raw.decode("ascii", "replace").strip()
    return text if 0 < len(text) <= MAX_BOOT_ID and text.isprintable() else None


def remaining(
    *,
    length: float,
    wall_until: float,
    boot_until: float | None,
    same_boot: bool,
    wall_now: float,
    boot_now: float,
) -> float:
    """Seconds left of a persisted snooze of ``length`` seconds, from 0 to ``length``.

    On the boot it was started on, the boot clock decides (wall steps do not matter).
    After a reboot only the wall clock is left: a backward step can then give back at
    most the snooze's whole length from now, never more, and a forward step ends it,
    as the agent cannot tell it from time really spent switched off.
    """
    left = boot_until - boot_now if same_boot and boot_until is not None else wall_until - wall_now
    if math.isnan(left):
        return length  # no answer: the pause holds, for its length at most
    return max(0.0, min(length, left))

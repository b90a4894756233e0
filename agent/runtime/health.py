"""Silent-failure detection: the recorder must never say "recording" while recording nothing.

Each ``check_*`` function is pure: it takes numbers the daemon already has and returns a
short reason a person can read (shown as an error state in `status` and the tray), or
None when all is well. ``HealthTracker`` is a small, thread-free accumulator of those
numbers for the daemon to feed; it does no I/O and reads no clock of its own.

Three failures other recorders are known to hide:

- the screen grabber returns black or uniform frames (no screen-recording permission on
  macOS, a compositor handing out empty buffers, a locked or powered-off display);
- the input hooks stopped delivering (a hook removed by the OS after a timeout, a lost X
  connection) while the screen keeps changing, so someone is clearly working;
- the writer has not sealed a chunk for much longer than the rotation interval while
  events are waiting, so nothing reaches the disk.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from capture.screen.pixel_stats import PixelStats, measure_gray

# A frame whose luminance varies less than this (standard deviation, 0-255 scale) is
# uniform: a real desktop has text, edges and icons far above it.
BLANK_STDDEV = 2.0
# Below this mean luminance a uniform frame is called black rather than blank.
BLACK_MEAN = 16.0
# How many consecutive uniform frames it takes: one can be a legitimate black screen
# (a video fading, a screen saver starting); several in a row are a broken grabber.
BLANK_FRAMES_IN_A_ROW = 3
# Mean absolute difference (0-255) between thumbnails above which a frame "changed".
CHANGE_THRESHOLD = 3.0
# No input for this long while the screen keeps changing means the hooks are dead.
INPUT_STALL_SECONDS = 300.0
# How many screen changes without any input it takes (a video alone changes the screen,
# so the default asks for several changes over a long stall).
INPUT_STALL_MIN_CHANGES = 5
# Extra time allowed past the chunk rotation interval before the writer counts as stuck.
SEAL_MARGIN_SECONDS = 30.0


def pixel_stats(image: bytes) -> PixelStats:
    """Decode an encoded frame (WebP, PNG, ...) and measure it; ValueError if undecodable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as opened:
            gray = opened.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a decodable image: {exc}") from None
    return measure_gray(gray)


def frame_problem(stats: PixelStats) -> str | None:
    """'black' or 'blank' when one frame is near-uniform, else None."""
    if stats.stddev >= BLANK_STDDEV:
        return None
    return "black" if stats.mean < BLACK_MEAN else "blank"


def check_frames(recent: Sequence[PixelStats], in_a_row: int = BLANK_FRAMES_IN_A_ROW) -> str | None:
    """An error reason when the last ``in_a_row`` frames are all black or blank, else None."""
    if in_a_row < 1 or len(recent) < in_a_row:
        return None
    problems = [frame_problem(s) for s in recent[-in_a_row:]]
    if any(p is None for p in problems):
        return None
    kind = "black" if all(p == "black" for p in problems) else "blank"
    return (
        f"screen capture returns {kind} frames ({in_a_row} in a row): the screen is not "
        "really recorded; check the screen-recording permission (macOS: System Settings "
        "> Privacy & Security > Screen Recording) or that the display is on and unlocked"
    )


def screen_changed(
    before: PixelStats, after: PixelStats, threshold: float = CHANGE_THRESHOLD
) -> bool:
    """True when two frames differ visibly (mean absolute thumbnail difference)."""
    if not before.thumb or len(before.thumb) != len(after.thumb):
        return (
            abs(before.mean - after.mean) > threshold
            or abs(before.stddev - after.stddev) > threshold
        )
    total = sum(abs(a - b) for a, b in zip(before.thumb, after.thumb, strict=True))
    return total / len(before.thumb) > threshold


def check_input(
    now: float,
    last_input_ts: float | None,
    input_since_ts: float,
    screen_changes_since_input: int,
    stall_seconds: float = INPUT_STALL_SECONDS,
    min_changes: int = INPUT_STALL_MIN_CHANGES,
) -> str | None:
    """An error reason when input stopped arriving while the screen kept changing.

    ``last_input_ts`` is the wall time of the last mouse or key event (None if none yet),
    ``input_since_ts`` when the input hooks were (re)started, and
    ``screen_changes_since_input`` how many frames differed from the previous one since
    the last input event.
    """
    quiet_since = input_since_ts if last_input_ts is None else max(last_input_ts, input_since_ts)
    quiet = now - quiet_since
    if quiet < stall_seconds or screen_changes_since_input < min_changes:
        return None
    return (
        f"no mouse or keyboard input for {quiet:.0f} s while the screen changed "
        f"{screen_changes_since_input} times: the input hooks seem to have stopped "
        "delivering; restart the agent (macOS: check the Input Monitoring and "
        "Accessibility permissions)"
    )


def check_writer(
    now: float,
    last_sealed_ts: float | None,
    open_since_ts: float,
    pending_events: int,
    chunk_seconds: float,
    margin: float = SEAL_MARGIN_SECONDS,
) -> str | None:
    """An error reason when events wait but no chunk was sealed for too long.

    ``open_since_ts`` is when the open chunk began (its first event, or the daemon's
    start); ``last_sealed_ts`` the wall time of the last seal (None if none yet).
    """
    if pending_events <= 0:
        return None
    since = open_since_ts if last_sealed_ts is None else max(last_sealed_ts, open_since_ts)
    late = now - since
    if late <= chunk_seconds + margin:
        return None
    return (
        f"no chunk sealed for {late:.0f} s although {pending_events} events are waiting "
        f"(chunks rotate every {chunk_seconds:g} s): nothing reaches the disk; check "
        "`capture-agent doctor` (disk space, data folder) and the log"
    )


@dataclass
class HealthTracker:
    """Accumulates what the checks need from the event stream; feed it, then ``problems``.

    Not thread-safe by design: call it from the pipeline thread (or under one lock).
    Every method takes the time from its caller, so tests need no clock.
    """

    started_ts: float
    chunk_seconds: float = 30.0
    recent_frames: int = BLANK_FRAMES_IN_A_ROW
    input_stall_seconds: float = INPUT_STALL_SECONDS
    input_stall_min_changes: int = INPUT_STALL_MIN_CHANGES
    last_input_ts: float | None = None
    input_since_ts: float | None = None
    screen_changes_since_input: int = 0
    last_sealed_ts: float | None = None
    open_since_ts: float | None = None

    def __post_init__(self) -> None:
        self._frames: list[PixelStats] = []

    def input_started(self, ts: float) -> None:
        """The input hooks were (re)installed (e.g. at resume): the stall clock restarts."""
        self.input_since_ts = ts
        self.screen_changes_since_input = 0

    def capture_stopped(self) -> None:
        """Capture was stopped on purpose (pause, opt-out): nothing to expect until it restarts.

        The frames seen before are forgotten too: a black screen before a pause says
        nothing about the grabber after it.
        """
        self.input_since_ts = None
        self.screen_changes_since_input = 0
        self._frames.clear()

    def on_input(self, ts: float) -> None:
        """A mouse, scroll or key event arrived."""
        self.last_input_ts = ts
        self.screen_changes_since_input = 0

    def on_frame(self, ts: float, stats: PixelStats) -> None:
        """A frame was captured and measured (see ``pixel_stats``)."""
        if self._frames and screen_changed(self._frames[-1], stats):
            self.screen_changes_since_input += 1
        self._frames.append(stats)
        del self._frames[: -max(self.recent_frames, 1)]

    def frames_problem(self) -> str | None:
        """The frames' problem now (black or blank in a row), None when they look fine."""
        return check_frames(self._frames, self.recent_frames)

    def on_writer(self, last_sealed_ts: float | None, open_since_ts: float | None) -> None:
        """The writer's state: when it last sealed a chunk, when its open chunk's first
        event came (None while the open chunk is empty)."""
        self.last_sealed_ts = last_sealed_ts
        self.open_since_ts = open_since_ts

    def problems(self, now: float, pending_events: int) -> list[str]:
        """Every current silent failure, as reasons for `status` (empty when healthy)."""
        found: list[str] = []
        frames = check_frames(self._frames, self.recent_frames)
        if frames:
            found.append(frames)
        if self.input_since_ts is not None:
            stalled = check_input(
                now,
                self.last_input_ts,
                self.input_since_ts,
                self.screen_changes_since_input,
                self.input_stall_seconds,
                self.input_stall_min_changes,
            )
            if stalled:
                found.append(stalled)
        writer = check_writer(
            now,
            self.last_sealed_ts,
            self.open_since_ts if self.open_since_ts is not None else self.started_ts,
            pending_events,
            self.chunk_seconds,
        )
        if writer:
            found.append(writer)
        return found

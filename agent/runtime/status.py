"""The daemon's status: declared records, assembled by the daemon, read by every reader.

`status`, `status --json`, the tray and `doctor` all read the same records, decoded
from the control socket's reply with :func:`read_status`. Whatever arrives there is
believed only once it decodes: a missing key or a wrong type (an older daemon, a
hostile process on the socket) is one line, ``BadStatus``, never a traceback.

The JSON form is what scripts read (`status --json`), so its keys and values do not
change by accident: ``tests/agent/test_status_record.py`` pins every key path. The
top level stays flat for that reason; nested records are the ones the JSON nests
(``consent``, ``consent.policy``, ``scope``, ``screen``, ``upload``,
``upload.last_pass``).

To add a field (e.g. the screen-privacy stage's masked-region counts under ``screen``):

1. declare it on the record with a default (``masked_regions: int = 0``), so that a
   reply from a daemon without it still decodes;
2. fill it where the record is built (``assemble``, or ``screen_counts`` here);
3. add its key path to ``STATUS_KEYS`` in the test above, and print it in
   ``agent/cli/status.py`` (`status`) if a person should see it.

A field that exists only sometimes (as ``consent.until``) is ``X | UnsetType = UNSET``:
its key is then left out of the JSON, not written as null.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from agent.runtime.control_protocol import ControlError
from agent.runtime.scope import CaptureScope
from capture.base import KeyFrameSource

if TYPE_CHECKING:
    from agent.runtime.pipeline import Pipeline
    from capture.base import Source
    from capture.queue import EventQueue
    from privacy.screen_scrub import FrameScrubber
    from privacy.scrub_ledger import ScrubTotals

NOT_RUNNING = "not running"


class BadStatus(ControlError):
    """A status reply that does not decode into the declared record (exit code 1)."""


class PolicyStatus(Struct, frozen=True, kw_only=True):
    """The fleet policy as the daemon judged it (present when a policy is configured)."""

    location: str | None
    collect: bool | None
    not_after: float | None
    max_sensitivity: int | None
    error: str | None


class ConsentStatus(Struct, frozen=True, kw_only=True):
    """Consent: the state, the person's choice, the mode, and a snooze's time left."""

    state: str
    choice: str
    mode: str
    snooze_max_minutes: int
    blocks: dict[str, str]  # block source -> reason
    minutes_left: float | None
    until: float | UnsetType = UNSET  # wall time a snooze ends
    seconds_left: float | UnsetType = UNSET
    reason: str | UnsetType = UNSET  # why blocked
    state_error: str | UnsetType = UNSET  # the saved state could not be read
    policy: PolicyStatus | UnsetType = UNSET

    @property
    def reason_or_none(self) -> str | None:
        """``reason``, None when unset."""
        return None if isinstance(self.reason, UnsetType) else self.reason

    @property
    def until_or_none(self) -> float | None:
        """``until``, None when unset."""
        return None if isinstance(self.until, UnsetType) else self.until


class ScreenCounts(Struct, frozen=True, kw_only=True):
    """Frames of this session: taken, withheld (by the mask or the OCR scrub), unchanged
    skipped, grab errors; regions the screen mask painted over in stored frames (stage ->
    category -> count) and the frames it withheld, by reason; the OCR scrub's own figures."""

    frames: int
    withheld: int
    unchanged_skipped: int
    grab_errors: int
    masked: dict[str, dict[str, int]] = {}
    withheld_reasons: dict[str, int] = {}
    scrub_withheld: int = 0  # frames the OCR scrub could not judge (in ``withheld`` too)
    scrub_masked: dict[str, int] = {}  # regions the OCR scrub masked, per category
    scrub_engine: str | None = None  # the OCR engine and version, None without one
    scrub_cpu_s: float = 0.0  # CPU seconds the OCR engine spent (the screen thread's)
    scrub_error: str | None = None  # why frames are withheld, and the fix
    holds: int = 0  # regions grabbed into memory at releases (an action's observation)
    holds_stored: int = 0  # ...stored as one (in ``frames`` too)


class UploadPass(Struct, frozen=True, kw_only=True):
    """What the uploader's last pass did (counts and messages only)."""

    uploaded: int
    bytes: int
    failed: int
    held_back: int
    pending: int
    errors: tuple[str, ...]


class UploadStatus(Struct, frozen=True, kw_only=True):
    """The uploader, when ``[upload]`` is configured."""

    transport: str
    paused: bool
    uploaded_total: int
    last_pass_ts: float | None
    last_pass: UploadPass | None
    last_error: str | None
    next_pass_ts: float | None = None  # when the uploader's next pass starts


class DaemonStatus(Struct, frozen=True, kw_only=True):
    """A running daemon's `status` reply: numbers, names and paths, never content."""

    running: bool  # always true here
    pid: int
    state: str  # consent's state, or "error" when recording is asked for but fails
    # consent and what blocks it
    consent: ConsentStatus
    blocked_reason: str | None
    # health problems
    capture_error: str | None
    storage_error: str | None
    health: tuple[str, ...]
    # sources
    scope: CaptureScope
    sources: tuple[str, ...]
    sources_running: bool = True  # false while paused or opted out: hooks torn down
    screen: ScreenCounts | None
    # session
    session: str
    started_ts: float
    uptime_s: float
    # counters
    events_per_second: float
    events_processed: int
    events_stored: int
    events_filtered: int
    dropped: dict[str, int]  # lost to a full queue, per kind
    dropped_total: int
    queue_length: int
    # privacy: what the stages removed, per stage and category, and redacted key presses
    removed: dict[str, dict[str, int]]
    keys_redacted: int
    # storage
    open_chunk_events: int
    chunks_sealed: int
    last_sealed_ts: float | None
    buffered_chunks: int
    buffered_bytes: int
    data_dir: str
    upload: UploadStatus | None
    focus_denied: bool = False  # a denylisted window has the focus: nothing is recorded


class OfflineStatus(Struct, frozen=True, kw_only=True):
    """`status` without a running daemon: the persisted consent, what is buffered and
    the capture scope that applies when it runs.

    The tray leaves the buffered counts and the scope unset (it shows none of them).
    """

    running: bool = False
    state: str = NOT_RUNNING
    consent: ConsentStatus
    buffered_chunks: int | UnsetType = UNSET
    buffered_bytes: int | UnsetType = UNSET
    data_dir: str | UnsetType = UNSET
    scope: CaptureScope | UnsetType = UNSET  # what may be captured once the agent runs


AgentStatus = DaemonStatus | OfflineStatus
"""What `status` reports, with or without a daemon."""


def read_status(raw: object) -> AgentStatus:
    """The status in ``raw`` (a decoded reply), or BadStatus saying what is wrong with it."""
    if isinstance(raw, DaemonStatus | OfflineStatus):
        return raw
    if not isinstance(raw, dict):
        raise BadStatus("the agent sent a malformed status: not an object")
    running = raw.get("running")
    if not isinstance(running, bool):
        raise BadStatus("the agent sent a malformed status: `running` must be true or false")
    try:
        if running:
            return msgspec.convert(raw, DaemonStatus)
        return msgspec.convert(raw, OfflineStatus)
    except msgspec.ValidationError as exc:
        raise BadStatus(f"the agent sent a malformed status: {exc}") from None


def read_daemon_status(raw: object) -> DaemonStatus:
    """A running daemon's status from ``raw``, or BadStatus."""
    status = read_status(raw)
    if not isinstance(status, DaemonStatus):
        raise BadStatus("the agent sent a malformed status: it says it is not running")
    return status


def to_plain(record: Struct) -> dict[str, Any]:
    """The record as JSON-ready builtins (unset fields left out)."""
    plain: dict[str, Any] = msgspec.to_builtins(record)
    return plain


def status_json(record: Struct) -> str:
    """The `--json` text of a record: indented, keys sorted (as scripts have read it)."""
    return json.dumps(to_plain(record), indent=2, sort_keys=True)


# -- assembly (the daemon's side) -------------------------------------------------------------


class RateMeter:
    """Events per second between two readings of a growing count (the main loop's)."""

    def __init__(self, now: float) -> None:
        self._when = now
        self._count = 0
        self.rate = 0.0

    def update(self, now: float, count: int) -> None:
        """Take a reading of ``count`` at monotonic time ``now``."""
        elapsed = now - self._when
        self.rate = (count - self._count) / elapsed if elapsed > 0 else 0.0
        self._when, self._count = now, count


def screen_counts(
    sources: Sequence[Source],
    scrub: ScrubTotals | None = None,
    scrubber: FrameScrubber | None = None,
    scrub_error: str | None = None,
) -> ScreenCounts | None:
    """The screen source's counts, the mask's (``scrub``) and the OCR scrub's
    (``scrubber``, ``scrub_error``: why it has no engine), None without a screen source
    (numbers, names and messages only). The screen source is the one that makes frames
    (``KeyFrameSource``); its figures are its typed ``counters()``."""
    for source in sources:
        if isinstance(source, KeyFrameSource):
            counts = source.counters()
            engine = scrubber.scrubber.ocr if scrubber is not None else None
            return ScreenCounts(
                frames=counts.frames,
                withheld=counts.suppressed + counts.scrub_withheld,
                unchanged_skipped=counts.unchanged_skipped,
                grab_errors=counts.errors,
                masked=scrub.masked if scrub is not None else {},
                withheld_reasons=scrub.withheld if scrub is not None else {},
                scrub_withheld=counts.scrub_withheld,
                scrub_masked=dict(scrub.masked.get("screen_ocr", {})) if scrub else {},
                scrub_engine=engine.version if engine is not None else None,
                scrub_cpu_s=round(scrubber.stats.ocr_cpu_s, 3) if scrubber is not None else 0.0,
                scrub_error=scrub_error,
                holds=counts.holds,
                holds_stored=counts.holds_stored,
            )
    return None


def upload_status(raw: dict[str, Any] | None) -> UploadStatus | None:
    """The uploader's counters (storage/uploader.py's plain form) as the record."""
    return None if raw is None else msgspec.convert(raw, UploadStatus)


def assemble(
    *,
    consent: ConsentStatus,
    pipeline: Pipeline,
    queue: EventQueue,
    sources: Sequence[Source],
    sources_running: bool,
    capture_error: str | None,
    health: list[str],
    scope: CaptureScope,
    session: str,
    started_ts: float,
    events_per_second: float,
    sessions_dir: Path,
    buffered: tuple[int, int],
    upload: dict[str, Any] | None,
    scrub: ScrubTotals | None = None,
    scrubber: FrameScrubber | None = None,
    scrub_error: str | None = None,
) -> DaemonStatus:
    """A running daemon's status from its parts (``buffered``: chunks and bytes on disk)."""
    stats = pipeline.stats
    writer = pipeline.writer
    state = consent.state
    if state == "recording" and (not sources_running or health):
        state = "error"
    return DaemonStatus(
        running=True,
        pid=os.getpid(),
        state=state,
        consent=consent,
        blocked_reason=consent.reason_or_none,
        capture_error=capture_error,
        health=tuple(health),
        scope=scope,
        session=session,
        started_ts=started_ts,
        uptime_s=round(time.time() - started_ts, 1),
        sources=tuple(s.name for s in sources),
        sources_running=sources_running,
        events_per_second=round(events_per_second, 1),
        events_processed=stats.processed,
        events_stored=stats.stored,
        events_filtered=stats.filtered,
        removed=pipeline.removed_totals(),
        keys_redacted=pipeline.redacted_keys(),
        screen=screen_counts(sources, scrub, scrubber, scrub_error),
        dropped=dict(stats.dropped),
        dropped_total=stats.dropped_total,
        queue_length=len(queue),
        open_chunk_events=writer.pending_events,
        chunks_sealed=writer.sealed_chunks,
        last_sealed_ts=stats.last_sealed_ts,
        buffered_chunks=buffered[0],
        buffered_bytes=buffered[1],
        data_dir=str(sessions_dir),
        storage_error=stats.error,
        upload=upload_status(upload),
        focus_denied=_focus_denied(pipeline),
    )


def _focus_denied(pipeline: Pipeline) -> bool:
    """Whether the chain's denied-window stage is suppressing (a denied window is focused)."""
    from privacy.denylist import DeniedWindowSuppressor

    return any(
        isinstance(s, DeniedWindowSuppressor) and s.suppressing for s in pipeline.chain.stages
    )

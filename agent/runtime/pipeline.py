"""The pipeline thread: queue -> stamp -> stage chain -> chunk writer.

Sources stamp each event's wall and monotonic time in the OS callback (the moment it
happened, which the consent gate judges by); this thread gives every stored event its
sequence number within the session, runs the stage chain (consent gate and privacy
filters), notifies observers (the screen source listens for clicks and typing), and
hands events to the writer, sealing chunks on rotation and at stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import SimpleQueue

from capture.events import Event, Marker
from capture.queue import EventQueue
from privacy.chain import BufferingStage, Chain
from storage.errors import StorageError
from storage.writer import ChunkWriter, SealedChunk

log = logging.getLogger(__name__)

_NOT_KEYS = frozenset({"frame_with_secret", "stage_error"})
"""The typed-text stage's counts that are not redacted key presses."""

Observer = Callable[[Event], None]

# When the queue is empty the thread sleeps until the next tick, so it wakes about
# TICK_EVERY apart however fast events arrive, and takes what queued meanwhile as one
# batch. Each wake-up costs CPU (docs/PERFORMANCE.md, Figures behind choices in the
# code). Events
# are stamped by their source, so waiting changes no timestamp and no consent decision,
# only how soon an event reaches the writer and how soon a click arms the screen
# source's frame (at most TICK_EVERY later; frames wait for a debounce anyway).
# Requests (stop, seal on pause, forget) wake the thread at once.
TICK_EVERY = 0.2  # seconds between buffer ticks, drop markers and rotation checks
# Once no event came for IDLE_AFTER seconds and no stage holds anything, the thread stops
# ticking: it sleeps until the next event (the queue wakes it) or until the open chunk
# is due, so an idle agent does not wake five times a second (tests/agent/
# test_idle_daemon.py). While events flow, they still arrive in batches TICK_EVERY apart.
IDLE_AFTER = 1.0
RETRY_SEAL_EVERY = 5.0
PUT_OFF_SEAL = 25.0  # longest a due seal waits for a held frame (the typed-text cap is 20 s)
SEAL_GRACE = 1.0  # ...and then for the frame the releasing key asks for (scrubbed: ~0.1 s)


@dataclass
class PipelineStats:
    """Counters published in `status` (numbers only)."""

    processed: int = 0
    markers: int = 0
    stored: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # What the stage chain removed, per stage and category, in the sealed chunks.
    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    last_sealed_ts: float | None = None
    error: str | None = None

    @property
    def filtered(self) -> int:
        """Events the stage chain removed (or still holds, while running)."""
        return self.processed + self.markers - self.stored

    @property
    def dropped_total(self) -> int:
        """Events lost to a full queue."""
        return sum(self.dropped.values())


def merge_counts(into: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    """Add per-stage, per-category counts ``more`` to ``into``."""
    for stage, counts in more.items():
        per = into.setdefault(stage, {})
        for category, n in counts.items():
            per[category] = per.get(category, 0) + n


class Pipeline:
    """One consumer thread between the event queue and the chunk writer."""

    def __init__(
        self,
        queue: EventQueue,
        chain: Chain,
        writer: ChunkWriter,
        observers: list[Observer] | None = None,
        on_sealed: Callable[[SealedChunk], None] | None = None,
        on_error: Callable[[str | None], None] | None = None,
    ) -> None:
        self.queue = queue
        self.chain = chain
        self.writer = writer
        self.observers = list(observers or [])
        self.on_sealed = on_sealed
        self.on_error = on_error
        self.stats = PipelineStats()
        self._seq = 0
        self._stop = threading.Event()
        self._seal_now = threading.Event()
        self._wake = threading.Event()  # set with every request (never by capture hooks)
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._dropped_pending: dict[str, int] = {}
        self._drops_unmarked: dict[str, int] = {}  # taken from the queue, no marker yet
        # Events still to pass through the chain before a gap in the key stream is
        # surely behind us (see _note_drops).
        self._gap_left = 0
        self._removed_pending: dict[str, dict[str, int]] = {}
        self._counts_lock = threading.Lock()  # stats.removed and _removed_pending
        # `forget` asks (any thread) to drop the open chunk; the pipeline thread does it.
        self._discard_requests: SimpleQueue[tuple[threading.Event, dict[str, int]]] = SimpleQueue()
        self._next_retry = 0.0
        # The hook time (monotonic) of the newest event taken from the queue: buffering
        # stages judge idleness against it while events still wait (see _tick).
        self._seen_mono = 0.0
        # Stages that may hold events and release them on a tick: ticks stop only while
        # every one of them says it is ``idle`` (one without the attribute never does).
        self._holding = [s for s in chain.stages if isinstance(s, BufferingStage)]
        self._put_off_since: float | None = None  # a due seal waits for a held frame
        self._grace_until = float("-inf")  # ...and then for the frame Enter asked for

    def start(self) -> None:
        """Start the consumer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Drain the queue, flush the chain, seal the open chunk, join the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def discard_open(self, timeout: float = 10.0) -> dict[str, int] | None:
        """Drop everything not sealed yet: the open chunk and what the stages hold.

        Returns what was dropped (``events``, ``frames``) once the pipeline thread has
        done it, or None when it did not answer within ``timeout`` seconds. A "forgotten"
        marker (counts only) takes the first dropped sequence number, so the stream has
        no gap in its numbering and says why time is missing.
        """
        done, result = threading.Event(), dict[str, int]()
        self._discard_requests.put((done, result))
        self._wake.set()
        return result if done.wait(timeout) else None

    def request_seal(self) -> None:
        """Flush buffering stages and seal the open chunk at the next tick (on pause)."""
        self._seal_now.set()
        self._wake.set()

    def _run(self) -> None:
        next_tick = last_batch = time.monotonic() + TICK_EVERY
        while True:
            stopping = self._stop.is_set()
            batch = self.queue.drain()
            self._note_drops(len(batch))
            if batch:
                self._process(batch)
            now = time.monotonic()
            if batch:
                last_batch = now
            if now >= next_tick or stopping or self._wake.is_set():
                self._wake.clear()
                next_tick = now + TICK_EVERY
                self._tick(now)
            if stopping and not batch:
                break
            if batch:
                continue
            if now - last_batch >= IDLE_AFTER and self._quiet():
                self._sleep_until_work()
                next_tick = 0.0  # tick at once: the event that woke us may need it
            else:
                self._wake.wait(max(0.0, next_tick - now))
        self._note_drops(0)  # before the flush: a gap must taint what it releases
        for event in self.chain.flush():
            self._store(event)
        self._record_drops()
        self._seal(final=True)

    def _quiet(self) -> bool:
        """Whether nothing needs a tick until an event comes: no stage holds anything (or
        its tick never releases anything: ``releases_on_tick = False``), no seal is being
        retried."""
        return not self.stats.error and all(
            getattr(s, "releases_on_tick", True) is False or getattr(s, "idle", False)
            for s in self._holding
        )

    def _sleep_until_work(self) -> None:
        """Sleep until an event is queued, a request comes, or the open chunk is due."""
        self.queue.wake_on_next(self._wake)
        try:
            if len(self.queue) == 0:
                self._wake.wait(self.writer.seconds_until_due())
        finally:
            self.queue.wake_on_next(None)

    def _note_drops(self, unprocessed: int) -> None:
        """Take the queue's drop counts; open a gap in the chain if keys were lost.

        Called right after a drain, before the batch is processed. A key counted now
        was dropped before this call, so the gap it leaves lies before every event
        queued later: among the events processed so far (those still held), this
        batch (``unprocessed``) and what is queued now. The gap stays open until all of
        those have passed through the chain.
        """
        dropped = self.queue.take_dropped()
        if not dropped:
            return
        for kind, count in dropped.items():
            self._drops_unmarked[kind] = self._drops_unmarked.get(kind, 0) + count
        if not dropped.get("key"):
            return
        self._gap_left = max(self._gap_left, unprocessed + len(self.queue))
        self.chain.gap_opened()
        if self._gap_left == 0:
            self.chain.gap_closed()

    def _process(self, batch: list[Event]) -> None:
        """A batch through the chain, closing an open gap where it ends."""
        if self._gap_left <= 0:
            self._handle_batch(batch)
            return
        head = batch[: self._gap_left]
        self._handle_batch(head)
        self._gap_left -= len(head)
        if self._gap_left == 0:
            self.chain.gap_closed()
        if len(head) < len(batch):
            self._handle_batch(batch[len(head) :])

    def _handle_batch(self, batch: list[Event]) -> None:
        # The hot loop: _handle and _store inlined, attributes read once per batch
        # (about a fifth of the pipeline's own cost per event otherwise).
        process = self.chain.process
        add = self.writer.add
        observers = self.observers
        stats = self.stats
        seq = self._seq
        try:
            for event in batch:
                stats.processed += 1
                for item in process(event):
                    add(seq, item)
                    seq += 1
                    stats.stored += 1
                    for observe in observers:
                        observe(item)
        finally:
            self._seq = seq
            self._seen_mono = batch[-1].mono

    def _store(self, event: Event) -> None:
        self.writer.add(self._seq, event)
        self._seq += 1
        self.stats.stored += 1
        for observe in self.observers:
            observe(event)

    def removed_totals(self) -> dict[str, dict[str, int]]:
        """What the stages removed this session, per stage and category (any thread).

        Counts reach this total within a tick (0.2 s) of the removal: each tick moves
        what the stages counted into the counts the next sealed chunk records.
        """
        with self._counts_lock:
            total: dict[str, dict[str, int]] = {}
            merge_counts(total, self.stats.removed)
            merge_counts(total, self._removed_pending)
        return total

    def emit_marker(self, kind: str, **detail: object) -> Marker:
        """Build a marker stamped now (for the daemon to queue)."""
        return Marker(ts=time.time(), mono=time.monotonic(), kind=kind, detail=dict(detail))

    def redacted_keys(self) -> int:
        """Key presses whose character was removed this session (any thread)."""
        per = self.removed_totals().get("typed_text", {})
        return sum(n for category, n in per.items() if category not in _NOT_KEYS)

    def _take_removed(self) -> None:
        # Counts move to the pending total at every tick, so `status` shows them at once;
        # they still belong to the chunk sealed next.
        taken = self.chain.take_removed()
        if taken:
            with self._counts_lock:
                merge_counts(self._removed_pending, taken)
            if taken.get("typed_text", {}).get("frame_with_secret") and (
                ask := self.writer.on_key_frame_needed
            ):
                # A frame showing a secret before the screen mask knew it was dropped
                # here, after the screen source took it as stored: ask for a whole frame
                # now (the mask knows the secret), or the screen as it settled after the
                # typing is stored only when something changes again.
                ask(True)

    def _record_drops(self) -> None:
        self._note_drops(0)
        dropped, self._drops_unmarked = self._drops_unmarked, {}
        if not dropped:
            return
        for kind, count in dropped.items():
            self.stats.dropped[kind] = self.stats.dropped.get(kind, 0) + count
            self._dropped_pending[kind] = self._dropped_pending.get(kind, 0) + count
        # A drop is never silent: it becomes a marker in the stream itself.
        self.stats.markers += 1
        self._store(self.emit_marker("dropped", counts=dropped, reason="queue_full"))
        log.warning("event queue full: dropped %s", dropped)

    def _tick(self, now: float) -> None:
        if not self._discard_requests.empty():
            self._discard()
        # Idle gaps are measured in event time. While events still wait in the queue (the
        # thread was slow: a first import, a busy machine), "now" is not what the stages
        # have seen: a line typed before the stall would look idle and be released
        # half-typed, splitting a secret so that no detector sees it whole.
        horizon = now if len(self.queue) == 0 else min(now, self._seen_mono)
        self._note_drops(0)  # before a tick may release what a gap spans
        for event in self.chain.tick(horizon):
            self._store(event)
        self._record_drops()
        self._take_removed()
        if self._seal_now.is_set():
            self._seal_now.clear()
            # A pause or stop request: what buffering stages hold was typed before it.
            for event in self.chain.flush():
                self._store(event)
            self._seal(final=False)
        elif self.writer.due() and not self._sealing_put_off(now):
            self._seal(final=False)

    def _sealing_put_off(self, now: float) -> bool:
        """Whether a due seal waits: a stage holds a frame behind typed keys. Stored after
        the seal, that frame's changed region would have its base in the sealed chunk and
        be refused (and the action typed after it paired with an older screen). At most
        ``PUT_OFF_SEAL`` seconds: the typed-text stage releases within its own cap. Once
        released, ``SEAL_GRACE`` more: the key that released it (Enter) has the screen
        store its observation, a region of the frames just released, a moment later."""
        if not any(getattr(s, "holds_frame", False) for s in self._holding):
            if self._put_off_since is not None:
                self._put_off_since = None
                self._grace_until = now + SEAL_GRACE
            return now < self._grace_until
        if self._put_off_since is None:
            self._put_off_since = now
        return now - self._put_off_since < PUT_OFF_SEAL

    def _discard(self) -> None:
        # Everything queued up to now was recorded before the request: drop it too.
        batch = self.queue.drain()
        self._note_drops(len(batch))
        if batch:
            self._process(batch)
        held = self.chain.flush()
        first = self.writer.open_first_seq
        events, frames = self.writer.discard()
        self.stats.stored -= events  # counted when they entered the open chunk
        events += len(held)
        if first is not None:
            self._seq = first
        if events:
            self.stats.markers += 1
            self._store(self.emit_marker("forgotten", events=events, frames=frames))
            log.info("forgot the open chunk: %d events, %d frames", events, frames)
        while not self._discard_requests.empty():
            done, result = self._discard_requests.get_nowait()
            result.update(events=events, frames=frames)
            done.set()

    def _seal(self, final: bool) -> None:
        if self.stats.error and not final and time.monotonic() < self._next_retry:
            return
        # Every stage's counts, its own included, belong to the chunk sealed now.
        self._take_removed()
        try:
            sealed = self.writer.seal(removed=self._removed_pending, dropped=self._dropped_pending)
        except StorageError as exc:
            # Nothing is lost: the open chunk stays in memory and sealing is retried.
            # The daemon stops capture while this lasts, so memory stays bounded.
            message = str(exc)
            if self.stats.error != message:
                log.error("cannot seal chunk: %s", message)
            self.stats.error = message
            self._next_retry = time.monotonic() + RETRY_SEAL_EVERY
            if self.on_error:
                self.on_error(message)
            return
        if sealed is not None:
            with self._counts_lock:
                merge_counts(self.stats.removed, self._removed_pending)
                self._removed_pending = {}
        self._dropped_pending = {}
        if self.stats.error:
            self.stats.error = None
            if self.on_error:
                self.on_error(None)
        if sealed is not None:
            self.stats.last_sealed_ts = time.time()
            if self.on_sealed:
                self.on_sealed(sealed)

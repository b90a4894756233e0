"""The daemon: the one place that wires sources, queue, stages, writer and control together."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Config
from agent.errors import AgentError, AlreadyRunning, CannotCapture, ConfigError
from agent.paths import Paths, check_home_permissions, ensure_private_dir
from agent.runtime.consent import ConsentRuntime
from agent.runtime.control import ControlServer
from agent.runtime.control_protocol import BadRequest, check_args
from agent.runtime.health_watch import HealthWatch
from agent.runtime.heap import tune_heap
from agent.runtime.pipeline import Pipeline
from agent.runtime.scope import CaptureScope, capture_scope
from agent.runtime.status import DaemonStatus, RateMeter, assemble
from capture.base import (
    InputHooks,
    InputObserver,
    KeyFrameSource,
    PixelStatsSource,
    Replay,
    Source,
    StoredEventObserver,
)
from capture.errors import BackendChoiceError, SourceUnavailable
from capture.events import Emit, Event, Marker
from capture.queue import EventQueue
from capture.window.browser_url import SOCKET_NAME, start_listener
from consent.gate import ConsentGate
from consent.state import BLOCK_DISK
from privacy.chain import Chain
from storage import safe_fs
from storage.atomic import remove_leftovers
from storage.errors import StorageError, UnsafePath
from storage.keys import DEVICE_SIGNING_KEY, load_signing_key
from storage.reader import list_chunks
from storage.retention import RetentionPolicy, enforce
from storage.writer import ChunkWriter

if TYPE_CHECKING:
    from capture.screen.frame_maker import RawShot
    from capture.screen.mss_source import FrameMask, FrameScrub
    from capture.window.visible import Rect
    from privacy.denylist import Denylist
    from privacy.known_secrets import KnownSecrets
    from privacy.screen_scrub import FrameScrubber
    from privacy.scrub_ledger import ScrubLedger

log = logging.getLogger(__name__)

# Seconds between the main loop's rounds while all is well: health report, the events
# rate, denylist file changes. It sleeps on one deadline in between (a snooze's end, the
# policy's next fetch, the retention pass), woken at once by a stop or a storage error;
# commands (pause, ...) never wait for it. An idle agent wakes rarely (issue 23).
STATUS_EVERY = 5.0
# ... and while capture cannot start (retried each round) or a replay may end.
MAIN_LOOP_EVERY = 0.5
RETENTION_EVERY = 10.0  # seconds between retention passes (file sizes and times only)
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS


def new_session_id() -> str:
    """A sortable, unique session id: UTC start time plus randomness."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def buffered_on_disk(sessions_dir: Path) -> tuple[int, int]:
    """(chunks, bytes) stored locally, from file sizes alone (no decryption)."""
    count = size = 0
    for ref in list_chunks(sessions_dir):
        with contextlib.suppress(OSError):
            size += ref.size
            count += 1
    return count, size


@contextlib.contextmanager
def home_lock(path: Path, root: Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the home for the daemon's lifetime.

    Opened without following links below ``root`` and checked to be our own regular
    file before it is truncated (storage/safe_fs.py): a planted
    ``agent.lock -> /etc/...`` is refused (UnsafePath), its target untouched.
    """
    fd = safe_fs.open_file(path, os.O_RDWR | os.O_CREAT, 0o600, root)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another capture-agent is already running on this home ({path.parent})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def is_running(paths: Paths) -> bool:
    """True when a daemon holds the home's lock."""
    try:
        # Never through a link: a lock that is a link is no daemon's (it refuses one).
        fd = os.open(paths.lock_path, os.O_RDONLY | safe_fs.O_NOFOLLOW | safe_fs.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class _WakingEvent(threading.Event):
    """An event that also wakes the daemon's main loop when set (a stop request)."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._also = wake

    def set(self) -> None:
        """Set this event and the main loop's."""
        super().set()
        self._also.set()


class Daemon:
    """Runs capture until asked to stop; ``run`` returns the process exit code."""

    def __init__(
        self,
        paths: Paths,
        config: Config,
        sources: list[Source] | None = None,
        exit_when_replayed: bool = True,
    ) -> None:
        # With the configured data folder: the home check at start covers it too.
        self.paths = paths.with_data_dir(config.storage.data_dir)
        self.config = config
        self._given_sources = sources
        self.exit_when_replayed = exit_when_replayed
        self._wake = threading.Event()  # the main loop's: a stop, a storage error, health
        self.stop_requested: threading.Event = _WakingEvent(self._wake)
        self.sources: list[Source] = []
        self.sources_running = False
        self.capture_error: str | None = None
        # The screen's OCR scrub (made on the screen thread) and why it has no engine.
        self.frame_scrubber: FrameScrubber | None = None
        self.scrub_unavailable: str | None = None
        self._active_scope: CaptureScope | None = None
        self.consent: ConsentRuntime | None = None
        # Held while consent changes and sources start or stop: `pause` returns only
        # once the hooks are gone, and two commands never interleave their effects.
        self._lock = threading.RLock()
        self.session = new_session_id()
        self.started_ts = time.time()
        self.sessions_dir = self.paths.sessions_dir
        self.queue = EventQueue(config.capture.queue_size)
        self.pipeline: Pipeline | None = None
        self._rate = RateMeter(time.monotonic())
        self._storage_error: str | None = None
        self._retention_block: str | None = None
        self.uploader: Any = None  # storage.uploader.Uploader when [upload] is set
        # Silent failures (black frames, dead hooks, a writer that stopped sealing),
        # fed from the screen thread, the pipeline thread and the main loop.
        self.health = HealthWatch(self.started_ts, config.storage.chunk_seconds)
        self.health.on_change = self._report_health_now
        self._health_changed = False
        # What the denylist's additions were built from (policy entries, personal file).
        self._denylist_version: tuple[str, tuple[int, int] | None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def run(self) -> int:
        """Start everything, wait for SIGINT/SIGTERM (or the end of a replay), stop cleanly."""
        tune_heap()  # before any thread allocates (agent/runtime/heap.py)
        for message in check_home_permissions(self.paths):
            log.warning("%s", message)
        self._prepare_storage()
        if len(str(self.paths.socket_path)) > MAX_SOCKET_PATH:
            raise CannotCapture(
                f"{self.paths.socket_path}: path too long for a Unix socket; "
                "use a shorter CAPTURE_AGENT_HOME"
            )
        runtime = self.paths.runtime_dir
        ensure_private_dir(runtime, self.paths.root_of(runtime))
        with home_lock(self.paths.lock_path, self.paths.root_of(self.paths.lock_path)):
            leftovers = remove_leftovers(self.sessions_dir)
            if leftovers:
                log.info("removed %d temporary file(s) left by an earlier crash", leftovers)
            self.consent = consent = ConsentRuntime(self.paths, self.config, emit=self._put)
            consent.tick()  # the fleet policy is judged before anything is captured
            self.sources = (
                self._given_sources
                if self._given_sources is not None
                else self._build_sources(self._scope())
            )
            self._install_signals()
            writer = ChunkWriter(
                self.sessions_dir,
                self.config.device.id,
                self.session,
                self.config.recipient_keys(),
                load_signing_key(self.paths.keys_dir / DEVICE_SIGNING_KEY),
                max_seconds=self.config.storage.chunk_seconds,
                max_bytes=self.config.storage.chunk_max_bytes,
                ledger_head=consent.ledger.head,  # signed into each manifest
            )
            writer.root = self._data_root  # no link below it is followed (safe_fs)
            writer.scrub = self.scrub_ledger  # each manifest says what was masked
            self.pipeline = Pipeline(
                self.queue,
                self._build_chain(),
                writer,
                self._observers(),
                on_error=self._on_storage_error,
            )
            control = ControlServer(self.paths.socket_path, self._handlers())
            self.pipeline.start()
            self._start_uploader()
            control.start()
            # The browser extension's tab URLs (capture/window/browser_url.py).
            tab_listener = start_listener(self.paths.socket_path.with_name(SOCKET_NAME))
            try:
                self._marker(
                    "started",
                    sources=[s.name for s in self.sources],
                    consent=consent.machine.state.name.value,
                )
                log.info(
                    "session %s, sources: %s", self.session, ", ".join(s.name for s in self.sources)
                )
                self._announce_consent()
                self._enforce_retention()  # over a cap, capture never starts
                with self._lock:
                    self._reconcile()
                self._wait()
            finally:
                with self._lock:
                    self._stop_sources()
                self._marker("stopped")
                self.pipeline.stop()
                if self.uploader is not None:
                    self.uploader.stop()
                control.stop()
                if tab_listener is not None:
                    tab_listener.stop()
                self._log_totals()
        return 0

    def _start_uploader(self) -> None:
        """Upload sealed chunks in the background; never while the fleet kill switch is on."""
        if self.config.upload.transport == "none":
            return
        from consent.state import BLOCK_POLICY
        from storage.uploader import Uploader, UploadSettings, build_transport

        consent = self.consent
        self.uploader = Uploader(
            self.sessions_dir,
            build_transport(self.config.upload),
            UploadSettings.from_config(self.config.upload, self.config.device.id),
            paused=lambda: consent is not None and BLOCK_POLICY in consent.machine.blocks,
        )
        self.uploader.start()

    @property
    def _data_root(self) -> Path:
        """The root the chunks' folders are checked from (no link below it)."""
        return self.paths.root_of(self.sessions_dir.parent)

    def _prepare_storage(self) -> None:
        try:
            for folder in (self.paths.data_dir, self.sessions_dir.parent, self.sessions_dir):
                ensure_private_dir(folder, self.paths.root_of(folder))
            probe = self.sessions_dir / f".tmp-probe-{os.getpid()}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            os.close(safe_fs.open_file(probe, flags, 0o600, self._data_root))
            probe.unlink()
        except OSError as exc:
            raise CannotCapture(
                f"cannot write to the data folder {self.sessions_dir}: {exc.strerror or exc}"
            ) from None
        except UnsafePath as exc:  # a link or another user's folder on the way
            raise CannotCapture(f"cannot write to the data folder: {exc}") from None

    def _build_sources(self, scope: CaptureScope) -> list[Source]:
        """The platform's sources for ``scope`` (the config narrowed by the policy)."""
        from capture.backends import build_sources, check_overrides
        from capture.display import check_display

        capture = self.config.capture
        self._active_scope = scope
        try:
            check_overrides()  # a typo is a config error, whatever the display says
            check_display()
            return build_sources(
                keyboard=scope.keys,
                mouse=scope.mouse,
                screen=scope.screen,
                window=scope.window,
                move_hz=capture.mouse_move_hz,
                screen_options=capture.screen.options(scope.min_frame_interval),
                screen_mask=self._screen_mask(),
                screen_scrub=self._screen_scrub(),
            )
        except SourceUnavailable as exc:
            raise CannotCapture(str(exc)) from None
        except BackendChoiceError as exc:  # a CAPTURE_AGENT_BACKEND_<KIND> typo
            raise ConfigError(str(exc)) from None

    def _follow_scope(self) -> None:
        """Rebuild the sources when the fleet policy changed the capture scope."""
        scope = self._scope()
        if self._given_sources is not None or scope == self._active_scope:
            return
        log.info("capture scope changed by the fleet policy: %s", scope)
        was_running = self.sources_running
        self._stop_sources()
        try:
            self.sources = self._build_sources(scope)
        except CannotCapture as exc:
            self.sources = []
            self.capture_error = str(exc)
            return
        assert self.pipeline is not None
        self.pipeline.observers = self._observers()
        if was_running:
            self._start_sources()

    def _observers(self) -> list[Callable[[Event], None]]:
        return [s.on_stored for s in self.sources if isinstance(s, StoredEventObserver)]

    def _screen_mask(self) -> Callable[[], FrameMask]:
        """What makes the screen source's mask, on its thread: denied windows painted over.

        The same denylist as the privacy chain's. Where no window can be listed the
        screen source does not start (fail closed), and with it no capture at all.
        """
        from capture.backends import window_lister
        from privacy.masking import WindowMasker

        denylist, known, ledger = self.denylist, self.known_secrets, self.scrub_ledger

        def locate(shot: RawShot, rects: Sequence[Rect]) -> None:
            # The scrub is made right after the mask, on the same thread: the mask asks
            # it to find typed secrets under their masks before painting them.
            if self.frame_scrubber is not None:
                self.frame_scrubber.locate(shot, rects)

        return lambda: WindowMasker(window_lister(), denylist, known, ledger, locate)

    def _screen_scrub(self) -> Callable[[], FrameScrub]:
        """What makes the screen source's OCR scrub, on its thread (after the mask).

        Always one: when no OCR engine starts, a scrub without an engine that withholds
        every frame (counted, `status` and `doctor` say why), never no scrub. The
        override (CAPTURE_AGENT_BACKEND_OCR) chooses an engine; none turns it off.
        """
        from capture.backends import ocr_backend
        from capture.errors import CaptureError
        from capture.ocr.process import ProcessOcr
        from privacy.screen_scrub import FrameScrubber, ScreenScrubber

        known, ledger = self.known_secrets, self.scrub_ledger
        separate = self.config.capture.screen.ocr_process == "separate"

        def make() -> FrameScrub:
            try:
                # In a worker process (``capture.ocr.process``), or in this one.
                engine = ProcessOcr() if separate else ocr_backend()
            except Exception as exc:  # OcrUnavailable, SourceUnavailable, an engine's bug
                why = str(exc) if isinstance(exc, CaptureError) else type(exc).__name__
                self.scrub_unavailable = f"no OCR engine, screen frames withheld: {why}"
                log.error("screen scrub: %s", self.scrub_unavailable)
                scrubber = FrameScrubber(ScreenScrubber(None, unavailable=why), ledger)
            else:
                self.scrub_unavailable = None
                log.info("screen scrub: %s", engine.version)
                scrubber = FrameScrubber(ScreenScrubber(engine, None, known), ledger)
            self.frame_scrubber = scrubber
            return scrubber

        return make

    @functools.cached_property
    def scrub_ledger(self) -> ScrubLedger:
        """What the screen mask did to each frame, for each chunk's `scrub` record."""
        from privacy.scrub_ledger import ScrubLedger

        return ScrubLedger()

    @functools.cached_property
    def known_secrets(self) -> KnownSecrets:
        """Typed secrets (memory only) the typed-text stage hands the screen mask."""
        from privacy.known_secrets import KnownSecrets

        return KnownSecrets()

    @functools.cached_property
    def denylist(self) -> Denylist:
        """The denylist in force: the shipped defaults, the fleet policy's entries and the
        person's own file. The chain and the screen mask share it; ``_refresh_denylist``
        keeps the additions current.
        """
        from privacy.denylist import Denylist

        denylist = Denylist()
        self._refresh_denylist(denylist)
        return denylist

    def _refresh_denylist(self, denylist: Denylist | None = None) -> None:
        """Apply a changed policy denylist or an edited personal file (cheap when unchanged).

        A personal file that does not parse keeps the previous additions and is logged
        (file and entry named, never a title).
        """
        from privacy.errors import DenylistError
        from privacy.person_denylist import file_version, load_person_rules

        target = denylist if denylist is not None else self.denylist
        policy = self.consent.policy if self.consent is not None else None
        org = policy.denylist.as_entries() if policy is not None else []
        options = policy.denylist if policy is not None else None
        version = (repr(options), file_version(self.paths.person_denylist))
        if version == self._denylist_version:
            return
        try:
            person = load_person_rules(self.paths.person_denylist)
        except DenylistError as exc:
            log.error("%s; your earlier additions stay in force", exc)
            person = list(target.person_rules)
        target.set_additions(org, person)
        target.set_policy_from(options)
        if self._denylist_version is not None:
            log.info(
                "denylist updated: %d organisation and %d personal addition(s)",
                len(org),
                len(person),
            )
        self._denylist_version = version

    def _build_chain(self) -> Chain:
        assert self.consent is not None
        from privacy.pipeline import build_chain

        policy = self.consent.policy
        max_sensitivity = policy.max_sensitivity if policy is not None else 2
        # The consent gate comes first: nothing stamped while not recording goes further.
        return build_chain(
            self.denylist,
            max_sensitivity=max_sensitivity,
            leading=[ConsentGate(self.consent.machine)],
            known_secrets=self.known_secrets,
        )

    def _announce_consent(self) -> None:
        """Say plainly, on the terminal and in the log, whether anything is recorded."""
        assert self.consent is not None
        state = self.consent.machine.state
        if state.recording and self.consent.machine.choice.value == "undecided":
            log.warning(
                "NOTICE: your organisation runs capture in opt-out mode: recording "
                "has started. `capture-agent opt-out` stops it; `capture-agent pause` "
                "pauses it for up to %d minutes.",
                self.consent.machine.snooze_max_minutes,
            )
        elif state.name.value == "no_consent":
            log.warning("nothing is recorded until you opt in: run `capture-agent opt-in`")
        elif not state.recording:
            log.info(
                "not recording: %s",
                state.name.value + (f" ({state.reason})" if state.reason else ""),
            )

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop_requested.set())

    def _wait(self) -> None:
        assert self.consent is not None
        next_status = 0.0
        next_retention = time.monotonic() + RETENTION_EVERY
        while not self.stop_requested.is_set():
            now = time.monotonic()
            # The retention pass rides on a status round (RETENTION_EVERY is a multiple
            # of STATUS_EVERY): one wake-up for both.
            deadline = next_status - now
            if self.capture_error is not None or (
                self.exit_when_replayed and any(isinstance(s, Replay) for s in self.sources)
            ):
                deadline = min(deadline, MAIN_LOOP_EVERY)  # a retry, a replay's end
            consent_due = self.consent.seconds_to_tick()
            if consent_due is not None:
                deadline = min(deadline, consent_due)
            self._wake.wait(max(0.01, deadline))
            self._wake.clear()
            if self.stop_requested.is_set():
                return
            now = time.monotonic()
            if now >= next_status and now >= next_retention - STATUS_EVERY / 2:
                next_retention = now + RETENTION_EVERY
                self._enforce_retention()
            with self._lock:
                self.consent.tick()
                self._reconcile()
            if now >= next_status or self._health_changed:
                self._health_changed = False
                next_status = now + STATUS_EVERY
                assert self.pipeline is not None
                self._rate.update(now, self.pipeline.stats.processed)
                self._refresh_denylist()
                self.health.report(self._health_problems())
            if self.exit_when_replayed and self._replay_finished():
                log.info("replay finished")
                return

    def _enforce_retention(self) -> None:
        """Apply the storage caps; a cap that cannot be met blocks capture (see _reconcile)."""
        try:
            result = enforce(
                self.sessions_dir, RetentionPolicy.from_config(self.config.storage), time.time()
            )
        except (OSError, StorageError) as exc:
            log.error("retention pass failed: %s", exc)
            return
        if result.deleted.chunks:
            log.info(
                "retention deleted %d chunk(s), %d bytes (%d not uploaded): %s",
                result.deleted.chunks,
                result.deleted.bytes,
                result.deleted.not_uploaded,
                result.reasons,
            )
        if result.blocked_reason != self._retention_block and result.blocked_reason:
            log.warning("%s", result.blocked_reason)
        self._retention_block = result.blocked_reason

    def _replay_finished(self) -> bool:
        replays = [s for s in self.sources if isinstance(s, Replay)]
        return len(replays) == len(self.sources) > 0 and all(r.finished() for r in replays)

    # -- sources ---------------------------------------------------------------------

    def _emit_for(self, source: Source) -> Emit:
        if isinstance(source, Replay):
            # Replayed traces wait for room instead of dropping; OS hooks never wait.
            def put(event: Event) -> None:
                self.queue.put(event, self.stop_requested)

            emit: Emit = put
        else:
            emit = self.queue.offer
        # The screen is told input as it happens, not once stored: the typed-text stage
        # holds keys until Enter, and an action's observation must be grabbed before it.
        told = [
            s.on_input for s in self.sources if isinstance(s, InputObserver) and s is not source
        ]
        if not told:
            return emit

        def emit_and_tell(event: Event) -> None:
            emit(event)
            for tell in told:
                tell(event)

        return emit_and_tell

    def _start_sources(self) -> None:
        started: list[Source] = []
        try:
            for source in self.sources:
                if isinstance(source, PixelStatsSource):
                    source.watch_pixels(self.health.on_pixels)
                if isinstance(source, KeyFrameSource) and self.pipeline is not None:
                    # Each chunk starts with a whole frame (changed regions need it).
                    self.pipeline.writer.on_key_frame_needed = source.request_key_frame
                source.start(self._emit_for(source))
                started.append(source)
        except SourceUnavailable as exc:
            for source in reversed(started):
                source.stop()
            # Visible in status; retried on the next reconcile while consent says record.
            if self.capture_error != str(exc):
                log.error("capture cannot start: %s", exc)
            self.capture_error = str(exc)
            return
        self.capture_error = None
        self.sources_running = True
        if any(isinstance(s, InputHooks) and s.hooked_devices() for s in self.sources):
            self.health.input_started()

    def _stop_sources(self) -> None:
        if not self.sources_running:
            return
        self.health.capture_stopped()
        for source in reversed(self.sources):
            try:
                source.stop()
            except Exception as exc:
                log.error("source %s failed to stop cleanly (%s)", source.name, type(exc).__name__)
        self.sources_running = False

    def _report_health_now(self) -> None:
        # Screen thread: the frames' verdict changed; the main loop says it at once.
        self._health_changed = True
        self._wake.set()

    def _on_storage_error(self, message: str | None) -> None:
        # Called on the pipeline thread; the main loop acts on it at once.
        self._storage_error = message
        self._wake.set()

    def _reconcile(self) -> None:
        """Make the sources match consent: hooks installed only while recording.

        A storage failure blocks capture visibly (state blocked, reason in status) and
        lifts itself once a chunk can be sealed again. Call with ``_lock`` held.
        """
        assert self.consent is not None
        error = self._storage_error or self._retention_block
        if error and BLOCK_DISK not in self.consent.machine.blocks:
            self.consent.block(f"storage: {error}", BLOCK_DISK)
        elif not error and BLOCK_DISK in self.consent.machine.blocks:
            self.consent.unblock(BLOCK_DISK)
        self._follow_scope()
        if self.consent.recording and not self.sources_running:
            self._start_sources()
        elif not self.consent.recording and self.sources_running:
            self._stop_sources()
            assert self.pipeline is not None
            self.pipeline.request_seal()  # what was recorded before the pause is sealed now

    # -- silent-failure detection ----------------------------------------------------

    def _health_problems(self) -> list[str]:
        """Current silent failures while recording (empty when healthy or not recording)."""
        assert self.pipeline is not None and self.consent is not None
        if not (self.consent.recording and self.sources_running):
            return []
        writer = self.pipeline.writer
        return self.health.problems(
            # Judged at the hooks, before any filter (capture.base.InputHooks).
            input_delivered=sum(
                s.counters().delivered for s in self.sources if isinstance(s, InputHooks)
            ),
            last_sealed_ts=self.pipeline.stats.last_sealed_ts,
            open_since_ts=writer.open_since_ts,
            pending_events=writer.pending_events,
        )

    # -- markers and status ----------------------------------------------------------

    def _marker(self, kind: str, **detail: Any) -> None:
        self._put(Marker(ts=time.time(), mono=time.monotonic(), kind=kind, detail=detail))

    def _put(self, event: Event) -> None:
        # Markers wait for room rather than vanish: they explain the stream.
        self.queue.put(event)

    def status(self) -> DaemonStatus:
        """The record `status` reports (numbers, names and paths only: never content)."""
        assert self.pipeline is not None and self.consent is not None
        return assemble(
            consent=self.consent.status_record(),
            pipeline=self.pipeline,
            queue=self.queue,
            sources=self.sources,
            sources_running=self.sources_running,
            capture_error=self.capture_error,
            health=self._health_problems(),
            scope=self._scope(),
            session=self.session,
            started_ts=self.started_ts,
            events_per_second=self._rate.rate,
            sessions_dir=self.sessions_dir,
            buffered=buffered_on_disk(self.sessions_dir),
            upload=self.uploader.status() if self.uploader is not None else None,
            scrub=self.scrub_ledger.totals(),  # regions masked, frames withheld
            scrubber=self.frame_scrubber,
            scrub_error=self._scrub_error(),
        )

    def _scrub_error(self) -> str | None:
        """Why screen frames are withheld by the OCR scrub, with the fix (None: fine)."""
        if self.scrub_unavailable is not None:
            return self.scrub_unavailable
        scrubber = self.frame_scrubber
        if scrubber is not None and scrubber.withheld_reason == "ocr_failed":
            return (
                "the OCR engine failed on the last frame, screen frames withheld "
                "(see the log; `capture-agent doctor` checks the engine)"
            )
        return None

    def _scope(self) -> CaptureScope:
        """What may be captured: the config, narrowed by the fleet policy."""
        policy = self.consent.policy if self.consent else None
        return capture_scope(self.config.capture, policy.scope if policy is not None else None)

    # -- control commands ------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "status": lambda _a: self.status(),
            "pause": self._cmd_pause,
            "resume": self._consent_cmd("resume"),
            "opt_in": self._consent_cmd("opt_in"),
            "opt_out": self._consent_cmd("opt_out"),
            "forget_open": self._cmd_forget_open,
        }

    def _cmd_forget_open(self, _args: dict[str, Any]) -> dict[str, Any]:
        """Drop what is recorded but not sealed yet (for `forget`)."""
        assert self.pipeline is not None
        dropped = self.pipeline.discard_open()
        if dropped is None:
            raise AgentError(
                "the recorder did not answer in time; nothing was forgotten "
                "from the open chunk, try again"
            )
        return dropped

    def _cmd_pause(self, args: dict[str, Any]) -> DaemonStatus:
        assert self.consent is not None
        check_args("pause", args, ("minutes",))
        minutes = args.get("minutes", self.consent.machine.snooze_max_minutes)
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise BadRequest("pause: `minutes` must be a whole number")  # exit 2, as offline
        with self._lock:
            self.consent.pause(minutes)
            self._reconcile()  # returns only once every hook is removed
        return self.status()

    def _consent_cmd(self, name: str) -> Callable[[dict[str, Any]], Any]:
        def handler(args: dict[str, Any]) -> DaemonStatus:
            assert self.consent is not None
            check_args(name, args, ())
            with self._lock:
                getattr(self.consent, name)()
                self._reconcile()
            return self.status()

        return handler

    def _log_totals(self) -> None:
        assert self.pipeline is not None
        stats = self.pipeline.stats
        produced = self.queue.offered + stats.markers
        dropped = stats.dropped_total
        log.info(
            # filtered: events removed whole; redacted: key presses stored without their
            # character (those are stored, so they are not among the filtered).
            "stopped: produced=%d stored=%d dropped=%d filtered=%d redacted=%d "
            "(session %s, %d chunks)",
            produced,
            stats.stored,
            dropped,
            produced - stats.stored - dropped,
            self.pipeline.redacted_keys(),
            self.session,
            self.pipeline.writer.sealed_chunks,
        )
        if stats.error:
            log.error("the open chunk could not be sealed: %s", stats.error)

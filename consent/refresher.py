"""Keeping the fleet policy fresh, and judging it fail closed.

The daemon calls :meth:`PolicyRefresher.refresh` every ``interval`` seconds (and
:meth:`PolicyRefresher.evaluate`, which does not fetch, as often as it likes so a lease
ends on time), then :func:`apply_decision` to the consent machine.

Fail closed: capture is blocked when the policy says ``collect: false``, when its lease
has ended, when the fetched document is not authentic or not valid (bad signature,
wrong key, malformed, unknown version, older than one already accepted, dated in the
future), when the record of the newest accepted policy cannot be trusted, or when no
policy was ever obtained. An *unreachable* source alone does not block while the last
accepted policy's lease runs: that lease is exactly the time a laptop may be offline.

A refused document never replaces or drops the accepted policy: it stays in force (a
held ``collect: false`` keeps blocking), and a replayed older policy is refused at
every refresh and after every restart (:mod:`consent.policy_record`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consent.errors import PolicyError, PolicyExpired, PolicyRecordCorrupt, PolicyUnreachable
from consent.policy import Policy, check_lease, load_public_key, verify_policy
from consent.policy_record import AcceptedPolicy, check_order, load_record, save_record
from consent.sources import PolicySource
from consent.state import BLOCK_POLICY, Clock, ConsentMachine, Transition
from storage.atomic import write_atomic
from storage.errors import StorageError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60.0

COLLECTION_PAUSED = "the organisation has paused collection (fleet policy: collect is false)"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The outcome of a refresh: block (with a reason a person can read) or run."""

    checked_at: float
    policy: Policy | None  # the policy in force (None when there is none)
    block_reason: str | None  # None: the policy allows capture
    error: PolicyError | None = None  # the last fetch's problem, if any

    @property
    def blocked(self) -> bool:
        """True when capture must stop."""
        return self.block_reason is not None


class PolicyRefresher:
    """Fetches, verifies and judges the fleet policy; keeps the last accepted one.

    ``cache_path`` (optional) keeps the last accepted envelope so that an agent started
    offline can still run within that policy's lease; it is re-verified when loaded.
    ``record_path`` (optional) keeps the newest accepted ``issued_at`` and the policy's
    hash, so that rollback protection survives a restart; without it, it lasts as long
    as this object. Call it from one thread (the daemon's timer); the machine it feeds
    is thread-safe.
    """

    def __init__(
        self,
        source: PolicySource,
        pinned_key: Ed25519PublicKey | str | bytes,
        clock: Clock = time.time,
        interval: float = DEFAULT_INTERVAL,
        cache_path: Path | None = None,
        record_path: Path | None = None,
    ) -> None:
        self.source = source
        self.pinned_key = load_public_key(pinned_key)
        self.interval = interval
        self.cache_path = cache_path
        self.record_path = record_path
        self._clock = clock
        self._policy: Policy | None = None
        self._error: PolicyError | None = None
        self._last_fetch: float | None = None
        self._floor: AcceptedPolicy | None = None
        self._record_error: PolicyRecordCorrupt | None = None
        # Writes that failed (or a floor raised at load) are retried at each refresh.
        self._record_unsaved = False
        self._cache_unsaved: bytes | None = None
        self._load_state(clock())

    @property
    def policy(self) -> Policy | None:
        """The last accepted policy (possibly expired, possibly collect: false)."""
        return self._policy

    def due(self, now: float | None = None) -> bool:
        """True when ``interval`` has passed since the last fetch (or none happened)."""
        now = self._clock() if now is None else now
        return self._last_fetch is None or now - self._last_fetch >= self.interval

    def refresh(self, now: float | None = None) -> PolicyDecision:
        """Fetch and verify the policy now, then judge it (see :meth:`evaluate`)."""
        now = self._clock() if now is None else now
        self._last_fetch = now
        if self._record_error is not None:
            self._load_state(now)  # the file may have been repaired or removed since
            if self._record_error is not None:
                return self.evaluate(now)
        try:
            blob = self.source.fetch()
            policy = verify_policy(blob, self.pinned_key)
            check_order(policy, self._floor, now, self.source.location)
        except PolicyUnreachable as exc:
            self._note_error(exc, logging.WARNING)  # keep the last accepted policy
        except PolicyError as exc:
            # Not authentic, not valid, or older: blocked (see evaluate), but the accepted
            # policy stays, with its kill switch and its date as the floor.
            self._note_error(exc, logging.ERROR)
        else:
            self._accept(policy, blob)
        self._save_state()
        return self.evaluate(now)

    def evaluate(self, now: float | None = None) -> PolicyDecision:
        """Judge the policy in force at ``now`` without fetching."""
        now = self._clock() if now is None else now
        if self._record_error is not None:
            return PolicyDecision(now, None, str(self._record_error), self._record_error)
        policy, error = self._policy, self._error
        if policy is None:
            reason = "no valid fleet policy"
            return PolicyDecision(now, None, f"{reason}: {error}" if error else reason, error)
        try:
            check_lease(policy, now)
        except PolicyExpired as exc:
            reason = f"{exc}; it could not be renewed: {error}" if error else str(exc)
            return PolicyDecision(now, policy, reason, error or exc)
        if not policy.collect:
            return PolicyDecision(now, policy, COLLECTION_PAUSED, error)
        if error is not None and not isinstance(error, PolicyUnreachable):
            return PolicyDecision(now, policy, f"fleet policy refused: {error}", error)
        return PolicyDecision(now, policy, None, error)

    def _note_error(self, exc: PolicyError, level: int) -> None:
        # Logged when it changes: a source serving the same bad document would otherwise
        # add a line at every refresh.
        if self._error is None or str(self._error) != str(exc):
            what = "unreachable" if isinstance(exc, PolicyUnreachable) else "refused"
            log.log(level, "fleet policy %s: %s", what, exc)
        self._error = exc

    def _accept(self, policy: Policy, blob: bytes) -> None:
        if self._error is not None:
            log.info("fleet policy accepted again from %s", self.source.location)
        changed = policy != self._policy
        self._policy, self._error = policy, None
        floor = AcceptedPolicy.of(policy)
        if floor is not None and floor != self._floor:
            self._floor, self._record_unsaved = floor, True
        if changed and self.cache_path is not None:
            self._cache_unsaved = blob

    def _load_state(self, now: float) -> None:
        """Read the floor, then the cached policy, judged against it (at start, and again
        at each refresh while the record cannot be trusted)."""
        self._record_error, self._policy, floor = None, None, None
        if self.record_path is not None:
            try:
                floor = load_record(self.record_path, now)
            except PolicyRecordCorrupt as exc:
                log.error("%s", exc)
                self._record_error = exc
                return
        cached = self._load_cache()
        if cached is not None:
            try:
                check_order(cached, floor, now, f"{self.cache_path} (the cached policy)")
            except PolicyError as exc:
                log.warning("cached fleet policy ignored: %s", exc)
                cached = None
        if cached is not None:
            self._policy = cached
            mark = AcceptedPolicy.of(cached)
            if mark is not None and mark != floor:
                # Later than the record: it was missing (an agent from before the record)
                # or a crash fell between the two writes. The cache is signed, so it is a
                # floor we can trust.
                floor, self._record_unsaved = mark, True
        self._floor = floor

    def _load_cache(self) -> Policy | None:
        if self.cache_path is None:
            return None
        try:
            blob = self.cache_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("%s: cannot read the cached fleet policy (%s)", self.cache_path, exc)
            return None
        try:
            return verify_policy(blob, self.pinned_key)
        except PolicyError as exc:
            log.warning("%s: cached fleet policy ignored: %s", self.cache_path, exc)
            return None

    def _save_state(self) -> None:
        # The record first: a crash between the writes leaves a cache older than the
        # record, which is ignored (blocked until the next fetch), never the reverse.
        if self._record_unsaved and self._floor is not None and self.record_path is not None:
            try:
                save_record(self.record_path, self._floor)
                self._record_unsaved = False
            except StorageError as exc:
                log.error(
                    "%s: cannot keep the newest accepted fleet policy's date (%s); "
                    "rollback protection will not survive a restart until it can",
                    self.record_path,
                    exc,
                )
        if self._cache_unsaved is not None and self.cache_path is not None:
            try:
                write_atomic(self.cache_path, self._cache_unsaved, mode=0o600)
                self._cache_unsaved = None
            except StorageError as exc:
                log.warning("%s: cannot cache the fleet policy (%s)", self.cache_path, exc)


def apply_decision(machine: ConsentMachine, decision: PolicyDecision) -> list[Transition]:
    """Block or unblock ``machine`` per ``decision``; a valid policy also sets the mode
    and the snooze maximum. Returns the transitions that happened, in order."""
    out: list[Transition] = []
    if decision.block_reason is not None:
        blocked = machine.block(decision.block_reason, BLOCK_POLICY)
        return [blocked] if blocked else []
    policy = decision.policy
    assert policy is not None  # an unblocking decision always carries its policy
    machine.set_snooze_max(policy.snooze_max_minutes)
    for transition in (machine.set_mode(policy.mode), machine.unblock(BLOCK_POLICY)):
        if transition is not None:
            out.append(transition)
    return out

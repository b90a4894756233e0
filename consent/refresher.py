"""Keeping the fleet policy fresh, and judging it fail closed.

The daemon calls :meth:`PolicyRefresher.refresh` every ``interval`` seconds (and
:meth:`PolicyRefresher.evaluate`, which does not fetch, as often as it likes so a lease
ends on time), then :func:`apply_decision` to the consent machine.

Fail closed: capture is blocked when the policy says ``collect: false``, when its lease
has ended, when the fetched document is not authentic or not valid (bad signature,
wrong key, malformed, unknown version, older than one already accepted), or when no
policy was ever obtained. An *unreachable* source alone does not block while the last
accepted policy's lease runs: that lease is exactly the time a laptop may be offline.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consent.errors import PolicyError, PolicyExpired, PolicyRollback, PolicyUnreachable
from consent.policy import Policy, check_lease, load_public_key, verify_policy
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
    Call it from one thread (the daemon's timer); the machine it feeds is thread-safe.
    """

    def __init__(
        self,
        source: PolicySource,
        pinned_key: Ed25519PublicKey | str | bytes,
        clock: Clock = time.time,
        interval: float = DEFAULT_INTERVAL,
        cache_path: Path | None = None,
    ) -> None:
        self.source = source
        self.pinned_key = load_public_key(pinned_key)
        self.interval = interval
        self.cache_path = cache_path
        self._clock = clock
        self._policy: Policy | None = None
        self._error: PolicyError | None = None
        self._last_fetch: float | None = None
        self._load_cache()

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
        try:
            blob = self.source.fetch()
            policy = verify_policy(blob, self.pinned_key)
            self._check_not_older(policy)
        except PolicyUnreachable as exc:
            log.warning("fleet policy: %s", exc)
            self._error = exc  # keep the last accepted policy until its lease ends
        except PolicyError as exc:
            log.error("fleet policy refused: %s", exc)
            self._error = exc
            self._policy = None  # not authentic or not valid: fail closed at once
            self._drop_cache()
        else:
            self._policy, self._error = policy, None
            self._save_cache(blob)
        return self.evaluate(now)

    def evaluate(self, now: float | None = None) -> PolicyDecision:
        """Judge the policy in force at ``now`` without fetching."""
        now = self._clock() if now is None else now
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
        return PolicyDecision(now, policy, None, error)

    def _check_not_older(self, policy: Policy) -> None:
        held = self._policy
        if (
            held is not None
            and held.issued_at is not None
            and policy.issued_at is not None
            and policy.issued_at < held.issued_at
        ):
            raise PolicyRollback(
                f"{self.source.location}: the fleet policy was issued at "
                f"{policy.issued_at.isoformat()}, before the one already accepted "
                f"({held.issued_at.isoformat()}); a replayed old policy is refused"
            )

    def _load_cache(self) -> None:
        if self.cache_path is None:
            return
        try:
            blob = self.cache_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("%s: cannot read the cached fleet policy (%s)", self.cache_path, exc)
            return
        try:
            self._policy = verify_policy(blob, self.pinned_key)
        except PolicyError as exc:
            log.warning("%s: cached fleet policy ignored: %s", self.cache_path, exc)

    def _save_cache(self, blob: bytes) -> None:
        if self.cache_path is None:
            return
        try:
            write_atomic(self.cache_path, blob, mode=0o600)
        except StorageError as exc:
            log.warning("%s: cannot cache the fleet policy (%s)", self.cache_path, exc)

    def _drop_cache(self) -> None:
        if self.cache_path is None:
            return
        try:
            self.cache_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("%s: cannot remove the cached fleet policy (%s)", self.cache_path, exc)


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

"""Consent at run time: the state machine, its ledger and the fleet policy, together.

Every transition, whoever causes it (the person, the snooze timer, the policy, a full
disk), goes through ``record``: it becomes a line in the ledger and, when the daemon
runs, a marker in the event stream. The daemon and the CLI (when no daemon runs) use
the same object, so the rules are the same whichever way a change arrives.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from msgspec import UNSET, UnsetType

from agent.config import Config
from agent.errors import AgentError
from agent.paths import Paths
from agent.runtime.status import ConsentStatus, PolicyStatus
from capture.events import Marker
from consent.errors import ConsentError, LedgerError
from consent.ledger import Ledger
from consent.snooze_clock import boot_clock
from consent.state import ConsentMachine, Transition

if TYPE_CHECKING:
    # The fleet policy's modules (models, signature checks, fetching) are
    # imported only when a policy is configured: start-up time and memory (PERFORMANCE.md).
    from consent.policy import Policy
    from consent.refresher import PolicyDecision, PolicyRefresher

log = logging.getLogger(__name__)

MarkerSink = Callable[[Marker], None]


class ConsentRefused(AgentError):
    """A consent command cannot be carried out (too long a snooze, nothing to resume...)."""

    exit_code = 2


class ConsentRuntime:
    """The person's consent, the organisation's policy and the record of both."""

    def __init__(
        self,
        paths: Paths,
        config: Config,
        emit: MarkerSink | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = boot_clock,
    ) -> None:
        self.config = config
        self.emit = emit
        self._clock = clock
        self.machine = ConsentMachine(
            paths.consent_state,
            mode=config.consent.mode,
            clock=clock,
            snooze_max_minutes=config.consent.snooze_max_minutes,
            monotonic=monotonic,
        )
        if self.machine.load_error is not None:
            log.error("%s", self.machine.load_error)
        self.ledger = Ledger(paths.consent_ledger)
        self.refresher: PolicyRefresher | None = None
        self.decision: PolicyDecision | None = None
        self._fetched_at: float | None = None  # wall time of the last policy fetch
        policy = config.policy
        if policy.location:
            assert policy.public_key is not None  # the config requires it with a location
            from consent.refresher import PolicyRefresher
            from consent.sources import policy_source

            try:
                source = policy_source(
                    policy.location,
                    s3_endpoint_url=policy.s3_endpoint_url,
                    s3_region_name=policy.s3_region,
                )
                self.refresher = PolicyRefresher(
                    source,
                    policy.public_key,
                    clock=clock,
                    interval=policy.refresh_interval,
                    cache_path=paths.policy_cache,
                    record_path=paths.policy_record,
                )
            except ConsentError as exc:
                raise AgentError(f"{paths.config_file}: policy: {exc}") from None

    # -- transitions ---------------------------------------------------------------------

    def record(self, transitions: list[Transition | None]) -> list[Transition]:
        """Write each transition to the ledger and the stream; return those that happened."""
        done = [t for t in transitions if t is not None]
        for t in done:
            if self.emit is not None:
                self.emit(t.marker(time.monotonic()))
            try:
                self.ledger.append_transition(t)
            except (LedgerError, OSError) as exc:
                log.error("consent ledger: cannot append (%s)", exc)
            log.info("consent: %s -> %s (%s)", t.old.name.value, t.new.name.value, t.kind)
        return done

    def _person(self, action: Callable[[], Transition | None]) -> list[Transition]:
        try:
            return self.record([action()])
        except ConsentError as exc:
            raise ConsentRefused(str(exc)) from None

    def pause(self, minutes: int) -> list[Transition]:
        """Snooze for ``minutes`` (an error names the maximum when it is too long)."""
        return self._person(lambda: self.machine.snooze(minutes))

    def resume(self) -> list[Transition]:
        """End a snooze now."""
        return self._person(self.machine.resume)

    def opt_in(self) -> list[Transition]:
        """The person says yes."""
        return self._person(self.machine.opt_in)

    def opt_out(self) -> list[Transition]:
        """The person says no, until they opt in again."""
        return self._person(self.machine.opt_out)

    def tick(self) -> list[Transition]:
        """End a due snooze; refresh or re-judge the fleet policy. Call a few times a second."""
        out = self.record([self.machine.tick()])
        for t in out:
            if t.kind == "snooze_expired":
                notify("capture-agent", "Your snooze has ended; recording has resumed.")
        if self.refresher is not None:
            from consent.refresher import apply_decision

            if self.refresher.due():
                self._fetched_at = self._clock()
                decision = self.refresher.refresh()
            else:
                decision = self.refresher.evaluate()
            self.decision = decision
            out += self.record(list(apply_decision(self.machine, decision)))
        return out

    def seconds_to_tick(self) -> float | None:
        """Seconds until ``tick`` has something to do: a snooze ends, the policy is due
        to be fetched again or its lease ends (None: nothing is scheduled). The daemon
        sleeps until then instead of ticking a few times a second."""
        left = [self.machine.snooze_seconds_left()]
        if self.refresher is not None:
            now = self._clock()
            fetched = self._fetched_at
            # A hair after the interval, so that ``due`` is surely true by then.
            left.append(0.0 if fetched is None else fetched + self.refresher.interval - now + 0.01)
            policy = self.refresher.policy
            if policy is not None and policy.not_after_ts > now:
                left.append(policy.not_after_ts - now + 0.01)
        known = [max(0.0, x) for x in left if x is not None]
        return min(known) if known else None

    def block(self, reason: str, source: str) -> list[Transition]:
        """Block capture for a system reason (a full disk)."""
        return self.record([self.machine.block(reason, source)])

    def unblock(self, source: str) -> list[Transition]:
        """Lift a system block."""
        return self.record([self.machine.unblock(source)])

    # -- reading -------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        """True when capture may run now."""
        return self.machine.is_recording

    @property
    def policy(self) -> Policy | None:
        """The fleet policy in force, if one is configured and accepted."""
        return self.refresher.policy if self.refresher is not None else None

    def status_record(self) -> ConsentStatus:
        """The consent part of `status`: state, minutes left, choice, mode, policy."""
        state = self.machine.state
        # The time left runs on the monotonic clock; the wall clock only names the end.
        left = self.machine.snooze_seconds_left() if state.until is not None else None
        until = state.until if left is None else self._clock() + left
        policy: PolicyStatus | UnsetType = UNSET
        if self.refresher is not None:
            current = self.policy
            error = self.decision.error if self.decision else None
            policy = PolicyStatus(
                location=self.config.policy.location,
                collect=current.collect if current else None,
                not_after=current.not_after_ts if current else None,
                max_sensitivity=current.max_sensitivity if current else None,
                error=str(error) if error else None,
            )
        load_error = self.machine.load_error
        return ConsentStatus(
            state=state.name.value,
            until=UNSET if until is None else until,
            seconds_left=UNSET if left is None else left,
            reason=UNSET if state.reason is None else state.reason,
            minutes_left=None if left is None else round(left / 60.0, 1),
            choice=self.machine.choice.value,
            mode=self.machine.mode,
            snooze_max_minutes=self.machine.snooze_max_minutes,
            blocks=self.machine.blocks,
            state_error=UNSET if load_error is None else str(load_error),
            policy=policy,
        )


def notify(title: str, body: str) -> None:
    """Show a desktop notification where one is available (notify-send); never blocks."""
    tool = shutil.which("notify-send")
    if tool is None:
        return
    with contextlib.suppress(OSError):
        subprocess.Popen(
            [tool, "--app-name=capture-agent", title, body],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

"""The stage chain every event passes between the queue and the chunk writer.

A stage is either a plain callable ``event -> event | None`` (None drops the event), or
a *buffering* stage (an object with ``process``, ``tick`` and ``flush``) that may hold
events back for a moment (typed text is judged a word or a line at a time) and release
them later. Privacy fails closed: a stage that raises drops the event and counts it.

Type dispatch (the chain runs per event, so most events should skip most stages): a
stage may declare ``acts_on``, the event classes it may change, drop, hold or learn
from; for any other class it would return the event untouched, so the chain does not
call it. A buffering stage may also declare ``passes_when_idle``, the classes it passes
through untouched while its ``idle`` attribute (or property) is true (nothing held, no
suppression running); the chain then skips it for those. A pointer move thus costs the
consent gate, two ``idle`` reads and the sensitivity filter.

The chain keeps counts of what each stage removed, by stage name and category; the
writer copies them into each chunk's manifest (counts and categories only, never
content). A plain stage's None is counted by the chain (category: the event type); a
stage that removes things the chain cannot see (a buffering stage that drops, a
redactor that removes characters) may offer ``take_removed() -> dict[str, int]``,
which the chain merges into its counts.

Lost input: when the queue drops events the pipeline calls ``gap_opened`` and, once
every event that may come before the lost ones has passed, ``gap_closed``; the chain
passes both on to every stage that has them (the typed-text buffer withholds what it
cannot judge any more).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast, runtime_checkable

from capture.events import Event, Stage

log = logging.getLogger(__name__)


@runtime_checkable
class BufferingStage(Protocol):
    """A stage that may hold events back and release them later, in order."""

    name: str

    def process(self, event: Event) -> list[Event]:
        """Take one event; return the events released now (possibly none)."""
        ...

    def tick(self, now_mono: float) -> list[Event]:
        """Release what has waited long enough (called a few times a second)."""
        ...

    def flush(self) -> list[Event]:
        """Release everything held (pause, rotation, stop)."""
        ...


AnyStage = Stage | BufferingStage

_Step = tuple[int, Callable[[Event], Any], bool, Any]
"""One stage in a per-class plan: its index, what to call, whether it is a plain stage,
and the stage itself when it may be skipped while ``idle`` (else None)."""


def stage_name(stage: AnyStage) -> str:
    """The name used for a stage in counts: its ``name`` attribute or function name."""
    name = getattr(stage, "name", None) or getattr(stage, "__name__", None)
    return str(name or type(stage).__name__)


class Chain:
    """Runs events through the stages in order, failing closed."""

    def __init__(self, stages: Sequence[AnyStage] = ()) -> None:
        self.stages = list(stages)
        self._names = [stage_name(s) for s in self.stages]
        # isinstance on a runtime-checkable Protocol costs microseconds: decide once.
        self._buffering = [isinstance(s, BufferingStage) for s in self.stages]
        self.removed: dict[str, dict[str, int]] = {}
        self._plans: dict[type, tuple[_Step, ...]] = {}

    def count_removed(self, stage: str, category: str, n: int = 1) -> None:
        """Record that ``stage`` removed ``n`` items of ``category``."""
        per = self.removed.setdefault(stage, {})
        per[category] = per.get(category, 0) + n

    def take_removed(self) -> dict[str, dict[str, int]]:
        """Return and reset the removal counts (the writer calls this per chunk)."""
        for index, stage in enumerate(self.stages):
            take = getattr(stage, "take_removed", None)
            if callable(take):
                try:
                    counts = take()
                except Exception as exc:
                    log.error(
                        "stage %s failed to report its counts (%s)",
                        self._names[index],
                        type(exc).__name__,
                    )
                    continue
                for category, n in dict(counts).items():
                    if n:
                        self.count_removed(self._names[index], str(category), int(n))
        out, self.removed = self.removed, {}
        return out

    def gap_opened(self) -> None:
        """Events were lost upstream (a full queue): tell the stages that care."""
        self._signal("gap_opened")

    def gap_closed(self) -> None:
        """Every event that may precede the lost ones has passed through the chain."""
        self._signal("gap_closed")

    def _signal(self, name: str) -> None:
        for index, stage in enumerate(self.stages):
            call = getattr(stage, name, None)
            if not callable(call):
                continue
            try:
                call()
            except Exception as exc:
                log.error(
                    "stage %s failed on %s (%s)", self._names[index], name, type(exc).__name__
                )
                self.count_removed(self._names[index], "stage_error")

    def process(self, event: Event) -> list[Event]:
        """Pass one event through every stage; return what comes out, in order."""
        plan = self._plans.get(event.__class__)
        if plan is None:
            plan = self._plan(event.__class__)
        # The common case, kept lean: one event in, at most one out, no list built until
        # the end. A buffering stage that releases other than one event hands over to
        # the general path.
        for index, call, plain, idle_pass in plan:
            try:  # free in CPython 3.11 unless something raises
                if idle_pass is not None and idle_pass.idle:
                    continue
                result = call(event)
            except Exception as exc:
                self._failed(index, exc)
                return []
            if plain:
                if result is None:
                    self.count_removed(self._names[index], event.type)
                    return []
                event = result
                continue
            released: list[Event] = result
            if len(released) != 1:
                return self._run(released, index + 1) if released else released
            event = released[0]
        return [event]

    def _plan(self, cls: type) -> tuple[_Step, ...]:
        """The stages an event of ``cls`` must visit, and how (decided once per class)."""
        plan: list[_Step] = []
        for index, stage in enumerate(self.stages):
            acts_on = getattr(stage, "acts_on", None)
            if acts_on is not None and cls not in acts_on:
                continue
            if not self._buffering[index]:
                plan.append((index, cast(Stage, stage), True, None))
                continue
            idle_pass = cls in getattr(stage, "passes_when_idle", ()) and hasattr(stage, "idle")
            plan.append(
                (index, cast(BufferingStage, stage).process, False, stage if idle_pass else None)
            )
        self._plans[cls] = result = tuple(plan)
        return result

    def tick(self, now_mono: float) -> list[Event]:
        """Let buffering stages release what has waited long enough."""
        return self._release(lambda s: s.tick(now_mono))

    def flush(self) -> list[Event]:
        """Release everything every buffering stage holds."""
        return self._release(lambda s: s.flush())

    def _release(self, take: object) -> list[Event]:
        out: list[Event] = []
        for index, stage in enumerate(self.stages):
            if self._buffering[index]:
                try:
                    released = take(stage)  # type: ignore[operator]
                except Exception as exc:
                    # Only the exception's type is logged: its message may quote content.
                    log.error(
                        "stage %s failed while releasing (%s); its events are dropped",
                        self._names[index],
                        type(exc).__name__,
                    )
                    self.count_removed(self._names[index], "stage_error")
                    continue
                out.extend(self._run(released, index + 1))
        return out

    def _run(self, events: list[Event], start: int) -> list[Event]:
        """The general path: several events through stages ``start`` onwards (every
        stage visited; released events are rare)."""
        stages = self.stages
        buffering = self._buffering
        for index in range(start, len(stages)):
            stage = stages[index]
            nxt: list[Event] = []
            for event in events:
                try:
                    if buffering[index]:
                        nxt.extend(cast(BufferingStage, stage).process(event))
                        continue
                    result = cast(Stage, stage)(event)
                except Exception as exc:
                    self._failed(index, exc)
                    continue
                if result is None:
                    self.count_removed(self._names[index], event.type)
                else:
                    nxt.append(result)
            events = nxt
            if not events:
                break
        return events

    def _failed(self, index: int, exc: Exception) -> None:
        # Fail closed: never let an event through a filter that broke on it.
        # Only the exception's type is logged: its message may quote content.
        log.error("stage %s failed (%s); event dropped", self._names[index], type(exc).__name__)
        self.count_removed(self._names[index], "stage_error")

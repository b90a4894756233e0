"""The one small interface every capture source implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from capture.events import Emit


@runtime_checkable
class Source(Protocol):
    """A producer of events.

    ``start(emit)`` installs hooks or starts a thread and returns promptly; from then on
    the source calls ``emit(event)`` for each event. ``emit`` never blocks. ``stop()``
    removes every hook and joins every thread the source started, and returns only when
    no further ``emit`` call can happen. A source that cannot run here raises
    ``capture.errors.SourceUnavailable`` from ``start`` with a reason a person can act on.
    """

    name: str

    def start(self, emit: Emit) -> None: ...

    def stop(self) -> None: ...

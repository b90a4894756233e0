"""Progress bars for long local work (`export --frames`, `verify`), on a terminal only.

A bar is drawn on standard error with rich, and only when standard error is a terminal:
a script or a log file reads the final line each command prints, never bar frames.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

ProgressFn = Callable[[int, int], None]
"""``update(done, total)``: how many of the items are finished."""


def wanted() -> bool:
    """Whether a bar should be drawn: standard error is a terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


@contextlib.contextmanager
def progress_bar(label: str, unit: str, enabled: bool | None = None) -> Iterator[ProgressFn]:
    """A transient bar labelled ``label`` counting ``unit`` (e.g. "chunks"); an update
    function that does nothing when no bar is drawn (``enabled`` None: :func:`wanted`)."""
    if not (wanted() if enabled is None else enabled):
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update

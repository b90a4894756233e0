"""What a running agent has seen, from its `status --json`: conditions for tests to wait on.

Counts only (the status holds no content): events the pipeline judged, screen grabs,
lines in the agent's log. A test waits until a count has grown past what it read
before acting, instead of sleeping and hoping the agent kept up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_helpers import run_cli

GRAB_OUTCOMES = ("frames", "unchanged_skipped", "withheld", "grab_errors")


def running_status(home: Path) -> dict[str, Any] | None:
    """The agent's status while it runs, else None."""
    done = run_cli(home, "status", "--json")
    if done.returncode != 0:
        return None
    now: dict[str, Any] = json.loads(done.stdout)
    return now if now.get("running") else None


def non_frame_events(home: Path) -> int | None:
    """Events the running agent's pipeline has judged, frames left out (None: not running).

    Gated and filtered events count too: the pipeline judged them.
    """
    now = running_status(home)
    return None if now is None else int(now["events_processed"] - now["screen"]["frames"])


def screen_grabs(home: Path) -> int | None:
    """Grabs the running agent's screen source judged: frames, skips, withheld, errors."""
    now = running_status(home)
    return None if now is None else int(sum(now["screen"][k] for k in GRAB_OUTCOMES))


def logged(home: Path, text: str) -> bool:
    """Whether the agent's log has a line containing ``text``."""
    log = home / "logs" / "agent.log"
    return log.exists() and text in log.read_text(errors="replace")

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


def consent_reply(state: str = "recording", **changes: Any) -> dict[str, Any]:
    """The ``consent`` part of a `status` reply, every key as the daemon sends it."""
    choice = {
        "recording": "opted_in",
        "snoozed": "snoozed",
        "opted_out": "opted_out",
        "no_consent": "undecided",
    }.get(state, "opted_in")
    return {
        "state": state,
        "choice": choice,
        "mode": "opt-in",
        "snooze_max_minutes": 30,
        "blocks": {},
        "minutes_left": None,
        **changes,
    }


def daemon_reply(**changes: Any) -> dict[str, Any]:
    """A whole `status` reply of a running daemon (agent.runtime.status.DaemonStatus)."""
    return {
        "running": True,
        "pid": 4242,
        "state": "recording",
        "consent": consent_reply(),
        "blocked_reason": None,
        "capture_error": None,
        "storage_error": None,
        "health": [],
        "scope": {
            "keys": True,
            "mouse": True,
            "window": True,
            "screen": True,
            "min_frame_interval": 1.0,
        },
        "sources": ["input", "window", "screen"],
        "sources_running": True,
        "screen": {
            "frames": 12,
            "withheld": 1,
            "unchanged_skipped": 30,
            "grab_errors": 0,
            "masked": {"window": {"denied_window": 2}},
            "withheld_reasons": {"denied_focused": 1},
            "scrub_withheld": 0,
            "scrub_masked": {"payment_card": 1},
            "scrub_engine": "tesseract 5.3.0",
            "scrub_cpu_s": 0.42,
            "scrub_error": None,
            "holds": 7,
            "holds_stored": 3,
        },
        "session": "20240101T000000Z-abcdef",
        "started_ts": 1_000_000.5,
        "uptime_s": 600.2,
        "events_per_second": 3.5,
        "events_processed": 2100,
        "events_stored": 2000,
        "events_filtered": 100,
        "dropped": {"mouse_move": 3},
        "dropped_total": 3,
        "queue_length": 0,
        "removed": {"typed_text": {"email": 2}, "denylist": {"window": 1}},
        "keys_redacted": 12,
        "open_chunk_events": 40,
        "chunks_sealed": 5,
        "last_sealed_ts": 1_000_590.25,
        "buffered_chunks": 5,
        "buffered_bytes": 123456,
        "data_dir": "/home/someone/.local/share/capture-agent/sessions",
        "upload": None,
        "focus_denied": False,
        **changes,
    }

"""The tray icon (work in progress)."""

from __future__ import annotations

from agent.errors import AgentError


def run_tray() -> int:
    """Run the tray icon until Quit."""
    raise AgentError("the tray is not built yet")

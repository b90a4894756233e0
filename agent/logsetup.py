"""Logging: a 0600 file in the log folder plus standard error. Never captured content.

Every log call in this project passes counts, names of stages and sources, session ids
and error types, never typed text, window titles or pixels; this module only decides
where those lines go.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from agent.paths import ensure_private_dir

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path | None, level: str = "info", stderr: bool = True) -> None:
    """Send log records to ``log_file`` (created 0600) and, if asked, to standard error."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level.upper())
    formatter = logging.Formatter(FORMAT)
    if log_file is not None:
        ensure_private_dir(log_file.parent)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("capture-agent: %(levelname)s: %(message)s"))
        root.addHandler(console)

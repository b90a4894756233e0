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
from storage import safe_fs

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    log_file: Path | None, level: str = "info", stderr: bool = True, root: Path | None = None
) -> None:
    """Send log records to ``log_file`` (created 0600) and, if asked, to standard error.

    The file is opened once, without following links in it or in its folders below
    ``root`` (default: its folder), and must be the running user's
    (storage/safe_fs.py): a planted ``logs/agent.log -> /etc/...`` is refused, never
    appended to.
    """
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = []
    if log_file is not None:
        # Opened before the old handlers go: a refused file leaves logging as it was.
        ensure_private_dir(log_file.parent, root)
        fd = safe_fs.open_file(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600, root)
        os.fchmod(fd, 0o600)
        handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
        handler.setFormatter(formatter)
        handlers.append(handler)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("capture-agent: %(levelname)s: %(message)s"))
        handlers.append(console)
    logger = logging.getLogger()
    logger.handlers.clear()
    logger.setLevel(level.upper())
    for each in handlers:
        logger.addHandler(each)

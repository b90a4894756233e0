"""Helpers every `capture-agent` command module shares: output, the home, the data folder."""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import UsageError
from agent.paths import Paths, check_home_permissions, resolve_paths

if TYPE_CHECKING:
    # The configuration's modules (msgspec, pyrage for the recipient check) are slow
    # and large to import (PERFORMANCE.md): commands that only talk to the running
    # daemon (status, pause, resume, opt-in/out) never load them.
    from agent.config import Config
    from agent.runtime.status import ConsentStatus

EXIT_DATA_PROBLEM = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3

IDENTITY_HELP = "age identity file to decrypt with (default: your own key)"


def out(text: str = "") -> None:
    """Write one line to standard output."""
    sys.stdout.write(text + "\n")


def load_home_config(paths: Paths) -> Config:
    """The home's configuration; loose permissions on the agent's files are repaired, said."""
    from agent.config import load_config

    # Before the config is read: a planted link (config.toml included) is refused first.
    for message in check_home_permissions(paths):
        sys.stderr.write(f"capture-agent: warning: {message}\n")
    config = load_config(paths.config_file)
    if config.storage.data_dir:
        # A data folder set in the config is known only now; the home's is checked above.
        for message in check_home_permissions(paths.with_data_dir(config.storage.data_dir)):
            sys.stderr.write(f"capture-agent: warning: {message}\n")
    return config


def home() -> tuple[Paths, Config]:
    """The resolved paths and the validated configuration."""
    paths = resolve_paths()
    return paths, load_home_config(paths)


def sessions_dir(paths: Paths, config: Config) -> Path:
    """The folder that holds one sub-folder of chunks per session."""
    return paths.with_data_dir(config.storage.data_dir).sessions_dir


def identities(paths: Paths, files: list[str] | None) -> list[Any]:
    """The given identity files, else every identity of the person (current and retired)."""
    from storage.keys import load_age_identity
    from storage.keystore import load_identities

    if files:
        for name in files:
            if not Path(name).is_file():
                raise UsageError(f"--identity {name}: no such file (give an age identity file)")
        return [load_age_identity(Path(f)) for f in files]
    return load_identities(paths.keys_dir)


def human_bytes(n: float) -> str:
    """A byte count for people: ``512 B``, ``1.5 KB``, ``23.4 MB`` (powers of 1000)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def when(ts: float | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS``, or ``-`` when there is none."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def minutes_words(seconds: float) -> str:
    """A duration in whole minutes for people, rounded up: '30 minutes', '1 minute'."""
    minutes = max(1, math.ceil(seconds / 60 - 1e-9))
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


def snooze_left(status: ConsentStatus) -> str:
    """'12 minutes left (until 14:35)' for a snooze (its end in local wall time)."""
    seconds = status.seconds_left
    if isinstance(seconds, (int, float)):
        left = minutes_words(seconds)
    elif status.minutes_left is not None:
        left = minutes_words(status.minutes_left * 60)
    else:
        left = "some minutes"
    return f"{left} left{until_clock(status.until_or_none)}"


def until_clock(until: object) -> str:
    """A snooze's end as ' (until 14:35)' in local wall time; '' when none can be shown."""
    if isinstance(until, bool) or not isinstance(until, (int, float)):
        return ""
    try:
        return f" (until {dt.datetime.fromtimestamp(until).strftime('%H:%M')})"
    except (OverflowError, OSError, ValueError):
        return ""


LATEST = "latest"


def stored_sessions(sessions: Path) -> list[str]:
    """The ids of sessions with at least one stored chunk, oldest first (ids sort by start)."""
    from storage.reader import list_chunks

    return sorted({ref.session for ref in list_chunks(sessions)})


SESSION_HELP = "only this session: its id, a unique start of it, or `latest`"


def resolve_session(sessions: Path, text: str) -> str:
    """The stored session ``text`` names: an exact id, ``latest``, or a unique prefix.

    Every ``--session`` goes through here (or :func:`match_session`), so each command
    reads the same ids and fails the same way: a value naming no stored session, or
    several, is a UsageError (exit 2) that says how to find the right one.
    """
    return match_session(stored_sessions(sessions), text, f"in {sessions}")


def match_session(known: list[str], text: str, where: str) -> str:
    """The one id of ``known`` (sorted oldest first) that ``text`` names; else UsageError."""
    if text == LATEST:
        if not known:
            raise UsageError(f"--session latest: no session is stored {where}")
        return known[-1]
    if text in known:
        return text
    matches = [s for s in known if s.startswith(text)] if text else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise UsageError(
            f"--session {text!r} matches {len(matches)} sessions ({shown}); give more of the id"
        )
    raise UsageError(
        f"--session {text!r}: no session {where} has that id or starts with it "
        "(`capture-agent ls` lists them; `latest` is the newest)"
    )

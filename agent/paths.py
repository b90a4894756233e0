"""Where the agent keeps things: one home folder, like GNUPGHOME.

With ``CAPTURE_AGENT_HOME=DIR`` everything (config.toml, keys, data, control socket,
logs) lives under DIR. Without it the platform's user directories are used
(platformdirs): config and keys in the config dir, chunks in the data dir, the socket in
the runtime dir and logs in the log dir.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from storage import safe_fs
from storage.errors import UnsafePath

APP_NAME = "capture-agent"
HOME_ENV = "CAPTURE_AGENT_HOME"


@dataclass(frozen=True)
class Paths:
    """Every location the agent reads or writes."""

    config_dir: Path
    data_dir: Path
    runtime_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        """The TOML configuration file."""
        return self.config_dir / "config.toml"

    @property
    def keys_dir(self) -> Path:
        """Private keys (0700 folder, 0600 files)."""
        return self.config_dir / "keys"

    @property
    def sessions_dir(self) -> Path:
        """Sealed chunks, one folder per session (the configured data folder's: see
        :meth:`with_data_dir`)."""
        return self.data_dir / "sessions"

    @property
    def socket_path(self) -> Path:
        """The control socket the CLI and tray talk to."""
        return self.runtime_dir / "control.sock"

    @property
    def lock_path(self) -> Path:
        """Held (flock) by the running daemon; also tells whether one runs."""
        return self.runtime_dir / "agent.lock"

    @property
    def status_path(self) -> Path:
        """The daemon's last published counters (numbers only, no content)."""
        return self.runtime_dir / "status.json"

    @property
    def consent_state(self) -> Path:
        """The person's consent choice, persisted across restarts."""
        return self.config_dir / "consent-state.json"

    @property
    def consent_ledger(self) -> Path:
        """The append-only, hash-chained record of every consent change."""
        return self.config_dir / "consent-ledger.jsonl"

    @property
    def policy_cache(self) -> Path:
        """The last accepted fleet policy (re-verified when loaded)."""
        return self.config_dir / "policy-cache.json"

    @property
    def policy_record(self) -> Path:
        """The newest accepted fleet policy's date and hash: rollback protection."""
        return self.config_dir / "policy-accepted.json"

    @property
    def person_denylist(self) -> Path:
        """The person's own additions to the denylist (privacy/person_denylist.py)."""
        return self.config_dir / "denylist.toml"

    @property
    def log_file(self) -> Path:
        """The daemon's log (never holds captured content)."""
        return self.log_dir / "agent.log"

    def with_data_dir(self, configured: str | None) -> Paths:
        """These paths with the data folder ``[storage] data_dir`` names (unset: unchanged).

        The one place that setting is resolved (``~`` expanded, a relative path taken from
        the config folder): the daemon, the CLI, the tray and `doctor` find the chunks
        through it, and :func:`check_home_permissions` on the result checks that folder.
        """
        if not configured:
            return self
        base = Path(configured).expanduser()
        return replace(self, data_dir=base if base.is_absolute() else self.config_dir / base)

    def roots(self) -> list[Path]:
        """The folders the person chose (or the platform gave): links above them are
        followed, none below them (storage/safe_fs.py)."""
        return [self.config_dir, self.data_dir, self.runtime_dir, self.log_dir]

    def root_of(self, path: Path) -> Path:
        """The outermost root holding ``path``; a path outside every root (a data folder
        set in the config) is its own root."""
        holders = [r for r in self.roots() if path == r or r in path.parents]
        return min(holders, key=lambda r: len(r.parts)) if holders else path

    def all_dirs(self) -> list[Path]:
        """Every folder the agent creates, private (0700)."""
        return [
            self.config_dir,
            self.keys_dir,
            self.data_dir,
            self.sessions_dir,
            self.runtime_dir,
            self.log_dir,
        ]


def resolve_paths(environ: dict[str, str] | None = None) -> Paths:
    """Paths from ``CAPTURE_AGENT_HOME`` if set, else the platform's user directories."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().absolute()
        return Paths(
            config_dir=root, data_dir=root / "data", runtime_dir=root, log_dir=root / "logs"
        )
    import platformdirs

    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    runtime = _runtime_dir(dirs, env)
    return Paths(
        config_dir=Path(dirs.user_config_dir),
        data_dir=Path(dirs.user_data_dir),
        runtime_dir=runtime,
        log_dir=Path(dirs.user_log_dir),
    )


def _runtime_dir(dirs: Any, env: Mapping[str, str]) -> Path:
    """The socket's folder. Without XDG_RUNTIME_DIR (sudo, ssh, cron) the login session's
    own ``/run/user/UID`` is used when it exists and is ours, so such a command finds the
    agent a desktop session started; else platformdirs' fallback, whose warning becomes
    one line of ours (``main``'s warning format), never a raw Python warning."""
    if sys.platform.startswith("linux") and not env.get("XDG_RUNTIME_DIR"):
        session = Path(f"/run/user/{os.geteuid()}")
        with contextlib.suppress(OSError):
            st = session.lstat()
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
                return session / APP_NAME
    return Path(dirs.user_runtime_dir)


def ensure_private_dir(path: Path, root: Path | None = None) -> None:
    """Create ``path`` (and parents) 0700, refusing a link or another user's folder at or
    below ``root`` (default: ``path`` itself is checked, its parents are not)."""
    safe_fs.ensure_dir(path, root)


def check_home_permissions(paths: Paths) -> list[str]:
    """Make the agent's folders 0700 and its files 0600; return a message per repair.

    Keys and chunks readable by other local users would undo the encryption's point, so
    looser modes are repaired at every start (and said so, since something may already
    have been read). A folder or file that is a symbolic link, another user's or of the
    wrong type cannot be trusted at all and is refused with ConfigError naming it, before
    anything is written; only ``fchmod`` on a descriptor opened without following links
    ever changes a mode. Only the agent's own paths are looked at, never parents.
    ``paths`` should carry the configured data folder (:meth:`Paths.with_data_dir`), or
    a ``[storage] data_dir`` elsewhere goes unchecked.
    """
    from agent.errors import ConfigError

    try:
        return _check_home(paths)
    except UnsafePath as exc:
        raise ConfigError(str(exc)) from None


def _check_home(paths: Paths) -> list[str]:
    messages: list[str] = []
    folders = [*paths.all_dirs()]
    keys_retired = paths.keys_dir / "retired"
    folders.append(keys_retired)
    for folder in dict.fromkeys(folders):
        old = safe_fs.make_private(folder, paths.root_of(folder), directory=True, mode=0o700)
        if old is not None:
            messages.append(
                f"{folder} was accessible to others (mode {old:03o}); made private (0700)"
            )
    for folder in _subfolders(paths.sessions_dir):
        old = safe_fs.make_private(folder, paths.root_of(folder), directory=True, mode=0o700)
        if old is not None:
            messages.append(
                f"{folder} was accessible to others (mode {old:03o}); made private (0700)"
            )
    # Key files, config, consent state: a file others could read may already be copied,
    # so the message says to consider rotating. Only the agent's own files are touched:
    # with CAPTURE_AGENT_HOME the home may hold other things of the person's.
    own = [
        paths.config_file,
        paths.consent_state,
        paths.consent_ledger,
        paths.consent_ledger.with_name(paths.consent_ledger.name + ".head"),
        paths.policy_cache,
        paths.policy_record,
        paths.person_denylist,
        paths.status_path,
        paths.lock_path,
        paths.log_file,
        paths.data_dir / "deletions.jsonl",
    ]
    for folder in (paths.keys_dir, keys_retired):
        own += [p for p in _entries(folder) if not _is_plain_dir(p)]
    own += [p for p in _entries(paths.log_dir) if p.name.startswith(paths.log_file.name)]
    for path in dict.fromkeys(own):
        old = safe_fs.make_private(path, paths.root_of(path), directory=False, mode=0o600)
        if old is None:
            continue
        hint = (
            " (if others could read it, run `capture-agent keys rotate`)"
            if path.parent in (paths.keys_dir, keys_retired)
            else ""
        )
        messages.append(
            f"{path} was readable by others (mode {old:03o}); made private (0600){hint}"
        )
    return messages


def _entries(folder: Path) -> list[Path]:
    """What ``folder`` holds (nothing when it is missing); links are listed, not followed."""
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _is_plain_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _subfolders(folder: Path) -> list[Path]:
    """Entries of ``folder`` that are folders or links (a link is refused when checked)."""
    out: list[Path] = []
    for entry in _entries(folder):
        try:
            mode = entry.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
            out.append(entry)
    return out

"""Where the agent keeps things: one home folder, like GNUPGHOME.

With ``CAPTURE_AGENT_HOME=DIR`` everything (config.toml, keys, data, control socket,
logs) lives under DIR. Without it the platform's user directories are used
(platformdirs): config and keys in the config dir, chunks in the data dir, the socket in
the runtime dir and logs in the log dir.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

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
        """Sealed chunks, one folder per session."""
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
    runtime = Path(dirs.user_runtime_dir)
    return Paths(
        config_dir=Path(dirs.user_config_dir),
        data_dir=Path(dirs.user_data_dir),
        runtime_dir=runtime,
        log_dir=Path(dirs.user_log_dir),
    )


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (path.stat().st_mode & 0o777) != 0o700:
        path.chmod(0o700)


def check_home_permissions(paths: Paths) -> list[str]:
    """Make the agent's folders 0700 and its files 0600; return a message per repair.

    Keys and chunks readable by other local users would undo the encryption's point, so
    looser modes are repaired at every start (and said so, since something may already
    have been read). A folder owned by another user cannot be trusted at all and is
    refused with ConfigError. Only the agent's own folders are looked at, never parents.
    """
    from agent.errors import ConfigError

    messages: list[str] = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    seen: set[Path] = set()
    folders = [*paths.all_dirs()]
    if paths.sessions_dir.is_dir():
        folders += [p for p in paths.sessions_dir.iterdir() if p.is_dir()]
    keys_retired = paths.keys_dir / "retired"
    if keys_retired.is_dir():
        folders.append(keys_retired)
    for folder in folders:
        if folder in seen:
            continue
        seen.add(folder)
        try:
            st = folder.stat()
        except OSError:
            continue  # not created yet
        if uid is not None and st.st_uid != uid:
            raise ConfigError(
                f"{folder}: owned by another user (uid {st.st_uid}); refusing to "
                "use it. Choose a home you own (CAPTURE_AGENT_HOME)"
            )
        if st.st_mode & 0o077:
            folder.chmod(0o700)
            messages.append(
                f"{folder} was accessible to others "
                f"(mode {st.st_mode & 0o777:03o}); made private (0700)"
            )
    # Key files, config, consent state: a file others could read may already be copied,
    # so the message says to consider rotating. Only the agent's own files are touched:
    # with CAPTURE_AGENT_HOME the home may hold other things of the person's.
    own = {
        paths.config_file,
        paths.consent_state,
        paths.consent_ledger,
        paths.policy_cache,
        paths.person_denylist,
        paths.status_path,
        paths.lock_path,
        paths.data_dir / "deletions.jsonl",
    }
    candidates = list(own)
    for folder in (paths.keys_dir, keys_retired):
        if folder.is_dir():
            candidates += list(folder.iterdir())
    if paths.log_dir.is_dir():
        candidates += list(paths.log_dir.glob(paths.log_file.name + "*"))
    for path in candidates:
        try:
            st = path.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
            continue
        path.chmod(0o600)
        hint = (
            " (if others could read it, run `capture-agent keys rotate`)"
            if path.parent in (paths.keys_dir, keys_retired)
            else ""
        )
        messages.append(
            f"{path} was readable by others (mode {st.st_mode & 0o777:03o}); "
            f"made private (0600){hint}"
        )
    return messages

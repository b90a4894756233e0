"""Errors the CLI turns into one clear line and an exit code (never a traceback).

AgentError (exit 1)
├── ConfigError (exit 78)        the config file is missing, unreadable or invalid
├── NotInitialised (exit 78)     no home yet: run `capture-agent init`
├── AlreadyRunning (exit 75)     another daemon holds the home's lock
├── UsageError (exit 2)          a value that names nothing (an unknown --session...)
├── NotRunning (exit 3)          the daemon is needed but not running
└── CannotCapture (exit 69)      no display, Wayland, unwritable data folder...
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of the errors a person can act on; ``exit_code`` follows sysexits.h."""

    exit_code = 1


class ConfigError(AgentError):
    """The configuration is missing, unreadable or invalid; the message names file and key."""

    exit_code = 78


class NotInitialised(AgentError):
    """The home has no configuration yet."""

    exit_code = 78


class AlreadyRunning(AgentError):
    """Another daemon already runs on this home."""

    exit_code = 75


class UsageError(AgentError):
    """A command-line value that is malformed or names nothing stored (exit 2)."""

    exit_code = 2


class NotRunning(AgentError):
    """The command needs the running daemon."""

    exit_code = 3


class CannotCapture(AgentError):
    """Capture cannot start here (display, permissions, storage)."""

    exit_code = 69

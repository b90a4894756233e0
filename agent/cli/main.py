"""The `capture-agent` command line: one clear line and an exit code for every mistake.

This module holds only the top-level parser, ``--version``, dispatch and the one mapping
from errors to exit codes; each command lives in a module of this package named for its
topic, which adds it to the parser with ``register(sub)``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from agent.cli import (
    consent,
    deletion,
    keys,
    privacy,
    records,
    run,
    setup,
    status,
    tray,
    upload,
    view,
)
from agent.cli.common import EXIT_DATA_PROBLEM, EXIT_USAGE
from agent.errors import AgentError, ConfigError
from org import cli as org_cli
from org.errors import OrgError
from privacy.errors import PrivacyError
from storage.errors import StorageError

DESCRIPTION = """\
Records mouse, keyboard, window and screen events for training computer-use AI, into
chunks encrypted to the organisation's key and your own. Nothing is stored unencrypted.

Set CAPTURE_AGENT_HOME=DIR to keep everything (config, keys, data, socket, logs) in DIR.
"""

EPILOG = """\
examples:
  capture-agent init                      create a home (with a local demo organisation key)
  capture-agent run                       record in the foreground until Ctrl-C
  capture-agent status                    is it running, what is buffered
  capture-agent ls                        list the chunks stored on this machine
  capture-agent export > events.jsonl     decrypt what is recorded about you

exit codes (every command): 0 ok, 1 a data problem (a chunk that does not verify, a
daemon that did not answer, an output that cannot be written), 2 a usage error (also an
unknown --session or a refused consent command), 3 the agent is not running, 69 capture
cannot start here, 75 already running, 78 configuration missing or invalid
"""

# The order of `--help`'s command list: set up, record, look, decide, send, delete, and
# the organisation's side last.
COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    setup.register,  # init, service, doctor
    run.register,  # run
    status.register,  # status
    records.register,  # ls, export, verify
    view.register,  # view
    consent.register,  # pause, resume, opt-in, opt-out, consent log
    upload.register,  # upload
    deletion.register,  # forget, purge
    keys.register,  # keys show, keys rotate
    tray.register,  # tray
    privacy.register,  # privacy check, check-window, deny, denylist
    org_cli.register,  # org keygen, sign-policy, pull, verify
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not a usage dump, for mistakes
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse drops a failed write, so `--help > /dev/full` ended silently with 0;
        # the error goes to main, which says so in one line and exits 1.
        if message:
            (file or sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to render --help)."""
    parser = _Parser(
        prog="capture-agent",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    # Typed as plain ArgumentParser subparsers for the command modules: they only add
    # parsers, and every one they add is a _Parser, whose errors are one line.
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser),
    )
    for register in COMMANDS:
        register(sub)
    return parser


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked for (reading the
    package metadata imports importlib.metadata, ~35 ms, on every command otherwise)."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str = argparse.SUPPRESS,
        default: Any = argparse.SUPPRESS,
        help: str = "show program's version number and exit",
    ) -> None:
        super().__init__(
            option_strings=option_strings, dest=dest, default=default, nargs=0, help=help
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        sys.stdout.write(f"{parser.prog} {_version()}\n")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("capture-agent")
    except PackageNotFoundError:
        return "unknown"


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Any library's warning as one line of ours (a person reads it, not a developer)."""
    sys.stderr.write(f"capture-agent: warning: {message}\n")


def _check_home_env() -> None:
    """``CAPTURE_AGENT_HOME`` naming something that is not a folder is a config error."""
    from agent.paths import HOME_ENV

    value = os.environ.get(HOME_ENV)
    if not value:
        return
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{HOME_ENV}={value} is not a folder; point it at a folder "
            "(it is created if missing) or unset it"
        )


# A write to standard output fails with these when it is a full disk or a dead device.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so nothing more fails at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `capture-agent` console script."""
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # `--help` to a full disk fails here, see _Parser
        func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return EXIT_USAGE
        _check_home_env()
        code = func(args)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return code
    except (AgentError, StorageError, PrivacyError, OrgError) as exc:
        # Each package's base error carries the exit code the README promises (1 data
        # problem, 2 usage, 3 not running, 69 cannot capture here, 75 already running,
        # 78 config); the message is one line, never a traceback.
        sys.stderr.write(f"capture-agent: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `capture-agent export | head`: the reader left; not an error of ours.
        _discard_stdout()
        return 0
    except OSError as exc:
        # The output cannot be written (`export > /dev/full`) or the system refused a
        # file: one line and exit 1, never a traceback.
        reason = exc.strerror or str(exc)
        if exc.filename is not None:
            sys.stderr.write(f"capture-agent: error: {exc.filename}: {reason}\n")
        elif exc.errno in _OUTPUT_ERRNOS:
            sys.stderr.write(f"capture-agent: error: cannot write the output: {reason}\n")
            _discard_stdout()
        else:
            sys.stderr.write(f"capture-agent: error: {reason}\n")
        return EXIT_DATA_PROBLEM


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["build_parser", "main"]

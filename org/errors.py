"""Errors of the organisation's side, turned by the CLI into one line and an exit code.

OrgError (exit 1)   a key, policy or argument of an `org` command cannot be used
"""

from __future__ import annotations


class OrgError(Exception):
    """A mistake in an `org` command a person can act on; ``exit_code`` follows sysexits.h."""

    exit_code = 1

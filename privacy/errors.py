"""Errors of the privacy package.

PrivacyError            anything this package refuses, with a one-line message
 ├── DenylistError      a denylist entry or file with a bad shape
 └── CheckInputError    input to ``privacy check`` that cannot be read
"""

from __future__ import annotations


class PrivacyError(Exception):
    """Base of the privacy package's errors; the message is one line, fit for a user."""

    exit_code = 1


class DenylistError(PrivacyError):
    """A denylist entry or file has a bad shape (the message says where)."""

    exit_code = 2


class CheckInputError(PrivacyError):
    """The text or file given to ``privacy check`` cannot be read."""

    exit_code = 2

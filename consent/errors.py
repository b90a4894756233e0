"""Errors raised by the consent package.

    ConsentError
    ├── TransitionRefused    the request makes no sense in the current state
    ├── SnoozeInvalid        snooze minutes below 1 or not a whole number
    │   └── SnoozeTooLong    above the maximum (30, or lower by policy); names it
    ├── StateCorrupt         the state file cannot be read; recording stays off
    ├── StateWriteError      the state file cannot be written
    ├── LedgerError          the consent ledger cannot be read or written
    └── PolicyError          no fleet policy can be trusted
        ├── PolicySourceInvalid        the configured source is not a path, https:// or s3://
        ├── PolicyKeyInvalid           a pinned or signing key cannot be loaded
        ├── PolicyMalformed            not a policy envelope, or a field is invalid
        ├── PolicyUnknownVersion       a format version this agent does not know
        ├── PolicyBadSignature         the signature does not verify with the pinned key
        │   └── PolicyWrongKey         signed by a key other than the pinned one
        ├── PolicyRollback             older than a policy already accepted (or as old, changed)
        ├── PolicyIssuedInFuture       issued later than this machine's clock allows
        ├── PolicyRecordCorrupt        the record of the newest accepted policy is untrustworthy
        ├── PolicyExpired              the lease (``not_after``) has passed
        └── PolicyUnreachable          the source could not be read (network, file, S3)

Every message is one line a person can act on; none ever quotes captured content.
None carries an exit code: the agent turns each into its own error where it is met
(``ConsentRefused``, exit 2, for a refused command; ``AgentError`` for a bad policy
setting; ``OrgError`` in `org sign-policy`), which is what the CLI maps to exit codes.
"""

from __future__ import annotations


class ConsentError(Exception):
    """Base of every consent error; the message is one line a person can act on."""


class TransitionRefused(ConsentError):
    """The requested change does not apply to the current state (e.g. resume while opted out)."""


class SnoozeInvalid(ConsentError):
    """The snooze length is not a whole number of minutes, at least 1."""


class SnoozeTooLong(SnoozeInvalid):
    """The snooze length is above the maximum; ``maximum`` is that maximum in minutes."""

    def __init__(self, minutes: int, maximum: int) -> None:
        super().__init__(f"cannot snooze for {minutes} minutes: the maximum is {maximum} minutes")
        self.minutes = minutes
        self.maximum = maximum


class StateCorrupt(ConsentError):
    """The consent state file is unreadable or malformed; recording stays off."""


class StateWriteError(ConsentError):
    """The consent state file could not be written; nothing changed."""


class LedgerError(ConsentError):
    """The consent ledger cannot be read or appended to."""


class PolicyError(ConsentError):
    """No fleet policy can be trusted; capture is blocked while this holds."""


class PolicySourceInvalid(PolicyError):
    """The configured policy source is not a file path, an https:// URL or an s3:// URL."""


class PolicyKeyInvalid(PolicyError):
    """A pinned public key or a signing private key cannot be loaded as Ed25519."""


class PolicyMalformed(PolicyError):
    """The document is not a signed policy envelope, or one of its fields is invalid."""


class PolicyUnknownVersion(PolicyError):
    """The envelope or policy carries a format version this agent does not know."""


class PolicyBadSignature(PolicyError):
    """The signature does not verify with the pinned organisation key."""


class PolicyWrongKey(PolicyBadSignature):
    """The envelope names a signing key other than the pinned one."""


class PolicyRollback(PolicyError):
    """The policy was issued before one already accepted (a replayed old policy)."""


class PolicyIssuedInFuture(PolicyError):
    """The policy's ``issued_at`` is further ahead of this machine's clock than drift explains."""


class PolicyRecordCorrupt(PolicyError):
    """The home's record of the newest accepted policy is unreadable, malformed or forged."""


class PolicyExpired(PolicyError):
    """The policy's lease (``not_after``) has passed and no newer policy was fetched."""


class PolicyUnreachable(PolicyError):
    """The policy source could not be read (file, network or object store)."""

"""Errors raised by the storage package.

    StorageError
    ├── IntegrityError        a chunk or record cannot be trusted          kind "integrity"
    │   ├── FormatError       not a chunk, or a version this reader lacks  kind "format"
    │   ├── DecryptionError   no identity opens it, or the age layer fails kind "decrypt"
    │   ├── MemberError       a member is missing, extra or does not match kind "member"
    │   └── SignatureError    the manifest signature is missing or wrong   kind "signature"
    ├── KeyMaterialError      a key file is missing, unreadable or malformed
    ├── StorageFull           a write failed for lack of space (capture must stop visibly)
    └── UnsafePath            a link, another user's or a wrong-type path in the home (exit 78)

Every IntegrityError carries a ``kind``: `verify --json` reports it, so a tool can tell a
flipped byte from a foreign signature without parsing messages.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage error; the message is one line a person can act on."""

    exit_code = 1  # a data problem; the CLI exits with it


class IntegrityError(StorageError):
    """Stored data cannot be trusted: wrong key, corrupted, truncated or tampered with."""

    kind = "integrity"


class FormatError(IntegrityError):
    """Not a chunk, or a chunk of an unknown format version."""

    kind = "format"


class DecryptionError(IntegrityError):
    """The age layer refused: wrong identity, or the ciphertext is corrupt or truncated."""

    kind = "decrypt"


class MemberError(IntegrityError):
    """A zip member is missing, unlisted, corrupt or does not match its manifest hash."""

    kind = "member"


class SignatureError(IntegrityError):
    """The manifest is unsigned, or its signature is not by the pinned device key."""

    kind = "signature"


class KeyMaterialError(StorageError):
    """A key is missing, unreadable or malformed."""


class StorageFull(StorageError):
    """The disk is full (or over quota); nothing was half-written."""


class UnsafePath(StorageError):
    """A path in the home is a symbolic link, another user's, or of the wrong type; the
    message names it and the fix. Nothing was written through it."""

    exit_code = 78

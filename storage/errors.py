"""Errors raised by the storage package.

    StorageError
    ├── IntegrityError        a chunk or record fails decryption, a hash or a signature
    │   └── FormatError       the bytes are not a chunk of a version this reader knows
    ├── KeyMaterialError      a key file is missing, unreadable or malformed
    └── StorageFull           a write failed for lack of space (capture must stop visibly)
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage error; the message is one line a person can act on."""


class IntegrityError(StorageError):
    """Stored data cannot be trusted: wrong key, corrupted, truncated or tampered with."""


class FormatError(IntegrityError):
    """Not a chunk, or a chunk of an unknown format version."""


class KeyMaterialError(StorageError):
    """A key is missing, unreadable or malformed."""


class StorageFull(StorageError):
    """The disk is full (or over quota); nothing was half-written."""

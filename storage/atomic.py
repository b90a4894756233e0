"""Atomic, durable writes: a sealed file is complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from storage.errors import StorageError, StorageFull

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path``: temporary name, fsync, rename, fsync the folder.

    A crash at any point leaves either the old state or the complete new file, plus at
    worst a ``.tmp-*`` leftover that ``remove_leftovers`` cleans at the next start.
    The data written here is always ciphertext or key material; never plaintext capture.
    """
    tmp = path.parent / f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"{path.parent}: disk full, could not write {path.name}") from None
        raise StorageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def remove_leftovers(folder: Path) -> int:
    """Delete temporary files a crash left under ``folder``; return how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for leftover in folder.rglob(f"{TMP_PREFIX}*"):
        try:
            leftover.unlink()
            removed += 1
        except OSError:
            pass
    return removed

"""Atomic, durable writes: a sealed file is complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from storage import safe_fs
from storage.errors import StorageError, StorageFull

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | safe_fs.O_DIRECTORY | safe_fs.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600, root: Path | None = None) -> None:
    """Write ``data`` to ``path``: temporary name, fsync, rename, fsync the folder.

    A crash at any point leaves either the old state or the complete new file, plus at
    worst a ``.tmp-*`` leftover that ``remove_leftovers`` cleans at the next start.
    The data written here is always ciphertext or key material; never plaintext capture.

    The folder is opened once, each component below ``root`` (default: the folder
    itself) without following links (storage/safe_fs.py), and the temporary file is
    created and renamed relative to it: a link in the folder's place is refused
    (UnsafePath), and one at ``path`` is replaced, never written through.
    """
    if not safe_fs.HAS_DIR_FD:  # pragma: no cover - Windows
        _write_atomic_plain(path, data, mode)
        return
    tmp_name = f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
    try:
        with safe_fs.opened_dir(path.parent, root) as dir_fd:
            try:
                _write_new(dir_fd, tmp_name, data, mode)
                os.replace(tmp_name, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                os.fsync(dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name, dir_fd=dir_fd)
                raise
    except OSError as exc:
        raise _storage_error(path, exc) from None


def append_durably(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Append ``data`` to ``path`` (created with ``mode``, never through a link) and
    fsync it before returning: an append-only record's line is on disk once this
    returns. Raises OSError; the caller says what the record is."""
    fd = safe_fs.open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | safe_fs.O_NOFOLLOW | safe_fs.O_CLOEXEC
    fd = os.open(name, flags, mode, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _storage_error(path: Path, exc: OSError) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"{path.parent}: disk full, could not write {path.name}")
    return StorageError(f"{path}: cannot write: {exc.strerror or exc}")


def _write_atomic_plain(path: Path, data: bytes, mode: int) -> None:  # pragma: no cover
    tmp = path.parent / f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _storage_error(path, exc) from None


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

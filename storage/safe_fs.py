"""Opening files and folders under the agent's home without following symbolic links.

Anything in the home may have been put there by someone else with the person's uid. A
link ``HOME/agent.lock -> /etc/passwd`` must not make the agent truncate, append to or
chmod the file it points to, nor a linked ``HOME/data`` send chunks elsewhere. So:

* a *root* (``CAPTURE_AGENT_HOME``, or one of the platform's user folders) is the
  person's own choice and is opened as given, links above it included;
* every component below a root is opened one at a time relative to the folder before
  it (``openat``) with ``O_NOFOLLOW``: a link anywhere below the root is refused, and
  nothing can be swapped in between the check and the use;
* every folder and file opened is checked with ``fstat`` on the open descriptor (never
  ``stat`` before): owned by the running uid, of the expected type, a file with no
  other hard link. Permissions are changed with ``fchmod`` on that descriptor only.

A refusal is an :class:`~storage.errors.UnsafePath` naming the path and the fix; the
target is never touched. Platforms without ``dir_fd`` support (Windows) fall back to
plain opens (Windows links need privileges to create).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from storage.errors import UnsafePath

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
O_NOCTTY = getattr(os, "O_NOCTTY", 0)
DIR_FLAGS = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
HAS_DIR_FD = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd


def _uid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def _link_error(path: Path) -> UnsafePath:
    return UnsafePath(
        f"{path} is a symbolic link; remove it (the agent never follows links in its home)"
    )


def _kind_error(path: Path, kind: str) -> UnsafePath:
    return UnsafePath(f"{path} is not a {kind}; remove it")


def check_fd(fd: int, path: Path, directory: bool) -> os.stat_result:
    """``fstat`` an open descriptor: the expected type, owned by us, one link; else refuse.

    The descriptor is left open (the caller closes it, also on refusal).
    """
    st = os.fstat(fd)
    if directory and not stat.S_ISDIR(st.st_mode):
        raise _kind_error(path, "folder")
    if not directory and not stat.S_ISREG(st.st_mode):
        raise _kind_error(path, "regular file")
    uid = _uid()
    if uid is not None and st.st_uid != uid:
        raise UnsafePath(
            f"{path} is owned by another user (uid {st.st_uid}, not {uid}); remove it "
            f"or give it to uid {uid}"
        )
    # A second hard link may be a file outside the home (the owner check cannot tell
    # when the agent runs as root, the owner of most system files).
    if not directory and st.st_nlink > 1:
        raise UnsafePath(f"{path} has {st.st_nlink - 1} other hard link(s); remove it")
    return st


def _explain(exc: OSError, parent_fd: int, name: str, path: Path, kind: str) -> Exception:
    """The error to raise for a failed ``openat``: a link or wrong type said plainly."""
    if exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
        return exc
    try:
        st = os.lstat(name, dir_fd=parent_fd)
    except OSError:
        return exc
    if stat.S_ISLNK(st.st_mode):
        return _link_error(path)
    if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENXIO, errno.EISDIR):
        return _kind_error(path, kind)
    return exc


def _parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise UnsafePath(f"{path} is not inside {root}") from None
    if any(p in ("..", ".") for p in parts):
        raise UnsafePath(f"{path}: '..' is not allowed inside the home")
    return parts


def open_dir(
    path: Path, root: Path | None = None, create: bool = False, check_root: bool = False
) -> int:
    """Open folder ``path`` (each component below ``root`` checked); return its fd.

    ``root`` defaults to ``path.parent``: only ``path`` itself is then checked. The
    root's owner is checked only with ``check_root`` (an output folder the person names,
    such as /tmp, may belong to someone else). With ``create``, missing folders are
    made 0700 (``root`` with its parents, as given).
    """
    root = path.parent if root is None else root
    parts = _parts(path, root)
    if create:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The root is the person's choice (it may be a link, e.g. to another disk).
    fd = os.open(root, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    current = root
    try:
        if check_root:
            check_fd(fd, root, directory=True)
        for name in parts:
            current = current / name
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=fd)
            try:
                child = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _explain(exc, fd, name, current, "folder") from None
            os.close(fd)
            fd = child
            check_fd(fd, current, directory=True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def opened_dir(
    path: Path, root: Path | None = None, create: bool = False, check_root: bool = False
) -> Iterator[int]:
    """:func:`open_dir` as a context manager that closes the descriptor."""
    fd = open_dir(path, root, create, check_root)
    try:
        yield fd
    finally:
        os.close(fd)


def ensure_dir(path: Path, root: Path | None = None, mode: int = 0o700) -> int | None:
    """Create or verify private folder ``path`` under ``root``; return its old mode if
    it was looser than ``mode`` (and is now ``mode``), else None."""
    if not HAS_DIR_FD:  # pragma: no cover - Windows
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        return None
    with opened_dir(path, root, create=True, check_root=True) as fd:
        return _tighten(fd, mode)


def _tighten(fd: int, mode: int) -> int | None:
    old = stat.S_IMODE(os.fstat(fd).st_mode)
    if old & ~mode & 0o777:
        os.fchmod(fd, mode)
        return old
    return None


def open_at(dir_fd: int, name: str, path: Path, flags: int, mode: int = 0o600) -> int:
    """Open file ``name`` in the open folder ``dir_fd`` without following a link, and
    check it (:func:`check_fd`); ``path`` names it in messages."""
    try:
        fd = os.open(name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise _explain(exc, dir_fd, name, path, "regular file") from None
    try:
        check_fd(fd, path, directory=False)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(path: Path, flags: int, mode: int = 0o600, root: Path | None = None) -> int:
    """Open file ``path`` like ``os.open`` but refusing links (in it and in every folder
    below ``root``, default its parent), other owners and non-regular files."""
    if not HAS_DIR_FD:  # pragma: no cover - Windows
        return os.open(path, flags | O_NOFOLLOW, mode)
    with opened_dir(path.parent, root if root is not None else path.parent) as dir_fd:
        # A FIFO put in a file's place must not block the open: O_NONBLOCK, refused by
        # check_fd as not a regular file (it changes nothing for regular files).
        return open_at(dir_fd, path.name, path, flags | O_NONBLOCK, mode)


def make_private(path: Path, root: Path, directory: bool, mode: int) -> int | None:
    """Verify ``path`` (a folder or regular file) and tighten it to ``mode``.

    Returns the old mode when it was looser, None when it was fine or does not exist.
    Refuses (UnsafePath) a link, another owner, another type. A file is looked at with
    ``lstat`` before it is opened so that no device or FIFO is ever opened.
    """
    if not HAS_DIR_FD:  # pragma: no cover - Windows
        return None
    try:
        if directory:
            with opened_dir(path, root, check_root=True) as fd:
                return _tighten(fd, mode)
        with opened_dir(path.parent, root) as dir_fd:
            st = os.lstat(path.name, dir_fd=dir_fd)
            if stat.S_ISLNK(st.st_mode):
                raise _link_error(path)
            if not stat.S_ISREG(st.st_mode):
                raise _kind_error(path, "regular file")
            fd = open_at(dir_fd, path.name, path, os.O_RDONLY | O_NONBLOCK)
            try:
                return _tighten(fd, mode)
            finally:
                os.close(fd)
    except FileNotFoundError:
        return None

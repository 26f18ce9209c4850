"""Crash-safe file primitives shared by every store: atomic replace and per-name locks."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from filelock import FileLock, Timeout

from stockcast.errors import LockTimeout

DEFAULT_LOCK_TIMEOUT = 120.0  # seconds a writer waits for another process's lock


def fsync_dir(folder: Path) -> None:
    """Flush a directory entry (the rename) to disk; a no-op where the OS cannot."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` through ``write(fh)`` into a temporary file, fsync, then rename over it.

    A reader sees the old file or the new one, never half of one; a crash leaves at most a
    stray ``.tmp`` file beside the target, which readers ignore and the next writer of the same
    target removes once it is older than ``STALE_TMP_SECONDS`` (a younger one may be a
    concurrent writer's).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


STALE_TMP_SECONDS = 3600.0  # a write takes well under a second; older temporaries were killed


def remove_stale_temporaries(path: Path, now: float | None = None) -> int:
    """Delete ``.<name>.*.tmp`` files beside ``path`` older than STALE_TMP_SECONDS, left by a
    writer that was killed; returns how many went."""
    now = time.time() if now is None else now
    gone = 0
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                tmp.unlink()
                gone += 1
    return gone


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    atomic_write(path, lambda fh: fh.write(data))


def write_output(path: Path, data: bytes) -> None:
    """Write a user's output file: a regular file (or a link to one) is replaced atomically
    and gets the permissions of any new file (umask); anything else that exists (a FIFO, a
    character device such as ``/dev/stdout``) is written into as it is, never replaced."""
    path = Path(path)
    try:
        mode = path.stat().st_mode  # follows links
    except FileNotFoundError:
        mode = None
    special = str(path).startswith(("/dev/", "/proc/"))  # /dev/stdout: whatever fd 1 is
    if mode is not None and (special or not stat.S_ISREG(mode)):
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        with open(path, "wb") as fh:  # a FIFO, a terminal, /dev/null: write through
            fh.write(data)
        return
    atomic_write_bytes(Path(os.path.realpath(path)), data)  # through links: a link stays


@contextlib.contextmanager
def locked(lock_path: Path, what: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an inter-process lock on ``lock_path``; wait up to ``timeout`` seconds for it.

    ``timeout=0`` does not wait. On time-out raise LockTimeout naming ``what`` is busy.
    """

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LockTimeout(
            f"{what} is locked by another stockcast process (waited {timeout:g} s); "
            "wait for it to finish, or remove the stale lock file "
            f"{lock_path} if no stockcast is running"
        ) from None
    try:
        yield
    finally:
        lock.release()

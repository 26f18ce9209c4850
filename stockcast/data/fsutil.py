"""File primitives shared by every store: safe reads, atomic replace and per-name locks.

Every read of a file inside the data directory goes through ``open_stored``/``read_stored``:
the file is opened without blocking and checked on its descriptor, so a FIFO, a device, a
socket, a folder, a link out of the data directory, a symbolic link loop or a file larger
than any stockcast writes is refused with one line (``UnsafeFile``) instead of hanging the
command or filling the memory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from filelock import FileLock, Timeout

from stockcast.errors import LockTimeout, UnsafeFile

DEFAULT_LOCK_TIMEOUT = 120.0  # seconds a writer waits for another process's lock

# The largest file of each kind stockcast reads: far above what it writes (a one-symbol
# manifest is about 20 KB, a calendar cache 80 KB, 30 years of prices 250 KB), far below
# what would exhaust the memory.
MANIFEST_LIMIT = 64 << 20
CONFIG_LIMIT = 1 << 20
CALENDAR_LIMIT = 16 << 20
PRICES_LIMIT = 1 << 30
FORECAST_LOG_LIMIT = 1 << 30
WEIGHTS_LIMIT = 8 << 30
NO_LIMIT = None  # a database: read by its own engine, page by page
MOVE_ASIDE = "move it aside or remove it"  # the fix when nothing better can be said


def _size(n: int) -> str:
    """``n`` bytes in words: "512 bytes", "64 MiB"."""
    if n < 1024:
        return f"{n} bytes"
    unit = min(4, (n.bit_length() - 1) // 10)
    return f"{n / 1024**unit:.0f} {('KiB', 'MiB', 'GiB', 'TiB')[unit - 1]}"


def _what(mode: int) -> str:
    """A file type in words: "a FIFO", "a folder", ..."""
    kinds = [(stat.S_ISREG, "a file"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]  # fmt: skip
    return next((word for test, word in kinds if test(mode)), "not a regular file")


def check_inside(path: Path, root: Path | None, fix: str = MOVE_ASIDE) -> None:
    """UnsafeFile unless ``path``, its links followed, stays inside the data directory ``root``
    (``root`` None: no check, for a file the user named) and has no symbolic link loop."""
    loop = loop_in(Path(path))
    if loop is not None:
        raise UnsafeFile(f"{loop} is a symbolic link loop; remove that link or replace it")
    if root is None:
        return
    real, base = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, base]) != base:
        raise UnsafeFile(
            f"{path} leads out of the data directory {root} (to {real}) through a link; {fix}"
        )


def loop_in(path: Path) -> Path | None:
    """The first of ``path`` and its parents that is a symbolic link loop, or None."""
    for p in [*reversed(Path(path).parents), Path(path)]:
        try:
            os.stat(p)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return p
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
    return None


def open_stored(
    path: Path, root: Path | None, limit: int | None, fix: str = MOVE_ASIDE
) -> BinaryIO:
    """Open a stored file for reading, never blocking: UnsafeFile naming ``path`` and ``fix``
    unless it is a regular file of at most ``limit`` bytes inside the data directory ``root``
    (see ``check_inside``). FileNotFoundError when there is nothing at ``path``.

    The file is opened with O_NONBLOCK (opening a FIFO for reading returns at once) and
    checked on the open descriptor, so what is checked is what is read.
    """
    path = Path(path)
    check_inside(path, root, fix)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{path} is a symbolic link loop; {fix}") from None
        if exc.errno == errno.ENXIO:  # a socket, or a device with nothing behind it
            what = "is not a regular file (a socket or a device)"
            raise UnsafeFile(f"{path} {what}; {fix}") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path} is {_what(st.st_mode)}, not a regular file; {fix}")
        if limit is not None and st.st_size > limit:
            raise UnsafeFile(
                f"{path} holds {_size(st.st_size)}, more than stockcast reads from such a file "
                f"({_size(limit)}); {fix}"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_stored(path: Path, root: Path | None, limit: int | None, fix: str = MOVE_ASIDE) -> bytes:
    """The bytes of a stored file, checked as ``open_stored`` checks it (a file that grew past
    ``limit`` while read is refused too)."""
    with open_stored(path, root, limit, fix) as fh:
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise UnsafeFile(f"{path} grew past {_size(limit)} while it was read; {fix}")
    return data


def check_stored(path: Path, root: Path | None, fix: str = MOVE_ASIDE) -> None:
    """``open_stored``'s checks without reading, for a file another library opens (the tune
    database): nothing at ``path`` passes, anything but a regular file inside ``root`` is
    refused."""
    with contextlib.suppress(FileNotFoundError), open_stored(path, root, NO_LIMIT, fix):
        pass


def stored_dir(path: Path, root: Path | None, fix: str = MOVE_ASIDE) -> bool:
    """True when ``path`` is a folder inside ``root``, False when nothing is there; UnsafeFile
    for a symbolic link loop, a link out of ``root`` or something that is not a folder."""
    path = Path(path)
    check_inside(path, root, fix)
    if not os.path.lexists(path):
        return False
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:  # a dangling link
        return False
    if not stat.S_ISDIR(mode):
        raise UnsafeFile(f"{path} is {_what(mode)}, not a folder; {fix}")
    return True


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

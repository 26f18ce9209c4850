"""The lock of a whole `stockcast run` (``<data>/locks/_run.lock``, never waited for), light on
purpose: the CLI asks it before importing the runner, whose imports (torch, pandas) take
seconds, so an overlapping run exits 4 at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stockcast.data.fsutil import locked
from stockcast.errors import BusyError, LockTimeout
from stockcast.schedule.logsetup import FILE_ONLY

RUN_LOCK = Path("locks") / "_run.lock"  # "_" never occurs in a symbol: no clash with theirs
LOGGER = "stockcast.run"


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the lock of a whole run, or raise BusyError at once if another run holds it."""
    path = Path(root) / RUN_LOCK
    try:
        with locked(path, "stockcast run", timeout=0):
            yield
    except LockTimeout:
        busy = BusyError(
            f"another `stockcast run` is running on {root} (lock {path}); this one did nothing; "
            "let that one finish"
        )
        logging.getLogger(LOGGER).error("%s", busy, extra=FILE_ONLY)  # the CLI prints it
        raise busy from None


def check_free(root: Path) -> None:
    """BusyError at once when another run holds the lock (taken and given back at once; the
    run takes it again for good). Creates nothing when no run ever held it."""
    if (Path(root) / RUN_LOCK).exists():
        with run_lock(root):
            pass

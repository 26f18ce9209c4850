"""The calendar cache on disk: ``<data>/cache/calendars/<CODE>.json``, one file per exchange.

Building an exchange calendar costs a second or two (``exchange_calendars`` and its rules);
``calendar.py`` keeps the sessions it built here so that `predict` and `run` read a small file
instead. What the file holds, and when it is stale, is ``calendar.py``'s business; this module
only reads and writes it. Writes are atomic; an unreadable file (also a FIFO, a device or a
link out of the data directory: ``fsutil.read_stored`` never blocks on one) reads as missing,
so the cache is rebuilt and replaced; a cache that cannot be written costs nothing but time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from stockcast.data.fsutil import CALENDAR_LIMIT, atomic_write_bytes, read_stored
from stockcast.errors import UnsafeFile

FOLDER = ("cache", "calendars")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # codes such as "24/7" become file names "24_7"


def path(root: Path, code: str) -> Path:
    """The cache file of calendar ``code`` under the data directory ``root``."""
    return Path(root).joinpath(*FOLDER, _UNSAFE.sub("_", code.upper()) + ".json")


def read(root: Path, code: str) -> dict | None:
    """The cached object of ``code``, or None when there is none or it cannot be read."""
    try:
        text = read_stored(path(root, code), root, CALENDAR_LIMIT)
        obj = json.loads(text.decode("utf-8"))
    except (OSError, ValueError, RecursionError, UnsafeFile):  # a FIFO, a link out: rebuilt
        return None
    return obj if isinstance(obj, dict) else None


def write(root: Path, code: str, obj: dict) -> bool:
    """Replace the cache of ``code`` atomically; False when the data directory refuses it."""
    try:
        atomic_write_bytes(path(root, code), json.dumps(obj, separators=(",", ":")).encode())
    except OSError:
        return False
    return True

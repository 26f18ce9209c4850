"""Logging of scheduled runs: a rotating file in the data directory, and the terminal.

``<data>/logs/stockcast.log`` keeps every run's story (1 MB per file, 5 old files kept), whatever
the terminal shows; cron users read it when the mail says something went wrong. The terminal
(stderr) gets progress lines, or with ``quiet`` only warnings and errors.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
from collections.abc import Iterator
from pathlib import Path

LOGGER = "stockcast"
LOG_FILE = Path("logs") / "stockcast.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
_FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
FILE_ONLY = {"file_only": True}  # ``extra=FILE_ONLY``: a record the terminal already shows


def log_file(data_dir: Path) -> Path:
    """``<data>/logs/stockcast.log``."""
    return Path(data_dir) / LOG_FILE


class _TerminalFormatter(logging.Formatter):
    """Progress lines as they are; warnings and errors prefixed with their level."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


@contextlib.contextmanager
def logging_to(data_dir: Path, quiet: bool = False) -> Iterator[logging.Logger]:
    """Send the ``stockcast`` logger to the rotating file and to stderr while inside the block.

    With ``quiet``, stderr gets warnings and errors only; the file always gets everything.
    The handlers are removed (and the file closed) on exit.

    Example::

        with logging_to(data_dir, quiet=True) as log:
            log.info("MSFT: fetched 1 session")
    """
    path = log_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    file_handler.setLevel(logging.INFO)
    term = logging.StreamHandler(sys.stderr)
    term.setFormatter(_TerminalFormatter())
    term.setLevel(logging.WARNING if quiet else logging.INFO)
    term.addFilter(lambda record: not getattr(record, "file_only", False))
    logger = logging.getLogger(LOGGER)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(file_handler)
    logger.addHandler(term)
    try:
        yield logger
    finally:
        logger.removeHandler(term)
        logger.removeHandler(file_handler)
        file_handler.close()
        logger.setLevel(old_level)
        logger.propagate = old_propagate

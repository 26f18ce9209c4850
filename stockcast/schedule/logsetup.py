"""Logging of scheduled runs: a rotating file in the data directory, and the terminal.

``<data>/logs/stockcast.log`` keeps every run's story (1 MB per file, 5 old files kept), whatever
the terminal shows; cron users read it when the mail says something went wrong. The terminal
(stderr) gets progress lines, or with ``quiet`` only warnings and errors.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import logging.handlers
import os
import shutil
import stat
import sys
import textwrap
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
    """Progress lines as they are; warnings and errors prefixed with their level. With a
    ``width`` (stderr is a terminal), long lines wrap between words, continuation lines
    indented under the text; without one (cron, pipes) every record stays on one line."""

    def __init__(self, width: int | None = None) -> None:
        super().__init__()
        self.width = width

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        label = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        if not self.width:
            return label + text
        indent = " " * len(label)
        return "\n".join(
            textwrap.fill(
                line,
                self.width,
                initial_indent=label if i == 0 else indent,
                subsequent_indent=indent,
                break_long_words=False,  # a path or an id stays whole
                break_on_hyphens=False,
            )
            for i, line in enumerate(text.split("\n"))
        )


def _terminal_width(stream: object) -> int | None:
    """The width of the terminal ``stream`` writes to; None when it is not a terminal."""
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        return None
    return shutil.get_terminal_size().columns


class _Unbuffered:
    """A text stream straight onto the file's descriptor: a write that fails (full disk) fails
    at once, inside ``emit``, and leaves no buffer behind to fail again at close or exit."""

    def __init__(self, path: str) -> None:
        # O_NOFOLLOW: a symlink planted at the log's path is refused (ELOOP), never followed;
        # O_NONBLOCK: a FIFO there is refused at once (ENXIO) instead of waiting for a reader
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        not_regular = "not a regular file; move it aside"
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ELOOP):  # a FIFO or a socket; a link
                raise OSError(exc.errno, not_regular, path) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO with a reader, a device
            os.close(fd)
            raise OSError(errno.EINVAL, not_regular, path)
        self.raw = os.fdopen(fd, "ab", buffering=0)

    def write(self, text: str) -> int:
        return self.raw.write(text.encode("utf-8"))

    def flush(self) -> None:
        pass

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.raw.close()


class _QuietFileHandler(logging.handlers.RotatingFileHandler):
    """The log file; when it cannot be written (full disk, read-only) it says so once, through
    ``fallback`` (the terminal), and then stays silent: no traceback per record, the run goes on."""

    def __init__(self, path: Path, fallback: logging.Handler) -> None:
        super().__init__(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
        self.fallback = fallback
        self.failed = False

    def _open(self) -> _Unbuffered:  # type: ignore[override]
        return _Unbuffered(self.baseFilename)

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        self.failed = True
        exc = sys.exc_info()[1]
        why = getattr(exc, "strerror", None) or exc.__class__.__name__
        self.fallback.handle(
            logging.makeLogRecord(
                {
                    "name": LOGGER,
                    "levelno": logging.WARNING,
                    "levelname": "WARNING",
                    "msg": "cannot write the log file %s (%s); going on without it",
                    "args": (self.baseFilename, why),
                }
            )
        )


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
    term = logging.StreamHandler(sys.stderr)
    term.setFormatter(_TerminalFormatter(_terminal_width(sys.stderr)))
    term.setLevel(logging.WARNING if quiet else logging.INFO)
    term.addFilter(lambda record: not getattr(record, "file_only", False))
    with contextlib.suppress(OSError):  # an unwritable folder: the handler says so once
        path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = _QuietFileHandler(path, term)
    file_handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    file_handler.setLevel(logging.INFO)
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

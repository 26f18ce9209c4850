"""Domain errors. Each carries a one-line message that names the fix, and an exit code.

The CLI edge turns them into one red line and ``typer.Exit(code)``; nothing below the CLI prints.
"""

from __future__ import annotations

import re

# Documented exit codes (README, "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # the command failed; nothing stored was changed by the failure
EXIT_USAGE = 2  # bad arguments or options (also Typer/Click's own usage errors)
EXIT_PARTIAL = 3  # several symbols: some succeeded, some failed
EXIT_BUSY = 4  # another `stockcast run` holds the run lock; this one did nothing
EXIT_STALE = 5  # `stockcast run` finished, but some forecasts were made from stale prices
EXIT_INTERRUPTED = 130  # Ctrl-C


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes, NUL, line breaks, bidi overrides)
    written as ``\\xNN``/``\\uNNNN`` escapes, so that a value read from a file can be shown in
    one line of a terminal without acting on it."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class StockcastError(Exception):
    """Base class: ``str(err)`` is the whole message shown to the user."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(StockcastError):
    """Invalid input given by the user (symbol, date range, option values)."""

    exit_code = EXIT_USAGE


class DataError(StockcastError):
    """Stored or imported data is missing, empty, unparseable or too short."""


class SourceError(StockcastError):
    """A data source failed: network down, rate limited, unknown symbol."""


class SourceDown(SourceError):
    """The source cannot answer at all (unreachable, rate limiting): every remaining symbol
    would fail the same way, so a batch stops asking it."""


class UnknownSource(SourceError):
    """A symbol was stored from a price source that is not installed here: it is never read
    from another source in its place (`run` fails the symbol)."""


class HistoryRefused(DataError):
    """New prices would remove stored sessions or rewrite stored closes; nothing was stored
    (``stockcast fetch --replace`` accepts it)."""


class UnsafeFile(DataError):
    """A path inside the data directory is not a regular file stockcast can read at once: a
    FIFO, a device, a socket, a folder, a link that leads out of the data directory, a symbolic
    link loop, or a file larger than any stockcast writes (``fsutil.open_stored``)."""


class StoreUnwritable(DataError):
    """The data directory cannot be written: a batch stops, the next symbol would fail too."""


class ModelError(StockcastError):
    """A saved model is missing, corrupt or incompatible."""


class TrainingError(StockcastError):
    """Training failed on its own terms (a non-finite loss): nothing is saved; the message names
    the option to change."""


class LockTimeout(StockcastError):
    """Waiting for another process's lock took longer than allowed."""


class BusyError(StockcastError):
    """Another run holds the run lock."""

    exit_code = EXIT_BUSY


class NoPrices(DataError):
    """Nothing is stored for a symbol in the data directory in use (the CLI adds which directory
    that is and how to point elsewhere)."""


class NoConfig(UsageError):
    """No ``stockcast.toml`` where `run` looked (the CLI adds which data directory that is)."""


class NoModel(ModelError):
    """No saved model for a name in the data directory in use (the CLI adds which directory)."""


class Interrupted(StockcastError):
    """Ctrl-C stopped a command; the message says what was kept."""

    exit_code = EXIT_INTERRUPTED

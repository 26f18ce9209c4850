"""What a price source offers, and the registry of sources by name.

A source reads the daily history of a symbol in the store's schema (not yet validated); the
refresh in ``stockcast.data.ingest`` validates, merges and stores it. The registry names each
source's class by module path and imports it only when asked, so importing this module never
imports yfinance.

Other packages add sources through the ``stockcast.sources`` entry point group (as ``llm`` loads
its plugins): ``[project.entry-points."stockcast.sources"] mysource = "mypkg.prices:MySource"``.
The entry point's name is the source's name, what ``fetch --source NAME`` takes and what the
store records, so `run` reads the symbol through the same class again. A built-in name (yahoo,
csv, sample) is never taken over by a plugin.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import importlib.metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stockcast.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

ENTRY_POINTS = "stockcast.sources"  # the entry point group of third-party sources
DEFAULT_SOURCE = "yahoo"  # where a symbol that is not stored yet is fetched from

# name -> "module:class"; the name is what the store records as a symbol's source
REGISTRY: dict[str, str] = {
    "yahoo": "stockcast.data.sources.yahoo:YahooSource",
    "csv": "stockcast.data.sources.csvfile:CsvSource",
    "sample": "stockcast.data.sources.sample:SampleSource",
}


class Source(Protocol):
    """A place daily prices come from, as the incremental refresh uses it."""

    @property
    def name(self) -> str:
        """Registry name, recorded with the stored prices ("yahoo", "csv", "sample", ...)."""
        ...

    @property
    def incremental(self) -> bool:
        """Whether ``history`` can return only the sessions from a given date on."""
        ...

    @property
    def ref(self) -> str | None:
        """What to read again on the next refresh (a file path), if anything; recorded."""
        ...

    @property
    def options(self) -> dict[str, Any] | None:
        """Reading options to record and reuse (a CSV date format), if any."""
        ...

    def history(
        self, symbol: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> pd.DataFrame:
        """Daily bars of ``symbol`` from ``start`` to ``end`` (inclusive; None: all it has).

        A source that is not ``incremental`` is never given dates and returns all it has.
        """
        ...

    def describe(self, start: dt.date | None, end: dt.date | None) -> str:
        """Where the rows of a ``history`` call came from, for messages ("the bundled sample")."""
        ...


# What a source class may add (a plugin may leave each out: the default applies):
#   from_record(symbol, ref, options, cache) -> Source  classmethod: an instance that reads
#       ``symbol`` as the store recorded it (``ref`` and ``options``: None for a first fetch);
#       ``cache`` is the data directory's cache folder (keep your files in a folder of your
#       own inside it). Default: the class called with no arguments.
#   static: bool  the same rows every time, so `run` has nothing to refresh (default False)
#   pace: float  seconds between two symbols' requests in a batch (default 0)
#   fetch_command(symbol, ref) -> str  classmethod: the command that reads ``symbol`` from
#       this source again (default ``stockcast fetch SYMBOL --source NAME``)


@functools.cache
def plugins() -> dict[str, str]:
    """name -> "module:attr" of the sources installed packages register under the
    ``stockcast.sources`` entry point group (read once per process; a built-in name stays the
    built-in source)."""
    found = importlib.metadata.entry_points(group=ENTRY_POINTS)
    return {ep.name: ep.value for ep in found if ep.name not in REGISTRY}


def registry() -> dict[str, str]:
    """Every source by name: the built-in ones and the installed plugins'."""
    return {**plugins(), **REGISTRY}


def source_names() -> list[str]:
    """The registered source names, sorted."""
    return sorted(registry())


def source_class(name: str) -> type[Source]:
    """The class registered as ``name``, imported on first use."""
    target = registry().get(name)
    if target is None:
        raise UsageError(
            f"unknown price source {name!r}; choose one of {', '.join(source_names())}"
        )
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:  # a broken or half-installed plugin
        raise UsageError(
            f"the price source {name!r} ({target}) cannot be loaded ({exc}); reinstall the "
            "package that provides it"
        ) from None


def open_source(
    name: str,
    symbol: str,
    ref: str | None = None,
    options: dict[str, Any] | None = None,
    *,
    cache: Path,
) -> Source:
    """A ``name`` source ready to read ``symbol``, from what the store recorded (``ref``,
    ``options``; None for a first fetch); ``cache`` is the data directory's cache folder."""
    cls = source_class(name)
    opener = getattr(cls, "from_record", None)
    return opener(symbol, ref, options, cache) if opener is not None else cls()


def is_static(source: Source | type[Source]) -> bool:
    """Whether ``source`` gives the same rows every time (the bundled sample)."""
    return bool(getattr(source, "static", False))


def pace_of(source: Source | type[Source]) -> float:
    """Seconds to wait between two symbols' requests to ``source``."""
    return float(getattr(source, "pace", 0.0))


def fetch_command(name: str, symbol: str, ref: str | None = None) -> str:
    """The command that reads ``symbol`` from the ``name`` source again (a stale hint)."""
    try:
        command = getattr(source_class(name), "fetch_command", None)
    except UsageError:  # not installed here: the generic form still names the source
        command = None
    if command is not None:
        return command(symbol, ref)
    return f"stockcast fetch {symbol} --source {name}"

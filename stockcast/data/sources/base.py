"""What a price source offers, and the registry of sources by name.

A source reads the daily history of a symbol in the store's schema (not yet validated); the
refresh in ``stockcast.data.ingest`` validates, merges and stores it. The registry names each
source's class by module path and imports it only when asked, so importing this module never
imports yfinance.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import TYPE_CHECKING, Any, Protocol

from stockcast.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

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
        """Registry name, recorded with the stored prices ("yahoo", "csv", "sample")."""
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


def source_names() -> list[str]:
    """The registered source names, sorted."""
    return sorted(REGISTRY)


def source_class(name: str) -> type[Source]:
    """The class registered as ``name``, imported on first use."""
    target = REGISTRY.get(name)
    if target is None:
        raise UsageError(
            f"unknown price source {name!r}; choose one of {', '.join(source_names())}"
        )
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)

"""What the steps of `stockcast run` take and give: shared by ``runner`` and ``steps``.

``runner`` strings the steps together; ``steps`` holds the real ones. Both import this module,
so neither imports the other's internals behind a function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from stockcast.schedule.config import SymbolPlan


@dataclass
class Refresh:
    """What refreshing one symbol from its source did."""

    source: str  # the source's registry name ("yahoo", "csv", "sample", a plugin's)
    added: int = 0  # sessions stored that were not there before
    fetched: bool = True  # the source answered (False: nothing to refresh, e.g. the sample)
    notes: list[str] = field(default_factory=list)  # rows repaired or dropped, bars left out


@dataclass
class LoggedForecast:
    """A forecast made for one symbol, as rows for the forecast log."""

    model: str  # model id
    as_of: str  # ISO date of the last session used
    rows: pd.DataFrame  # forecastlog.COLUMNS


@dataclass(frozen=True)
class Steps:
    """The work of one symbol; each step raises StockcastError with one line when it fails."""

    refresh: Callable[[Path, str], Refresh]
    retrain_due: Callable[[Path, str, SymbolPlan, dt.datetime], str | None]  # why, or None
    train: Callable[[Path, str, Mapping[str, Any]], str]  # -> the new model id
    forecast: Callable[[Path, str, SymbolPlan, bool, dt.datetime], LoggedForecast]  # stale flag

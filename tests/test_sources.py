"""Sources by name, and the one incremental refresh that every source goes through."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.data import ingest
from stockcast.data.sources.base import REGISTRY, source_class, source_names
from stockcast.data.sources.csvfile import CsvSource
from stockcast.data.sources.sample import SampleSource
from stockcast.data.sources.yahoo import RateLimited, YahooSource, YahooUnreachable
from stockcast.data.store import COLUMNS, PriceStore
from stockcast.eachsymbol import for_each_symbol
from stockcast.errors import DataError, SourceDown, SourceError, StoreUnwritable, UsageError

DAYS = pd.bdate_range("2024-01-02", periods=20)


def bars(days: pd.DatetimeIndex, close: float = 100.0) -> pd.DataFrame:
    """Valid daily bars, one per day, closes rising by 1 from ``close``."""
    c = close + np.arange(len(days), dtype=float)
    df = pd.DataFrame(
        {"open": c, "high": c + 1, "low": c - 1, "close": c, "adj_close": c, "volume": 1e6},
        index=pd.DatetimeIndex(days, name="date").astype("datetime64[ns]"),
    )
    df["dividends"], df["splits"] = 0.0, 0.0
    return df[COLUMNS]


class FakeFeed:
    """An incremental source over a frame held in memory; records what it was asked."""

    name = "yahoo"  # stands in for a network source the store knows
    incremental = True
    ref = None
    options = None

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.asked: list[tuple[dt.date | None, dt.date | None]] = []

    def history(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        self.asked.append((start, end))
        rows = self.frame
        if start is not None:
            rows = rows[rows.index >= pd.Timestamp(start)]
        if end is not None:
            rows = rows[rows.index <= pd.Timestamp(end)]
        return rows

    def describe(self, start, end) -> str:
        return "the fake feed"


@pytest.fixture
def store(stockcast_home: Path) -> PriceStore:
    return PriceStore(stockcast_home)


def test_registry_names_each_source_by_the_name_it_records() -> None:
    assert source_names() == ["csv", "sample", "yahoo"] == sorted(REGISTRY)
    classes = {name: source_class(name) for name in source_names()}
    assert classes == {"csv": CsvSource, "sample": SampleSource, "yahoo": YahooSource}
    assert all(cls.name == name for name, cls in classes.items())
    assert [classes[n].incremental for n in ("csv", "sample", "yahoo")] == [False, False, True]


def test_an_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown price source 'ftp'; choose one of csv, sample"):
        source_class("ftp")


def test_importing_the_registry_does_not_import_yfinance() -> None:
    code = (
        "import sys, stockcast.data.sources.base as b; b.source_names(); "
        "print('yfinance' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_source_down_errors_are_typed() -> None:
    assert issubclass(YahooUnreachable, SourceDown) and issubclass(RateLimited, SourceDown)
    assert issubclass(SourceDown, SourceError)


def test_incremental_refresh_asks_for_the_overlap_and_merges(store: PriceStore) -> None:
    feed = FakeFeed(bars(DAYS[:15]))
    first = ingest.refresh(store, "ABC", feed)
    assert (first.status, first.rows, first.rows_added) == ("new", 15, 15)
    feed.frame = bars(DAYS)  # five more sessions, same history before them
    second = ingest.refresh(store, "ABC", feed)
    overlap = DAYS[14 - ingest.OVERLAP_SESSIONS].date()
    assert feed.asked == [(None, None), (overlap, None)]
    assert (second.status, second.rows, second.rows_added) == ("updated", 20, 5)
    pd.testing.assert_frame_equal(store.read("ABC"), bars(DAYS), check_freq=False)


def test_a_rewritten_history_is_asked_again_whole(store: PriceStore) -> None:
    feed = FakeFeed(bars(DAYS[:15]))
    ingest.refresh(store, "ABC", feed)
    split = bars(DAYS)  # a 2:1 split on session 15 halves every earlier (adjusted) price
    split.loc[split.index < DAYS[15], ["open", "high", "low", "close", "adj_close"]] /= 2
    split.loc[DAYS[15], "splits"] = 2.0
    feed.frame = split
    result = ingest.refresh(store, "ABC", feed)
    assert feed.asked[1:] == [
        (DAYS[14 - ingest.OVERLAP_SESSIONS].date(), None),
        (DAYS[0].date(), None),
    ]
    assert (result.status, result.rows) == ("rewritten", 20)
    assert store.read("ABC")["close"].iloc[0] == 50.0


def test_the_same_refresh_serves_a_csv_file_which_replaces_the_feed(
    store: PriceStore, tmp_path: Path
) -> None:
    ingest.refresh(store, "ABC", FakeFeed(bars(DAYS)))
    path = tmp_path / "ABC.csv"
    bars(DAYS[:10], close=7.0).to_csv(path)
    result = ingest.refresh(store, "ABC", CsvSource(path), replace=True)  # loses 10 sessions
    assert (result.status, result.source, result.rows, result.rows_removed) == (
        "rewritten",
        "csv",
        10,
        10,
    )
    info = store.info("ABC")
    assert (info.source, info.source_ref) == ("csv", str(path.resolve()))
    # The feed is incremental, but the stored rows are no longer its own: it is asked whole.
    feed = FakeFeed(bars(DAYS))
    assert ingest.refresh(store, "ABC", feed, replace=True).source == "yahoo"
    assert feed.asked == [(None, None)]


def test_a_source_with_no_usable_rows_stores_nothing(store: PriceStore) -> None:
    with pytest.raises(DataError, match="no usable prices for ABC in the fake feed"):
        ingest.refresh(store, "ABC", FakeFeed(bars(DAYS[:0])))
    assert not store.exists("ABC")


def test_source_down_stops_the_batch_without_asking_again(store: PriceStore) -> None:
    asked: list[str] = []

    def one(sym: str) -> ingest.FetchResult:
        asked.append(sym)
        if sym == "BBB":
            raise YahooUnreachable("cannot reach Yahoo Finance (test)")
        return ingest.refresh(store, sym, FakeFeed(bars(DAYS)))

    results = ingest.run_all(["AAA", "BBB", "CCC", "DDD"], one, source="yahoo")
    assert asked == ["AAA", "BBB"]
    assert [r.status for r in results] == ["new", "failed", "failed", "failed"]
    assert {r.error for r in results[1:]} == {"cannot reach Yahoo Finance (test)"}
    assert not store.exists("CCC")


def test_a_symbol_error_does_not_stop_the_batch() -> None:
    def one(sym: str) -> str:
        if sym == "AAA":
            raise SourceError("no data for AAA")
        return sym.lower()

    batch = for_each_symbol(["AAA", "BBB"], one)
    assert batch.values == ["bbb"] and [str(e) for e in batch.errors] == ["no data for AAA"]


def test_a_disk_error_stops_the_batch_with_one_clear_line() -> None:
    def one(sym: str) -> ingest.FetchResult:
        raise PermissionError(13, "Permission denied", "/data/prices")

    results = ingest.run_all(["AAA", "BBB"], one, source="csv")
    assert [r.status for r in results] == ["failed", "failed"]
    assert results[0].error == results[1].error
    assert "cannot write to the data directory (Permission denied: /data/prices)" in (
        results[0].error or ""
    )
    assert issubclass(StoreUnwritable, DataError)

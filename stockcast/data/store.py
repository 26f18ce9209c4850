"""The price store: one Parquet file per symbol under ``<data>/prices/``.

Schema (version 1), one row per trading session, sorted and unique by date:

    date        datetime64 (tz-naive session date)       index
    open, high, low, close   float64  raw prices as the source gives them (Yahoo: split-adjusted)
    adj_close   float64  close adjusted for splits and dividends (= close when the source has none)
    volume      float64  shares traded (NaN when unknown)
    dividends   float64  cash dividend paid on that session (0 when none)
    splits      float64  split ratio effective that session (0 when none)

The file's Parquet metadata carries the schema version, the source, an optional source
reference (the CSV path a symbol was imported from) and when it was last updated. Writes are
atomic (temporary file, fsync, rename) and serialised by a lock per symbol.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stockcast.data.fsutil import (
    DEFAULT_LOCK_TIMEOUT,
    PRICES_LIMIT,
    atomic_write,
    locked,
    open_stored,
)
from stockcast.data.paths import normalize_symbol, symbol_file, symbols_in
from stockcast.errors import DataError, NoPrices

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
COLUMNS = ["open", "high", "low", "close", "adj_close", "volume", "dividends", "splits"]
_META_KEY = b"stockcast"


@dataclass(frozen=True)
class SymbolInfo:
    """What ``stockcast list`` shows about one stored symbol."""

    ticker: str
    rows: int
    first: str | None  # ISO date of the first session
    last: str | None  # ISO date of the last session
    source: str  # a source's registry name: "yahoo", "csv", "sample" or a plugin's
    source_ref: str | None  # the CSV path for "csv", else None
    updated: str  # ISO timestamp (UTC) of the last write
    schema_version: int
    source_options: dict | None = None  # how to re-read the source, e.g. {"date_format": ...}

    def to_dict(self) -> dict:
        return asdict(self)


class PriceStore:
    """Read and write stored prices under ``root`` (the data directory)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # paths -----------------------------------------------------------------------------
    def path(self, symbol: str) -> Path:
        return symbol_file(self.root, symbol, "prices", ".parquet")

    def lock_path(self, symbol: str) -> Path:
        return symbol_file(self.root, symbol, "locks", ".lock")

    @contextlib.contextmanager
    def lock(self, symbol: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the writer lock of ``symbol`` (waits for another process, up to ``timeout``)."""
        sym = normalize_symbol(symbol)
        with locked(self.lock_path(sym), f"{sym} in {self.root}", timeout):
            yield

    # reading ---------------------------------------------------------------------------
    def exists(self, symbol: str) -> bool:
        """Something is stored for ``symbol`` (reading it may still refuse it: a FIFO, a link
        out of the data directory)."""
        return os.path.lexists(self.path(symbol))

    def symbols(self) -> list[str]:
        return symbols_in(self.root, "prices")

    def read(self, symbol: str) -> pd.DataFrame:
        """The stored frame of ``symbol`` for modelling: NoPrices naming the fix when nothing (or
        an empty file) is stored. ``read_with_info`` returns an empty frame as it is (ingest
        merges into it)."""
        df, info = self.read_with_info(symbol)
        if df.empty:
            raise NoPrices(
                f"no prices stored for {info.ticker}; run `stockcast fetch {info.ticker}` first"
            )
        return df

    def read_with_info(self, symbol: str) -> tuple[pd.DataFrame, SymbolInfo]:
        """The stored frame of ``symbol`` and its metadata, from one read of the file."""

        sym = normalize_symbol(symbol)
        path = self.path(sym)
        try:
            with self._open(sym) as fh:
                table = pq.read_table(fh)
        except DataError:
            raise
        except Exception as exc:  # corrupt file: never expected, since writes are atomic
            raise _unreadable(sym, exc) from None
        meta = _decode_meta(table.schema.metadata)
        if int(meta.get("schema_version", 0)) > SCHEMA_VERSION:
            raise DataError(
                f"{path} was written by a newer stockcast (schema {meta['schema_version']}); "
                "upgrade stockcast"
            )
        absent = [c for c in ("date", *COLUMNS) if c not in table.column_names]
        if absent:
            raise DataError(
                f"stored prices of {sym} lack {', '.join(absent)} (not a stockcast price file); "
                f"run `stockcast fetch {sym} --full` to rebuild them"
            )
        try:
            df = table.to_pandas().set_index("date")
            df.index = df.index.astype("datetime64[ns]")
            df = df[COLUMNS].astype("float64")
        except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
            raise _unreadable(sym, exc) from None
        df.index.name = "date"
        _check_frame(sym, df)
        return df, _symbol_info(sym, meta, table.num_rows)

    def info(self, symbol: str) -> SymbolInfo:
        """Metadata of a stored symbol, read from the Parquet footer only (fast)."""

        sym = normalize_symbol(symbol)
        try:
            with self._open(sym) as fh:
                md = pq.read_metadata(fh)
        except DataError:
            raise
        except Exception as exc:
            raise _unreadable(sym, exc) from None
        return _symbol_info(sym, _decode_meta(md.metadata), md.num_rows)

    def _open(self, sym: str) -> BinaryIO:
        """The stored file of ``sym``, opened (``fsutil.open_stored``); NoPrices when none."""
        fix = f"move it aside and run `stockcast fetch {sym} --full` to rebuild it"
        try:
            return open_stored(self.path(sym), self.root, PRICES_LIMIT, fix)
        except FileNotFoundError:
            missing = f"no prices stored for {sym}; run `stockcast fetch {sym}` first"
            raise NoPrices(missing) from None

    # writing ---------------------------------------------------------------------------
    def write(
        self,
        symbol: str,
        df: pd.DataFrame,
        source: str,
        source_ref: str | None = None,
        source_options: dict | None = None,
    ) -> Path:
        """Atomically replace the stored frame of ``symbol``. Call it while holding ``lock``.

        ``df`` is indexed by session date and has ``COLUMNS``; it must already be validated.
        """

        sym = normalize_symbol(symbol)
        frame = df[COLUMNS].astype("float64").copy()
        frame.index = frame.index.astype("datetime64[ns]")
        frame.index.name = "date"
        if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
            raise DataError(f"refusing to store {sym}: sessions are not sorted and unique")
        first = frame.index[0].date().isoformat() if len(frame) else None
        last = frame.index[-1].date().isoformat() if len(frame) else None
        meta = {
            "schema_version": SCHEMA_VERSION,
            "ticker": sym,
            "source": source,
            "source_ref": source_ref,
            "source_options": source_options or None,
            "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "first": first,
            "last": last,
        }
        table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
        )
        path = self.path(sym)
        atomic_write(path, lambda fh: pq.write_table(table, fh, compression="zstd"))
        return path


def _check_frame(sym: str, df: pd.DataFrame) -> None:
    """DataError naming the repair unless sessions are sorted and unique and every close and
    adjusted close is a finite positive number (what every writer stores)."""
    problem = None
    if df.index.hasnans:
        problem = "sessions without a date"
    elif not df.index.is_monotonic_increasing:
        problem = "sessions out of date order"
    elif df.index.has_duplicates:
        problem = "repeated sessions"
    else:
        closes = df[["close", "adj_close"]].to_numpy()
        if not (np.isfinite(closes) & (closes > 0)).all():
            problem = "closes that are missing, infinite, zero or negative"
    if problem:
        raise DataError(
            f"stored prices of {sym} are damaged ({problem}); "
            f"run `stockcast fetch {sym} --full` (or --csv FILE / --sample) to rebuild them"
        )


_META_TYPES = {
    "schema_version": int,
    "source": str,
    "source_ref": str,
    "source_options": dict,
    "updated": str,
    "first": str,
    "last": str,
}


def _decode_meta(raw: dict | None) -> dict:
    """The stockcast footer; a damaged one (not JSON, not an object, a value of the wrong type)
    keeps only its well-typed keys, so that `list` can still show the file."""
    if not raw or _META_KEY not in raw:
        return {}
    try:
        meta = json.loads(raw[_META_KEY])
    except ValueError:
        return {}
    if not isinstance(meta, dict):
        return {}
    return {
        k: v
        for k, v in meta.items()
        if k in _META_TYPES and isinstance(v, _META_TYPES[k]) and not isinstance(v, bool)
    }


def _symbol_info(sym: str, meta: dict, rows: int) -> SymbolInfo:
    return SymbolInfo(
        ticker=sym,
        rows=rows,
        first=meta.get("first"),
        last=meta.get("last"),
        source=meta.get("source", "unknown"),
        source_ref=meta.get("source_ref"),
        updated=meta.get("updated", ""),
        schema_version=int(meta.get("schema_version", 0)),
        source_options=meta.get("source_options"),
    )


def _unreadable(sym: str, exc: Exception) -> DataError:
    return DataError(
        f"stored prices of {sym} are unreadable ({exc.__class__.__name__}); "
        f"run `stockcast fetch {sym} --full` to rebuild them"
    )

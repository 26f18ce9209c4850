"""Many series in one packed array, with windows gathered by index at batch time.

Series s occupies packed rows ``indptr[s]:indptr[s+1]`` (statsforecast's ``GroupedArray`` idea);
its rows are the sessions after feature warm-up, exactly as ``windows.prepare`` returns them.
Each series is split and scaled on its own, by the rules of ``windows.py`` (its docstring): the
feature scaler from rows before b1, the target scaler from the train windows' targets. A window is
named by the global row of its as-of session; ``gather`` builds its (L, F) inputs and (H,)
targets by fancy indexing, so memory grows with sessions, never with windows.

By default each series gets the fraction split of ``DataConfig`` (or its ``test_start``). With
``split_dates=(val_start, test_start)`` every series splits at the same calendar dates, so no
validation or test target of any series is older than ``val_start`` while every train target of
every series is: a global model never trains on a date it is later scored on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from stockcast.errors import DataError, UsageError
from stockcast.prep.windows import (
    PARTS,
    DataConfig,
    Scaler,
    series_arrays,
    split_and_scale,
    split_summary,
)


@dataclass(frozen=True)
class Series:
    """One symbol inside a ``MultiDataset``: its own dates, split and scalers."""

    symbol: str  # the key it was given under
    start: int  # packed row of its first session (indptr[s])
    dates: pd.DatetimeIndex  # (n,) sessions after warm-up
    close: np.ndarray  # (n,) adjusted closes of those sessions (a view of the packed column)
    vol: np.ndarray  # (n,) EWMA volatility of daily log returns (a view of the packed column)
    offset: int  # warm-up rows dropped from the stored history before `dates`
    history_close: np.ndarray  # (offset + n,) every stored adjusted close (baselines use it)
    parts: dict[str, range]  # local as-of indices of train / val / test
    feature_scaler: Scaler  # fit on this series' rows before its validation start
    target_scaler: Scaler  # fit on this series' train targets


@dataclass(frozen=True)
class MultiDataset:
    """Packed feature rows of many series, their splits and scalers; windows by index."""

    config: DataConfig
    indptr: np.ndarray  # (S+1,) int64: series s occupies rows indptr[s]:indptr[s+1]
    rows: np.ndarray  # (R, F) float32 feature rows, each scaled by its own series' scaler
    log_close: np.ndarray  # (R,) float64 log adjusted close (targets are differences of it)
    target_mean: np.ndarray  # (S, H) per-series target scaler means, stacked
    target_std: np.ndarray  # (S, H) per-series target scaler stds, stacked
    series: tuple[Series, ...]  # per-series metadata, in packed order

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols in packed order: ``symbols[series_id]``."""
        return tuple(s.symbol for s in self.series)

    @property
    def nbytes(self) -> int:
        """Bytes of the packed arrays (per-series metadata views excluded)."""
        packed = (self.rows, self.log_close, self.indptr, self.target_mean, self.target_std)
        return sum(a.nbytes for a in packed)

    def get(self, symbol: str) -> Series:
        """The series of ``symbol``; DataError when it is not in the dataset."""
        for s in self.series:
            if s.symbol == symbol:
                return s
        raise DataError(f"{symbol} is not in this dataset; choose one of {', '.join(self.symbols)}")

    def index(self, part: str, symbol: str | None = None) -> np.ndarray:
        """(N,) int64 global as-of rows of the windows of ``part``, series by series, in time
        order; only ``symbol``'s when given."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        chosen = self.series if symbol is None else (self.get(symbol),)
        ranges = [np.arange(s.parts[part].start, s.parts[part].stop) + s.start for s in chosen]
        return np.concatenate(ranges).astype(np.int64) if ranges else np.empty(0, np.int64)

    def series_id(self, rows: np.ndarray) -> np.ndarray:
        """(B,) int64 series of each global row (an index into ``series`` and ``symbols``)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.indptr[-1]):
            raise IndexError(f"rows must lie in [0, {self.indptr[-1]})")
        return np.searchsorted(self.indptr, rows, side="right") - 1

    def local(self, rows: np.ndarray) -> np.ndarray:
        """(B,) as-of index t of each global row inside its own series."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows - self.indptr[self.series_id(rows)]

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x (B, L, F) float32, scaled y (B, H) float32) of the windows with as-of ``rows``;
        y is NaN where a target lies past the end of its series."""
        rows = np.asarray(rows, dtype=np.int64)
        sid = self.series_id(rows)  # (B,)
        lookback = self.config.lookback
        if np.any(rows - lookback + 1 < self.indptr[sid]):
            raise ValueError(f"a window of {lookback} rows would start before its series")
        steps = np.arange(1 - lookback, 1)  # (L,) offsets of the inputs from the as-of row
        x = self.rows[rows[:, None] + steps]  # (B, L) indices -> (B, L, F)
        y = (self.targets(rows) - self.target_mean[sid]) / self.target_std[sid]  # (B, H)
        return x, y.astype(np.float32)

    def targets(self, rows: np.ndarray) -> np.ndarray:
        """(B, H) float64 target log returns log(C[t+h] / C[t]); NaN past the end of a series."""
        rows = np.asarray(rows, dtype=np.int64)
        end = self.indptr[self.series_id(rows) + 1]  # (B,) first row of the next series
        ahead = rows[:, None] + np.arange(1, self.config.horizon + 1)  # (B, H)
        inside = ahead < end[:, None]  # (B, H)
        future = self.log_close[np.where(inside, ahead, rows[:, None])]  # (B, H)
        return np.where(inside, future - self.log_close[rows][:, None], np.nan)

    def split_summary(self, symbol: str) -> dict:
        """Per part of ``symbol``: as-of start/end/n and the target date range."""
        s = self.get(symbol)
        return split_summary(s.dates, s.parts, self.config.horizon)


def build_multi(
    prices: Mapping[str, pd.DataFrame],
    cfg: DataConfig,
    split_dates: tuple[str, str] | None = None,
) -> MultiDataset:
    """Pack, split and scale every series of ``prices`` (symbol -> stored frame).

    ``split_dates=(val_start, test_start)`` (ISO dates) splits all series at the same sessions;
    otherwise each series gets ``cfg``'s own split, as ``windows.build_dataset`` would."""
    if not prices:
        raise UsageError("no series given; pass at least one symbol's prices")
    bounds = _parse_split_dates(split_dates, cfg)
    packed = [_pack_one(sym, frame, cfg, bounds) for sym, frame in prices.items()]
    sizes = [len(one.dates) for one, _, _ in packed]
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # (S+1,)
    close = np.concatenate([one.close for one, _, _ in packed])  # (R,)
    vol = np.concatenate([one.vol for one, _, _ in packed])  # (R,)
    series = tuple(  # per-series close and vol become views of the packed columns
        replace(one, start=int(lo), close=close[lo:hi], vol=vol[lo:hi])
        for (one, _, _), lo, hi in zip(packed, indptr[:-1], indptr[1:], strict=True)
    )
    return MultiDataset(
        config=cfg,
        indptr=indptr,
        rows=np.concatenate([rows for _, rows, _ in packed]),  # (R, F) float32
        log_close=np.concatenate([lc for _, _, lc in packed]),  # (R,)
        target_mean=np.stack([s.target_scaler.mean for s in series]),  # (S, H)
        target_std=np.stack([s.target_scaler.std for s in series]),  # (S, H)
        series=series,
    )


def _pack_one(
    symbol: str,
    prices: pd.DataFrame,
    cfg: DataConfig,
    bounds: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> tuple[Series, np.ndarray, np.ndarray]:
    """One series on its own: (its Series with start 0, scaled rows (n, F) float32, log close)."""
    one = series_arrays(symbol, prices, cfg)
    parts, fs, ts = split_and_scale(symbol, one, cfg, bounds)
    history = prices["adj_close"].to_numpy(dtype=np.float64)  # (offset + n,)
    series = Series(symbol, 0, one.dates, one.close, one.vol, one.offset, history, parts, fs, ts)
    return series, fs.forward(one.rows).astype(np.float32), one.log_close  # (n, F), (n,)


def _parse_split_dates(
    split_dates: tuple[str, str] | None, cfg: DataConfig
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(val_start, test_start) as timestamps; UsageError when they are not ordered dates."""
    if split_dates is None:
        return None
    if cfg.test_start is not None:
        raise UsageError("give either a test start date or split dates for all series, not both")
    try:
        val_start, test_start = (pd.Timestamp(d) for d in split_dates)
    except ValueError:
        raise UsageError(f"split dates {split_dates!r} are not dates; use YYYY-MM-DD") from None
    if not val_start < test_start:
        raise UsageError(
            f"the validation start {val_start:%Y-%m-%d} must come before the test start "
            f"{test_start:%Y-%m-%d}; swap or change the split dates"
        )
    return val_start, test_start

"""Lookback windows, direct multi-horizon targets, the chronological split, and scalers.

Indices refer to the sessions left after feature warm-up (n of them). For as-of index t (the
last session inside a window) the inputs are feature rows t-L+1..t and the targets are
``log(C[t+h] / C[t])`` for h = 1..H. Split bounds b1 < b2 (see ARCHITECTURE.md):

    train       t+H <= b1-1
    validation  t >= b1-1 and t+H <= b2-1
    test        t >= b2-1 and t+H <= n-1

so no target of a later part is ever seen while fitting an earlier one. Scaler statistics come
from the train part only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockcast.errors import DataError, UsageError
from stockcast.options import DataConfig
from stockcast.prep import features

MIN_PART_WINDOWS = 10  # fewest windows each of train, validation and test may hold
PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Scaler:
    """Per-column standardisation; ``forward`` and ``inverse`` are pure and exact inverses."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,), never 0

    @classmethod
    def fit(cls, rows: np.ndarray) -> Scaler:
        mean = np.nanmean(rows, axis=0)
        std = np.nanstd(rows, axis=0)
        return cls(mean=mean, std=np.where(std > 1e-12, std, 1.0))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(mean=np.asarray(d["mean"], float), std=np.asarray(d["std"], float))


def split_bounds(
    dates: pd.DatetimeIndex, val_frac: float, test_frac: float, test_start: str | None
) -> tuple[int, int]:
    """(b1, b2): first session index of validation and of test."""
    n = len(dates)
    if not (0 < val_frac < 1 and 0 < test_frac < 1 and val_frac + test_frac < 1):
        raise UsageError("--val-frac and --test-frac must be in (0, 1) and sum below 1")
    if test_start is None:
        return fraction_bounds(n, val_frac, test_frac)

    try:
        when = pd.Timestamp(test_start)
    except ValueError:
        raise UsageError(f"--test-start {test_start!r} is not a date; use YYYY-MM-DD") from None
    b2 = int(dates.searchsorted(when))  # validation: the val_frac share just before it
    return b2 - math.floor(round(val_frac * n, 9)), b2


def fraction_bounds(n: int, val_frac: float, test_frac: float) -> tuple[int, int]:
    """(floor((1 - val - test) n), floor((1 - test) n)): 70/15/15 gives (0.7 n, 0.85 n)."""
    b1 = math.floor(round((1.0 - val_frac - test_frac) * n, 9))
    return b1, math.floor(round((1.0 - test_frac) * n, 9))


def part_ranges(n: int, lookback: int, horizon: int, b1: int, b2: int) -> dict[str, range]:
    """As-of indices t of each part (ranges; possibly empty)."""
    first = lookback - 1
    return {
        "train": range(first, max(first, b1 - horizon)),
        "val": range(max(first, b1 - 1), max(first, b2 - horizon)),
        "test": range(max(first, b2 - 1), max(first, n - horizon)),
    }


def min_sessions(cfg: DataConfig) -> int:
    """Fewest stored sessions for which every part holds MIN_PART_WINDOWS (fraction split)."""
    n = cfg.lookback + cfg.horizon
    while True:
        b1, b2 = fraction_bounds(n, cfg.val_frac, cfg.test_frac)
        parts = part_ranges(n, cfg.lookback, cfg.horizon, b1, b2)
        if all(len(r) >= MIN_PART_WINDOWS for r in parts.values()):
            return n + features.warmup(cfg.features)
        n += 1


def make_windows(rows: np.ndarray, lookback: int) -> np.ndarray:
    """(n, F) rows -> (n-L+1, L, F) float32 windows; window i ends at row i+L-1 (one copy)."""
    view = np.lib.stride_tricks.sliding_window_view(rows, lookback, axis=0)  # (N, F, L)
    return np.ascontiguousarray(view.transpose(0, 2, 1), dtype=np.float32)


def make_targets(log_close: np.ndarray, horizon: int) -> np.ndarray:
    """(n,) log closes -> (n, H) targets log(C[t+h]/C[t]); NaN where t+h is past the end."""
    n = len(log_close)
    out = np.full((n, horizon), np.nan)
    for h in range(1, min(horizon, n - 1) + 1):
        out[: n - h, h - 1] = log_close[h:] - log_close[:-h]
    return out


@dataclass(frozen=True)
class Dataset:
    """Windows of one symbol, scaled with train-only statistics, with the split."""

    config: DataConfig
    dates: pd.DatetimeIndex  # (n,) sessions after warm-up
    close: np.ndarray  # (n,) adjusted closes of those sessions
    offset: int  # warm-up rows dropped from the stored history before `dates`
    x: np.ndarray  # (N, L, F) float32 scaled inputs, window i has as-of index i+L-1
    y: np.ndarray  # (N, H) float64 target log returns (unscaled)
    vol: np.ndarray  # (n,) EWMA volatility of daily log returns at each session
    parts: dict[str, range]  # as-of indices of train / val / test
    feature_scaler: Scaler
    target_scaler: Scaler
    history_close: np.ndarray  # (offset + n,) every stored adjusted close (baselines use it)

    def window_slice(self, part: str) -> slice:
        """Rows of ``x``/``y`` that belong to ``part``."""
        r = self.parts[part]
        first = self.config.lookback - 1
        return slice(r.start - first, r.stop - first)

    def arrays(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, scaled y float32) of one part."""
        s = self.window_slice(part)
        return self.x[s], self.target_scaler.forward(self.y[s]).astype(np.float32)

    def split_summary(self) -> dict:
        """Per part: as-of start/end/n and the target date range (for the manifest)."""
        return split_summary(self.dates, self.parts, self.config.horizon)


def split_summary(dates: pd.DatetimeIndex, parts: dict[str, range], horizon: int) -> dict:
    """Per part: as-of start/end/n and the target date range of one series' split."""
    out: dict[str, dict] = {}
    for name, r in parts.items():
        if len(r) == 0:
            out[name] = {"n": 0}
            continue
        out[name] = {
            "start": _iso(dates[r.start]),
            "end": _iso(dates[r.stop - 1]),
            "n": len(r),
            "target_start": _iso(dates[r.start + 1]),
            "target_end": _iso(dates[r.stop - 1 + horizon]),
        }
    return out


def _iso(ts: pd.Timestamp) -> str:
    return ts.date().isoformat()


def prepare(
    symbol: str, prices: pd.DataFrame, cfg: DataConfig
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray, int]:
    """Features and closes after warm-up: (dates, rows (n, F), close, vol, offset)."""
    features.check_closes(symbol, prices["adj_close"])
    table = features.build(prices, cfg.features)
    offset = features.warmup(cfg.features)
    rows = table.to_numpy()[offset:]
    rows = np.where(np.isfinite(rows), rows, 0.0)  # gaps after warm-up: neutral value
    vol = features.ewma_volatility(prices["adj_close"]).to_numpy()[offset:]
    close = prices["adj_close"].to_numpy(dtype=np.float64)[offset:]
    return prices.index[offset:], rows, close, vol, offset


def build_dataset(
    symbol: str,
    prices: pd.DataFrame,
    cfg: DataConfig,
    scalers: tuple[Scaler, Scaler] | None = None,
    parts: dict[str, range] | None = None,
) -> Dataset:
    """Windows, split and scalers for one symbol. Give ``scalers`` and ``parts`` to rebuild a
    saved model's view (evaluate, predict); otherwise they are computed (train)."""
    one = series_arrays(symbol, prices, cfg)
    if parts is None:
        parts, fs, ts = split_and_scale(symbol, one, cfg)
    elif scalers is None:
        raise ValueError("rebuilding a saved split needs its scalers")
    else:
        fs, ts = scalers
    x = make_windows(fs.forward(one.rows), cfg.lookback)  # (n-L+1, L, F)
    y = one.targets[cfg.lookback - 1 :]  # (n-L+1, H), NaN where the future is not stored yet
    history = prices["adj_close"].to_numpy(dtype=np.float64)
    return Dataset(cfg, one.dates, one.close, one.offset, x, y, one.vol, parts, fs, ts, history)


@dataclass(frozen=True)
class SeriesArrays:
    """One series' sessions after feature warm-up, unsplit and unscaled: what both the windows
    of one symbol (``build_dataset``) and the packed series (``dataset.build_multi``) start
    from."""

    dates: pd.DatetimeIndex  # (n,)
    rows: np.ndarray  # (n, F) raw feature rows (gaps after warm-up: 0)
    close: np.ndarray  # (n,) adjusted closes
    vol: np.ndarray  # (n,) EWMA volatility of daily log returns
    offset: int  # warm-up rows dropped from the stored history
    log_close: np.ndarray  # (n,)
    targets: np.ndarray  # (n, H) row t = as-of t; NaN past the end


def series_arrays(symbol: str, prices: pd.DataFrame, cfg: DataConfig) -> SeriesArrays:
    """Features, closes and targets of ``symbol`` after warm-up; DataError when too short for
    one window."""
    dates, rows, close, vol, offset = prepare(symbol, prices, cfg)
    check_enough_sessions(symbol, len(dates), offset, cfg)
    log_close = np.log(close)
    targets = make_targets(log_close, cfg.horizon)  # (n, H), row t = as-of t
    return SeriesArrays(dates, rows, close, vol, offset, log_close, targets)


def split_and_scale(
    symbol: str,
    one: SeriesArrays,
    cfg: DataConfig,
    bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> tuple[dict[str, range], Scaler, Scaler]:
    """(parts, feature scaler, target scaler) of one series: ``cfg``'s own split (fractions or
    ``test_start``), or the split at the sessions of ``bounds`` (validation start, test start;
    the common dates of many series); DataError naming the fix when a part is too short or a
    feature carries no signal in the scaler's rows."""
    n = len(one.dates)
    if bounds is None:
        b1, b2 = split_bounds(one.dates, cfg.val_frac, cfg.test_frac, cfg.test_start)
        parts = part_ranges(n, cfg.lookback, cfg.horizon, b1, b2)
        check_parts(symbol, n, parts, cfg)
    else:
        b1, b2 = (int(one.dates.searchsorted(when)) for when in bounds)
        parts = part_ranges(n, cfg.lookback, cfg.horizon, b1, b2)
        check_date_parts(symbol, parts, bounds)
    features.require_signal(one.rows[:b1], cfg.features, symbol)  # the scaler's rows
    fs, ts = fit_scalers(one.rows, one.targets, b1, parts["train"])
    return parts, fs, ts


def check_date_parts(
    symbol: str, parts: dict[str, range], bounds: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    """DataError (naming the fix) when the common-date split leaves a part of ``symbol`` short."""
    if all(len(r) >= MIN_PART_WINDOWS for r in parts.values()):
        return
    detail = ", ".join(f"{k} {len(parts[k])}" for k in PARTS)
    raise DataError(
        f"{symbol}: the split at {bounds[0]:%Y-%m-%d} / {bounds[1]:%Y-%m-%d} leaves too few "
        f"windows ({detail}; each needs {MIN_PART_WINDOWS}); choose other split dates or leave "
        f"{symbol} out"
    )


def check_enough_sessions(symbol: str, n: int, offset: int, cfg: DataConfig) -> None:
    """DataError when ``n`` sessions after warm-up cannot hold one lookback window."""
    if n < cfg.lookback:
        raise DataError(
            f"{symbol} has {n + offset} sessions; one window of {cfg.lookback} needs at least "
            f"{cfg.lookback + offset}; fetch a longer history"
        )


def fit_scalers(
    rows: np.ndarray, targets: np.ndarray, b1: int, train: range
) -> tuple[Scaler, Scaler]:
    """(feature scaler on rows before b1, target scaler on the train as-of rows' targets)."""
    return Scaler.fit(rows[:b1]), Scaler.fit(targets[train.start : train.stop])


def check_parts(symbol: str, n: int, parts: dict[str, range], cfg: DataConfig) -> None:
    """DataError (naming the fix) when a part holds fewer than MIN_PART_WINDOWS windows."""
    short = [name for name, r in parts.items() if len(r) < MIN_PART_WINDOWS]
    if not short:
        return
    need = min_sessions(cfg)
    have = n + features.warmup(cfg.features)
    detail = ", ".join(f"{k} {len(parts[k])}" for k in PARTS)
    if cfg.test_start is not None:
        raise DataError(
            f"{symbol}: the split at --test-start {cfg.test_start} leaves too few windows "
            f"({detail}; each needs {MIN_PART_WINDOWS}); choose another date"
        )
    raise DataError(
        f"{symbol} has {have} sessions; lookback {cfg.lookback} + horizon {cfg.horizon} with "
        f"this split needs at least {need} (windows: {detail}); fetch a longer history or "
        f"lower --lookback"
    )

"""Builders shared by the tests: the CLI runner, tiny training flags, synthetic price frames.

Import them as ``from helpers import ...`` (pytest puts tests/ on the path); fixtures live in
conftest.py. A test module never imports another test module.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner, Result

from stockcast.cli import app
from stockcast.data.calendar import get_calendar
from stockcast.data.store import COLUMNS

# `train` flags for a model that trains in about a second on the sample
FAST = ["--epochs", "2", "--hidden", "8", "--lookback", "20", "--batch-size", "512"]
# smaller still, a 5-session horizon and no progress bar (forecast and predict tests)
TINY = ["--epochs", "1", "--hidden", "4", "--lookback", "10", "--horizon", "5", "--quiet"]
# the first five NYSE sessions after nyse_prices()'s default end, 2018-12-31
AFTER_NEW_YEAR = [dt.date(2019, 1, d) for d in (2, 3, 4, 7, 8)]


def run(*args: str) -> Result:
    """``stockcast ARGS`` through Typer's CliRunner, in the test's own data directory."""
    return CliRunner().invoke(app, list(args))


def run_in(root: Path, *args: str) -> Result:
    """``stockcast --data-dir ROOT ARGS``."""
    return CliRunner().invoke(app, ["--data-dir", str(root), *args])


def synthetic_prices(n: int, seed: int = 0, drift: float = 0.0003, vol: float = 0.015):
    """A random-walk OHLCV frame in the store's schema (adjusted close = 0.9 x close)."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    open_ = close * np.exp(rng.normal(0, vol / 3, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, vol / 2, n)))
    dates = pd.bdate_range("2000-01-03", periods=n, name="date").astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": close * 0.9,
            "volume": rng.integers(1_000, 1_000_000, n).astype(float),
            "dividends": 0.0,
            "splits": 0.0,
        },
        index=dates,
    )


def nyse_prices(end: str = "2018-12-31", n: int = 400, volume: bool = True) -> pd.DataFrame:
    """A random walk on NYSE sessions ending at ``end``, in the store's schema."""
    sessions = get_calendar("XNYS").sessions_window(pd.Timestamp(end), -n)
    rng = np.random.default_rng(0)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.004,
            "low": np.minimum(open_, close) * 0.996,
            "close": close,
            "adj_close": close,
            "volume": rng.integers(1_000_000, 2_000_000, n).astype(float) if volume else np.nan,
            "dividends": 0.0,
            "splits": 0.0,
        },
        index=pd.DatetimeIndex(sessions.tz_localize(None), name="date"),
    )


def linear_prices(n: int, start: str = "2000-01-03", level: float = 100.0) -> pd.DataFrame:
    """Closes ``level, level + 1, ...`` on business days; every 7th volume unknown."""
    idx = pd.bdate_range(start, periods=n, name="date").astype("datetime64[ns]")
    close = level + np.arange(n, dtype=float)
    df = pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "adj_close": close * 0.9,
            "volume": np.where(np.arange(n) % 7 == 0, np.nan, 1000.0),
            "dividends": 0.0,
            "splits": 0.0,
        },
        index=idx,
    )
    return df[COLUMNS]


def predict_latest(symbol: str, prices: pd.DataFrame, manifest, model) -> dict:
    """Predicted log returns (H,) from the latest stored window, with its as-of context: the
    torch route, a reference for `predict` (which runs the same window through
    ``models.numpy_infer``)."""
    import torch

    from stockcast.forecasting.latest import latest_window
    from stockcast.models.base import predict_scaled

    w = latest_window(symbol, prices, manifest)
    mu = w.log_returns(predict_scaled(model, w.x, torch.device("cpu")))
    return {"as_of": w.as_of, "last_close": w.last_close, "log_returns": mu, "vol": w.vol}

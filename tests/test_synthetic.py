"""The simulated GARCH(1,1)-t OHLC series (issue 19): bars that enclose their open and close,
an oracle band with the stated coverage, and a range that carries the true volatility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.data.store import COLUMNS, PriceStore
from stockcast.data.synthetic import garch_ohlc, oracle_bounds
from stockcast.errors import UsageError
from stockcast.prep import features


@pytest.fixture(scope="module")
def long():
    return garch_ohlc(20_000, seed=0)


def test_bars_enclose_open_and_close_in_the_store_schema(tmp_path: Path) -> None:
    s = garch_ohlc(500, seed=1)
    p = s.prices
    assert list(p.columns) == COLUMNS and p.index.name == "date"
    assert p.index[0] == pd.Timestamp("2000-01-03") and p.index.dtype == "datetime64[ns]"
    assert (p.index.day_of_week < 5).all() and p.index.is_monotonic_increasing
    top, bottom = p[["open", "close"]].max(axis=1), p[["open", "close"]].min(axis=1)
    assert (p["high"] >= top).all() and (top >= bottom).all()
    assert (bottom >= p["low"]).all() and (p["low"] > 0).all()
    assert (p["high"] > p["low"]).iloc[1:].all()  # every traded session has a range
    assert (p["open"] != p["close"].shift(1)).iloc[1:].all()  # and an overnight gap
    assert s.sigma.shape == (500,) and s.nu == 6.0
    PriceStore(tmp_path).write("SYN", p, source="csv")
    pd.testing.assert_frame_equal(PriceStore(tmp_path).read("SYN"), p)


def test_the_same_seed_gives_the_same_series() -> None:
    a, b = garch_ohlc(50, seed=3), garch_ohlc(50, seed=3)
    pd.testing.assert_frame_equal(a.prices, b.prices)
    assert not a.prices.equals(garch_ohlc(50, seed=4).prices)
    no_gap = garch_ohlc(50, seed=3, overnight=0.0).prices
    np.testing.assert_allclose(no_gap["open"].iloc[1:], no_gap["close"].iloc[:-1])


def test_returns_are_sigma_times_a_unit_variance_t(long) -> None:
    r = np.diff(np.log(long.prices["close"].to_numpy()))
    z = r / long.sigma[1:]
    assert np.std(z) == pytest.approx(1.0, abs=0.03)
    # sigma[t] is known at t-1: the GARCH recursion on the previous return and sigma
    var = 2e-6 + 0.08 * r[:-1] ** 2 + 0.90 * long.sigma[1:-1] ** 2
    np.testing.assert_allclose(long.sigma[2:] ** 2, var, rtol=1e-10)


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_the_oracle_band_covers_its_level(long, level: float) -> None:
    r = np.diff(np.log(long.prices["close"].to_numpy()))  # r[i] is session i + 1's return
    asof = np.arange(0, r.size)
    lo, hi = oracle_bounds(long, asof, level)
    covered = np.mean((r >= lo) & (r <= hi))
    assert level - 0.01 <= covered <= level + 0.01


def test_the_range_carries_the_true_volatility(long) -> None:
    """parkinson_vol at t (the day's range) tracks sigma[t] far better than |r[t]| does."""
    f = features.build(long.prices, ["parkinson_vol", "abs_return", "parkinson_vol_5"]).iloc[25:]
    sigma = long.sigma[25:]
    corr = {n: np.corrcoef(f[n].to_numpy(), sigma)[0, 1] for n in f.columns}
    assert corr["parkinson_vol"] > 0.6 and corr["abs_return"] < 0.45
    assert corr["parkinson_vol"] > corr["abs_return"] + 0.2
    assert corr["parkinson_vol_5"] > 0.9


def test_parameters_out_of_range_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="alpha \\+ beta < 1"):
        garch_ohlc(10, 0, alpha=0.2, beta=0.85)
    with pytest.raises(UsageError, match="nu > 2"):
        garch_ohlc(10, 0, nu=2.0)
    with pytest.raises(UsageError, match="level"):
        oracle_bounds(garch_ohlc(10, 0), np.arange(3), 1.0)
    with pytest.raises(UsageError, match="as-of sessions"):
        oracle_bounds(garch_ohlc(10, 0), np.array([9]), 0.9)

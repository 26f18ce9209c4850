"""Features: registry, causality (truncation never changes earlier values), robustness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_prices
from hypothesis import given, settings
from hypothesis import strategies as st

from stockcast.errors import DataError, UsageError
from stockcast.prep import features


def test_registry_defaults_and_names():
    assert features.DEFAULT_FEATURES == ("log_return", "hl_pct", "pct_change", "log_volume_change")
    assert set(features.REGISTRY) >= {"volatility", "ma_distance", "rsi"}
    assert features.parse_names(None) == features.DEFAULT_FEATURES
    assert features.parse_names("rsi, log_return,rsi") == ("rsi", "log_return")
    with pytest.raises(UsageError, match="stockcast features"):
        features.parse_names("log_return,bogus")


def test_adjusted_ohlc_scales_by_adj_ratio():
    p = synthetic_prices(30)
    a = features.adjusted(p)
    np.testing.assert_allclose(a["open"], p["open"] * 0.9)
    np.testing.assert_allclose(a["close"], p["adj_close"])
    # ratios are unchanged by the adjustment
    f = features.build(p, ["hl_pct", "pct_change"])
    np.testing.assert_allclose(f["hl_pct"], (p["high"] - p["low"]) / p["close"] * 100)


def test_warmup_rows_are_nan_and_the_rest_finite():
    p = synthetic_prices(200)
    names = list(features.REGISTRY)
    f = features.build(p, names)
    w = features.warmup(names)
    assert f.iloc[w:].notna().all().all()
    for n in names:
        lead = features.REGISTRY[n].window - 1
        assert f[n].iloc[:lead].isna().all(), n


def test_volume_change_survives_zero_and_missing_volume():
    p = synthetic_prices(50)
    p.iloc[10:13, p.columns.get_loc("volume")] = 0.0
    p.iloc[20:22, p.columns.get_loc("volume")] = np.nan
    v = features.build(p, ["log_volume_change"])["log_volume_change"]
    assert np.isfinite(v.iloc[1:]).all()
    assert v.abs().max() <= features.VOLUME_CLIP


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(n=st.integers(40, 160), cut=st.integers(1, 159), seed=st.integers(0, 10_000))
def test_truncating_the_series_never_changes_earlier_values(n, cut, seed):
    cut = min(cut, n)
    p = synthetic_prices(n, seed)
    names = list(features.REGISTRY)
    full = features.build(p, names)
    part = features.build(p.iloc[:cut], names)
    pd.testing.assert_frame_equal(part, full.iloc[:cut], rtol=1e-10, atol=1e-12)
    vol_full = features.ewma_volatility(p["adj_close"])
    vol_part = features.ewma_volatility(p["adj_close"].iloc[:cut])
    pd.testing.assert_series_equal(vol_part, vol_full.iloc[:cut], rtol=1e-10)


def test_ewma_volatility_tracks_the_noise_level():
    p = synthetic_prices(3000, seed=3, drift=0.0, vol=0.02)
    v = features.ewma_volatility(p["adj_close"], halflife=20)
    assert np.isnan(v.iloc[0])
    assert 0.015 < v.iloc[500:].mean() < 0.025


def test_non_positive_close_is_a_clear_data_error():
    p = synthetic_prices(30)
    p.iloc[5, p.columns.get_loc("adj_close")] = 0.0
    with pytest.raises(DataError, match="stockcast fetch X --full"):
        features.check_closes("X", p["adj_close"])

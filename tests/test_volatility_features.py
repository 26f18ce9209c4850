"""Volatility features (issue 19): hand-computed values, no look-ahead, close-only refusal."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import run, synthetic_prices

from stockcast.errors import DataError
from stockcast.prep import features
from stockcast.prep.features import RETURN_VOLATILITY_FEATURES, VOLATILITY_FEATURES

RANGE = [n for n in VOLATILITY_FEATURES if n not in RETURN_VOLATILITY_FEATURES]


def _bars(n: int = 30, seed: int = 1) -> pd.DataFrame:
    """OHLC bars with an adjustment ratio of 0.9 (features read adjusted prices)."""
    return synthetic_prices(n, seed)


def test_the_registry_holds_them_off_by_default() -> None:
    assert VOLATILITY_FEATURES == (
        "parkinson_vol", "garman_klass_vol", "rogers_satchell_vol", "parkinson_vol_5",
        "parkinson_vol_22", "abs_return", "abs_return_5", "abs_return_22", "overnight_gap",
    )  # fmt: skip
    assert RETURN_VOLATILITY_FEATURES == ("abs_return", "abs_return_5", "abs_return_22")
    assert set(VOLATILITY_FEATURES) <= set(features.REGISTRY)
    assert not set(VOLATILITY_FEATURES) & set(features.DEFAULT_FEATURES)
    assert features.warmup(["parkinson_vol_22"]) == 21 and features.warmup(["abs_return_22"]) == 22


def test_values_match_a_hand_computation() -> None:
    p = _bars()
    f = features.build(p, VOLATILITY_FEATURES)
    ratio = 0.9  # adj_close / close in synthetic_prices: ratios of prices do not see it
    o, h, lo, c = (p[k].to_numpy() for k in ("open", "high", "low", "close"))
    t = 25
    park = [math.log(h[i] / lo[i]) ** 2 / (4 * math.log(2)) for i in range(len(p))]
    assert f["parkinson_vol"].iloc[t] == pytest.approx(math.sqrt(park[t]))
    gk = 0.5 * math.log(h[t] / lo[t]) ** 2 - (2 * math.log(2) - 1) * math.log(c[t] / o[t]) ** 2
    assert f["garman_klass_vol"].iloc[t] == pytest.approx(math.sqrt(gk))
    rs = math.log(h[t] / c[t]) * math.log(h[t] / o[t]) + math.log(lo[t] / c[t]) * math.log(
        lo[t] / o[t]
    )
    assert f["rogers_satchell_vol"].iloc[t] == pytest.approx(math.sqrt(rs))
    assert f["parkinson_vol_5"].iloc[t] == pytest.approx(math.sqrt(sum(park[t - 4 : t + 1]) / 5))
    assert f["parkinson_vol_22"].iloc[t] == pytest.approx(math.sqrt(sum(park[t - 21 : t + 1]) / 22))
    absr = [abs(math.log(c[i] / c[i - 1])) for i in range(1, len(p))]  # absr[i - 1] is session i
    assert f["abs_return"].iloc[t] == pytest.approx(absr[t - 1])
    assert f["abs_return_5"].iloc[t] == pytest.approx(sum(absr[t - 5 : t]) / 5)
    assert f["abs_return_22"].iloc[t] == pytest.approx(sum(absr[t - 22 : t]) / 22)
    gap = math.log(o[t] * ratio / (c[t - 1] * ratio))
    assert f["overnight_gap"].iloc[t] == pytest.approx(gap)


def test_a_tiny_bar_by_hand() -> None:
    """One bar: H/L = e^0.02, O = L, C = H: Parkinson 0.02 / sqrt(4 ln 2); GK and RS exact."""
    low, high = 100.0, 100.0 * math.exp(0.02)
    p = pd.DataFrame(
        {"open": [low, low], "high": [high, high], "low": [low, low], "close": [high, high],
         "adj_close": [high, high], "volume": 1.0, "dividends": 0.0, "splits": 0.0},
        index=pd.bdate_range("2020-01-01", periods=2, name="date"),
    )  # fmt: skip
    f = features.build(p, ["parkinson_vol", "garman_klass_vol", "rogers_satchell_vol"])
    assert f["parkinson_vol"].iloc[1] == pytest.approx(0.02 / math.sqrt(4 * math.log(2)))
    assert f["garman_klass_vol"].iloc[1] == pytest.approx(0.02 * math.sqrt(1.5 - 2 * math.log(2)))
    assert f["rogers_satchell_vol"].iloc[1] == pytest.approx(
        0.0, abs=1e-12
    )  # ln(H/C) = ln(L/O) = 0


def test_the_warmup_is_nan_and_the_rest_finite() -> None:
    f = features.build(_bars(60), VOLATILITY_FEATURES)
    for n in VOLATILITY_FEATURES:
        lead = features.REGISTRY[n].window - 1
        assert f[n].iloc[:lead].isna().all() and np.isfinite(f[n].iloc[lead:]).all(), n
        assert (f[n].iloc[lead:] >= 0).all() or n == "overnight_gap", n


@pytest.mark.parametrize("t", [0, 1, 4, 5, 21, 22, 30])
def test_a_value_never_reads_a_later_session(t: int) -> None:
    p = _bars(45)
    later = p.copy()
    rng = np.random.default_rng(t)
    for col in ("open", "high", "low", "close", "adj_close"):
        later.iloc[t + 1 :, later.columns.get_loc(col)] *= np.exp(
            rng.normal(0, 0.3, len(p) - t - 1)
        )
    before = features.build(p, VOLATILITY_FEATURES).iloc[: t + 1]
    after = features.build(later, VOLATILITY_FEATURES)
    pd.testing.assert_frame_equal(after.iloc[: t + 1], before)
    assert not after.iloc[t + 1 :].equals(features.build(p, VOLATILITY_FEATURES).iloc[t + 1 :])


def _close_only(n: int = 60) -> pd.DataFrame:
    """What the store holds for a CSV of dates and closes: open, high and low filled from it."""
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
    return pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close, "adj_close": close,
         "volume": 1e6, "dividends": 0.0, "splits": 0.0},
        index=pd.bdate_range("2020-01-01", periods=n, name="date"),
    )  # fmt: skip


def test_close_only_prices_are_refused_range_features_in_one_line() -> None:
    names = ["log_return", "parkinson_vol_5", "overnight_gap", "abs_return_5"]
    with pytest.raises(DataError) as err:
        features.require_inputs(_close_only(), names, "CLO", "the chosen features include")
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("the chosen features include parkinson_vol_5, overnight_gap, but ")
    assert "range features need OHLC bars" in line and "abs_return, abs_return_5" in line
    assert line.endswith("`stockcast train CLO --features log_return,abs_return_5`")


def test_close_only_prices_feed_the_return_based_ones() -> None:
    prices = _close_only()
    features.require_inputs(prices, ["log_return", *RETURN_VOLATILITY_FEATURES], "CLO", "x")
    assert features.usable_features(prices, VOLATILITY_FEATURES) == RETURN_VOLATILITY_FEATURES
    assert features.usable_features(_bars(), VOLATILITY_FEATURES) == VOLATILITY_FEATURES
    # a bar with hl_pct (an older feature that reads zero here) keeps its own message
    with pytest.raises(DataError, match=r"and hl_pct reads zero \(high = low in the stored"):
        features.require_inputs(prices, ["hl_pct", "parkinson_vol"], "CLO", "x uses")


def test_the_features_command_lists_them() -> None:
    out = run("features", "--json")
    assert out.exit_code == 0, out.output
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    for n in VOLATILITY_FEATURES:
        assert rows[n]["formula"] and not rows[n]["default"], n
    assert rows["parkinson_vol_22"]["window"] == 22 and rows["abs_return_22"]["window"] == 23

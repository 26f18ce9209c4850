"""Windows, split and scalers: shapes and boundaries as properties, leakage, round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import synthetic_prices
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stockcast.errors import DataError, UsageError
from stockcast.prep import features
from stockcast.prep.windows import (
    DataConfig,
    Scaler,
    build_dataset,
    make_targets,
    make_windows,
    min_sessions,
    part_ranges,
    split_bounds,
)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 120), lookback=st.integers(1, 30), horizon=st.integers(1, 10))
def test_window_count_and_alignment(n, lookback, horizon):
    if n < lookback:
        return
    rows = np.arange(n * 2, dtype=float).reshape(n, 2)
    x = make_windows(rows, lookback)
    y = make_targets(np.log(np.arange(1.0, n + 1)), horizon)[lookback - 1 :]
    assert x.shape == (n - lookback + 1, lookback, 2) and x.dtype == np.float32
    assert x.flags.c_contiguous
    complete = np.isfinite(y).all(axis=1)
    assert complete.sum() == max(0, n - lookback - horizon + 1)
    for i in range(len(x)):
        t = i + lookback - 1  # as-of index: the last row inside the window
        np.testing.assert_array_equal(x[i], rows[t - lookback + 1 : t + 1])


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(30, 400),
    lookback=st.integers(1, 20),
    horizon=st.integers(1, 8),
    val=st.floats(0.05, 0.4),
    test=st.floats(0.05, 0.4),
)
def test_no_target_of_a_later_part_enters_an_earlier_one(n, lookback, horizon, val, test):
    import pandas as pd

    dates = pd.bdate_range("2001-01-01", periods=n)
    b1, b2 = split_bounds(dates, val, test, None)
    parts = part_ranges(n, lookback, horizon, b1, b2)
    tr, va, te = parts["train"], parts["val"], parts["test"]
    for r in parts.values():
        if len(r):
            assert r.start >= lookback - 1  # a full window of inputs, none past the as-of row
    if len(tr):
        assert tr[-1] + horizon <= b1 - 1
    if len(va):
        assert va[0] >= b1 - 1 and va[-1] + horizon <= b2 - 1
    if len(te):
        assert te[0] >= b2 - 1 and te[-1] + horizon <= n - 1
    if len(tr) and len(va):
        assert tr[-1] + horizon < va[0] + 1  # the last train target is an input of validation
    if len(va) and len(te):
        assert va[-1] + horizon < te[0] + 1


def test_default_fractions_are_70_15_15():
    import pandas as pd

    dates = pd.bdate_range("2001-01-01", periods=1000)
    assert split_bounds(dates, 0.15, 0.15, None) == (700, 850)
    b1, b2 = split_bounds(dates, 0.15, 0.15, str(dates[900].date()))
    assert (b1, b2) == (750, 900)
    with pytest.raises(UsageError):
        split_bounds(dates, 0.6, 0.5, None)
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        split_bounds(dates, 0.15, 0.15, "not a date")


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (20, 3), elements=st.floats(-1e6, 1e6)))
def test_scaler_round_trip(rows):
    s = Scaler.fit(rows)
    np.testing.assert_allclose(s.inverse(s.forward(rows)), rows, rtol=1e-9, atol=1e-6)
    again = Scaler.from_dict(s.to_dict())
    np.testing.assert_array_equal(again.mean, s.mean)


def test_dataset_scalers_come_from_train_rows_only():
    p = synthetic_prices(600, seed=1)
    cfg = DataConfig(lookback=20, horizon=3)
    ds = build_dataset("X", p, cfg)
    # ARCHITECTURE.md: the n sessions after warm-up split at b1 = floor(0.7 n), b2 = floor(0.85 n)
    offset = features.warmup(cfg.features)
    n = len(p) - offset
    b1, b2 = math.floor(0.7 * n), math.floor(0.85 * n)
    assert (ds.offset, len(ds.dates)) == (offset, n)
    assert ds.parts["train"] == range(cfg.lookback - 1, b1 - cfg.horizon)  # t + H <= b1 - 1
    assert ds.parts["val"] == range(b1 - 1, b2 - cfg.horizon)
    assert ds.parts["test"] == range(b2 - 1, n - cfg.horizon)
    rows = features.build(p, cfg.features).to_numpy()[offset:]
    np.testing.assert_allclose(ds.feature_scaler.mean, rows[:b1].mean(axis=0))
    _, y_train = ds.arrays("train")
    assert abs(float(y_train.mean())) < 1e-6  # standardised on the train part
    assert np.isfinite(ds.y[ds.window_slice("test")]).all()


def test_changing_test_prices_changes_no_train_or_validation_input():
    p = synthetic_prices(600, seed=2)
    cfg = DataConfig(lookback=20, horizon=3)
    ds = build_dataset("X", p, cfg)
    offset = features.warmup(cfg.features)
    b2 = offset + math.floor(0.85 * (len(p) - offset))  # first test session in the stored frame
    assert list(p.columns[:6]) == ["open", "high", "low", "close", "adj_close", "volume"]
    q = p.copy()
    q.iloc[b2:, :6] *= 1.7  # every price and volume from the test period on
    dq = build_dataset("X", q, cfg)
    np.testing.assert_array_equal(ds.feature_scaler.mean, dq.feature_scaler.mean)
    np.testing.assert_array_equal(ds.target_scaler.std, dq.target_scaler.std)
    for part in ("train", "val"):
        for a, b in zip(ds.arrays(part), dq.arrays(part), strict=True):
            np.testing.assert_array_equal(a, b)
    x_test, xq_test = ds.arrays("test")[0], dq.arrays("test")[0]
    assert not np.array_equal(x_test, xq_test)
    v = cfg.features.index("log_volume_change")  # the volume feature did see the change
    assert not np.array_equal(x_test[..., v], xq_test[..., v])


def test_too_short_history_names_the_minimum():
    cfg = DataConfig(lookback=20, horizon=3)
    need = min_sessions(cfg)
    build_dataset("X", synthetic_prices(need), cfg)  # exactly enough
    with pytest.raises(DataError, match=f"at least {need}") as err:
        build_dataset("X", synthetic_prices(need - 1), cfg)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="at least"):
        build_dataset("X", synthetic_prices(10), cfg)


def test_default_minimum_for_the_defaults():
    need = min_sessions(DataConfig())
    # windows of neighbouring parts share input rows, so 10 windows per part need few sessions
    assert 100 < need < 130


@settings(max_examples=15, deadline=None)
@given(lookback=st.integers(2, 40), horizon=st.integers(1, 8))
def test_min_sessions_is_exact(lookback, horizon):
    cfg = DataConfig(lookback=lookback, horizon=horizon)
    need = min_sessions(cfg)
    build_dataset("X", synthetic_prices(need, seed=lookback), cfg)
    with pytest.raises(DataError, match=f"at least {need}"):
        build_dataset("X", synthetic_prices(need - 1, seed=lookback), cfg)

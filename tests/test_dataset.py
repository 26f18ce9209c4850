"""Many series packed in one array: per series, exactly what the single-series Dataset yields."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_prices

from stockcast.data.sources.sample import load_sample
from stockcast.errors import DataError, UsageError
from stockcast.prep import features
from stockcast.prep.dataset import build_multi
from stockcast.prep.windows import PARTS, DataConfig, build_dataset

CONFIGS = [
    DataConfig(lookback=20, horizon=3),
    DataConfig(
        features=("log_return", "rsi", "volatility"),
        lookback=30,
        horizon=5,
        val_frac=0.2,
        test_frac=0.1,
    ),
]


def _starting(frame: pd.DataFrame, start: str) -> pd.DataFrame:
    """``frame`` moved onto business days from ``start`` (same rows, new dates)."""
    out = frame.copy()
    out.index = pd.bdate_range(start, periods=len(frame), name="date").astype("datetime64[ns]")
    return out


def three_series() -> dict[str, pd.DataFrame]:
    """The bundled MSFT sample, a rescaled slice of it, and a random walk: lengths and starts
    all differ."""
    msft = load_sample()
    derived = msft.iloc[4000:6500].copy()  # 2,500 sessions from 2001
    derived[["open", "high", "low", "close", "adj_close"]] *= 3.0
    derived["volume"] *= 0.25
    return {
        "MSFT": msft,
        "DRV": _starting(derived, "2005-01-03"),
        "RW": _starting(synthetic_prices(2000, seed=7), "2003-01-01"),
    }


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("n_series", [1, 3])
def test_each_series_matches_the_single_series_dataset(cfg, n_series):
    prices = dict(list(three_series().items())[:n_series])
    md = build_multi(prices, cfg)
    assert md.symbols == tuple(prices)
    for sid, (sym, frame) in enumerate(prices.items()):
        ds = build_dataset(sym, frame, cfg)
        s = md.get(sym)
        assert s.parts == ds.parts and s.offset == ds.offset
        assert s.dates.equals(ds.dates)
        for a, b in [(s.close, ds.close), (s.vol, ds.vol), (s.history_close, ds.history_close)]:
            np.testing.assert_array_equal(a, b)
        for mine, theirs in [
            (s.feature_scaler, ds.feature_scaler),
            (s.target_scaler, ds.target_scaler),
        ]:
            np.testing.assert_array_equal(mine.mean, theirs.mean)
            np.testing.assert_array_equal(mine.std, theirs.std)
        for part in PARTS:
            rows = md.index(part, sym)
            assert len(rows) == len(ds.parts[part])
            assert (md.series_id(rows) == sid).all()
            np.testing.assert_array_equal(md.local(rows), np.array(ds.parts[part]))
            x, y = md.gather(rows)
            want_x, want_y = ds.arrays(part)
            assert x.dtype == y.dtype == np.float32
            np.testing.assert_array_equal(x, want_x)
            np.testing.assert_array_equal(y, want_y)
            np.testing.assert_array_equal(md.targets(rows), ds.y[ds.window_slice(part)])
            back = y * md.target_std[md.series_id(rows)] + md.target_mean[md.series_id(rows)]
            np.testing.assert_allclose(back, ds.y[ds.window_slice(part)], atol=1e-6)
        assert md.split_summary(sym) == ds.split_summary()
        every = s.start + np.arange(cfg.lookback - 1, len(s.dates))  # every window, incl. the last
        x, y = md.gather(every)  # whose targets are not stored yet (NaN)
        np.testing.assert_array_equal(x, ds.x)
        np.testing.assert_array_equal(y, ds.target_scaler.forward(ds.y).astype(np.float32))
    for part in PARTS:
        each = [md.index(part, sym) for sym in prices]
        np.testing.assert_array_equal(md.index(part), np.concatenate(each))


def test_no_window_crosses_a_series_or_split_boundary():
    cfg = CONFIGS[0]
    md = build_multi(three_series(), cfg)
    lookback, horizon = cfg.lookback, cfg.horizon
    for part in PARTS:
        rows = md.index(part)
        sid = md.series_id(rows)
        assert (md.series_id(rows - lookback + 1) == sid).all()  # first input row
        assert (md.series_id(rows + horizon) == sid).all()  # last target row
    for s in md.series:
        n = len(s.dates)
        # ARCHITECTURE.md: sessions after warm-up split at b1 = floor(0.7 n), b2 = floor(0.85 n)
        b1, b2 = math.floor(0.7 * n), math.floor(0.85 * n)
        tr, va, te = (s.parts[p] for p in PARTS)
        assert tr[0] >= lookback - 1 and tr[-1] + horizon <= b1 - 1
        assert va[0] >= b1 - 1 and va[-1] + horizon <= b2 - 1
        assert te[0] >= b2 - 1 and te[-1] + horizon <= n - 1
    second = md.series[1].start
    with pytest.raises(ValueError, match="before its series"):
        md.gather(np.array([second + lookback - 2]))  # its first input would be series 0's
    assert np.isnan(md.targets(np.array([second - 1]))).all()  # series 0's last session


def test_common_date_split_keeps_every_later_target_out_of_all_training():
    cfg = CONFIGS[0]
    val_start, test_start = pd.Timestamp("2008-06-02"), pd.Timestamp("2010-01-04")
    prices = three_series()
    md = build_multi(prices, cfg, split_dates=("2008-06-02", "2010-01-04"))
    h = cfg.horizon

    def target_dates(s, part):
        r = s.parts[part]
        return s.dates[r.start + 1], s.dates[r.stop - 1 + h]

    latest_train = max(target_dates(s, "train")[1] for s in md.series)
    for s in md.series:
        val_first, val_last = target_dates(s, "val")
        test_first, _ = target_dates(s, "test")
        assert latest_train < val_start <= val_first
        assert val_last < test_start <= test_first
        rows = features.build(prices[s.symbol], cfg.features).to_numpy()[s.offset :]
        before = rows[s.dates < val_start]  # rows of sessions before the validation start
        np.testing.assert_allclose(s.feature_scaler.mean, before.mean(axis=0), rtol=1e-12)


def test_bad_inputs_name_the_fix():
    prices = three_series()
    cfg = CONFIGS[0]
    with pytest.raises(DataError, match=r"^DRV: .*leave DRV out$"):
        build_multi(prices, cfg, split_dates=("2004-01-02", "2012-01-03"))  # DRV starts 2005
    with pytest.raises(UsageError, match="before the test start"):
        build_multi(prices, cfg, split_dates=("2010-01-04", "2008-06-02"))
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        build_multi(prices, cfg, split_dates=("soon", "2010-01-04"))
    with pytest.raises(UsageError, match="not both"):
        build_multi(prices, DataConfig(test_start="2009-01-02"), split_dates=("a", "b"))
    with pytest.raises(UsageError, match="at least one"):
        build_multi({}, cfg)
    with pytest.raises(DataError, match="fetch a longer history"):
        build_multi({**prices, "TINY": synthetic_prices(60)}, cfg)
    with pytest.raises(DataError, match="choose one of MSFT"):
        build_multi(prices, cfg).get("NOPE")


def test_memory_grows_with_sessions_not_windows():
    prices = three_series()
    small, large = (build_multi(prices, DataConfig(lookback=lb, horizon=5)) for lb in (10, 120))
    sessions = sum(len(s.dates) for s in small.series)
    n_features, n_series = len(small.config.features), len(small.series)
    assert small.indptr[-1] == sessions
    assert small.rows.shape == (sessions, n_features) and small.rows.dtype == np.float32
    per_session = n_features * 4 + 8  # float32 feature row + float64 log close
    per_series = 8 + 2 * 5 * 8  # an indptr entry + target mean and std (H = 5)
    assert small.nbytes == sessions * per_session + n_series * per_series + 8
    assert large.nbytes == small.nbytes  # a longer lookback adds windows' width, no memory
    windows = sum(len(s.parts[p]) for s in large.series for p in PARTS)
    assert large.nbytes * 50 < windows * 120 * n_features * 4  # vs materialised (N, L, F)
    assert (500 * 5000) * per_session < 64 * 2**20  # 500 series x 5,000 sessions: tens of MB

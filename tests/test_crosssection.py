"""Cross-sectional evaluation of a global model (forecasting/crosssection.py), against figures
computed by hand or by an independent few lines of numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from stockcast.forecasting import crosssection as cs
from stockcast.forecasting.crosssection import SymbolTest

D1, D2, D3, D4 = "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"


def _sym(name: str, rows: dict[str, tuple[float, float]], scale: float = 0.01) -> SymbolTest:
    """A one-horizon symbol from {date: (predicted, realised)}; naive forecasts of zero."""
    dates = sorted(rows)
    mu = np.array([[rows[d][0]] for d in dates])  # (N, 1)
    y = np.array([[rows[d][1]] for d in dates])  # (N, 1)
    naive = {"persistence": np.zeros_like(y), "drift": np.full_like(y, 0.001)}
    return SymbolTest(name, np.array(dates), mu, y, naive, scale)


# D1: four symbols; D2: three (D has no window); D3: two (skipped); D4: four
PANEL = [
    _sym("A", {D1: (0.01, 0.02), D2: (0.02, 0.01), D3: (0.05, 0.00), D4: (0.04, -0.01)}),
    _sym("B", {D1: (0.03, 0.01), D2: (-0.01, -0.02), D3: (0.01, 0.02), D4: (0.03, 0.00)}),
    _sym("C", {D1: (-0.02, -0.01), D2: (0.00, 0.03), D4: (0.02, 0.01)}),
    _sym("D", {D1: (0.00, 0.03), D4: (0.01, 0.02)}),
]


def _spearman(pred: list[float], real: list[float]) -> float:
    """rho = 1 - 6 sum d^2 / (m (m^2 - 1)) for distinct values (by hand, no library)."""
    m = len(pred)
    rank_p = {v: i + 1 for i, v in enumerate(sorted(pred))}
    rank_r = {v: i + 1 for i, v in enumerate(sorted(real))}
    d2 = sum((rank_p[p] - rank_r[r]) ** 2 for p, r in zip(pred, real, strict=True))
    return 1.0 - 6.0 * d2 / (m * (m * m - 1))


def test_daily_rank_ic_matches_a_hand_computed_example():
    # D1: pred ranks A3 B4 C1 D2, realised ranks A3 B2 C1 D4: d^2 = 0+4+0+4 -> 1 - 48/60 = 0.2
    # D2: pred ranks A3 B1 C2, realised A2 B1 C3: d^2 = 1+0+1 -> 1 - 12/24 = 0.5
    # D3: two symbols, fewer than MIN_NAMES: no IC;  D4: predictions in reverse order: -1
    assert _spearman([0.01, 0.03, -0.02, 0.00], [0.02, 0.01, -0.01, 0.03]) == pytest.approx(0.2)
    days, pred, real = cs.panel(PANEL, 1)
    assert days.tolist() == [D1, D2, D3, D4] and np.isnan(pred[1, 3])
    ic = cs.daily_rank_ic(pred, real)
    np.testing.assert_allclose(ic[[0, 1, 3]], [0.2, 0.5, -1.0])
    assert np.isnan(ic[2])
    row = cs.cross_section_horizon(PANEL, 1)
    assert row["days"] == 3 and (row["first"], row["last"]) == (D1, D4)
    assert row["rank_ic"] == pytest.approx((0.2 + 0.5 - 1.0) / 3)
    # h = 1: no lags, t = mean / sqrt(var(ddof=0) / n) = -0.1 / sqrt(0.42 / 3)
    assert row["rank_ic_t"] == pytest.approx(-0.1 / math.sqrt(0.42 / 3))


def test_spread_is_top_third_minus_bottom_third():
    # D1 (m=4, one each): top B 0.01 - bottom C -0.01 = 0.02; D2 (m=3): A 0.01 - B -0.02 = 0.03;
    # D4: top A -0.01 - bottom D 0.02 = -0.03
    _, pred, real = cs.panel(PANEL, 1)
    spread = cs.daily_spread(pred, real)
    np.testing.assert_allclose(spread[[0, 1, 3]], [0.02, 0.03, -0.03])
    assert np.isnan(spread[2])
    assert cs.cross_section_horizon(PANEL, 1)["spread"] == pytest.approx(0.02 / 3)
    # six symbols: two each; top (preds 6, 5) realised 0.3, 0.1; bottom (1, 2) -0.2, 0.0
    six = cs.daily_spread(np.array([[1.0, 6, 3, 2, 5, 4]]), np.array([[-0.2, 0.3, 9, 0, 0.1, 9]]))
    assert six[0] == pytest.approx((0.3 + 0.1) / 2 - (-0.2 + 0.0) / 2)


def test_pooled_skill_equals_an_independent_computation():
    rng = np.random.default_rng(3)
    dates = np.array([f"2024-02-{d:02d}" for d in range(1, 9)])  # 8 as-of dates
    tests = []
    for s, (rows, scale) in enumerate([(slice(0, 8), 0.01), (slice(2, 7), 0.02)]):  # unbalanced
        n = len(dates[rows])
        y = rng.normal(0, 0.01, (n, 2))
        mu = y * 0.3 + rng.normal(0, 0.008, (n, 2))
        naive = {"persistence": np.zeros((n, 2)), "drift": np.full((n, 2), 0.002 * (s + 1))}
        tests.append(SymbolTest(f"S{s}", dates[rows], mu, y, naive, scale))
    row = cs.pooled_horizon(tests, 1)
    # independently: absolute errors of every window at h = 1, per as-of date
    e_model = {d: [] for d in dates}
    e_naive = {k: {d: [] for d in dates} for k in cs.NAIVE}
    scaled = []
    for t in tests:
        for i, d in enumerate(t.dates):
            e_model[d].append(abs(t.mu[i, 0] - t.y[i, 0]))
            scaled.append(abs(t.mu[i, 0] - t.y[i, 0]) / t.scale)
            for k in cs.NAIVE:
                e_naive[k][d].append(abs(t.naive[k][i, 0] - t.y[i, 0]))
    n_all = sum(len(v) for v in e_model.values())
    mae = {k: sum(map(sum, e_naive[k].values())) / n_all for k in cs.NAIVE}
    best = min(mae, key=mae.get)
    model_mae = sum(map(sum, e_model.values())) / n_all
    assert row["best_baseline"] == best and row["n"] == 13 and row["days"] == 8
    assert row["mae_bps"] == pytest.approx(1e4 * model_mae)
    assert row["mase"] == pytest.approx(np.mean(scaled))
    assert row["baselines"][best]["mae_bps"] == pytest.approx(1e4 * mae[best])
    # skill and its CI: delta method on the daily totals (x T / N), h = 1 so no lags
    a_t = np.array([sum(e_model[d]) for d in dates]) * 8 / n_all
    b_t = np.array([sum(e_naive[best][d]) for d in dates]) * 8 / n_all
    a, b, n = a_t.mean(), b_t.mean(), 8
    sigma = np.cov(np.vstack([a_t, b_t]), bias=True) / n
    grad = np.array([1 / b, -a / b**2])
    half = sps.t.ppf(0.975, n - 1) * math.sqrt(grad @ sigma @ grad) / math.sqrt((n - 1) / n)
    skill = 1 - model_mae / mae[best]
    got = row["skill_vs_best"]
    assert got["value"] == pytest.approx(skill)
    assert (got["low"], got["high"]) == (pytest.approx(skill - half), pytest.approx(skill + half))


def test_too_few_dates_give_no_interval_and_no_t():
    one_day = [_sym(s, {D1: (0.01 * i, 0.02 * i)}) for i, s in enumerate("ABC")]
    out = cs.report(one_day)
    pooled, cross = out["pooled"]["horizons"][0], out["cross_section"]["horizons"][0]
    assert pooled["skill_vs_best"] is None and pooled["verdict"] == "indistinguishable"
    assert cross["days"] == 1 and cross["rank_ic"] == pytest.approx(1.0)
    assert cross["rank_ic_t"] is None and out["pooled"]["series"] == 3
    assert cs.report([]) == {
        "pooled": {"series": 0, "horizons": []},
        "cross_section": {"series": 0, "min_names": cs.MIN_NAMES, "horizons": []},
    }

"""The confidence intervals and t-statistics of `backtest`, `evaluate` and a global model,
recomputed from their per-window arrays with independent implementations (statsmodels' HAC
sums, scipy's orthonormal DCT for the coverage CI's cosine projections, scipy's distributions,
Fisher's exact test from the hypergeometric law) at h = 3 and h = 5, where overlapping windows
make the lag count matter; and one fold's band recomputed from its validation arrays. A wrong
lag count (0 instead of h - 1) or a band calibrated on the test residuals changes these
figures, so each such error fails here. (The coverage CI's equal-weighted-cosine variance
needs no lag count once n >= 80 h: its lowest cosines already span the overlap, so there a
lag of 0 gives the same, still correct, interval. Its wrong form is a CI that ignores
clustered misses, an iid variance: the backtest's and `evaluate`'s coverage CIs recomputed
from their hit arrays, and the planted clustered misses below, fail on it.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import synthetic_prices
from scipy import stats as sps
from scipy.fft import dct
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.sandwich_covariance import S_hac_simple, weights_bartlett, weights_uniform

from stockcast.forecasting import crosssection as cs
from stockcast.forecasting import evaluation, stats, walkforward
from stockcast.forecasting.crosssection import SymbolTest
from stockcast.forecasting.walkforward import FoldPredictions
from stockcast.prep.windows import DataConfig, build_dataset

H = 5
LEVEL = 0.95


def _var_of_mean(x: np.ndarray, lags: int, uniform: bool = True) -> np.ndarray:
    """HAC covariance of the column means by statsmodels (truncated or Bartlett kernel)."""
    x = np.asarray(x, float)
    x = (x[:, None] if x.ndim == 1 else x) - np.mean(x, axis=0)
    weights = weights_uniform if uniform else weights_bartlett
    return S_hac_simple(x, nlags=lags, weights_func=weights) / x.shape[0] ** 2


def _skill_ci(a: np.ndarray, b: np.ndarray, h: int) -> tuple[float, float, float]:
    """Delta-method CI of 1 - mean(a) / mean(b) with the DM test's variance and HLN scaling."""
    n, ma, mb = len(a), float(np.mean(a)), float(np.mean(b))
    g = np.array([1 / mb, -ma / mb**2])
    var = g @ _var_of_mean(np.column_stack([a, b]), h - 1) @ g
    if var <= 0:
        var = g @ _var_of_mean(np.column_stack([a, b]), h - 1, uniform=False) @ g
    hln = math.sqrt((n - h) * (n - h + 1)) / n
    half = sps.t.ppf(0.5 + LEVEL / 2, n - 1) * math.sqrt(var) / hln
    return 1 - ma / mb, 1 - ma / mb - half, 1 - ma / mb + half


def _log_err(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Scale-free absolute errors: |log(pred) - log(actual)|."""
    return np.abs(np.log(pred) - np.log(actual))


def _coverage_ci(hits: np.ndarray, h: int) -> tuple[float, float, float]:
    """Coverage CI: the Wilson score interval with a design effect from the equal-weighted
    cosine long-run variance: B = min(8, n // (10 h)) orthonormal DCT-II coefficients
    (scipy), Student t_B, and the bounds as the roots of (p - p0)^2 = c^2 d p0 (1 - p0) / n."""
    x = np.asarray(hits, float)
    n, p = x.size, x.mean()
    terms = max(1, min(8, n // (10 * h)))
    omega = np.mean(dct(x, type=2, norm="ortho")[1 : terms + 1] ** 2)
    k = sps.t.ppf(0.975, terms) ** 2 * omega / (p * (1 - p)) / n
    low, high = sorted(np.roots([1 + k, -(2 * p + k), p * p]).real)
    return p, max(low, 0.0), min(high, 1.0)


def _fisher(table: np.ndarray) -> float:
    """Two-sided Fisher exact p-value from the hypergeometric law: the probability of every
    table with the same margins that is no more likely than the observed one."""
    (a, b), (c, d) = table
    law = sps.hypergeom(a + b + c + d, a + b, a + c)
    support = np.arange(max(0, a + c - c - d), min(a + b, a + c) + 1)
    probs = law.pmf(support)
    return float(min(1.0, probs[probs <= law.pmf(a) * (1 + 1e-7)].sum()))


def _independence(hits: np.ndarray, h: int) -> float:
    """Christoffersen's hypothesis tested exactly on the 2 x 2 transition table, Bonferroni
    over the h interleaved series of non-overlapping windows."""
    p = []
    for k in range(h):
        m = ~np.asarray(hits, bool)[k::h]
        table = np.array([[np.sum(~m[:-1] & ~m[1:]), np.sum(~m[:-1] & m[1:])],
                          [np.sum(m[:-1] & ~m[1:]), np.sum(m[:-1] & m[1:])]])  # fmt: skip
        p.append(_fisher(table))
    return min(1.0, h * min(p))


def _close(n: int, rng: np.random.Generator) -> np.ndarray:
    """A price path with volatility clustering (so misses cluster)."""
    vol = 0.01 * np.exp(np.convolve(rng.normal(0, 0.6, n), np.ones(30) / 30**0.5, "same") / 3)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 1.0, n) * vol))


def _log_returns(close: np.ndarray, asof: np.ndarray) -> np.ndarray:
    return np.log(close[asof[:, None] + np.arange(1, H + 1)] / close[asof][:, None])


def _fold(rng: np.random.Generator, close: np.ndarray, start: int, stop: int) -> FoldPredictions:
    """Test windows as-of start..stop - 1; validation the 300 windows before (no overlap)."""
    asof = np.arange(start, stop)
    y = _log_returns(close, asof)
    mu = 0.3 * y + rng.normal(0, 0.01, y.shape)  # an edge, with errors that overlap
    vasof = np.arange(start - 300 - H, start - H)
    vy = _log_returns(close, vasof)
    vmu = 0.3 * vy + rng.normal(0, 0.01, vy.shape)
    ret = np.abs(np.diff(np.log(close)))
    vol_all = np.array(
        [ret[max(0, t - 20) : t].std() if t > 2 else 0.01 for t in range(close.size)]
    )
    return FoldPredictions(
        origin="2020-01-01", end="2020-12-31",
        dates=[f"d{i}" for i in range(close.size)], close=close, asof=asof, y=y, mu=mu,
        mu_shrunk=mu * 0.5, vol=vol_all[asof], val=(vy, vmu, vol_all[vasof]), scale=0.01,
        shrink={"weight": 0.5}, seconds=0.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def folds() -> list[FoldPredictions]:
    rng = np.random.default_rng(20)
    close = _close(1400, rng)
    return [_fold(rng, close, 500, 900), _fold(rng, close, 900, 1400 - H)]


def _pooled(folds: list[FoldPredictions], h: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(actual, forecast) prices at h over the folds, the forecast ``name``'s."""
    actual, pred = [], []
    for f in folds:
        last = f.close[f.asof]
        actual.append(f.close[f.asof + h])
        if name == "model":
            pred.append(last * np.exp(f.mu[:, h - 1]))
        elif name == "persistence":
            pred.append(last)
        else:  # drift: the mean daily log return of the whole history up to t
            logc = np.log(f.close)
            pred.append(last * np.exp(h * (logc[f.asof] - logc[0]) / f.asof))
    return np.concatenate(actual), np.concatenate(pred)


@pytest.mark.parametrize("h", [3, 5])
def test_backtest_skill_ci_equals_an_independent_computation(folds, h):
    row = walkforward.horizon_report(folds, h)
    actual, model = _pooled(folds, h, "model")
    for name in ("persistence", "drift"):
        _, naive = _pooled(folds, h, name)
        want = _skill_ci(_log_err(model, actual), _log_err(naive, actual), h)
        got = row[f"skill_vs_{name}"]
        assert (got["value"], got["low"], got["high"]) == pytest.approx(want, rel=1e-9)
    _, best = _pooled(folds, h, row["best_baseline"])
    got = row["skill_vs_best"]
    want = _skill_ci(_log_err(model, actual), _log_err(best, actual), h)
    assert (got["value"], got["low"], got["high"]) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("h", [1, 3, 5])
def test_backtest_coverage_ci_and_independence_equal_an_independent_computation(folds, h):
    rows = walkforward.horizon_report(folds, h)["intervals"]
    hits = {}
    for i, level in enumerate((0.8, 0.9)):  # the bands recomputed from validation, below
        lo, hi, y = _bands(folds, h, level)
        hits[level] = (lo <= y) & (y <= hi)
        assert rows[i]["level"] == level
        want = _coverage_ci(hits[level], h)
        got = (rows[i]["coverage"], rows[i]["coverage_low"], rows[i]["coverage_high"])
        assert got == pytest.approx(want, rel=1e-9)
        assert rows[i]["independence_pvalue"] == pytest.approx(
            _independence(hits[level], h), rel=1e-6, abs=1e-12
        )


def _band(val: tuple, test: tuple, h: int, level: float):
    """One part's band at h recomputed from its validation arrays alone: with ``val`` and
    ``test`` as (y, mu, vol), the ceil((n + 1) level)-th smallest |y - mu| / (vol sqrt(j)) per
    j <= h, the half-widths q_j sqrt(j) made non-decreasing in j; (lower, upper, outcome) at h."""
    vy, vmu, vvol = val
    y, mu, vol = test
    half = []
    for j in range(1, h + 1):
        scores = np.sort(np.abs(vy[:, j - 1] - vmu[:, j - 1]) / (vvol * math.sqrt(j)))
        half.append(scores[math.ceil((len(scores) + 1) * level) - 1] * math.sqrt(j))
    q = max(half) / math.sqrt(h)
    s = vol * math.sqrt(h)
    return mu[:, h - 1] - q * s, mu[:, h - 1] + q * s, y[:, h - 1]


def _bands(folds: list[FoldPredictions], h: int, level: float):
    """Each fold's band at h from its validation arrays (``_band``); pooled log bounds and
    outcomes."""
    parts = [_band(f.val, (f.y, f.mu, f.vol), h, level) for f in folds]
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))


def test_a_folds_band_is_calibrated_on_its_validation_arrays_only(folds):
    one = folds[:1]
    row = walkforward.horizon_report(one, 3)["intervals"][1]  # 90%
    lo, hi, y = _bands(one, 3, 0.9)
    assert row["coverage"] == pytest.approx(np.mean((lo <= y) & (y <= hi)), rel=1e-12)
    assert row["mean_width_pct"] == pytest.approx(np.mean(100 * (np.exp(hi) - np.exp(lo))))


@pytest.mark.parametrize("h", [3, 5])
def test_evaluate_skill_ci_equals_an_independent_computation(h):
    rng = np.random.default_rng(h)
    close = _close(900, rng)
    asof = np.arange(300, 900 - H)
    actual = close[asof + h]
    pred = close[asof] * np.exp(
        0.3 * _log_returns(close, asof)[:, h - 1] + rng.normal(0, 0.01, asof.size)
    )
    naive = close[asof]
    got = evaluation._significance(pred, naive, actual, h)
    want = _skill_ci(_log_err(pred, actual), _log_err(naive, actual), h)
    ci = got["skill_vs_best"]
    assert (ci["value"], ci["low"], ci["high"]) == pytest.approx(want, rel=1e-9)


def _panel(rng: np.random.Generator, symbols: int = 6, days: int = 400) -> list[SymbolTest]:
    """Symbols sharing a market factor, persistent predictions with a little skill."""
    dates = np.array([f"2020-{i:05d}" for i in range(days)])  # sortable as-of labels
    market = rng.normal(0, 0.01, days + H)
    tests = []
    for s in range(symbols):
        r = market + rng.normal(0, 0.01, days + H)
        y = np.column_stack([np.convolve(r, np.ones(j), "valid")[1:days + 1]
                             for j in range(1, H + 1)])  # fmt: skip
        signal = np.convolve(rng.normal(0, 1, days + 40), np.ones(40) / 40, "valid")[:days]
        mu = 0.2 * y + 0.01 * signal[:, None]
        naive = {"persistence": np.zeros_like(y), "drift": np.full_like(y, 0.0005 * (s + 1))}
        tests.append(SymbolTest(f"S{s}", dates, mu, y, naive, 0.01))
    return tests


@pytest.mark.parametrize("h", [3, 5])
def test_global_pooled_skill_ci_equals_an_independent_computation(h):
    tests = _panel(np.random.default_rng(100 + h))
    row = cs.pooled_horizon(tests, h)
    best = row["best_baseline"]
    # daily totals by a dictionary, x T / N
    per_day: dict[str, list[float]] = {}
    for t in tests:
        for i, d in enumerate(t.dates):
            e = (abs(t.mu[i, h - 1] - t.y[i, h - 1]), abs(t.naive[best][i, h - 1] - t.y[i, h - 1]))
            per_day.setdefault(str(d), []).append(e)  # type: ignore[arg-type]
    days = sorted(per_day)
    n = sum(len(v) for v in per_day.values())
    tot = np.array([np.sum(per_day[d], axis=0) for d in days]) * len(days) / n
    want = _skill_ci(tot[:, 0], tot[:, 1], h)
    got = row["skill_vs_best"]
    assert (got["value"], got["low"], got["high"]) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("h", [3, 5])
def test_rank_ic_t_equals_an_independent_computation(h):
    tests = _panel(np.random.default_rng(200 + h))
    row = cs.cross_section_horizon(tests, h)
    ic = np.array([
        sps.spearmanr([t.mu[i, h - 1] for t in tests], [t.y[i, h - 1] for t in tests])[0]
        for i in range(len(tests[0].dates))
    ])  # fmt: skip
    var = float(_var_of_mean(ic, h - 1)[0, 0])
    if var <= 0:
        var = float(_var_of_mean(ic, h - 1, uniform=False)[0, 0])
    assert row["rank_ic"] == pytest.approx(ic.mean(), rel=1e-9)
    assert row["rank_ic_t"] == pytest.approx(ic.mean() / math.sqrt(var), rel=1e-9)


@pytest.fixture(scope="module")
def evaluated() -> tuple:
    """A dataset whose closes cluster their volatility, and predictions of its validation and
    test parts (an edge with noise): what `evaluate` scores."""
    rng = np.random.default_rng(21)
    frame = synthetic_prices(2200, seed=21)
    close = _close(2200, rng)
    for col in ("open", "high", "low", "close", "adj_close"):
        frame[col] = close
    ds = build_dataset(
        "CLUSTER", frame, DataConfig(lookback=20, horizon=H, features=("log_return",))
    )

    def part(name: str) -> evaluation.PartPredictions:
        r = ds.parts[name]
        y = ds.y[ds.window_slice(name)]
        mu = 0.3 * y + rng.normal(0, 0.01, y.shape)
        return evaluation.PartPredictions(
            np.arange(r.start, r.stop), y, mu, ds.vol[r.start : r.stop]
        )

    return ds, part("val"), part("test")


@pytest.mark.parametrize("h", [1, 3, 5])
def test_evaluate_coverage_ci_and_independence_equal_an_independent_computation(evaluated, h):
    ds, v, p = evaluated
    rows = evaluation.interval_report(v, p, ds)[h - 1]
    for i, level in enumerate((0.8, 0.9)):
        lo, hi, y = _band((v.y, v.mu, v.vol), (p.y, p.mu, p.vol), h, level)
        hits = (lo <= y) & (y <= hi)
        assert rows[i]["level"] == level
        got = (rows[i]["coverage"], rows[i]["coverage_low"], rows[i]["coverage_high"])
        assert got == pytest.approx(_coverage_ci(hits, h), rel=1e-9)
        assert rows[i]["independence_pvalue"] == pytest.approx(
            _independence(hits, h), rel=1e-6, abs=1e-12
        )


def test_coverage_ci_is_wider_than_the_iid_wilson_one_by_the_design_effect_of_clustered_misses():
    """Hits planted in runs of m = 10 equal values (hit or miss, independent across runs): the
    hit series' long-run variance is m p (1 - p), a design effect of m, so the CI is Wilson's
    with n / m effective windows and a t_8 critical value, wider than the iid Wilson interval
    (statsmodels) by about sqrt(m) t_8 / z. The design effect the CI carries is read back from
    its bounds (Wilson's roots multiply to p^2 / (1 + k), k = t_8^2 d / n). Independent hits
    carry a design effect of about 1."""
    rng = np.random.default_rng(11)
    n, m, reps = 5000, 10, 300
    crit, z = sps.t.ppf(0.975, 8), sps.norm.ppf(0.975)

    def design_effect(hits: np.ndarray) -> tuple[float, float]:
        p, low, high = stats.coverage_ci(hits, 0)
        return (p * p / (low * high) - 1.0) * n / crit**2, high - low

    clustered, independent, ratio = [], [], []
    for _ in range(reps):
        hits = np.repeat(rng.uniform(size=n // m) < 0.9, m)
        d, width = design_effect(hits)
        iid_low, iid_high = proportion_confint(int(hits.sum()), n, alpha=0.05, method="wilson")
        clustered.append(d)
        ratio.append(width / (iid_high - iid_low))
        independent.append(design_effect(rng.uniform(size=n) < 0.9)[0])
    assert np.mean(clustered) == pytest.approx(m, rel=0.1)
    assert np.mean(independent) == pytest.approx(1.0, rel=0.1)
    assert np.median(ratio) == pytest.approx(math.sqrt(m) * crit / z, rel=0.15)
    assert min(ratio) > 1.0  # every replication wider than the iid interval


def test_holm_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).uniform(0, 0.2, 25)
    assert stats.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), rel=1e-12)


def test_independence_test_finds_clustered_misses_and_passes_independent_ones():
    rng = np.random.default_rng(7)
    independent = rng.uniform(size=2000) < 0.9
    state = np.repeat(rng.uniform(size=100) < 0.5, 20)  # calm and volatile spells
    clustered = rng.uniform(size=2000) < np.where(state, 0.98, 0.82)
    assert stats.independence_test(independent) > 0.01
    assert stats.independence_test(clustered) < 1e-3
    assert stats.independence_test(np.ones(50, bool)) == 1.0  # no miss: nothing to test


def test_the_comparator_is_chosen_on_validation_not_on_the_test_outcomes(folds):
    from dataclasses import replace

    # on the test windows persistence beats drift at h = 1 here; validation says drift
    row = walkforward.horizon_report(folds, 1)
    test_best = min(("persistence", "drift"), key=lambda k: row["baselines"][k]["mae"])
    other = "drift" if test_best == "persistence" else "persistence"
    planted = [
        replace(f, val_naive={test_best: np.ones((10, H)), other: np.zeros((10, H))}) for f in folds
    ]
    assert walkforward.horizon_report(planted, 1)["best_baseline"] == other
    tests = _panel(np.random.default_rng(5))
    pooled = cs.pooled_horizon(tests, 1)
    test_best = min(("persistence", "drift"), key=lambda k: pooled["baselines"][k]["mae_bps"])
    other = "drift" if test_best == "persistence" else "persistence"
    planted_tests = [
        replace(t, val_naive={test_best: np.ones((10, H)), other: np.zeros((10, H))}) for t in tests
    ]
    assert cs.pooled_horizon(planted_tests, 1)["best_baseline"] == other

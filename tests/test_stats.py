"""Forecast-comparison statistics against hand computations, scipy and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from stockcast.forecasting import stats

# Twenty fixed forecast errors of two competing forecasts (arbitrary numbers, not results).
E1 = np.array(
    [0.8, -1.2, 0.5, 2.1, -0.3, 1.7, -0.9, 0.4, -2.2, 1.1,
     0.6, -0.7, 1.9, -1.4, 0.2, 0.9, -1.8, 1.3, -0.5, 0.7]
)  # fmt: skip
E2 = np.array(
    [0.5, -0.9, 0.7, 1.5, -0.6, 1.2, -0.4, 0.9, -1.6, 0.8,
     0.3, -1.1, 1.2, -0.8, 0.6, 0.5, -1.3, 0.7, -0.9, 0.4]
)  # fmt: skip


def _ma(rng: np.random.Generator, n: int, h: int) -> np.ndarray:
    """An MA(h-1) series with unit variance: the error structure of overlapping h-step windows."""
    eps = rng.standard_normal(n + h - 1)
    return np.convolve(eps, np.ones(h), mode="valid") / math.sqrt(h)


def _dm_by_hand(d: list[float], h: int) -> tuple[float, float, float]:
    """(DM, HLN DM, p) with explicit loops, following DM (1995) and HLN (1997) verbatim.

    When the rectangular long-run variance is not positive, Bartlett weights 1 - k / h.
    """
    n = len(d)
    dbar = sum(d) / n
    gammas = []
    for k in range(h):
        acc = 0.0
        for t in range(k, n):
            acc += (d[t] - dbar) * (d[t - k] - dbar)
        gammas.append(acc / n)
    long_run = gammas[0] + 2.0 * sum(gammas[1:])
    if long_run <= 0.0:
        long_run = gammas[0] + 2.0 * sum((1 - k / h) * gammas[k] for k in range(1, h))
    dm = dbar / math.sqrt(long_run / n)
    hln = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return dm, hln, 2.0 * sps.t.sf(abs(hln), df=n - 1)


# At h = 3 the rectangular variance of these differentials is negative (-0.059 for "abs",
# -0.236 for "sq"), so those cases exercise the Bartlett fallback.
@pytest.mark.parametrize(("h", "loss"), [(1, "abs"), (2, "abs"), (3, "abs"), (2, "sq"), (3, "sq")])
def test_diebold_mariano_matches_a_hand_computation(h, loss):
    f = abs if loss == "abs" else (lambda v: v * v)
    d = [f(a) - f(b) for a, b in zip(E1.tolist(), E2.tolist(), strict=True)]
    dm, hln, p = _dm_by_hand(d, h)
    res = stats.diebold_mariano(E1, E2, h, loss=loss)
    assert res.n == 20
    assert res.mean_diff == pytest.approx(sum(d) / 20)
    assert res.stat == pytest.approx(hln)
    assert res.pvalue == pytest.approx(p)
    assert abs(res.stat) < abs(dm)  # the HLN factor shrinks the statistic for n = 20


def test_diebold_mariano_at_one_step_is_a_one_sample_t_test():
    # h = 1: V = gamma_0 / n = s^2 (n - 1) / n^2 with s the ddof-1 sd, so
    # DM = t * sqrt(n / (n - 1)); the HLN factor is sqrt((n - 1) / n), so the corrected
    # statistic is exactly the t statistic, with the same n - 1 degrees of freedom.
    d = np.abs(E1) - np.abs(E2)
    tt = sps.ttest_1samp(d, 0.0)
    res = stats.diebold_mariano(E1, E2, 1)
    assert res.stat == pytest.approx(tt.statistic)
    assert res.pvalue == pytest.approx(tt.pvalue)
    dm_uncorrected, _, _ = _dm_by_hand(d.tolist(), 1)
    assert dm_uncorrected == pytest.approx(tt.statistic * math.sqrt(20 / 19))


def test_diebold_mariano_falls_back_to_bartlett_when_the_variance_is_negative():
    # d alternates around 0.1: gamma_1 ~ -gamma_0, so gamma_0 + 2 gamma_1 < 0.
    d = 0.1 + np.tile([1.0, -1.0], 15)
    res = stats.diebold_mariano(d, np.zeros_like(d), 2)  # abs loss: |0.1 +- 1| - 0
    dd = np.abs(d)
    expected = (
        dd.mean() / math.sqrt(stats.hac_variance(dd, 1)) * math.sqrt((30 + 1 - 4 + 2 / 30) / 30)
    )
    assert res.stat == pytest.approx(expected)
    assert math.isfinite(res.stat) and res.stat > 0


def test_diebold_mariano_of_identical_errors_is_not_significant():
    res = stats.diebold_mariano(E1, E1.copy(), 2)
    assert (res.stat, res.pvalue, res.mean_diff) == (0.0, 1.0, 0.0)


def test_diebold_mariano_rejects_bad_arguments():
    with pytest.raises(ValueError, match="loss"):
        stats.diebold_mariano(E1, E2, 1, loss="huber")
    with pytest.raises(ValueError, match="h must"):
        stats.diebold_mariano(E1, E2, 0)


def test_hac_variance_without_lags_is_the_plain_variance_of_the_mean():
    assert stats.hac_variance(E1, 0) == pytest.approx(np.var(E1) / E1.size)
    assert stats.hac_variance(E1, 0, "truncated") == pytest.approx(np.var(E1) / E1.size)


def test_hac_variance_of_an_ma1_approaches_the_long_run_variance():
    # x_t = e_t + theta e_{t-1}, unit-variance e: long-run variance (1 + theta)^2 (Hamilton 1994,
    # Time Series Analysis, eq. 7.2.8). With 20 Bartlett lags the bias is 2 theta / 21 ~ 2%
    # and the sampling error about 1%, so 5% is a safe tolerance.
    theta, n = 0.5, 200_000
    eps = np.random.default_rng(7).standard_normal(n + 1)
    x = eps[1:] + theta * eps[:-1]
    assert n * stats.hac_variance(x, 20) == pytest.approx((1 + theta) ** 2, rel=0.05)
    # Truncated at the true order it is unbiased: 1 + theta^2 + 2 theta.
    assert n * stats.hac_variance(x, 1, "truncated") == pytest.approx((1 + theta) ** 2, rel=0.03)


def test_hac_covariance_agrees_with_hac_variance_on_each_column():
    cov = stats.hac_covariance(np.column_stack([E1, E2]), 3)
    assert cov[0, 0] == pytest.approx(stats.hac_variance(E1, 3))
    assert cov[1, 1] == pytest.approx(stats.hac_variance(E2, 3))
    assert cov[0, 1] == pytest.approx(cov[1, 0])
    assert np.all(np.linalg.eigvalsh(cov) >= 0)


def test_hac_mean_ci_is_mean_plus_minus_z_se():
    mean, low, high, se = stats.hac_mean_ci(E1, 2, level=0.9)
    assert mean == pytest.approx(E1.mean())
    assert se == pytest.approx(math.sqrt(stats.hac_variance(E1, 2)))
    assert (high - mean) == pytest.approx(sps.norm.ppf(0.95) * se)
    assert (mean - low) == pytest.approx(high - mean)


def test_skill_ci_covers_zero_skill_at_about_the_nominal_rate():
    # Equal true MAE (both errors N(0, 1) marginally), MA(4) dependence, strongly correlated as
    # model and naive errors are in practice; 300 seeded replications of n = 500.
    h, n, rho, hits = 5, 500, 0.8, 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        naive = _ma(rng, n, h)
        model = rho * naive + math.sqrt(1 - rho**2) * _ma(rng, n, h)
        _, low, high = stats.skill_ci(np.abs(model), np.abs(naive), lags=h - 1)
        hits += low <= 0.0 <= high
    assert 0.90 <= hits / 300 <= 0.99


def test_skill_ci_is_centred_on_one_minus_the_mae_ratio_and_finds_a_clear_edge():
    rng = np.random.default_rng(3)
    naive = np.abs(_ma(rng, 400, 3))
    model = 0.8 * naive
    skill, low, high = stats.skill_ci(model, naive, lags=2)
    assert skill == pytest.approx(0.2)
    assert low <= skill <= high
    assert stats.verdict(low, high) == "better"


def test_skill_ci_rejects_a_perfect_naive_forecast():
    with pytest.raises(ValueError, match="naive"):
        stats.skill_ci(np.ones(10), np.zeros(10), lags=0)


def test_coverage_ci_is_clipped_and_allows_for_no_misses():
    hits = np.array([1.0] * 19 + [0.0])
    cov, low, high = stats.coverage_ci(hits, 0)
    assert cov == pytest.approx(0.95)
    assert 0.0 <= low < 0.95 < high <= 1.0
    cov, low, high = stats.coverage_ci(np.zeros(8), 1)
    assert (cov, low) == (0.0, 0.0) and 0.0 < high < 1.0  # Wilson: 0 of 8 is not proof of 0
    cov, low, high = stats.coverage_ci(np.ones(900), 4)
    assert cov == high == 1.0 and 0.99 < low < 1.0


def test_coverage_ci_widens_for_dependent_hits():
    # averaged over draws: one cosine variance with 8 degrees of freedom is too noisy to compare
    rng = np.random.default_rng(11)
    width, width_iid = [], []
    for _ in range(200):
        hits = (np.abs(_ma(rng, 750, 5)) <= sps.norm.ppf(0.95)).astype(float)
        _, low, high = stats.coverage_ci(hits, 4)
        width.append(high - low)
        _, low, high = stats.coverage_ci(rng.permutation(hits), 4)
        width_iid.append(high - low)
    assert np.mean(width) > 1.3 * np.mean(width_iid)


def test_coverage_ci_is_the_wilson_interval_at_t8_for_white_noise_by_hand():
    # 90 hits of 100 with a design effect of exactly 1 would give Wilson at t_8; check the
    # centre lies below p (pulled toward 1/2) and the bounds solve the score equation
    rng = np.random.default_rng(3)
    hits = (rng.uniform(size=1000) < 0.9).astype(float)
    p, low, high = stats.coverage_ci(hits, 0)
    omega = stats.ewc_long_run_variance(hits, 8)
    k = sps.t.ppf(0.975, 8) ** 2 * omega / (p * (1 - p)) / hits.size
    for p0 in (low, high):
        assert (p - p0) ** 2 == pytest.approx(k * p0 * (1 - p0), rel=1e-9)
    assert (low + high) / 2 < p


def _clustered_hits(rng: np.random.Generator, reps: int, n: int, c: float) -> np.ndarray:
    """(reps, n) hits of a band |z| <= c on returns whose volatility is 1 in a calm regime and
    2 in a turbulent one (a Markov chain staying calm with p 0.98 and turbulent with p 0.94,
    a quarter of the days turbulent, started stationary): misses cluster in turbulent spells."""
    u = rng.uniform(size=(reps, n))
    state = np.empty((reps, n), dtype=bool)
    state[:, 0] = u[:, 0] < 0.25
    for t in range(1, n):
        state[:, t] = u[:, t] < np.where(state[:, t - 1], 0.94, 0.02)
    return np.abs(np.where(state, 2.0, 1.0) * rng.normal(size=(reps, n))) <= c


def test_coverage_ci_covers_the_true_coverage_of_clustered_hits_95_percent_of_the_time():
    # h = 1, so the true coverage is exact: 3/4 P(|Z| <= c) + 1/4 P(|Z| <= c / 2) = 0.9
    c = 2.0
    true = 0.75 * (2 * sps.norm.cdf(c) - 1) + 0.25 * (2 * sps.norm.cdf(c / 2) - 1)
    hits = _clustered_hits(np.random.default_rng(2026), 2000, 1000, c)
    covered = [low <= true <= high for _, low, high in (stats.coverage_ci(x, 0) for x in hits)]
    # 93.2% here, 94.0-94.7% with other seeds (3,000 replications each): about 6% rejections,
    # the top of the 4-6% band at n = 1,000 (bench/size_check.md). Monte Carlo standard error
    # 0.5 points; the interval that allows for the overlap only covers 67%.
    assert 0.925 <= np.mean(covered) <= 0.97


def test_interval_score_by_hand():
    # alpha 0.2, interval [0, 2]: inside 2; 3 above 2 + (2 / 0.2) * 3 = 32; 1 below 2 + 10 = 12.
    y = np.array([1.0, 5.0, -1.0])
    score = stats.interval_score(y, np.zeros(3), np.full(3, 2.0), alpha=0.2)
    assert score == pytest.approx((2 + 32 + 12) / 3)


def test_rank_ic_with_ties_by_hand():
    # Ranks: pred (1, 2.5, 2.5, 4), realised (1, 2, 4, 3); centred, the dot product is 3 and
    # the squared norms 4.5 and 5, so IC = 3 / sqrt(22.5) = sqrt(0.4).
    pred = np.array([0.1, 0.3, 0.3, 0.5])
    realised = np.array([1.0, 2.0, 4.0, 3.0])
    assert stats.rank_ic(pred, realised) == pytest.approx(math.sqrt(0.4))
    assert stats.rank_ic(pred, realised) == pytest.approx(sps.spearmanr(pred, realised)[0])


def test_rank_ic_drops_missing_symbols_and_is_nan_when_undefined():
    pred = np.array([0.1, 0.3, np.nan, 0.3, 0.5])
    realised = np.array([1.0, 2.0, 9.0, 4.0, 3.0])
    assert stats.rank_ic(pred, realised) == pytest.approx(math.sqrt(0.4))
    assert math.isnan(stats.rank_ic(np.ones(4), realised[:4]))
    assert math.isnan(stats.rank_ic(np.array([1.0]), np.array([2.0])))


def test_mean_with_hac_t_without_lags_is_the_z_statistic_and_skips_nans():
    ic = np.array([0.05, -0.02, np.nan, 0.08, 0.01, 0.03])
    clean = ic[~np.isnan(ic)]
    mean, t = stats.mean_with_hac_t(ic, 0)
    assert mean == pytest.approx(clean.mean())
    assert t == pytest.approx(clean.mean() / (clean.std() / math.sqrt(clean.size)))


@pytest.mark.parametrize(
    ("name", "value", "low", "high", "expected"),
    [
        ("drift", -0.002, -0.009, 0.005,
         "indistinguishable from drift (skill -0.2%, 95% CI -0.9..+0.5)"),
        ("drift", 0.013, 0.004, 0.022,
         "better than drift (skill +1.3%, 95% CI +0.4..+2.2)"),
        ("persistence", -0.031, -0.05, -0.012,
         "worse than persistence (skill -3.1%, 95% CI -5.0..-1.2)"),
    ],
)  # fmt: skip
def test_verdict_and_describe_skill(name, value, low, high, expected):
    assert stats.describe_skill(name, value, low, high) == expected
    assert expected.startswith(
        {"better": "better", "worse": "worse", "indistinguishable": "indist"}[
            stats.verdict(low, high)
        ]
    )


def test_describe_skill_never_prints_minus_zero():
    text = stats.describe_skill("drift", -0.0001, -0.0004, 0.0002, level=0.9)
    assert text == "indistinguishable from drift (skill +0.0%, 90% CI +0.0..+0.0)"


def test_per_window_interval_scores_average_to_the_interval_score():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    lo, up = y - rng.uniform(-0.5, 1.0, 200), y + rng.uniform(-0.5, 1.0, 200)
    per = stats.interval_scores(y, lo, up, 0.1)
    assert per.shape == (200,)
    assert float(per.mean()) == pytest.approx(stats.interval_score(y, lo, up, 0.1))
    # a miss of d below the band costs its width plus 2 / alpha * d
    assert stats.interval_scores(np.array([0.0]), np.array([1.0]), np.array([3.0]), 0.1)[0] == (
        pytest.approx(2.0 + 20.0 * 1.0)
    )

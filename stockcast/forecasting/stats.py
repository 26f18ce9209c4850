"""Statistics for honest forecast comparison: HAC errors, Diebold-Mariano, skill and coverage CIs.

Backtests score h-step forecasts from overlapping windows, so consecutive errors share h-1 future
days and are autocorrelated (an MA(h-1) process under a correct model). Every standard error
here is therefore a heteroskedasticity-and-autocorrelation-consistent (HAC) one, with the lag
count passed in (``h - 1`` for h-step forecasts); the coverage CI's is an equal-weighted-cosine
long-run variance that also reaches misses clustered over many sessions (``coverage_ci``).

Notation: ``x`` a series of length n, ``xbar`` its mean, and the sample autocovariance

    gamma_k = (1 / n) * sum_{t=k}^{n-1} (x_t - xbar) * (x_{t-k} - xbar)      (divisor n, not n-k)

References:
- Hansen, L. P. & Hodrick, R. J. (1980). Forward exchange rates as optimal predictors of future
  spot rates. Journal of Political Economy 88(5), 829-853.
- Newey, W. K. & West, K. D. (1987). A simple, positive semi-definite, heteroskedasticity and
  autocorrelation consistent covariance matrix. Econometrica 55(3), 703-708.
- Diebold, F. X. & Mariano, R. S. (1995). Comparing predictive accuracy. JBES 13(3), 253-263.
- Harvey, D., Leybourne, S. & Newbold, P. (1997). Testing the equality of prediction mean
  squared errors. International Journal of Forecasting 13(2), 281-291.
- Kiefer, N. M. & Vogelsang, T. J. (2005). A new asymptotic theory for heteroskedasticity-
  autocorrelation robust tests. Econometric Theory 21(6), 1130-1164.
- Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
  JASA 22(158), 209-212.
- Mueller, U. K. (2007). A theory of robust long-run variance estimation. Journal of
  Econometrics 141(2), 1331-1352.
- Sun, Y. (2013). A heteroskedasticity and autocorrelation robust F test using an orthonormal
  series variance estimator. Econometrics Journal 16(1), 1-26.
- Lazarus, E., Lewis, D. J., Stock, J. H. & Watson, M. W. (2018). HAR inference:
  recommendations for practice. JBES 36(4), 541-559.
- Christoffersen, P. F. (1998). Evaluating interval forecasts. International Economic Review
  39(4), 841-862.
- Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian
  Journal of Statistics 6(2), 65-70.
- Gneiting, T. & Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
  estimation. JASA 102(477), 359-378.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

# the verdicts in words live in a light module (predict prints them); re-exported here
from stockcast.forecasting.verdicts import Verdict as Verdict
from stockcast.forecasting.verdicts import describe_skill as describe_skill
from stockcast.forecasting.verdicts import verdict as verdict

Kernel = Literal["bartlett", "truncated"]


@dataclass(frozen=True)
class DMResult:
    """Outcome of a Diebold-Mariano test of L(e1) - L(e2); positive means e1 has larger loss."""

    stat: float  # HLN-corrected DM statistic, compared with Student t(n - 1)
    pvalue: float  # two-sided p-value of equal predictive accuracy
    n: int  # number of paired forecast errors
    mean_diff: float  # mean loss differential, mean(L(e1) - L(e2))


def _series(x: np.ndarray, lags: int) -> np.ndarray:
    """A 1-D float copy of ``x``, checked to be long enough for ``lags`` autocovariances."""
    arr = np.asarray(x, dtype=float).ravel()
    if lags < 0:
        raise ValueError(f"lags must be >= 0, got {lags}")
    if arr.size < lags + 2:  # also keeps the HLN factor (n - h)(n - h + 1) / n^2 above zero
        raise ValueError(f"need at least {lags + 2} observations, got {arr.size}")
    return arr


def _check_level(level: float) -> float:
    """``level`` itself, once checked to lie strictly between 0 and 1."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return level


def _z(level: float) -> float:
    """Two-sided standard-normal critical value, e.g. 1.96 for level 0.95."""
    return float(sps.norm.ppf(0.5 + _check_level(level) / 2.0))


def _weight(j: int, lags: int, kernel: Kernel) -> float:
    """Kernel weight of the lag-j autocovariance: Bartlett 1 - j / (L + 1), truncated 1."""
    if kernel == "bartlett":
        return 1.0 - j / (lags + 1.0)
    if kernel == "truncated":
        return 1.0
    raise ValueError(f"kernel must be 'bartlett' or 'truncated', got {kernel!r}")


def hac_covariance(x: np.ndarray, lags: int, kernel: Kernel = "bartlett") -> np.ndarray:
    """HAC covariance matrix of the column means of ``x`` (n, k); Newey-West by default.

    Omega = Gamma_0 + sum_{j=1}^{L} w_j (Gamma_j + Gamma_j'),  Var(xbar) ~= Omega / n,
    Gamma_j = (1/n) sum_t (x_t - xbar)(x_{t-j} - xbar)'. Bartlett weights w_j = 1 - j / (L + 1)
    keep Omega positive semi-definite (Newey & West 1987); the truncated (rectangular) kernel,
    w_j = 1, is unbiased for an MA(L) process, as h-step errors are with L = h - 1 (Hansen &
    Hodrick 1980; Diebold & Mariano 1995), but may be indefinite in small samples.
    """
    arr = np.asarray(x, dtype=float)
    arr = arr[:, None] if arr.ndim == 1 else arr
    n = _series(arr[:, 0], lags).size
    d = arr - arr.mean(axis=0)
    omega = d.T @ d / n
    for j in range(1, lags + 1):
        gamma = d[j:].T @ d[:-j] / n
        omega += _weight(j, lags, kernel) * (gamma + gamma.T)
    return omega / n


def hac_variance(x: np.ndarray, lags: int, kernel: Kernel = "bartlett") -> float:
    """Long-run variance of the mean of ``x``, Newey-West (Bartlett) by default.

    Var(xbar) ~= (gamma_0 + 2 * sum_{k=1}^{L} w_k * gamma_k) / n,  w_k = 1 - k / (L + 1).
    With L = 0 this is the plain variance of the mean, var(x, ddof=0) / n. For h-step forecasts
    from overlapping windows use L = h - 1. ``kernel="truncated"`` uses w_k = 1 and falls back
    to Bartlett when that variance is not positive (as Diebold & Mariano 1995 suggest).
    """
    arr = _series(x, lags)
    var = float(hac_covariance(arr, lags, kernel)[0, 0])
    return var if var > 0.0 or kernel == "bartlett" else hac_variance(arr, lags)


def hac_mean_ci(
    x: np.ndarray, lags: int, level: float = 0.95, kernel: Kernel = "bartlett"
) -> tuple[float, float, float, float]:
    """(mean, low, high, se): normal-approximation CI xbar -/+ z * se, se = sqrt(hac_variance)."""
    arr = _series(x, lags)
    mean, se = float(arr.mean()), math.sqrt(hac_variance(arr, lags, kernel))
    half = _z(level) * se
    return mean, mean - half, mean + half, se


def _hln_factor(n: int, h: int) -> float:
    """Harvey-Leybourne-Newbold (1997) small-sample factor sqrt((n + 1 - 2h + h(h-1)/n) / n).

    The radicand equals (n - h)(n - h + 1) / n^2, positive whenever n > h.
    """
    return math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)


def diebold_mariano(
    e1: np.ndarray, e2: np.ndarray, h: int, loss: Literal["abs", "sq"] = "abs"
) -> DMResult:
    """Diebold-Mariano test of equal accuracy, with the Harvey-Leybourne-Newbold correction.

    Loss differential d_t = L(e1_t) - L(e2_t), L = |e| ("abs") or e^2 ("sq").
    DM = dbar / sqrt(V),  V = (gamma_0 + 2 * sum_{k=1}^{h-1} gamma_k) / n   (DM 1995, rectangular
    window: h-step errors are MA(h-1)); when V <= 0 the Bartlett (Newey-West) V with h-1 lags.
    HLN (1997): DM* = DM * sqrt((n + 1 - 2h + h(h-1)/n) / n), two-sided p from Student t(n-1).
    For h = 1, DM* equals the one-sample t statistic of d (sample sd with ddof 1).
    """
    if h < 1:
        raise ValueError(f"h must be >= 1, got {h}")
    lossf = {"abs": np.abs, "sq": np.square}.get(loss)
    if lossf is None:
        raise ValueError(f"loss must be 'abs' or 'sq', got {loss!r}")
    d = _series(lossf(np.asarray(e1, dtype=float)) - lossf(np.asarray(e2, dtype=float)), h - 1)
    n, dbar, var = d.size, float(d.mean()), hac_variance(d, h - 1, "truncated")
    if var <= 0.0:  # constant differential: equal accuracy iff it is zero
        stat = 0.0 if dbar == 0.0 else math.copysign(math.inf, dbar)
    else:
        stat = dbar / math.sqrt(var) * _hln_factor(n, h)
    pvalue = float(2.0 * sps.t.sf(abs(stat), df=n - 1))
    return DMResult(stat=float(stat), pvalue=pvalue, n=n, mean_diff=dbar)


def skill_ci(
    model_abs_err: np.ndarray, naive_abs_err: np.ndarray, lags: int, level: float = 0.95
) -> tuple[float, float, float]:
    """(skill, low, high) for skill = 1 - MAE_model / MAE_naive, by the delta method.

    With a = mean(model_abs_err), b = mean(naive_abs_err) and Sigma the HAC covariance of (a, b)
    (``hac_covariance`` of the two columns), the ratio r = a / b has gradient
    g = (1 / b, -a / b^2) and Var(r) ~= g' Sigma g. CI: skill -/+ t_{n-1} * sqrt(Var(r)) / c,
    c = the HLN factor with h = lags + 1: the variance and scaling of the Diebold-Mariano test
    (truncated kernel, Bartlett when g' Sigma g <= 0), so "CI excludes 0" agrees with a DM test
    on absolute errors to first order. Simulated coverage of a 95% CI for MA(4) errors, n = 300
    to 750: 0.94-0.95 this way (tested), 0.90-0.91 with Newey-West and a normal quantile.
    """
    errs = np.column_stack([np.asarray(model_abs_err, float), np.asarray(naive_abs_err, float)])
    n, (a, b) = errs.shape[0], errs.mean(axis=0)
    if b <= 0.0:
        raise ValueError("the naive forecast has zero mean absolute error; skill is undefined")
    grad = np.array([1.0 / b, -a / b**2])
    var = float(grad @ hac_covariance(errs, lags, "truncated") @ grad)
    if var <= 0.0:
        var = max(float(grad @ hac_covariance(errs, lags) @ grad), 0.0)
    crit = float(sps.t.ppf(0.5 + _check_level(level) / 2.0, df=n - 1))
    skill, half = 1.0 - a / b, crit * math.sqrt(var) / _hln_factor(n, lags + 1)
    return float(skill), float(skill - half), float(skill + half)


COVERAGE_TERMS = 8  # cosine terms of the coverage CI's long-run variance (EWC degrees of freedom)


def ewc_long_run_variance(x: np.ndarray, terms: int) -> float:
    """Equal-weighted-cosine (EWC) estimate of the long-run variance of ``x`` (n,), i.e. of
    n x Var(xbar): the mean of the ``terms`` squared cosine projections

        Lambda_j = sqrt(2 / n) * sum_t cos(pi * j * (t + 1/2) / n) * (x_t - xbar),  j = 1..B,

    which for a stationary series are asymptotically independent N(0, Omega) (Mueller 2007), so
    xbar / sqrt(Omega_hat / n) is Student t with B degrees of freedom (Sun 2013; Lazarus, Lewis,
    Stock & Watson 2018). Exact in finite samples for Gaussian white noise.
    """
    arr = np.asarray(x, dtype=float).ravel()
    n = arr.size
    if not 1 <= terms < n:
        raise ValueError(f"terms must lie in [1, n - 1] = [1, {n - 1}], got {terms}")
    basis = np.cos(np.pi * np.outer(np.arange(1, terms + 1), np.arange(n) + 0.5) / n)
    proj = math.sqrt(2.0 / n) * (basis @ (arr - arr.mean()))
    return float(np.mean(proj**2))


def coverage_terms(n: int, lags: int) -> int:
    """Cosine terms of the coverage CI for n windows of overlap ``lags`` (= h - 1):
    ``COVERAGE_TERMS``, fewer when n < 10 x B x (lags + 1), at least 1. The highest cosine's
    period 2n / B then spans at least 20 (lags + 1) windows, where the overlap's MA(lags)
    spectrum is still within about 1% of its value at frequency 0 (so the overlap cannot bias
    the variance down)."""
    return max(1, min(COVERAGE_TERMS, n // (10 * (lags + 1))))


def coverage_ci(hits: np.ndarray, lags: int, level: float = 0.95) -> tuple[float, float, float]:
    """(coverage, low, high): the share of hits with a ``level`` CI that allows for overlapping
    windows and for misses clustered in volatile spells; within [0, 1].

    Method, with p = mean(hits), n windows, B = ``coverage_terms(n, lags)`` (8 for n >= 80 h):

    - the long-run variance Omega of the hit series by ``ewc_long_run_variance`` with B terms,
      and the design effect d = Omega / (p (1 - p)) (Kish: the factor by which dependence
      inflates the binomial variance; d = 1 when p is 0 or 1, where nothing can be estimated);
    - the Wilson score interval with that effective sample size and a Student t_B critical value
      c: every p0 with (p - p0)^2 <= c^2 d p0 (1 - p0) / n, i.e. with k = c^2 d / n,
      centre (p + k / 2) / (1 + k), half-width sqrt(k p (1 - p) + k^2 / 4) / (1 + k).

    Why this one. Misses cluster over tens of sessions (miss autocorrelations about 0.1 at lags
    1-4 on real indices, decaying slowly), so the long-run variance is several times the
    binomial one, and estimators that choose their bandwidth from the data underestimate it
    where it matters. In ``bench/size_check.py``'s clustered design (n = 1,000 windows) a
    Newey-West automatic bandwidth rejected 11-16% at 5%; a stationary block bootstrap of the
    mean (arch, Politis-White block length of at least h; percentile, basic or normal) 10-15%;
    the former fixed-b Bartlett interval (15% bandwidth, Kiefer-Vogelsang critical value, at
    least the truncated-kernel interval at ``lags``) 6.6-7.5%, and 3.5% with independent misses;
    a symmetric EWC interval, p -/+ t_8 sqrt(Omega / n), 6-7.5%. A first-order Markov chain of
    hits sees only the lag-1 dependence (0.12) of a clustering that decays over about a dozen
    sessions, so it misses most of the variance. What was left was one-sided: a sample that
    happens to hold few turbulent spells shows a high coverage and a small variance together,
    so a symmetric interval around p excludes the truth from above; the Wilson form takes the
    binomial variance at p0 instead of at p and balances the two tails. B = 8 keeps the cosines
    inside the clustering's spectral peak (more terms, 12-24, rejected 7-8%; fewer, 5-6, about
    as often as 8 but wider). Measured size: 5.1-5.9% with clustered and 4.2-5.6% with
    independent misses at h = 1, 3, 5 (``bench/size_check.md``); at n = 2,500, 5.0-5.2% and
    4.2-5.6% (4,000 replications). The remaining excess at n = 1,000 is the small downward
    bias of the cosines' average against the spectrum's peak; it shrinks as n grows. The
    price is width: t_8 = 2.31 instead of 1.96, on a variance with 8 degrees of freedom, which
    is what an honest interval costs when 1,000 windows hold a few dozen independent spells.
    Deterministic (no resampling), about 0.2 ms for 2,500 hits.
    """
    _check_level(level)
    arr = _series(np.asarray(hits, dtype=float), lags)
    n, p = arr.size, float(arr.mean())
    terms = coverage_terms(n, lags)
    crit = float(sps.t.ppf(0.5 + level / 2.0, df=terms))
    var = p * (1.0 - p)
    omega = ewc_long_run_variance(arr, terms) if var > 0.0 else 0.0
    d = omega / var if var > 0.0 and omega > 0.0 else 1.0
    k = crit * crit * d / n
    centre = (p + k / 2.0) / (1.0 + k)
    half = math.sqrt(k * var + k * k / 4.0) / (1.0 + k)
    return p, max(centre - half, 0.0), min(centre + half, 1.0)


def _transitions(miss: np.ndarray) -> np.ndarray:
    """2 x 2 counts of consecutive (previous, next) states of a 0/1 miss series: rows hit /
    miss before, columns hit / miss after."""
    prev, cur = miss[:-1], miss[1:]
    return np.array([[np.sum(~prev & ~cur), np.sum(~prev & cur)],
                     [np.sum(prev & ~cur), np.sum(prev & cur)]])  # fmt: skip


def independence_test(hits: np.ndarray, h: int = 1) -> float:
    """p-value of Christoffersen's (1998) hypothesis that misses do not cluster: in a
    first-order Markov chain of hits and misses, a miss is as likely after a miss as after a
    hit. Tested exactly, by Fisher's exact test on the 2 x 2 table of transitions (the
    likelihood ratio's chi2(1) approximation rejected 8% at 5% with the few miss-after-miss
    transitions of a 90% band, ``bench/size_check.py``).

    h-step windows overlap, so hits of consecutive windows are dependent by construction; the
    test runs on each of the h interleaved series of non-overlapping windows (every h-th one,
    offsets 0..h-1) and reports the smallest p-value times h (Bonferroni, capped at 1). 1.0
    when no series has both hits and misses to leave from (nothing to test).
    """
    if h < 1:
        raise ValueError(f"h must be >= 1, got {h}")
    miss = ~np.asarray(hits, dtype=bool).ravel()
    pvals = []
    for k in range(h):
        table = _transitions(miss[k::h])
        if np.all(table.sum(axis=0) > 0) and np.all(table.sum(axis=1) > 0):
            pvals.append(float(sps.fisher_exact(table).pvalue))
    return min(1.0, h * min(pvals)) if pvals else 1.0


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in the order given: reject at family-wise
    error a those whose adjusted p is below a. p_(i) sorted ascending (i = 1..m) is adjusted to
    max_{j <= i} min(1, (m - j + 1) p_(j))."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return [float(v) for v in out]


def interval_score(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float) -> float:
    """Mean interval score of central (1 - alpha) intervals; lower is better.

    S = (u - l) + (2 / alpha) * (l - y) * 1{y < l} + (2 / alpha) * (y - u) * 1{y > u}
    (Gneiting & Raftery 2007, eq. 43).
    """
    return float(np.mean(interval_scores(y, lower, upper, alpha)))


def interval_scores(
    y: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float
) -> np.ndarray:
    """Per-window interval scores (N,) whose mean is ``interval_score``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    y, lo, up = (np.asarray(v, dtype=float) for v in (y, lower, upper))
    below = (2.0 / alpha) * np.maximum(lo - y, 0.0)
    above = (2.0 / alpha) * np.maximum(y - up, 0.0)
    return (up - lo) + below + above


def rank_ic(pred: np.ndarray, realised: np.ndarray) -> float:
    """Spearman rank correlation across symbols for one date (average ranks for ties).

    IC = Pearson correlation of rank(pred) and rank(realised), ranks 1..m with ties given their
    mean rank. Pairs with a NaN are dropped; NaN when fewer than 2 remain or a side is constant.
    """
    p, r = np.asarray(pred, dtype=float), np.asarray(realised, dtype=float)
    keep = ~(np.isnan(p) | np.isnan(r))
    if keep.sum() < 2:
        return math.nan
    rp, rr = sps.rankdata(p[keep]), sps.rankdata(r[keep])
    rp, rr = rp - rp.mean(), rr - rr.mean()
    denom = math.sqrt(float(np.dot(rp, rp) * np.dot(rr, rr)))
    return float(np.dot(rp, rr) / denom) if denom > 0.0 else math.nan


def mean_with_hac_t(x: np.ndarray, lags: int) -> tuple[float, float]:
    """(mean, t) of a daily series such as the IC, t = mean / sqrt(hac_variance(x, lags,
    "truncated")): h-session outcomes of consecutive days make the series MA(h - 1), which the
    truncated kernel with h - 1 lags estimates without bias (Bartlett at h - 1 lags understates
    it: 9% rejections at a nominal 5% for h = 3 and 5, ``bench/size_check.py``); Bartlett when
    that variance is not positive.

    NaN entries (dates without an IC) are dropped first; t is NaN when the variance is zero.
    """
    arr = np.asarray(x, dtype=float).ravel()
    arr = _series(arr[~np.isnan(arr)], lags)
    mean, var = float(arr.mean()), hac_variance(arr, lags, "truncated")
    return mean, (mean / math.sqrt(var) if var > 0.0 else math.nan)

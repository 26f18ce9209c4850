"""Cross-sectional evaluation of a global model over its symbols' test windows (pure numpy).

Input: per symbol, a ``SymbolTest``: the as-of dates of its test windows, the predicted and the
realised h-session log returns, the naive forecasts' log returns and a MASE scale. Two views:

**Pooled** (per horizon h, every symbol's windows together; all scale-free, so a $5 stock and a
$500 stock weigh alike): MAE of log returns in basis points (``1e4 x mean |mu - y|``, the same
as ``mean |log(pred / actual)|`` of prices); MASE, ``mean |mu - y| / s_i`` with s_i symbol i's
in-sample MAE of the one-step naive forecast (``mean |y_1|`` over its training windows, as the
backtest's folds scale theirs); and skill against the best naive forecast (persistence or
drift, whichever had the lower pooled MAE on the symbols' validation windows, so it is
chosen without the test outcomes), ``1 - sum |e_model| / sum |e_naive|``, with a 95%
confidence interval and a Diebold-Mariano p-value.

The walk-forward backtest (``walkforward.py``) pools its folds by concatenating them, which is
right for one symbol: the folds follow each other in time. Symbols do not: on one as-of date
they share the market's move, so their errors are correlated, and treating a day's ten windows
as ten independent draws would make the interval too narrow. The windows are therefore summed
per as-of date first, ``A_t = (T / N) sum_{i on t} |e_model|`` (``B_t`` likewise for the naive
forecast; T dates, N windows, so ``mean_t A_t`` is the pooled MAE and the skill is unchanged),
and ``stats.skill_ci`` runs over the T daily totals with h - 1 lags: robust to any correlation
across the symbols of a day and to the MA(h - 1) overlap of h-session targets across days
(the Driscoll-Kraay idea). The DM test runs on the same totals.

**Cross-section** (per horizon h): on each as-of date with at least ``MIN_NAMES`` symbols, the
rank information coefficient IC_t = Spearman correlation across symbols between predicted and
realised h-session log returns (``stats.rank_ic``: average ranks for ties; a day whose
predictions are all equal has none and is skipped), and the spread_t = mean realised log return
of the top third of the symbols by prediction minus that of the bottom third (``m // 3`` names
each, m the symbols that day). Reported: the mean over days and its t-statistic with a
Newey-West variance of h - 1 lags (``stats.mean_with_hac_t``), since the h-session returns of
consecutive days overlap by h - 1 sessions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stockcast.forecasting import metrics, stats

NAIVE = metrics.COMPARATORS  # the naive forecasts skill is measured against
MIN_NAMES = 3  # fewest symbols on an as-of date for its rank IC and spread
BPS = 1e4


@dataclass(frozen=True)
class SymbolTest:
    """One symbol's test windows, as the cross-section needs them."""

    symbol: str
    dates: np.ndarray  # (N,) ISO as-of dates (str), increasing
    mu: np.ndarray  # (N, H) predicted log returns log(C[t+h] / C[t])
    y: np.ndarray  # (N, H) realised log returns
    naive: Mapping[str, np.ndarray]  # name in NAIVE -> (N, H) the naive forecast's log returns
    scale: float  # MASE scale: in-sample MAE of the one-step naive log forecast
    # per name in NAIVE, (Nv, H) absolute log errors on the validation windows (choose the
    # comparator, ``metrics.chosen_comparator``; empty: persistence)
    val_naive: Mapping[str, np.ndarray] = field(default_factory=dict)


def report(tests: Sequence[SymbolTest]) -> dict:
    """``{"pooled": {...}, "cross_section": {...}}`` over ``tests`` (the `evaluate --json` keys
    of a global model); each holds ``series`` (symbols) and ``horizons``, one row per h."""
    horizon = tests[0].y.shape[1] if tests else 0
    return {
        "pooled": {
            "series": len(tests),
            "horizons": [pooled_horizon(tests, h) for h in range(1, horizon + 1)],
        },
        "cross_section": {
            "series": len(tests),
            "min_names": MIN_NAMES,
            "horizons": [cross_section_horizon(tests, h) for h in range(1, horizon + 1)],
        },
    }


def daily_totals(
    dates: np.ndarray, errors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(unique sorted dates (T,), per-date sums of ``errors`` (T,) x T / N), ``errors`` (N,) on
    as-of ``dates`` (N,): the mean over dates equals the mean over all N windows."""
    days, where = np.unique(np.asarray(dates), return_inverse=True)
    sums = np.bincount(where.ravel(), weights=np.asarray(errors, float), minlength=days.size)
    return days, sums * (days.size / len(errors))


def pooled_horizon(tests: Sequence[SymbolTest], h: int) -> dict:
    """Pooled scale-free errors and skill against the best naive forecast at horizon ``h``."""
    c = h - 1
    dates = np.concatenate([t.dates for t in tests])  # (N,)
    y = np.concatenate([t.y[:, c] for t in tests])  # (N,)
    scale = np.concatenate([np.full(len(t.dates), t.scale, float) for t in tests])  # (N,)
    err = {"model": np.abs(np.concatenate([t.mu[:, c] for t in tests]) - y)}  # (N,) each
    err.update({k: np.abs(np.concatenate([t.naive[k][:, c] for t in tests]) - y) for k in NAIVE})
    base = {k: _errors(err[k], scale) for k in NAIVE}
    pooled_val = (
        {k: np.concatenate([t.val_naive[k] for t in tests]) for k in NAIVE}
        if all(t.val_naive for t in tests)
        else {}
    )
    best = metrics.chosen_comparator(pooled_val, h)  # on validation, not on these outcomes
    days, model_t = daily_totals(dates, err["model"])
    _, naive_t = daily_totals(dates, err[best])
    return {
        "h": h,
        "n": int(y.size),
        "days": int(days.size),
        **_errors(err["model"], scale),
        "best_baseline": best,
        "baselines": base,
        **_significance(model_t, naive_t, h, best),
    }


def _errors(abs_err: np.ndarray, scale: np.ndarray) -> dict:
    """``mae_bps`` and ``mase`` of absolute log errors (N,) with per-window scales (N,)."""
    mase = float(np.mean(abs_err / scale)) if np.all(scale > 0.0) else None
    return {"mae_bps": float(np.mean(abs_err)) * BPS, "mase": mase}


def _significance(model_t: np.ndarray, naive_t: np.ndarray, h: int, best: str) -> dict:
    """``skill_vs_best`` {value, low, high}, ``dm_pvalue``, ``verdict`` and ``summary`` from the
    daily totals (T,) of the model's and the best naive forecast's absolute errors."""
    try:
        value, low, high = stats.skill_ci(model_t, naive_t, h - 1)
        pvalue: float | None = stats.diebold_mariano(model_t, naive_t, h).pvalue
    except ValueError:  # too few dates or a perfect naive forecast: no interval
        return {"skill_vs_best": None, "dm_pvalue": None, "verdict": "indistinguishable",
                "summary": f"not tested against {best} (too few dates)"}  # fmt: skip
    return {
        "skill_vs_best": {"value": value, "low": low, "high": high},
        "dm_pvalue": pvalue,
        "verdict": stats.verdict(low, high),
        "summary": stats.describe_skill(best, value, low, high),
    }


def panel(tests: Sequence[SymbolTest], h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates (T,), predicted (T, S), realised (T, S)) h-session log returns by as-of date and
    symbol, NaN where a symbol has no window on a date."""
    days = np.unique(np.concatenate([t.dates for t in tests])) if tests else np.array([])
    pred = np.full((days.size, len(tests)), np.nan)
    real = np.full((days.size, len(tests)), np.nan)
    for s, t in enumerate(tests):
        rows = np.searchsorted(days, t.dates)
        pred[rows, s], real[rows, s] = t.mu[:, h - 1], t.y[:, h - 1]
    return days, pred, real


def daily_rank_ic(pred: np.ndarray, real: np.ndarray, min_names: int = MIN_NAMES) -> np.ndarray:
    """(T,) Spearman IC across symbols of each row of ``pred`` and ``real`` (T, S); NaN on a
    date with fewer than ``min_names`` symbols or constant predictions or outcomes."""
    out = np.full(pred.shape[0], np.nan)
    for t in range(pred.shape[0]):
        keep = ~(np.isnan(pred[t]) | np.isnan(real[t]))
        if keep.sum() >= min_names:
            out[t] = stats.rank_ic(pred[t, keep], real[t, keep])
    return out


def daily_spread(pred: np.ndarray, real: np.ndarray, min_names: int = MIN_NAMES) -> np.ndarray:
    """(T,) mean realised return of the top third of each date's symbols by prediction minus
    that of the bottom third (``m // 3`` each, ties in the order of the columns); NaN on a date
    with fewer than ``min_names`` symbols."""
    out = np.full(pred.shape[0], np.nan)
    for t in range(pred.shape[0]):
        keep = ~(np.isnan(pred[t]) | np.isnan(real[t]))
        m = int(keep.sum())
        if m < min_names:
            continue
        order = np.argsort(pred[t, keep], kind="stable")  # ascending prediction
        r, k = real[t, keep][order], m // 3
        out[t] = float(np.mean(r[-k:]) - np.mean(r[:k]))
    return out


def cross_section_horizon(tests: Sequence[SymbolTest], h: int) -> dict:
    """Mean daily rank IC and top-minus-bottom-third spread at ``h``, with HAC t-statistics
    (h - 1 lags), over the as-of dates that have an IC (``days``)."""
    days, pred, real = panel(tests, h)
    ic = daily_rank_ic(pred, real)  # (T,)
    used = ~np.isnan(ic)
    spread = np.where(used, daily_spread(pred, real), np.nan)  # (T,) on the same dates
    rank_ic, rank_ic_t = _mean_t(ic, h)
    mean_spread, spread_t = _mean_t(spread, h)
    return {
        "h": h,
        "days": int(used.sum()),
        "first": str(days[used][0]) if used.any() else None,
        "last": str(days[used][-1]) if used.any() else None,
        "rank_ic": rank_ic,
        "rank_ic_t": rank_ic_t,
        "spread": mean_spread,
        "spread_t": spread_t,
    }


def _mean_t(x: np.ndarray, h: int) -> tuple[float | None, float | None]:
    """(mean, HAC t with h - 1 lags) of the finite entries of ``x`` (T,); None where undefined
    (no entries; fewer than h + 1 for t, or zero variance)."""
    finite = x[~np.isnan(x)]
    if finite.size == 0:
        return None, None
    mean = float(np.mean(finite))
    if finite.size < h + 1:
        return mean, None
    _, t = stats.mean_with_hac_t(finite, h - 1)
    return mean, (None if math.isnan(t) else t)

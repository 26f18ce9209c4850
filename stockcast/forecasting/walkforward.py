"""Rolling-origin (walk-forward) evaluation: fold blocks, and pooled metrics over folds (pure).

Blocks: the last ``share`` of the stored sessions is cut into ``folds`` equal blocks; block k
starts at the origin o_k and ends at e_k = o_{k+1} - 1 (the last block at the last session).
The fold trains on sessions up to e_k with the test part starting at o_k, so its test windows
are as-of t = o_k - 1 .. e_k - H and every target t + h lies inside [o_k, e_k].

Pooling: every fold's test windows are concatenated per horizon and scored together, with
HAC confidence intervals (``stats``; h - 1 lags, as h-step errors from overlapping windows are
MA(h - 1)). Skill, DM tests and verdicts use the scale-free errors ``|log(forecast / outcome)|``
(a later, higher-priced fold weighs no more than an earlier one) against the comparator chosen
on the folds' validation windows (``metrics.chosen_comparator``), never on the test outcomes.
MASE is on the log scale: ``mean |log(pred / actual)| / s`` with s the fold's
in-sample MAE of the one-step naive forecast of log prices on its training part, so it is free
of the price level (a price that grew 100-fold over the training part would otherwise inflate
it). Intervals of each fold are calibrated on that fold's validation part, as `train` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stockcast.errors import DataError
from stockcast.forecasting import intervals, metrics, stats

DEFAULT_FOLDS = 5
DEFAULT_SHARE = 0.3  # share of the stored sessions that the folds' test blocks cover
NAIVE = metrics.COMPARATORS  # the baselines that skill is measured against


@dataclass(frozen=True)
class FoldPredictions:
    """One fold's test windows and what calibrates its bands; indices are absolute."""

    origin: str  # ISO date of o_k, the first session of the block
    end: str  # ISO date of e_k, the last session of the block
    dates: Sequence[str]  # ISO dates of every stored session up to e_k
    close: np.ndarray  # (S,) adjusted closes of those sessions
    asof: np.ndarray  # (N,) as-of indices into ``close``
    y: np.ndarray  # (N, H) realised log returns
    mu: np.ndarray  # (N, H) predicted log returns of the raw model
    mu_shrunk: np.ndarray  # (N, H) the same after shrinkage toward the naive forecast
    vol: np.ndarray  # (N,) EWMA volatility at each as-of session
    val: tuple[np.ndarray, np.ndarray, np.ndarray]  # validation (y, mu, vol): calibrates bands
    scale: float  # in-sample MAE of one-step naive log forecasts on the training part
    shrink: dict  # the learned shrinkage ({"weight", "toward", "drift"})
    seconds: float  # training time of the fold
    # per name in NAIVE, (Nv, H) absolute log errors on the validation windows: they choose
    # the comparator (``metrics.chosen_comparator``); empty: persistence
    val_naive: Mapping[str, np.ndarray] = field(default_factory=dict)


def fold_blocks(n: int, folds: int = DEFAULT_FOLDS, share: float = DEFAULT_SHARE
                ) -> list[tuple[int, int]]:  # fmt: skip
    """(o_k, e_k) session indices of ``folds`` equal blocks covering the last ``share`` of
    ``n`` sessions, oldest first; the last block ends at n - 1."""
    size = int(share * n) // folds
    if folds < 1 or size < 1:
        raise DataError(f"{n} sessions cannot hold {folds} folds; use fewer --folds")
    start = n - folds * size
    return [(start + k * size, start + (k + 1) * size - 1) for k in range(folds)]


def fold_row(f: FoldPredictions) -> dict:
    """The fold's dates, size, shrinkage and MAE ratio (scale-free errors) to the comparator
    per h (the naive forecast best on the fold's validation part)."""
    horizon = f.y.shape[1]
    actual = metrics.actuals(f.close, f.asof, horizon)
    pred = metrics.model_prices(f.close, f.asof, f.mu)
    naive = {k: metrics.BASELINES[k](f.close, f.asof, horizon) for k in NAIVE}
    ratios = []
    for c in range(horizon):
        model = float(np.mean(metrics.log_errors(pred[:, c], actual[:, c])))
        ref = naive[metrics.chosen_comparator(f.val_naive, c + 1)]
        best = float(np.mean(metrics.log_errors(ref[:, c], actual[:, c])))
        ratios.append(model / best if best > 0 else None)
    return {
        "origin": f.origin,
        "end": f.end,
        "test_start": f.dates[int(f.asof[0])],
        "test_end": f.dates[int(f.asof[-1])],
        "target_start": f.dates[int(f.asof[0]) + 1],
        "target_end": f.dates[int(f.asof[-1]) + horizon],
        "n": len(f.asof),
        "mae_ratio": ratios,
        "shrink": f.shrink,
        "seconds": round(f.seconds, 2),
    }


def _ci(value_low_high: tuple[float, float, float]) -> dict:
    value, low, high = value_low_high
    return {"value": value, "low": low, "high": high, "verdict": stats.verdict(low, high)}


def _pooled(folds: Sequence[FoldPredictions], c: int) -> dict[str, np.ndarray]:
    """Concatenated price arrays of every fold at horizon index c (h = c + 1)."""
    horizon = folds[0].y.shape[1]
    parts: dict[str, list[np.ndarray]] = {}
    for f in folds:
        last = f.close[f.asof]
        cols = {
            "last": last,
            "actual": metrics.actuals(f.close, f.asof, horizon)[:, c],
            "model": metrics.model_prices(f.close, f.asof, f.mu)[:, c],
            "shrunk": metrics.model_prices(f.close, f.asof, f.mu_shrunk)[:, c],
            "log_err": np.abs(f.mu[:, c] - f.y[:, c]),
            "scaled_err": np.abs(f.mu[:, c] - f.y[:, c]) / f.scale,
            **{k: metrics.BASELINES[k](f.close, f.asof, horizon)[:, c] for k in NAIVE},
        }
        for k, v in cols.items():
            parts.setdefault(k, []).append(np.asarray(v, float))
    return {k: np.concatenate(v) for k, v in parts.items()}


def _val_naive(folds: Sequence[FoldPredictions]) -> dict[str, np.ndarray]:
    """Every fold's validation errors of the naive forecasts, concatenated (empty unless every
    fold has them)."""
    if not all(f.val_naive for f in folds):
        return {}
    return {k: np.concatenate([f.val_naive[k] for f in folds]) for k in NAIVE}


def _errors(pred: np.ndarray, actual: np.ndarray, last: np.ndarray) -> dict:
    return {
        "mae": metrics.mae(pred, actual),
        "rmse": metrics.rmse(pred, actual),
        "mae_bps": float(np.mean(np.abs(np.log(pred / actual)))) * 1e4,
        "directional_accuracy": metrics.directional_accuracy(pred, actual, last),
    }


def horizon_report(folds: Sequence[FoldPredictions], h: int,
                   levels: Sequence[float] = intervals.DEFAULT_LEVELS) -> dict:  # fmt: skip
    """Pooled errors, skill with 95% CIs, DM test and intervals at horizon ``h``."""
    p = _pooled(folds, h - 1)
    actual, last = p["actual"], p["last"]
    # scale-free errors (log points): a later, higher-priced fold weighs no more than an earlier
    err = {k: metrics.log_errors(p[k], actual) for k in ("model", "shrunk", *NAIVE)}
    base = {k: _errors(p[k], actual, last) for k in NAIVE}
    best = metrics.chosen_comparator(_val_naive(folds), h)  # without the test outcomes
    skill = {k: _ci(stats.skill_ci(err["model"], err[k], h - 1)) for k in NAIVE}
    vs_best = _ci(stats.skill_ci(err["model"], err[best], h - 1))
    dm = stats.diebold_mariano(err["model"], err[best], h)
    shrunk_best = _ci(stats.skill_ci(err["shrunk"], err[best], h - 1))
    shrunk_dm = stats.diebold_mariano(err["shrunk"], err[best], h)
    return {
        "h": h,
        "n": int(actual.size),
        **_errors(p["model"], actual, last),
        "mase": float(np.mean(p["scaled_err"])),
        "up_share": metrics.up_share(actual, last),
        "baselines": base,
        "best_baseline": best,
        "skill_vs_persistence": skill["persistence"],
        "skill_vs_drift": skill["drift"],
        "skill_vs_best": vs_best,
        "dm_stat": dm.stat,
        "dm_pvalue": dm.pvalue,
        "verdict": vs_best["verdict"],
        "summary": stats.describe_skill(best, vs_best["value"], vs_best["low"], vs_best["high"]),
        "shrunk": {
            "mae": metrics.mae(p["shrunk"], actual),
            "mae_bps": float(np.mean(err["shrunk"])) * metrics.BPS,
            "skill_vs_best": shrunk_best,
            "dm_pvalue": shrunk_dm.pvalue,
            "verdict": shrunk_best["verdict"],
        },
        "intervals": interval_rows(folds, h, levels),
    }


def _band_arrays(folds: Sequence[FoldPredictions], h: int, levels: Sequence[float]
                 ) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:  # fmt: skip
    """Per band name, per fold: (y (N,), lower (N, L), upper (N, L)) log bounds at horizon h."""
    out: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for f in folds:
        vy, vmu, vvol = f.val
        n = len(f.asof)
        bands = {
            "model": (f.mu, f.vol, intervals.calibrate(vy, vmu, vvol, levels)),
            "constant": (f.mu, np.ones(n), intervals.calibrate_constant(vy, vmu, levels)),
            # persistence centre, EWMA-volatility scale, calibrated on the same validation part
            "ewma": (np.zeros_like(f.mu), f.vol,
                     intervals.calibrate(vy, np.zeros_like(vmu), vvol, levels)),
        }  # fmt: skip
        for name, (mu, vol, cal) in bands.items():
            lo, hi = intervals.log_bounds(mu, vol, cal)  # -> (N, L, H)
            out.setdefault(name, []).append((f.y[:, h - 1], lo[:, :, h - 1], hi[:, :, h - 1]))
    return out


def interval_rows(folds: Sequence[FoldPredictions], h: int,
                  levels: Sequence[float] = intervals.DEFAULT_LEVELS) -> list[dict]:  # fmt: skip
    """Pooled coverage (HAC CI), mean width and interval score (prices) per level at h, with
    the interval scores of the constant-width and the EWMA-volatility bands."""
    bands = _band_arrays(folds, h, levels)
    last = np.concatenate([f.close[f.asof] for f in folds])
    y = np.concatenate([b[0] for b in bands["model"]])
    price = last * np.exp(y)
    rows = []
    for i, level in enumerate(levels):
        pb = {}
        for name, per_fold in bands.items():
            lo = np.concatenate([b[1][:, i] for b in per_fold])
            hi = np.concatenate([b[2][:, i] for b in per_fold])
            pb[name] = (lo, hi, last * np.exp(lo), last * np.exp(hi))
        lo, hi, plo, phi = pb["model"]
        hits = (lo <= y) & (y <= hi)
        cov, cov_lo, cov_hi = stats.coverage_ci(hits, h - 1)
        alpha = 1.0 - level
        # interval scores in units of the origin's close (scale-free, the headline) and in prices
        rel = {k: stats.interval_scores(price, pb[k][2], pb[k][3], alpha) / last for k in pb}
        rows.append({
            "level": level,
            "coverage": cov,
            "coverage_low": cov_lo,
            "coverage_high": cov_hi,
            "independence_pvalue": stats.independence_test(hits, h),
            "mean_width": float(np.mean(phi - plo)),
            "mean_width_pct": float(np.mean(100 * (np.exp(hi) - np.exp(lo)))),
            "interval_score": stats.interval_score(price, plo, phi, alpha),
            **{f"{k}_coverage": float(np.mean((pb[k][0] <= y) & (y <= pb[k][1])))
               for k in ("constant", "ewma")},
            **{f"{k}_interval_score": stats.interval_score(price, pb[k][2], pb[k][3], alpha)
               for k in ("constant", "ewma")},
            "interval_score_rel": float(np.mean(rel["model"])),
            **{f"{k}_interval_score_rel": float(np.mean(rel[k])) for k in ("constant", "ewma")},
            # 1 - score / EWMA band's score (units of the origin's close), 95% HAC CI over the
            # pooled windows (as skill)
            "ewma_skill": _ci(stats.skill_ci(rel["model"], rel["ewma"], h - 1)),
        })  # fmt: skip
    return rows


def report(folds: Sequence[FoldPredictions],
           levels: Sequence[float] = intervals.DEFAULT_LEVELS) -> dict:  # fmt: skip
    """``folds`` (fold rows) and ``horizons`` (pooled per-horizon reports)."""
    horizon = folds[0].y.shape[1]
    return {
        "folds": [fold_row(f) for f in folds],
        "horizons": [horizon_report(folds, h, levels) for h in range(1, horizon + 1)],
    }

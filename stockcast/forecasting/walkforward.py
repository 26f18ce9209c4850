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
from stockcast.forecasting import bands, intervals, metrics, stats

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
    sigma: np.ndarray | None = None  # (N, H) the model's band scale (None: the EWMA vol)
    val_sigma: np.ndarray | None = None  # (Nv, H) the same on validation
    garch: np.ndarray | None = None  # (N, H) GARCH(1,1)-t std of the h-session return
    val_garch: np.ndarray | None = None  # (Nv, H) the same on validation
    garch_converged: bool = True  # False: GARCH fell back to the EWMA scale in this fold
    garch_reason: str = ""  # why it fell back
    scale_use: tuple[bool, ...] | None = None  # per h: the network's scale (None: no network)

    def band_inputs(self) -> tuple[bands.BandInputs, bands.BandInputs]:
        """(validation, test) centres and scales of every band of this fold."""
        vy, vmu, vvol = self.val
        val = bands.BandInputs(vy, vmu, _or(self.val_sigma, vvol), vvol, self.val_garch)
        test = bands.BandInputs(self.y, self.mu, _or(self.sigma, self.vol), self.vol, self.garch)
        return val, test


def _or(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    return b if a is None else a


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
        "scale_use": None if f.scale_use is None else list(f.scale_use),
        "garch_converged": f.garch_converged,
        "seconds": round(f.seconds, 2),
    }


def _ci(value_low_high: tuple[float, float, float]) -> dict:
    value, low, high = value_low_high
    return {"value": value, "low": low, "high": high, "verdict": stats.verdict(low, high)}


def _skill(model_err: np.ndarray, naive_err: np.ndarray, lags: int) -> dict | None:
    """``_ci`` of the skill of ``model_err`` against ``naive_err``; None when the naive
    forecast made no error at all (a flat series): skill is undefined there."""
    try:
        return _ci(stats.skill_ci(model_err, naive_err, lags))
    except ValueError:
        return None


def _undefined(model_err: np.ndarray) -> str:
    """The verdict against a naive forecast that made no error: any error of the model's is
    worse, none is a tie."""
    return "worse" if float(np.mean(model_err)) > 0 else "indistinguishable"


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
    skill = {k: _skill(err["model"], err[k], h - 1) for k in NAIVE}
    vs_best = _skill(err["model"], err[best], h - 1)  # None: the best naive made no error
    dm = stats.diebold_mariano(err["model"], err[best], h)
    shrunk_best = _skill(err["shrunk"], err[best], h - 1)
    shrunk_dm = stats.diebold_mariano(err["shrunk"], err[best], h)
    verdict = vs_best["verdict"] if vs_best else _undefined(err["model"])
    summary = (
        stats.describe_skill(best, vs_best["value"], vs_best["low"], vs_best["high"])
        if vs_best
        else f"{verdict} than {best}, which made no error here (skill undefined)"
        if verdict == "worse"
        else f"as exact as {best}, which made no error here (skill undefined)"
    )
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
        "verdict": verdict,
        "summary": summary,
        "shrunk": {
            "mae": metrics.mae(p["shrunk"], actual),
            "mae_bps": float(np.mean(err["shrunk"])) * metrics.BPS,
            "skill_vs_best": shrunk_best,
            "dm_pvalue": shrunk_dm.pvalue,
            "verdict": shrunk_best["verdict"] if shrunk_best else _undefined(err["shrunk"]),
        },
        "intervals": interval_rows(folds, h, levels),
    }


def fold_bounds(f: FoldPredictions, levels: Sequence[float]
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Per band, the fold's (lower, upper) log bounds (N, L, H), calibrated on its validation."""
    val, test = f.band_inputs()
    return bands.log_bounds(val, test, levels)


def interval_rows(folds: Sequence[FoldPredictions], h: int,
                  levels: Sequence[float] = intervals.DEFAULT_LEVELS) -> list[dict]:  # fmt: skip
    """Pooled coverage (HAC CI), mean width and scale-free interval score per level at h of the
    model's band, next to the EWMA, GARCH and constant-width bands (``bands.band_rows``), each
    fold's bands calibrated on that fold's validation part; with today's flat keys
    (``ewma_interval_score``, ``ewma_skill``, ...) kept for `--json` readers."""
    per_fold = [fold_bounds(f, levels) for f in folds]
    names = [k for k in per_fold[0] if all(k in b for b in per_fold)]
    bounds = {k: (np.concatenate([b[k][0] for b in per_fold]),
                  np.concatenate([b[k][1] for b in per_fold])) for k in names}  # fmt: skip
    y = np.concatenate([f.y for f in folds])
    last = np.concatenate([f.close[f.asof] for f in folds])
    rows = bands.band_rows(y, last, bounds, levels, h)
    for row in rows:
        for k in ("constant", "ewma"):
            row[f"{k}_coverage"] = row["bands"][k]["coverage"]
            row[f"{k}_interval_score"] = row["bands"][k]["interval_score"]
            row[f"{k}_interval_score_rel"] = row["bands"][k]["interval_score"]
        row["interval_score_rel"] = row["interval_score"]
        e = row["skill_vs_ewma"]
        row["ewma_skill"] = None if e is None else {k: e[k] for k in ("value", "low", "high",
                                                                      "verdict")}  # fmt: skip
    return rows


def garch_summary(folds: Sequence[FoldPredictions]) -> dict:
    """How many folds' GARCH fits fell back to the EWMA scale, and why."""
    failed = [f for f in folds if f.garch is not None and not f.garch_converged]
    return {
        "folds": sum(f.garch is not None for f in folds),
        "fallbacks": len(failed),
        "reasons": [f"{f.origin}: {f.garch_reason}" for f in failed],
    }


@dataclass(frozen=True)
class FoldsReport:
    """A backtest's folds pooled: a row per fold (``fold_row``), a report per horizon over
    every fold's test windows (``horizon_report``) and the GARCH fits' fallbacks."""

    folds: tuple[dict, ...]
    horizons: tuple[dict, ...]
    garch: dict  # folds, fallbacks, reasons (``garch_summary``)


def report(folds: Sequence[FoldPredictions],
           levels: Sequence[float] = intervals.DEFAULT_LEVELS) -> FoldsReport:  # fmt: skip
    """``folds`` (fold rows) and ``horizons`` (pooled per-horizon reports)."""
    horizon = folds[0].y.shape[1]
    return FoldsReport(
        folds=tuple(fold_row(f) for f in folds),
        horizons=tuple(horizon_report(folds, h, levels) for h in range(1, horizon + 1)),
        garch=garch_summary(folds),
    )


def forecast_rows(
    symbol: str,
    folds: Sequence[FoldPredictions],
    levels: Sequence[float] = intervals.DEFAULT_LEVELS,
) -> dict[str, list]:
    """Every test window and horizon of a backtest as columns (`backtest --forecasts`):
    ``symbol, fold, origin, date, h, close, actual, forecast`` and, per band B in model, ewma,
    garch and level L in percent, ``B_lo_L, B_hi_L`` (prices). ``origin`` is the as-of session
    of the forecast, ``fold`` the first session of its block, ``close`` the as-of close; from
    these a reader recomputes coverage and interval scores (in units of ``close``)."""
    cols: dict[str, list] = {k: [] for k in
                             ("symbol", "fold", "origin", "date", "h", "close", "actual",
                              "forecast")}  # fmt: skip
    names = ("model", "ewma", "garch")
    tags = [f"{round(level * 100):d}" for level in levels]
    for b in names:
        for t in tags:
            cols[f"{b}_lo_{t}"], cols[f"{b}_hi_{t}"] = [], []
    for f in folds:
        bounds = fold_bounds(f, levels)
        close = f.close[f.asof]  # (N,)
        for c in range(f.y.shape[1]):
            n = len(f.asof)
            cols["symbol"] += [symbol] * n
            cols["fold"] += [f.origin] * n
            cols["origin"] += [f.dates[int(a)] for a in f.asof]
            cols["date"] += [f.dates[int(a) + c + 1] for a in f.asof]
            cols["h"] += [c + 1] * n
            cols["close"] += close.tolist()
            cols["actual"] += (close * np.exp(f.y[:, c])).tolist()
            cols["forecast"] += (close * np.exp(f.mu[:, c])).tolist()
            for b in names:
                lo, hi = bounds.get(b, (None, None))
                for i, t in enumerate(tags):
                    if lo is None or hi is None:
                        cols[f"{b}_lo_{t}"] += [float("nan")] * n
                        cols[f"{b}_hi_{t}"] += [float("nan")] * n
                        continue
                    cols[f"{b}_lo_{t}"] += (close * np.exp(lo[:, i, c])).tolist()
                    cols[f"{b}_hi_{t}"] += (close * np.exp(hi[:, i, c])).tolist()
    return cols

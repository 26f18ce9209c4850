"""The model's band next to the baseline bands, on the same windows, calibrated the same way.

Every band is split-conformal on the validation part (``intervals.calibrate``) and differs only
in its centre and scale:

- ``model``: the point forecast, the model's band scale (the scale network's standard deviation
  where it beat the EWMA scale on validation, else ``vol * sqrt(h)``);
- ``ewma``: the last close (persistence), the EWMA volatility ``vol * sqrt(h)``;
- ``garch``: the last close, the GARCH(1,1)-t standard deviation of the h-session return
  (``forecasting/garch.py``, fitted on the training part);
- ``constant``: the point forecast, a constant scale.

Interval scores are scale-free: each window's score is in units of its as-of close (the score
of the prices ``close * exp(.)`` divided by ``close``), so decades of price growth do not weight
the late years. Skill in interval score is ``1 - S_model / S_band`` with a 95% HAC CI and a
Diebold-Mariano p-value on the per-window scores (``stats``; h - 1 lags).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stockcast.forecasting import intervals, stats

BANDS = ("model", "ewma", "garch", "constant")
BASELINE_BANDS = ("ewma", "garch")  # the bands the model's band is tested against


@dataclass(frozen=True)
class BandInputs:
    """Centre and scale of every band on one part: validation (calibration) or test."""

    y: np.ndarray  # (N, H) realised log returns
    mu: np.ndarray  # (N, H) the model's point forecast (log returns)
    scale: np.ndarray  # (N,) EWMA vol or (N, H): the model's band scale
    vol: np.ndarray  # (N,) EWMA volatility of daily log returns at each as-of session
    garch: np.ndarray | None  # (N, H) GARCH(1,1)-t std of the h-session return; None: absent


def log_bounds(val: BandInputs, test: BandInputs, levels: Sequence[float]
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Per band name, the (lower, upper) log-return bounds (N, L, H) on ``test``, each band
    calibrated on ``val`` with its own centre and scale."""
    n, nv = len(test.y), len(val.y)
    zero, zero_v = np.zeros_like(test.mu), np.zeros_like(val.mu)
    specs = {
        "model": (test.mu, test.scale, val.mu, val.scale),
        "ewma": (zero, test.vol, zero_v, val.vol),
        "constant": (test.mu, np.ones(n), val.mu, np.ones(nv)),
    }
    if test.garch is not None and val.garch is not None:
        specs["garch"] = (zero, test.garch, zero_v, val.garch)
    out = {}
    for name, (mu, s, vmu, vs) in specs.items():
        cal = intervals.calibrate(val.y, vmu, vs, levels)
        out[name] = intervals.log_bounds(mu, s, cal)
    return out


def _skill(model: np.ndarray, base: np.ndarray, h: int) -> dict | None:
    """Skill in interval score with its CI and DM p; None when undefined (a band of zero
    score: a flat series whose baseline band has zero width and never misses)."""
    try:
        value, low, high = stats.skill_ci(model, base, h - 1)
        dm = stats.diebold_mariano(model, base, h)
    except ValueError:
        return None
    return {
        "value": value,
        "low": low,
        "high": high,
        "dm_pvalue": dm.pvalue,
        "verdict": stats.verdict(low, high),
    }


def _band_figures(
    yh: np.ndarray, lo_h: np.ndarray, hi_h: np.ndarray, close: np.ndarray, alpha: float
) -> dict:
    """One band's coverage, mean widths and scale-free interval score at one horizon and level
    (log bounds ``lo_h``, ``hi_h`` (N,) around the outcomes ``yh``); the ``_`` keys keep the
    per-window arrays the model's row needs."""
    hits = (lo_h <= yh) & (yh <= hi_h)
    scores = intervals.relative_scores(yh, lo_h, hi_h, alpha)
    return {
        "coverage": float(np.mean(hits)),
        "mean_width_pct": float(np.mean(100 * (np.exp(hi_h) - np.exp(lo_h)))),
        "interval_score": float(np.mean(scores)),
        "mean_width": float(np.mean(close * (np.exp(hi_h) - np.exp(lo_h)))),
        "_hits": hits,
        "_width": close * (np.exp(hi_h) - np.exp(lo_h)),
        "_price_score": close * scores,
        "_scores": scores,
    }


def band_rows(
    y: np.ndarray,
    close: np.ndarray,
    bounds: Mapping[str, tuple[np.ndarray, np.ndarray]],
    levels: Sequence[float],
    h: int,
) -> list[dict]:
    """Per level at horizon ``h``: the model band's coverage (HAC CI), mean width (price and %),
    scale-free interval score, each other band's coverage, width and score, and the model's
    skill in interval score against each baseline band (95% HAC CI, DM p-value).

    ``y`` (N, H) outcomes, ``close`` (N,) as-of closes, ``bounds`` log bounds (N, L, H) per band
    (``log_bounds``, or several parts' concatenated)."""
    c = h - 1
    yh = np.asarray(y, float)[:, c]
    rows = []
    for i, level in enumerate(levels):
        alpha = 1.0 - level
        per = {
            name: _band_figures(yh, lo[:, i, c], hi[:, i, c], close, alpha)
            for name, (lo, hi) in bounds.items()
        }
        scores = {name: f["_scores"] for name, f in per.items()}
        m = per["model"]
        if len(yh) >= h + 1:  # a CI allowing for overlap and clustered misses, and their test
            cov, cov_lo, cov_hi = stats.coverage_ci(m["_hits"], h - 1)
            indep: float | None = stats.independence_test(m["_hits"], h)
        else:
            cov, cov_lo, cov_hi, indep = float(np.mean(m["_hits"])), None, None, None
        row = {
            "level": level,
            "coverage": cov,
            "coverage_low": cov_lo,
            "coverage_high": cov_hi,
            "independence_pvalue": indep,
            "mean_width": float(np.mean(m["_width"])),
            "mean_width_pct": m["mean_width_pct"],
            "max_width_pct": float(np.max(100 * (m["_width"] / close))) if len(close) else 0.0,
            "interval_score": m["interval_score"],
            "interval_score_price": float(np.mean(m["_price_score"])),
            "bands": {
                k: {
                    key: v[key]
                    for key in ("coverage", "mean_width", "mean_width_pct", "interval_score")
                }
                for k, v in per.items()
                if k != "model"
            },
        }
        for base in BASELINE_BANDS:
            if base in scores:
                row[f"skill_vs_{base}"] = _skill(scores["model"], scores[base], h)
        rows.append(row)
    return rows


MAX_WIDTH_PCT = 100.0  # a band wider than the price itself is not a forecast


def unusable(horizons: Sequence[Sequence[Mapping]]) -> str | None:
    """Why the model's bands (``band_rows`` per horizon) cannot be saved, or None: a width or
    score that is not finite, or a band wider than ``MAX_WIDTH_PCT`` of the price."""
    for h, rows in enumerate(horizons, start=1):
        for r in rows:
            values = [r["mean_width_pct"], r.get("max_width_pct", 0.0), r["interval_score"]]
            if not all(np.isfinite(v) for v in values):
                return f"its h={h} band is not a finite number"
            if r.get("max_width_pct", 0.0) >= MAX_WIDTH_PCT:
                return f"its h={h} band is wider than the price ({r['max_width_pct']:.0f}%)"
    return None

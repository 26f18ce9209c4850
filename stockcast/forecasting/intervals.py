"""Split-conformal, volatility-scaled prediction intervals on log returns (pure numpy).

Shapes: N as-of sessions, H horizons, L levels. ``y`` and ``mu`` are log returns
``log(C[t+h] / C[t])`` of shape (N, H); ``vol`` is the EWMA standard deviation of daily log
returns at each as-of session, shape (N,).

Calibration (on the validation split, never on test):

- scale ``s[t, h] = vol[t] * sqrt(h)``: a random walk's spread grows with the square root of h;
- nonconformity score ``|y - mu| / s`` (symmetric: one quantile per horizon and level);
- ``q[h] = the ceil((n + 1) * level)``-th smallest score: the finite-sample conformal quantile,
  which guarantees coverage >= level when validation and test are exchangeable;
- bounds at a new as-of session: ``close * exp(mu[h] -/+ q[h] * s[h])``.

The baseline is the same procedure with a constant scale (``vol = 1``): a constant-width band
around the same centre, calibrated the same way (conformal on the unscaled residuals). Its width
in log space is the historical spread of the residuals; only the volatility scaling differs.

The score is symmetric by default. ``symmetric=False`` calibrates the lower and upper tails
separately on the signed score ``(y - mu) / s`` (each at (1 - level) / 2): it corrects a biased
centre on the validation split but costs width, and a bias seen there need not persist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stockcast.errors import DataError, UsageError

DEFAULT_LEVELS: tuple[float, ...] = (0.8, 0.9)
VOL_FLOOR = 1e-6  # daily log-return std below this is treated as this (flat prices)


@dataclass(frozen=True)
class Calibration:
    """Per-level, per-horizon quantiles of the score, in units of the scale ``s``."""

    levels: tuple[float, ...]  # e.g. (0.8, 0.9)
    lower_q: np.ndarray  # (L, H): lower bound = mu - lower_q * s
    upper_q: np.ndarray  # (L, H): upper bound = mu + upper_q * s
    n: int  # calibration windows used (rows with any NaN are dropped)
    symmetric: bool  # True: one quantile of |y - mu| / s; False: one per tail


def parse_levels(text: str | Sequence[float]) -> tuple[float, ...]:
    """``"0.8,0.9"`` -> (0.8, 0.9), in the given order; each strictly between 0 and 1."""
    items = [str(x).strip() for x in text.split(",")] if isinstance(text, str) else list(text)
    levels: list[float] = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"invalid level {item!r}; give levels such as 0.8,0.9") from None
        if not 0 < value < 1:
            raise UsageError(f"invalid level {item!r}; levels lie between 0 and 1, e.g. 0.9")
        if value not in levels:
            levels.append(value)
    if not levels:
        raise UsageError("no level given; give levels such as 0.8,0.9")
    return tuple(levels)


def conformal_rank(n: int, level: float) -> int:
    """The 1-based rank ``ceil((n + 1) * level)`` of the conformal quantile among n scores."""
    return math.ceil((n + 1) * level - 1e-9)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n + 1) * level)``-th smallest of ``scores`` (1-D); inf when that exceeds n."""
    s = np.sort(np.asarray(scores, dtype=float))
    k = conformal_rank(len(s), level)
    return float(s[k - 1]) if k <= len(s) else math.inf


def min_windows(level: float) -> int:
    """Fewest calibration windows that give a finite conformal quantile at ``level``."""
    return math.ceil(level / (1 - level) - 1e-9)


def scale(vol: np.ndarray, horizon: int) -> np.ndarray:
    """``s[t, h] = max(vol[t], VOL_FLOOR) * sqrt(h)``: (N,) -> (N, H). A (N, H) array is already
    a scale per horizon (a scale network's or GARCH's standard deviations of the h-session
    return): it is floored and returned."""
    v = np.maximum(np.asarray(vol, dtype=float), VOL_FLOOR)
    if v.ndim == 2:
        return v[:, :horizon]
    return v[:, None] * np.sqrt(np.arange(1, horizon + 1))[None, :]


def calibrate(
    y: np.ndarray,
    mu: np.ndarray,
    vol: np.ndarray,
    levels: Sequence[float] = DEFAULT_LEVELS,
    symmetric: bool = True,
) -> Calibration:
    """Conformal quantiles per level and horizon from validation targets, predictions and vol.

    >>> import numpy as np
    >>> cal = calibrate(np.zeros((99, 1)) + 0.01, np.zeros((99, 1)), np.full(99, 0.01), [0.9])
    >>> round(float(cal.upper_q[0, 0]), 6)
    1.0
    """
    y, mu = np.atleast_2d(np.asarray(y, float)), np.atleast_2d(np.asarray(mu, float))
    vol = np.asarray(vol, float)
    vol = vol if vol.ndim == 2 else vol.reshape(-1)  # (N,) EWMA vol or (N, H) scales
    if y.shape != mu.shape or y.shape[0] != vol.shape[0]:
        raise ValueError(f"shapes differ: y {y.shape}, mu {mu.shape}, vol {vol.shape}")
    finite = np.isfinite(vol) if vol.ndim == 1 else np.isfinite(vol).all(1)
    ok = np.isfinite(y).all(1) & np.isfinite(mu).all(1) & finite
    r = (y[ok] - mu[ok]) / scale(vol[ok], y.shape[1])  # -> (n, H) signed scores
    n = r.shape[0]
    for level in levels:
        need = min_windows(level) if symmetric else min_windows(1 - (1 - level) / 2)
        if n < need:
            raise DataError(
                f"only {n} calibration windows; a {level * 100:g}% interval needs at least {need}: "
                "train on a longer history or with a larger validation share"
            )
    lo = np.empty((len(levels), y.shape[1]))
    hi = np.empty_like(lo)
    for i, level in enumerate(levels):
        for h in range(y.shape[1]):
            if symmetric:
                lo[i, h] = hi[i, h] = conformal_quantile(np.abs(r[:, h]), level)
            else:
                tail = 1 - (1 - level) / 2
                hi[i, h] = conformal_quantile(r[:, h], tail)
                lo[i, h] = conformal_quantile(-r[:, h], tail)
    if vol.ndim == 2:  # explicit scales: their own growth with h, no sqrt(h) widening
        return Calibration(tuple(float(x) for x in levels), lo, hi, n, symmetric)
    return Calibration(tuple(float(x) for x in levels), _widening(lo), _widening(hi), n, symmetric)


def _widening(q: np.ndarray) -> np.ndarray:
    """Quantiles (L, H) raised where needed so that the half-width q[h] * sqrt(h) never shrinks
    with the horizon: a band for h sessions ahead is never narrower than the one for h-1
    (finite-sample noise can make it so). Raising a conformal quantile only adds coverage."""
    root = np.sqrt(np.arange(1, q.shape[1] + 1))  # -> (H,)
    return np.maximum.accumulate(q * root, axis=1) / root


def calibrate_constant(
    y: np.ndarray,
    mu: np.ndarray,
    levels: Sequence[float] = DEFAULT_LEVELS,
    symmetric: bool = True,
) -> Calibration:
    """The baseline: the same conformal calibration with a constant scale (``vol = 1``)."""
    n = np.atleast_2d(np.asarray(y)).shape[0]
    return calibrate(y, mu, np.ones(n), levels, symmetric)


def log_bounds(mu: np.ndarray, vol: np.ndarray, cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper log-return bounds, each (N, L, H), from mu (N, H) and vol (N,)."""
    mu = np.atleast_2d(np.asarray(mu, float))  # -> (N, H)
    h = mu.shape[1]
    v = np.asarray(vol, float)
    s = scale(v if v.ndim == 2 else v.reshape(-1), h)  # -> (N, H)
    # half-widths never shrink with the horizon (explicit scales may; raising one only adds
    # coverage); for vol-scaled bands ``_widening`` made them non-decreasing already
    down = np.maximum.accumulate(cal.lower_q[None, :, :h] * s[:, None, :], axis=2)  # (N, L, H)
    up = np.maximum.accumulate(cal.upper_q[None, :, :h] * s[:, None, :], axis=2)
    return mu[:, None, :] - down, mu[:, None, :] + up


def price_bounds(
    close: float | np.ndarray, mu: np.ndarray, vol: float | np.ndarray, cal: Calibration
) -> tuple[np.ndarray, np.ndarray]:
    """Price bounds ``close * exp(log bounds)``, each (N, L, H); close, vol: (N,) or scalars."""
    c = np.asarray(close, float).reshape(-1)
    v = np.asarray(vol, float)
    lo, hi = log_bounds(mu, v if v.ndim == 2 else v.reshape(-1), cal)
    return c[:, None, None] * np.exp(lo), c[:, None, None] * np.exp(hi)


def relative_scores(
    y: np.ndarray, lo: np.ndarray, hi: np.ndarray, alpha: float | np.ndarray
) -> np.ndarray:
    """Interval scores in units of the as-of close (scale-free): log-return outcome ``y`` and
    log bounds ``lo``/``hi`` of the same shape, the score of the prices ``exp(.)`` (close 1).
    Decades of price growth do not weight the late years."""
    py, plo, phi = np.exp(y), np.exp(lo), np.exp(hi)
    return (phi - plo) + (2 / alpha) * (np.maximum(plo - py, 0) + np.maximum(py - phi, 0))


def prefer_model_scale(
    y: np.ndarray,
    mu: np.ndarray,
    model_scale: np.ndarray,
    vol: np.ndarray,
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> np.ndarray:
    """(H,) bool: at which horizons the conformal band with the network's scale ``model_scale``
    (N, H) has a lower mean interval score on these (validation) windows than the band with the
    EWMA scale ``vol`` (N,), both around ``mu`` and calibrated on the same windows, summed over
    ``levels``. Where it does not, the band falls back to the EWMA scale, as the point forecast
    falls back to its naive start."""
    y, mu = np.atleast_2d(np.asarray(y, float)), np.atleast_2d(np.asarray(mu, float))
    totals = []
    for s in (np.asarray(model_scale, float), np.asarray(vol, float).reshape(-1)):
        lo, hi = log_bounds(mu, s, calibrate(y, mu, s, levels))  # (N, L, H)
        alpha = 1 - np.asarray(levels, float)[None, :, None]
        score = relative_scores(y[:, None, :], lo, hi, alpha)  # (N, L, H)
        totals.append(np.nanmean(score, axis=0).sum(axis=0))  # -> (H,)
    return np.asarray(totals[0] < totals[1])


def coverage_and_width(
    y: np.ndarray, close: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels: Sequence[float]
) -> dict[str, np.ndarray]:
    """Empirical coverage, mean width (price and percent of close) and interval score, (L, H).

    ``y`` (N, H) realised log returns, ``close`` (N,) as-of closes, ``lo``/``hi`` (N, L, H) log
    bounds; ``covered`` (N, L, H) says per window whether the band held the outcome. The
    interval score (Gneiting and Raftery) is the width plus 2/alpha times the
    distance by which the outcome falls outside; lower is better, and it rewards narrow bands
    only when they still cover.
    """
    y3 = np.asarray(y, float)[:, None, :]  # -> (N, 1, H)
    c3 = np.asarray(close, float)[:, None, None]  # -> (N, 1, 1)
    covered = (lo <= y3) & (y3 <= hi)
    width_pct = 100 * (np.exp(hi) - np.exp(lo))
    alpha = (1 - np.asarray(levels, float))[None, :, None]  # -> (1, L, 1)
    price, plo, phi = c3 * np.exp(y3), c3 * np.exp(lo), c3 * np.exp(hi)
    score = (phi - plo) + (2 / alpha) * (np.maximum(plo - price, 0) + np.maximum(price - phi, 0))
    return {
        "covered": covered,  # (N, L, H) per window
        "coverage": covered.mean(0),
        "mean_width": (c3 * (np.exp(hi) - np.exp(lo))).mean(0),
        "mean_width_pct": width_pct.mean(0),
        "interval_score": score.mean(0),
        "interval_score_rel": (score / c3).mean(0),  # in units of the as-of close
    }


def evaluate_intervals(
    calib: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    levels: Sequence[float] = DEFAULT_LEVELS,
    symmetric: bool = True,
) -> list[list[dict]]:
    """Per horizon, a list of {level, coverage, mean_width, baseline_coverage, ...} on test.

    ``calib`` is (y, mu, vol) of the validation split; ``test`` is (y, mu, vol, close) of the
    test split (close: the as-of closes, for widths in price units). Result ``[h - 1][i]``
    describes horizon h and ``levels[i]``: the volatility-scaled band and, as ``baseline_*``,
    the constant-width band with the same centre, both calibrated on ``calib`` (``vol`` may be
    (N, H) scales, as a scale network's). `evaluate` reports more (``bands.band_rows``: the
    coverage CI, the independence test, the EWMA and GARCH bands); this is the plain core.
    """
    y, mu, vol, close = (np.asarray(a, float) for a in test)
    y, mu = np.atleast_2d(y), np.atleast_2d(mu)
    scaled = calibrate(*calib, levels=levels, symmetric=symmetric)
    const = calibrate_constant(calib[0], calib[1], levels=levels, symmetric=symmetric)
    m = coverage_and_width(y, close, *log_bounds(mu, vol, scaled), levels)
    b = coverage_and_width(y, close, *log_bounds(mu, np.ones(len(y)), const), levels)
    out: list[list[dict]] = []
    for h in range(y.shape[1]):
        rows = []
        for i, level in enumerate(scaled.levels):
            rows.append(
                {
                    "level": level,
                    "n": int(y.shape[0]),
                    "coverage": float(m["coverage"][i, h]),
                    "mean_width": float(m["mean_width"][i, h]),
                    "mean_width_pct": float(m["mean_width_pct"][i, h]),
                    "interval_score": float(m["interval_score"][i, h]),
                    "interval_score_rel": float(m["interval_score_rel"][i, h]),
                    "baseline_coverage": float(b["coverage"][i, h]),
                    "baseline_mean_width": float(b["mean_width"][i, h]),
                    "baseline_mean_width_pct": float(b["mean_width_pct"][i, h]),
                    "baseline_interval_score": float(b["interval_score"][i, h]),
                    "baseline_interval_score_rel": float(b["interval_score_rel"][i, h]),
                }
            )
        out.append(rows)
    return out

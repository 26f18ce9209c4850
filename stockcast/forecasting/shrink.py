"""Shrinkage toward the best naive forecast, learned on the validation part (pure numpy).

The combined forecast of the log return at horizon h is

    mu_shrunk[t, h] = w * mu_model[t, h] + (1 - w) * naive[h]

with ``naive[h] = 0`` for persistence and ``h * m`` for drift, where ``m`` is the mean daily
log return of the training part (a constant, so the forecast of a saved model never moves with
the data it has not seen). Which naive forecast, and the weight w in [0, 1] (a grid of step
``1 / GRID``), both minimise the validation MAE of price forecasts, summed over horizons. The
test part is never used: w is an out-of-sample choice, and `stockcast backtest` reports the raw
and the shrunk skill so that a user sees whether it helps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from stockcast.forecasting.evaluation import PartPredictions
    from stockcast.prep.windows import Dataset

GRID = 20  # weights 0, 0.05, ..., 1
TOWARD = ("persistence", "drift")  # the naive forecasts shrinkage may pull toward


@dataclass(frozen=True)
class Shrink:
    """A learned combination of the model's log returns with a naive forecast."""

    weight: float  # w: the model's share; 1 = the raw model, 0 = the naive forecast alone
    toward: str  # "persistence" or "drift"
    drift: float  # mean daily log return of the training part (used when toward == "drift")

    def to_dict(self) -> dict:
        """The manifest's ``shrink`` object."""
        return {"weight": self.weight, "toward": self.toward, "drift": self.drift}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> Shrink | None:
        """The manifest's ``shrink`` object back; None when the model was saved without one."""
        if not d:
            return None
        return cls(float(d["weight"]), str(d["toward"]), float(d.get("drift", 0.0)))


def naive_log_returns(toward: str, drift: float, horizon: int) -> np.ndarray:
    """(H,) the naive forecast's log returns: zeros (persistence) or h * drift."""
    steps = np.arange(1, horizon + 1, dtype=float)
    return steps * drift if toward == "drift" else np.zeros(horizon)


def apply(mu: np.ndarray, shrink: Shrink | None) -> np.ndarray:
    """``mu`` (N, H) or (H,) combined with the naive forecast; ``mu`` itself when None."""
    if shrink is None:
        return mu
    arr = np.asarray(mu, dtype=float)
    naive = naive_log_returns(shrink.toward, shrink.drift, arr.shape[-1])
    return shrink.weight * arr + (1.0 - shrink.weight) * naive


def train_drift(train_y1: np.ndarray) -> float:
    """Mean daily log return of the training part from its one-step targets (N,)."""
    y = np.asarray(train_y1, dtype=float)
    y = y[np.isfinite(y)]
    return float(y.mean()) if y.size else 0.0


def fit(y: np.ndarray, mu: np.ndarray, drift: float, close: np.ndarray | None = None) -> Shrink:
    """The weight and naive forecast with the lowest validation MAE of price forecasts.

    ``y`` and ``mu`` are the validation targets and predictions (N, H) as log returns and
    ``close`` (N,) the as-of closes: a price error is ``close * |exp(mu) - exp(y)|`` (without
    ``close``, every window weighs the same). Ties keep the larger weight (the raw model).
    """
    y, mu = np.atleast_2d(np.asarray(y, float)), np.atleast_2d(np.asarray(mu, float))
    c = np.ones((y.shape[0], 1)) if close is None else np.asarray(close, float).reshape(-1, 1)
    weights = np.linspace(0.0, 1.0, GRID + 1)
    best: tuple[float, float, str] | None = None
    for toward in TOWARD:
        naive = naive_log_returns(toward, drift, y.shape[1])
        for w in weights[::-1]:
            comb = w * mu + (1.0 - w) * naive
            loss = float(np.mean(c * np.abs(np.exp(comb) - np.exp(y))))
            if best is None or loss < best[0] - 1e-15:
                best = (loss, float(w), toward)
    assert best is not None
    return Shrink(weight=round(best[1], 6), toward=best[2], drift=drift)


def learn(ds: Dataset, val: PartPredictions) -> Shrink:
    """The shrinkage of a model trained on ``ds``, from its validation predictions ``val``:
    drift from the training part's one-step targets, prices at the validation as-of closes."""
    drift = train_drift(ds.y[ds.window_slice("train")][:, 0])
    return fit(val.y, val.mu, drift, close=ds.close[val.asof])

"""Pure error metrics and naive baseline forecasts, all in price units of the adjusted close.

Arrays: ``close`` is the whole stored adjusted-close history; ``asof`` holds absolute indices
into it (the last session each forecast may use); forecasts are (N, H) prices for horizons 1..H.
"""

from __future__ import annotations

import numpy as np

SMA_WINDOW = 5  # closes averaged by the moving-average baseline


def mae(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - actual)))


def rmse(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - actual) ** 2)))


def mape(pred: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    return float(np.mean(np.abs(pred - actual) / np.abs(actual)) * 100.0)


def directional_accuracy(pred: np.ndarray, actual: np.ndarray, last: np.ndarray) -> float:
    """Share of forecasts whose call "up" (pred > last) or "not up" matches the outcome.

    A flat forecast (persistence) calls "not up", so it scores 1 - up_share.
    """
    return float(np.mean((pred > last) == (actual > last)))


def up_share(actual: np.ndarray, last: np.ndarray) -> float:
    """Share of outcomes above the last close (what "always up" would score)."""
    return float(np.mean(actual > last))


def error_summary(pred: np.ndarray, actual: np.ndarray, last: np.ndarray) -> dict[str, float]:
    """The error figures reported for every forecast, model or baseline, at one horizon."""
    return {
        "mae": mae(pred, actual),
        "rmse": rmse(pred, actual),
        "mape": mape(pred, actual),
        "directional_accuracy": directional_accuracy(pred, actual, last),
    }


def actuals(close: np.ndarray, asof: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H) realised closes C[t+h]."""
    steps = np.arange(1, horizon + 1)
    return close[asof[:, None] + steps[None, :]]


def persistence(close: np.ndarray, asof: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H): every horizon forecast at the last close C[t]."""
    return np.repeat(close[asof][:, None], horizon, axis=1)


def drift(close: np.ndarray, asof: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H): C[t] x exp(h x mean daily log return over the whole history up to t)."""
    logc = np.log(close)
    days = np.maximum(asof, 1)
    mean = np.where(asof > 0, (logc[asof] - logc[0]) / days, 0.0)
    steps = np.arange(1, horizon + 1)
    return close[asof][:, None] * np.exp(mean[:, None] * steps[None, :])


def sma(close: np.ndarray, asof: np.ndarray, horizon: int, window: int = SMA_WINDOW) -> np.ndarray:
    """(N, H): the mean of the last ``window`` closes up to t, for every horizon."""
    csum = np.concatenate([[0.0], np.cumsum(close)])
    lo = np.maximum(asof + 1 - window, 0)
    mean = (csum[asof + 1] - csum[lo]) / (asof + 1 - lo)
    return np.repeat(mean[:, None], horizon, axis=1)


def model_prices(close: np.ndarray, asof: np.ndarray, log_returns: np.ndarray) -> np.ndarray:
    """(N, H) prices from predicted log returns relative to C[t]."""
    return close[asof][:, None] * np.exp(log_returns)


BASELINES = {"persistence": persistence, "drift": drift, "sma": sma}


def skill(mae_model: float, mae_reference: float) -> float | None:
    """1 - MAE_model / MAE_reference: above 0 beats the reference, below 0 is worse."""
    if mae_reference <= 0:
        return None
    return 1.0 - mae_model / mae_reference

"""Pure error metrics and naive baseline forecasts, all in price units of the adjusted close.

Arrays: ``close`` is the whole stored adjusted-close history; ``asof`` holds absolute indices
into it (the last session each forecast may use); forecasts are (N, H) prices for horizons 1..H.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


BPS = 1e4


def log_errors(pred: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Scale-free absolute errors ``|log(pred / actual)|`` (to first order the error as a share
    of the price): a $5 and a $500 stock, or a stock before and after it rose tenfold, weigh
    alike. Skill, Diebold-Mariano tests and verdicts are computed on these."""
    return np.abs(np.log(np.asarray(pred, float) / np.asarray(actual, float)))


def error_summary(pred: np.ndarray, actual: np.ndarray, last: np.ndarray) -> dict[str, float]:
    """The error figures reported for every forecast, model or baseline, at one horizon:
    ``mae_bps`` (mean ``log_errors`` x 10,000, the headline) and, secondary, price units."""
    return {
        "mae_bps": float(np.mean(log_errors(pred, actual))) * BPS,
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
# The naive forecasts that skill, DM tests and verdicts are measured against, everywhere
# (`evaluate`, `backtest`, a global model). SMA5 is reported beside them but never the
# comparator: it is persistence smoothed over five sessions, so for a price near a random walk
# it lags by about two sessions and is worse than persistence at every horizon (README:
# "SMA5 is much worse"); letting it compete only adds a candidate to choose among.
COMPARATORS = ("persistence", "drift")


def naive_log_errors(close: np.ndarray, asof: np.ndarray, y: np.ndarray,
                     names: Sequence[str] = COMPARATORS) -> dict[str, np.ndarray]:  # fmt: skip
    """Per naive forecast, (N, H) absolute log errors ``|log(naive / C[t]) - y|`` of windows
    as-of ``asof`` (N,) with realised log returns ``y`` (N, H)."""
    y = np.atleast_2d(np.asarray(y, float))
    last = close[asof][:, None]
    return {k: np.abs(np.log(BASELINES[k](close, asof, y.shape[1]) / last) - y) for k in names}


def chosen_comparator(val_errors: Mapping[str, np.ndarray], h: int) -> str:
    """The comparator at horizon ``h``, chosen without the test outcomes: the one in
    ``COMPARATORS`` with the lowest mean absolute log error on the validation windows
    (``val_errors``, from ``naive_log_errors``); persistence, the first, on a tie or when
    there are no validation errors."""
    if not val_errors or any(val_errors[k].shape[0] == 0 for k in COMPARATORS):
        return COMPARATORS[0]
    return min(COMPARATORS, key=lambda k: float(np.mean(val_errors[k][:, h - 1])))


def skill(mae_model: float, mae_reference: float) -> float | None:
    """1 - MAE_model / MAE_reference: above 0 beats the reference, below 0 is worse."""
    if mae_reference <= 0:
        return None
    return 1.0 - mae_model / mae_reference

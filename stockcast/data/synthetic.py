"""A simulated GARCH(1,1)-t price series with real OHLC bars, whose right answer is known.

Session t's close-to-close log return is ``r[t] = sigma[t] * z[t]``: z standardized Student-t
(variance 1, ``nu`` degrees of freedom) and ``sigma[t]^2 = omega + alpha r[t-1]^2 + beta
sigma[t-1]^2``, so ``sigma[t]`` is known at the close of t-1 (the oracle's scale). Each day's
log price moves as a Brownian bridge with diffusion ``sigma[t]`` pinned to ``r[t]`` at the next
close: the first ``overnight`` share of the day's variance passes before the open (the overnight
gap), then ``steps`` increments trade, and the high and low are the largest and smallest price of
that trading part (open and close included). So the range carries the day's volatility as in real
bars (slightly less than a continuous path's: ``steps`` points only). Pure numpy and pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from stockcast.data.store import COLUMNS
from stockcast.errors import UsageError

FIRST_SESSION = "2000-01-03"
START_PRICE = 100.0


@dataclass(frozen=True)
class SyntheticSeries:
    """Simulated prices and the truth behind them."""

    prices: pd.DataFrame  # the store's schema (PriceStore.write takes it), business days
    sigma: np.ndarray  # (S,): true conditional std of r[t] = log(C[t] / C[t-1]), known at t-1
    nu: float  # degrees of freedom of the standardized Student-t errors


def garch_ohlc(
    n: int,
    seed: int,
    omega: float = 2e-6,
    alpha: float = 0.08,
    beta: float = 0.90,
    nu: float = 6.0,
    steps: int = 48,
    overnight: float = 0.1,
) -> SyntheticSeries:
    """``n`` sessions from 2000-01-03 (business days) of a GARCH(1,1)-t series with intraday
    paths; the defaults give a 1% unconditional daily std (``omega / (1 - alpha - beta)``),
    close to an index's parameters. Session 0 only opens the series (its close is 100)."""
    _check(n, omega, alpha, beta, nu, steps, overnight)
    rng = np.random.default_rng(seed)
    z = rng.standard_t(nu, n) * np.sqrt((nu - 2.0) / nu)  # variance 1
    sigma, r = _garch_path(z, omega, alpha, beta)
    log_close = np.log(START_PRICE) + np.cumsum(r)
    prev = np.concatenate([[log_close[0]], log_close[:-1]])  # log C[t-1]
    path = prev[:, None] + _bridges(rng, sigma, r, steps, overnight)  # -> (S, steps + 1)
    path[0] = log_close[0]  # session 0: a flat bar at the start price
    path[:, -1] = log_close  # the same float as the close (the sums round differently)
    open_, close = np.exp(path[:, 0]), np.exp(log_close)
    volume = rng.integers(1_000_000, 2_000_000, n).astype(np.float64)
    prices = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(np.exp(path.max(axis=1)), np.maximum(open_, close)),
            "low": np.minimum(np.exp(path.min(axis=1)), np.minimum(open_, close)),
            "close": close,
            "adj_close": close,
            "volume": volume,
            "dividends": 0.0,
            "splits": 0.0,
        },
        index=_sessions(n),
    )[COLUMNS]
    return SyntheticSeries(prices, sigma, float(nu))


def oracle_bounds(
    s: SyntheticSeries, asof: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """The true central ``level`` band of the next session's log return ``r[asof + 1]`` (h = 1),
    lower and upper, each (N,): ``-/+ q * sigma[asof + 1]`` with q the standardized-t quantile."""
    if not 0.0 < level < 1.0:
        raise UsageError(f"the level must lie strictly between 0 and 1, not {level}")
    idx = np.asarray(asof, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() + 1 >= s.sigma.size):
        raise UsageError(f"as-of sessions must lie in 0..{s.sigma.size - 2}")
    q = stats.t.ppf(0.5 + level / 2.0, s.nu) * np.sqrt((s.nu - 2.0) / s.nu)
    half = q * s.sigma[idx + 1]
    return -half, half


def _sessions(n: int) -> pd.DatetimeIndex:
    """``n`` business days from FIRST_SESSION, as PriceStore.read indexes them (no freq)."""
    days = pd.bdate_range(FIRST_SESSION, periods=n).astype("datetime64[ns]")
    return pd.DatetimeIndex(days, freq=None, name="date")


def _garch_path(
    z: np.ndarray, omega: float, alpha: float, beta: float
) -> tuple[np.ndarray, np.ndarray]:
    """(sigma, r), each (S,): r[0] = 0 (no return before the first close)."""
    n = z.size
    var = np.empty(n)
    r = np.zeros(n)
    var[0] = omega / (1.0 - alpha - beta)  # the unconditional variance
    for t in range(1, n):
        var[t] = omega + alpha * r[t - 1] ** 2 + beta * var[t - 1]
        r[t] = np.sqrt(var[t]) * z[t]
    return np.sqrt(var), r


def _bridges(
    rng: np.random.Generator, sigma: np.ndarray, r: np.ndarray, steps: int, overnight: float
) -> np.ndarray:
    """(S, steps + 1): each day's log price move from the previous close, at the open and after
    each of ``steps`` equal trading increments, a Brownian bridge from 0 to r over the day."""
    du = np.concatenate([[overnight], np.full(steps, (1.0 - overnight) / steps)])  # (steps + 1,)
    u = np.cumsum(du)  # times in days since the previous close; u[-1] = 1
    walk = np.cumsum(rng.standard_normal((sigma.size, steps + 1)) * np.sqrt(du), axis=1)
    walk *= sigma[:, None]  # -> (S, steps + 1): Brownian motion with the day's diffusion
    return walk - u * walk[:, -1:] + u * r[:, None]  # pinned: the last point is r


def _check(
    n: int, omega: float, alpha: float, beta: float, nu: float, steps: int, gap: float
) -> None:
    if n < 2 or steps < 1:
        raise UsageError(f"need at least 2 sessions and 1 step, not n={n}, steps={steps}")
    if omega <= 0 or alpha < 0 or beta < 0 or alpha + beta >= 1:
        raise UsageError("GARCH needs omega > 0, alpha, beta >= 0 and alpha + beta < 1")
    if nu <= 2:
        raise UsageError(f"the Student-t needs nu > 2 for a variance, not {nu}")
    if not 0.0 <= gap < 1.0:
        raise UsageError(f"the overnight share must lie in [0, 1), not {gap}")

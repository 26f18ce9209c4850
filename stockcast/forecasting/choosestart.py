"""The choice of the naive start on the validation part (``naivestart`` says what it is)."""

from __future__ import annotations

import numpy as np

from stockcast.forecasting import stats
from stockcast.forecasting.naivestart import CANDIDATES, LEVEL


def choose(y: np.ndarray, close: np.ndarray, drift: np.ndarray) -> np.ndarray:
    """(H,) drift share of the start at each horizon, chosen on validation.

    ``y`` (N, H) validation target log returns, ``close`` (N,) the as-of closes, ``drift``
    (H,) the h-session drift (log returns). A price error is
    ``close * (exp(share * drift[h]) - exp(y[:, h]))``. At each horizon the start is drift
    unless another candidate's absolute errors are lower by a Diebold-Mariano test (HLN, h-1
    lags) at ``LEVEL``; of several such, the one with the lowest validation MAE. Fewer than
    three windows keep drift.
    """
    y = np.atleast_2d(np.asarray(y, float))
    c = np.asarray(close, float).reshape(-1, 1)
    drift = np.asarray(drift, float).reshape(-1)
    ok = np.all(np.isfinite(y), axis=1) & np.isfinite(c[:, 0])
    y, c = y[ok], c[ok]
    out = np.full(y.shape[1], CANDIDATES[0])
    if y.shape[0] < 3:
        return out

    def errors(share: float) -> np.ndarray:  # (N, H) price errors of one candidate
        return c * (np.exp(share * drift)[None, :] - np.exp(y))

    base = errors(CANDIDATES[0])
    for k in range(y.shape[1]):
        best = float(np.mean(np.abs(base[:, k])))  # validation MAE of the start so far
        for share in CANDIDATES[1:]:
            e = errors(share)[:, k]
            dm = stats.diebold_mariano(e, base[:, k], k + 1)
            if dm.stat < 0 and dm.pvalue < LEVEL and float(np.mean(np.abs(e))) < best:
                out[k], best = share, float(np.mean(np.abs(e)))
    return out

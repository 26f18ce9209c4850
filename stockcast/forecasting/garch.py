"""The GARCH(1,1) baseline scale with Student-t errors (the `arch` package), pure numpy in and out.

Shapes: S sessions, N as-of sessions, H horizons. ``r[t] = log(C[t] / C[t-1])`` is session t's
daily log return (``r[0]`` may be NaN). One fit per call: a constant mean, GARCH(1,1) variance
and standardized Student-t errors, estimated by maximum likelihood on ``r[1:fit_end]`` (the
sessions strictly before ``fit_end``; returns x 100 for the optimiser, scales / 100 back). With
those parameters fixed the variance is filtered through every session, and the forecast made at
as-of session t (returns up to and including r[t]) is

    scale[t, h] = sqrt(sum_{k=1..h} E[sigma^2_{t+k} | F_t]),

the standard deviation of the h-session log return ``r[t+1] + ... + r[t+h]`` (GARCH returns are
uncorrelated, so the variances add). For t >= fit_end - 1 nothing after t reaches it; earlier
as-of sessions share the parameters, estimated on later returns too.

A fit that raises, does not converge, or gives a scale that is not finite and positive is not an
error: the caller gets ``converged=False``, the reason in one line, and the EWMA-style fallback
``fallback_vol * sqrt(h)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from stockcast.errors import UsageError
from stockcast.prep.windows import Dataset

MIN_FIT_RETURNS = 250  # fewer returns before fit_end (about a year) fall back: too few to fit
_PERCENT = 100.0  # returns are fitted in percent, where arch's optimiser is well scaled


@dataclass(frozen=True)
class GarchScales:
    """The h-session log-return standard deviation at each as-of session, and how it came."""

    scale: np.ndarray  # (N, H): std of r[t+1] + ... + r[t+h] given returns up to asof[i]
    converged: bool  # False: the fit failed or did not converge; scale is then the fallback
    # omega (daily log-return variance), alpha, beta, nu, mu (daily log return); {} on fallback
    params: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # "" or why it fell back (one line)


def garch_scales(
    log_returns: np.ndarray,
    fit_end: int,
    asof: np.ndarray,
    horizon: int,
    fallback_vol: np.ndarray | None = None,
) -> GarchScales:
    """GARCH(1,1)-t scales (N, H) at the as-of sessions ``asof`` (indices 1..S-1 into
    ``log_returns``), fitted on ``log_returns[1:fit_end]``; never raises on a bad fit (see the
    module docstring). UsageError when the arguments do not fit together."""
    r = np.asarray(log_returns, dtype=np.float64)
    idx = np.asarray(asof, dtype=np.int64)
    _check_arguments(r, idx, horizon, fallback_vol)
    try:
        scale, params = _fit_and_forecast(r, fit_end, idx, horizon)
    except _NoFit as bad:
        return GarchScales(_fallback(r, fit_end, idx, horizon, fallback_vol), False, {}, str(bad))
    return GarchScales(scale, True, params, "")


class _NoFit(Exception):
    """Why the GARCH scale is not used (the message is GarchScales.reason)."""


def _check_arguments(
    r: np.ndarray, idx: np.ndarray, horizon: int, fallback_vol: np.ndarray | None
) -> None:
    if r.ndim != 1 or idx.ndim != 1:
        raise UsageError("garch_scales takes 1-d log returns and as-of indices")
    if horizon < 1:
        raise UsageError(f"the horizon must be at least 1 session, not {horizon}")
    if idx.size and (idx.min() < 1 or idx.max() >= r.size):
        raise UsageError(
            f"as-of sessions must lie in 1..{r.size - 1} (session 0 has no return yet); "
            f"got {idx.min()}..{idx.max()}"
        )
    if fallback_vol is not None and np.shape(fallback_vol) != idx.shape:
        raise UsageError(
            f"fallback_vol has shape {np.shape(fallback_vol)}; give one value per as-of session "
            f"{idx.shape}"
        )


def _fit_and_forecast(
    r: np.ndarray, fit_end: int, idx: np.ndarray, horizon: int
) -> tuple[np.ndarray, dict[str, float]]:
    """(N, H) scales and the parameters; _NoFit when the fit cannot be trusted."""
    from arch import arch_model  # here: importing arch takes about a second

    y = r[1:] * _PERCENT  # y[j] is session j + 1's return
    n_fit = min(fit_end, r.size) - 1
    if n_fit < MIN_FIT_RETURNS:
        raise _NoFit(f"{max(n_fit, 0)} returns before the fit end, fewer than {MIN_FIT_RETURNS}")
    if not np.isfinite(y).all():
        raise _NoFit(f"{int((~np.isfinite(y)).sum())} returns are missing or not finite")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # arch's convergence and scale warnings, scipy's
        try:
            model = arch_model(y, mean="Constant", vol="GARCH", p=1, q=1, dist="t")
            fitted = model.fit(last_obs=n_fit, disp="off", show_warning=False)
            if fitted.convergence_flag != 0:
                raise _NoFit(f"the optimiser did not converge (flag {fitted.convergence_flag})")
            start = int(idx.min()) - 1 if idx.size else 0
            fc = fitted.forecast(horizon=horizon, start=start, reindex=False)
        except _NoFit:
            raise
        except Exception as exc:  # arch and scipy raise many kinds; a bad fit is never fatal
            raise _NoFit(f"the fit failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    var = np.asarray(fc.variance, dtype=np.float64)[idx - 1 - start]  # -> (N, H), percent^2
    scale = np.sqrt(np.cumsum(var, axis=1)) / _PERCENT  # -> (N, H), daily log-return units
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise _NoFit("the forecast scale is not finite and positive")
    p = fitted.params
    params = {
        "omega": float(p["omega"]) / _PERCENT**2,
        "alpha": float(p["alpha[1]"]),
        "beta": float(p["beta[1]"]),
        "nu": float(p["nu"]),
        "mu": float(p["mu"]) / _PERCENT,
    }
    return scale, params


def _fallback(
    r: np.ndarray, fit_end: int, idx: np.ndarray, horizon: int, fallback_vol: np.ndarray | None
) -> np.ndarray:
    """``fallback_vol * sqrt(h)``; without it the sample std of ``r[1:fit_end]`` for every row."""
    if fallback_vol is None:
        sample = r[1 : max(fit_end, 1)]  # never a negative slice end that reaches forward
        sample = sample[np.isfinite(sample)]
        vol = np.full(idx.shape, np.std(sample, ddof=1) if sample.size > 1 else np.nan)
    else:
        vol = np.asarray(fallback_vol, dtype=np.float64)
    return vol[:, None] * np.sqrt(np.arange(1, horizon + 1, dtype=np.float64))  # -> (N, H)


def for_dataset(ds: Dataset, val_asof: np.ndarray, test_asof: np.ndarray) -> GarchScales:
    """GARCH(1,1)-t scales (Nv + N, H) at the validation then test as-of sessions of ``ds``
    (indices after warm-up), fitted on the daily returns of the training part's sessions (the
    information the network trained on), the EWMA scale when the fit fails."""
    logc = np.log(ds.history_close)
    r = np.concatenate([[np.nan], np.diff(logc)])  # (S,) r[t] = log(C[t] / C[t-1])
    fit_end = ds.offset + ds.parts["train"].stop + ds.config.horizon  # b1: first val target
    asof = np.concatenate([val_asof, test_asof]).astype(int)
    return garch_scales(r, fit_end, asof + ds.offset, ds.config.horizon, ds.vol[asof])

"""The track record of logged forecasts: how they turned out against the closes stored since (pure).

A logged forecast is *realised* once the store holds the adjusted close of both its as-of session
and its target session. The outcome is compared in the prices of the as-of session:

    actual      = last_close * adj_close[target] / adj_close[as_of]
    error       = |close - actual|                    (close: the predicted close)
    persistence = |last_close - actual|               (the forecast "no change")

When nothing was adjusted between the forecast and now (no dividend or split since), ``actual`` is
simply the stored close of the target session and ``last_close`` the stored close of the as-of
session; when a later dividend rescaled the adjusted history, this keeps both sides in the same
prices. Coverage at a level is the share of realised outcomes with lower <= actual <= upper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from stockcast.schedule.forecastlog import KEY

NO_OUTCOMES = "no realised outcomes yet"


@dataclass(frozen=True)
class HorizonScore:
    """Figures of one horizon over the realised forecasts."""

    h: int  # sessions ahead
    n: int  # realised forecasts
    pending: int  # logged forecasts whose outcome is not stored yet
    mae: float | None  # mean absolute error of the predicted close; None when n == 0
    persistence_mae: float | None  # the same for "no change" on the same forecasts
    coverage: dict[str, float] = field(default_factory=dict)  # "0.9" -> share inside the band
    # "0.9" -> mean interval score in units of the last close (lower is better)
    interval_score: dict[str, float] = field(default_factory=dict)
    # the same two for the EWMA band logged with each forecast (forecasts logged with it only)
    ewma_coverage: dict[str, float] = field(default_factory=dict)
    ewma_interval_score: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def level_key(level: float) -> str:
    """The JSON key of a level: ``0.9 -> "0.9"``."""
    return format(float(level), "g")


def outcomes(log: pd.DataFrame, adj_close: pd.Series) -> pd.DataFrame:
    """Log rows with ``actual`` (NaN when not realised yet), in the prices of their as-of session.

    ``log`` is a forecast log (``forecastlog.COLUMNS``); ``adj_close`` the stored adjusted closes
    indexed by session date.
    """

    closes = adj_close.copy()
    closes.index = pd.DatetimeIndex(closes.index).normalize()
    closes = closes[~closes.index.duplicated(keep="last")]
    at_target = closes.reindex(pd.DatetimeIndex(log["target"])).to_numpy(dtype=float)
    at_as_of = closes.reindex(pd.DatetimeIndex(log["as_of"])).to_numpy(dtype=float)
    last = log["last_close"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        actual = last * at_target / at_as_of
    return log.assign(actual=actual)


def score(log: pd.DataFrame, adj_close: pd.Series) -> list[HorizonScore]:
    """Per horizon: n, MAE, persistence MAE and coverage per level of the logged forecasts.

    Every logged forecast counts once per horizon, whatever its number of level rows.
    """

    rows = outcomes(log, adj_close)
    done = rows[rows["actual"].notna()]
    points = rows.drop_duplicates(KEY)
    realised = done.drop_duplicates(KEY)
    out = []
    for h in sorted(int(v) for v in points["h"].unique()):
        mine = realised[realised["h"] == h]
        n = len(mine)
        pending = int((points["h"] == h).sum()) - n
        if n == 0:
            out.append(HorizonScore(h, 0, pending, None, None, {}))
            continue
        mae = float((mine["close"] - mine["actual"]).abs().mean())
        pers = float((mine["last_close"] - mine["actual"]).abs().mean())
        at_h = done[done["h"] == h]
        cov, iscore = _band(at_h, "lower", "upper")
        with_ewma = at_h[at_h["ewma_lower"].notna() & at_h["ewma_upper"].notna()]
        ecov, escore = _band(with_ewma, "ewma_lower", "ewma_upper")
        out.append(HorizonScore(h, n, pending, mae, pers, cov, iscore, ecov, escore))
    return out


def _band(rows: pd.DataFrame, lo: str, hi: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per level: the share of outcomes inside [lo, hi] and the mean interval score in units of
    the last close (width plus 2/alpha times the miss; Gneiting and Raftery 2007)."""
    banded = rows[rows["level"].notna()]
    if banded.empty:
        return {}, {}
    actual, low, high = banded["actual"], banded[lo], banded[hi]
    inside = (low <= actual) & (actual <= high)
    alpha = 1.0 - banded["level"]
    miss = (low - actual).clip(lower=0) + (actual - high).clip(lower=0)
    score = ((high - low) + 2.0 / alpha * miss) / banded["last_close"]
    cov = inside.groupby(banded["level"]).mean()
    mean = score.groupby(banded["level"]).mean()
    return (
        {level_key(k): float(v) for k, v in cov.items()},
        {level_key(k): float(v) for k, v in mean.items()},
    )


def realised_total(scores: list[HorizonScore]) -> int:
    """Realised forecasts over all horizons (0: say ``NO_OUTCOMES``)."""
    return sum(s.n for s in scores)

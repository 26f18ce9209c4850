"""Dated forecasts from a saved model and the latest stored prices (no retraining, no printing).

``forecast_symbol(root, symbol, ...)`` is the one call for the CLI and the cron runner: it
loads the newest (or a chosen) model, rebuilds the last window exactly as training did (the
manifest's features and scaler statistics), predicts the log returns of the next 1..N
sessions, puts conformal bands around them (``intervals``, calibrated on the latest
out-of-sample residuals: the evaluated model's test split) and dates them with the exchange
calendar. The result is a plain frozen dataclass:
``to_dict()`` is the `predict --json` object, ``log_rows()`` the rows of the forecast log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stockcast.data import calendar as cal
from stockcast.data.paths import normalize_symbol
from stockcast.data.store import PriceStore
from stockcast.errors import ModelError, NoModel, NoPrices, UsageError
from stockcast.forecasting import intervals, naivestart
from stockcast.forecasting.history import check_split_stored
from stockcast.forecasting.latest import LatestWindow, latest_window
from stockcast.forecasting.shrink import Shrink
from stockcast.forecasting.shrink import apply as apply_shrink
from stockcast.forecasting.verdicts import verdict_line
from stockcast.models.manifest import Manifest
from stockcast.models.numpy_infer import Predict
from stockcast.models.scale import ScaleHead
from stockcast.models.store import (
    NumpyModel,
    load_model,
    load_numpy,
    model_ref,
)
from stockcast.prep import features

if TYPE_CHECKING:
    import pandas as pd


HISTORY_SESSIONS = 120  # recent closes kept on a forecast (the chart shows them)


@dataclass(frozen=True)
class Bound:
    """The interval of one level at one forecast date, in prices."""

    level: float  # e.g. 0.9
    lower: float
    upper: float


@dataclass(frozen=True)
class Step:
    """One forecast session."""

    date: dt.date  # the trading session forecast
    h: int  # sessions after as_of (1 = the next session)
    close: float  # predicted adjusted close, in the prices of as_of
    change_pct: float  # from the last close, in percent
    log_return: float  # predicted log(close / last_close)
    bounds: tuple[Bound, ...]  # one per level, in the requested order
    ewma: tuple[Bound, ...] = ()  # the EWMA band around the last close (the logged baseline)


@dataclass(frozen=True)
class Skill:
    """The model's test skill against persistence, from its manifest (1 - MAE / MAE_naive)."""

    h1: float | None  # at the next session
    overall: float | None  # over all horizons (summed MAEs)
    beats_persistence: bool | None  # at every horizon
    beats_baselines: bool | None  # beats the best naive forecast at every horizon
    summary: str  # a plain sentence from the evaluation
    best_baseline: str | None = None  # the naive forecast with the lowest test MAE at h=1
    vs_best_h1: dict | None = None  # skill at h=1 against it: {value, low, high} (95% CI)
    verdict_h1: str | None = None  # better / indistinguishable / worse; None: saved without CIs
    headline: str = ""  # e.g. "indistinguishable from drift (skill -0.2%, 95% CI -0.9..+0.5)"


@dataclass(frozen=True)
class BandInfo:
    """The band's scale and its test-split record against the EWMA and GARCH bands."""

    scale: str  # e.g. "network scale (gaussian likelihood) at every horizon"; "EWMA scale"
    test: dict  # at h=1 per level (percent text): {"90": {"skill_vs_ewma": {...}, ...}}
    headline: str  # e.g. "At h=1 the 90% band is better than the EWMA band (...)"

    def to_dict(self) -> dict:
        return {"scale": self.scale, "test_h1": self.test, "headline": self.headline}


def band_from_manifest(manifest: Manifest) -> BandInfo:
    """The band's scale and its h=1 test record, from the saved manifest and test metrics (a
    per-symbol model's; a global model's band record is not shown)."""
    saved = None if manifest.scale is None else manifest.scale.description
    scale = saved or "EWMA volatility scale (this model has no scale network)"
    report = None if manifest.is_global else manifest.report()
    hs = (report or {}).get("horizons") or []
    rows = hs[0].get("intervals") or [] if hs else []
    test: dict = {}
    headline = ""
    for row in rows:
        if not isinstance(row, dict) or "skill_vs_ewma" not in row:
            continue  # saved before the bands were tested against baselines
        tag = level_tag(float(row["level"]))
        test[tag] = {k: row.get(k) for k in ("coverage", "skill_vs_ewma", "skill_vs_garch")}
        headline = verdict_line(row, 1)  # the last (highest) level
    return BandInfo(scale, test, headline)


@dataclass(frozen=True)
class Forecast:
    """A dated forecast of one symbol; plain data that JSON, CSV, the chart and the log use."""

    ticker: str
    as_of: dt.date  # the last stored session used
    last_close: float  # adjusted close at as_of (= the raw close: today's prices)
    model: str  # model id
    trained_through: str | None  # last session whose outcome the live weights saw
    calendar: str  # exchange calendar code of the dates
    levels: tuple[float, ...]
    stale: bool  # as_of is older than the last completed session on the calendar
    last_completed: dt.date | None  # that session, when it could be determined
    vol: float  # EWMA std of daily log returns at as_of (the band scale)
    skill: Skill
    steps: tuple[Step, ...]
    made_at: str  # ISO timestamp (UTC) when the forecast was made
    history: tuple[tuple[dt.date, float], ...] = field(default=(), repr=False)  # for the chart
    interrupted: bool = False  # the model's training was interrupted (manifest `interrupted`)
    untrained: bool = False  # no member beat its untrained start: the naive start is forecast
    start_drift: tuple[float, ...] = ()  # (H,) drift share of that start (0: persistence)
    band: BandInfo | None = None  # what the band is and how it did on the test split

    def expected_move(self) -> list[tuple[float, float]]:
        """(level, half-width in % of the last close) of the next session's band: "90% of days:
        within +/-1.4%"."""
        if not self.steps:
            return []
        b = self.steps[0].bounds
        return [(x.level, 50 * (x.upper - x.lower) / self.last_close) for x in b]

    def to_dict(self) -> dict:
        """The `predict --json` object (bounds of the first level also at the top of each row)."""
        return {
            "ticker": self.ticker,
            "as_of": self.as_of.isoformat(),
            "last_close": self.last_close,
            "model": self.model,
            "trained_through": self.trained_through,
            "levels": list(self.levels),
            "calendar": self.calendar,
            "stale": self.stale,
            "last_completed_session": _iso(self.last_completed),
            "volatility": self.vol,
            "made_at": self.made_at,
            "untrained": self.untrained,
            "start_drift": list(self.start_drift),
            "start": naivestart.describe(self.start_drift),
            "band": None if self.band is None else self.band.to_dict(),
            "expected_move_h1": [
                {"level": lvl, "within_pct": pct} for lvl, pct in self.expected_move()
            ],
            "skill": {
                "h1": self.skill.h1,
                "overall": self.skill.overall,
                "beats_persistence": self.skill.beats_persistence,
                "beats_baselines": self.skill.beats_baselines,
                "summary": self.skill.summary,
                "best_baseline": self.skill.best_baseline,
                "vs_best_h1": self.skill.vs_best_h1,
                "verdict_h1": self.skill.verdict_h1,
                "headline": self.skill.headline,
            },
            "forecasts": [
                {
                    "date": s.date.isoformat(),
                    "h": s.h,
                    "close": s.close,
                    "change_pct": s.change_pct,
                    "lower": s.bounds[0].lower,
                    "upper": s.bounds[0].upper,
                    "intervals": [
                        {"level": b.level, "lower": b.lower, "upper": b.upper} for b in s.bounds
                    ],
                }
                for s in self.steps
            ],
        }

    def csv_rows(self) -> list[dict]:
        """One flat row per date: ticker, as_of, date, h, close, change_pct, lower_80, ..."""
        rows = []
        for s in self.steps:
            row = {
                "ticker": self.ticker,
                "as_of": self.as_of.isoformat(),
                "model": self.model,
                "date": s.date.isoformat(),
                "h": s.h,
                "close": s.close,
                "change_pct": s.change_pct,
            }
            for b in s.bounds:
                row[f"lower_{level_tag(b.level)}"] = b.lower
                row[f"upper_{level_tag(b.level)}"] = b.upper
            rows.append(row)
        return rows

    def log_rows(self, origin: str = "predict") -> list[dict]:
        """Rows for the forecast log (``forecastlog.COLUMNS``): one per date and level."""
        return [
            {
                "made_at": self.made_at,
                "model": self.model,
                "as_of": self.as_of.isoformat(),
                "target": s.date.isoformat(),
                "h": s.h,
                "close": s.close,
                "last_close": self.last_close,
                "level": b.level,
                "lower": b.lower,
                "upper": b.upper,
                "stale": self.stale,
                "origin": origin,
                "ewma_lower": e.lower if e is not None else float("nan"),
                "ewma_upper": e.upper if e is not None else float("nan"),
            }
            for s in self.steps
            for b, e in zip(s.bounds, s.ewma or [None] * len(s.bounds), strict=True)
        ]


def level_tag(level: float) -> str:
    """0.9 -> "90", 0.975 -> "97.5" (column names and labels)."""
    return f"{level * 100:g}"


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def skill_from_manifest(manifest: Manifest, symbol: str | None = None) -> Skill:
    """Test skill against persistence at h=1 and over all horizons, from the saved metrics
    (of ``symbol``, for a global model: its own test windows)."""
    report = manifest.report(symbol) or {}
    hs = report.get("horizons") or []
    if not hs:
        return Skill(None, None, None, None, "this model has no test metrics")
    try:
        model = [float(h["mae"]) for h in hs]
        naive = [float(h["baselines"]["persistence"]["mae"]) for h in hs]
    except (KeyError, TypeError, ValueError):
        return Skill(None, None, None, None, "this model's test metrics are unreadable")
    h1 = 1 - model[0] / naive[0] if naive[0] > 0 else None
    overall = 1 - sum(model) / sum(naive) if sum(naive) > 0 else None
    beats_p = all(m < n for m, n in zip(model, naive, strict=True))
    summary = str(report.get("summary") or "")
    best, vs_best, verdict, headline = _against_best(hs[0])
    return Skill(h1, overall, beats_p, report.get("beats_baselines"), summary, best, vs_best,
                 verdict, headline)  # fmt: skip


def _against_best(h: dict) -> tuple[str | None, dict | None, str | None, str]:
    """(best naive, skill CI, verdict, headline) at one horizon of the saved test metrics.

    Models saved before verdicts have no interval: the point skill against the best naive
    forecast is given, said to be untested.
    """
    best = h.get("best_baseline")
    if best is None:
        return None, None, None, ""
    ci, verdict = h.get("skill_vs_best"), h.get("verdict")
    if ci and verdict and h.get("description"):
        return best, dict(ci), verdict, str(h["description"])
    try:
        value = 1 - float(h["mae"]) / float(h["baselines"][best]["mae"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return best, None, None, ""
    text = f"skill {value * 100:+.1f}% against {best}, without a confidence interval (old model)"
    return best, {"value": value, "low": None, "high": None}, None, text


def check_features(symbol: str, manifest: Manifest, prices: pd.DataFrame) -> None:
    """DataError (one line) when the stored prices cannot provide the model's features."""
    names = list(manifest.data.features)
    lookback = manifest.data.lookback
    mid = manifest.id or "?"
    unknown = [n for n in names if n not in features.REGISTRY]
    if unknown:
        raise ModelError(
            f"model {mid} of {symbol} uses feature {', '.join(unknown)}, which this stockcast "
            f"does not compute; run `stockcast train {symbol}` to replace it"
        )
    features.require_inputs(prices, names, symbol, f"model {mid} uses", last=lookback + 1)


def check_horizon(horizon: int | None, model_h: int, model_id: str) -> int:
    """The number of sessions to forecast: ``horizon`` (1..H) or the model's H."""
    if horizon is None:
        return model_h
    if not 1 <= horizon <= model_h:
        raise UsageError(
            f"--horizon {horizon} is outside 1..{model_h}: model {model_id} forecasts "
            f"{model_h} sessions; train with `--horizon {horizon}` for more"
        )
    return horizon


INFERENCE = ("auto", "torch")  # forecast_symbol(inference=...): numpy where it can, or torch


def load_live(
    root: Path, name: str, model_id: str | None, symbol: str, inference: str = "auto"
) -> NumpyModel:
    """A model's live weights (the recipe refit on every stored session; evaluated ones in
    older models): manifest, predict, calibration and the band's scale networks, from one read
    of the weights file. ``predict`` maps scaled windows to scaled outputs: in numpy
    (``models.numpy_infer``, no torch import) when the architecture has a numpy forward and
    ``inference`` is "auto", else through the torch model (never None)."""
    if inference not in INFERENCE:
        raise ValueError(f"inference must be one of {INFERENCE}")
    loaded = load_numpy(root, name, model_id, symbol=symbol, weights="live")
    if loaded.predict is None or inference == "torch":
        torch_predict = _torch_predict(root, name, str(loaded.manifest.id), symbol)
        loaded = replace(loaded, predict=torch_predict)
    return loaded


def _torch_predict(root: Path, name: str, model_id: str, symbol: str) -> Predict:
    """The torch route (the reference, and architectures without a numpy forward), on one
    intra-op thread: one window is ~1k FLOPs per step, and with two threads each of the L
    recurrent steps waits on the other core (0.5 s on a busy 2-core machine against 0.2 ms)."""
    import torch  # only here: `predict` of a numpy-capable model never imports torch

    from stockcast.device import threads_for
    from stockcast.models.base import predict_scaled

    _, model, _ = load_model(root, name, model_id, symbol=symbol, weights="live")
    cpu = torch.device("cpu")

    def predict(x: np.ndarray) -> np.ndarray:
        with threads_for(cpu, 1):
            return predict_scaled(model, x, cpu)

    return predict


def build_forecast(
    symbol: str,
    prices: pd.DataFrame,
    manifest: Manifest,
    predict: Predict,
    calib: dict[str, np.ndarray],
    *,
    horizon: int | None = None,
    levels: Sequence[float] = (0.9,),
    calendar: str = "XNYS",
    last_completed: dt.date | None = None,
    made_at: dt.datetime | None = None,
    root: Path | None = None,
    scale: tuple[ScaleHead, Predict | None] | None = None,
) -> Forecast:
    """A forecast from loaded pieces: predict, calibrate, bound, date. ``predict`` maps the
    scaled window (1, L, F) to scaled outputs (1, H) (``load_live``); ``root``: the data
    directory whose calendar cache dates the forecast (None: the calendar is built);
    ``scale``: the band's scale networks (``models.store.load_numpy``'s; None: EWMA band)."""
    n = check_horizon(horizon, manifest.horizon, str(manifest.id))
    check_features(symbol, manifest, prices)
    check_split_stored(symbol, prices, manifest)  # refused, like `evaluate`, after a rewrite
    latest = latest_window(symbol, prices, manifest)
    shrunk = Shrink.from_dict(manifest.shrink)  # None: the raw model (the default)
    mu = apply_shrink(latest.log_returns(predict(latest.x)), shrunk)[:n]  # -> (N,)
    close0, vol = latest.last_close, latest.vol
    as_of = latest.as_of.date()
    s_cal, s_now = band_scale(latest, calib, scale)
    c = intervals.calibrate(calib["y"], apply_shrink(calib["mu"], shrunk), s_cal, levels)
    lo, hi = intervals.price_bounds(close0, mu[None, :], s_now, c)  # -> (1, L, N)
    dates = cal.next_sessions(as_of, n, calendar, root)
    model_band = _bounds(lo, hi, c.levels)
    steps = _steps(dates, close0, mu, model_band, _ewma_band(calib, close0, latest.vol, levels, n))
    hist = prices["adj_close"].iloc[-HISTORY_SESSIONS:]
    made = made_at or dt.datetime.now(dt.UTC)
    return Forecast(
        ticker=symbol,
        as_of=as_of,
        last_close=close0,
        model=str(manifest.id),
        trained_through=manifest.series_of(symbol).trained_through,
        calendar=calendar,
        levels=c.levels,
        stale=last_completed is not None and as_of < last_completed,
        last_completed=last_completed,
        vol=vol,
        skill=skill_from_manifest(manifest, symbol),
        steps=steps,
        made_at=made.isoformat(timespec="seconds"),
        history=tuple((d.date(), float(v)) for d, v in hist.items()),
        interrupted=manifest.interrupted,
        untrained=manifest.untrained(),
        start_drift=manifest.series_of(symbol).start_drift,
        band=band_from_manifest(manifest),
    )


Bounds = list[tuple[Bound, ...]]  # per horizon, one Bound per level


def _bounds(lo: np.ndarray, hi: np.ndarray, levels: Sequence[float]) -> Bounds:
    """Price bounds (1, L, N) as one tuple of ``Bound`` per horizon."""
    return [
        tuple(Bound(lvl, float(lo[0, j, i]), float(hi[0, j, i])) for j, lvl in enumerate(levels))
        for i in range(lo.shape[2])
    ]


def _ewma_band(
    calib: dict[str, np.ndarray], close0: float, vol: float, levels: Sequence[float], n: int
) -> Bounds:
    """The baseline logged beside the forecast: persistence centre, EWMA scale, calibrated on
    the same windows (``score`` compares the two bands on realised outcomes)."""
    ce = intervals.calibrate(calib["y"], np.zeros_like(calib["y"]), calib["vol"], levels)
    elo, ehi = intervals.price_bounds(close0, np.zeros((1, n)), vol, ce)
    return _bounds(elo, ehi, ce.levels)


def _steps(
    dates: Sequence[dt.date], close0: float, mu: np.ndarray, bounds: Bounds, ewma: Bounds
) -> tuple[Step, ...]:
    """One ``Step`` per horizon: its date, the forecast close and change (``mu``: log returns
    (N,)), the model's bounds and the EWMA baseline's."""
    return tuple(
        Step(
            date=dates[i],
            h=i + 1,
            close=close0 * math.exp(mu[i]),
            change_pct=100 * math.expm1(mu[i]),
            log_return=float(mu[i]),
            bounds=bounds[i],
            ewma=ewma[i],
        )
        for i in range(len(mu))
    )


def band_scale(latest: LatestWindow, calib: dict[str, np.ndarray],
               scale: tuple[ScaleHead, Predict | None] | None
               ) -> tuple[np.ndarray, np.ndarray | float]:  # fmt: skip
    """(the calibration windows' band scales, the newest window's): the scale networks' where
    the model has them (``calib["sigma"]``, (1, H) from the network), else the EWMA vol."""
    if scale is None or "sigma" not in calib:
        return calib["vol"], latest.vol
    head, predict = scale
    out = None if predict is None else np.asarray(predict(latest.x), float)  # (1, H)
    now = head.scales(out, np.array([latest.vol]))
    return calib["sigma"], now


def forecast_symbol(
    root: Path,
    symbol: str,
    *,
    horizon: int | None = None,
    model_id: str | None = None,
    levels: Sequence[float] = (0.9,),
    calendar: str | None = None,
    now: dt.datetime | None = None,
    inference: str = "auto",
) -> Forecast:
    """Forecast ``symbol`` from its saved model and stored prices (the cron runner's entry).

    Raises StockcastError subclasses with one line naming the fix: no model ("run `stockcast
    train X`"), no prices ("run `stockcast fetch X`"), a horizon beyond the model's, features
    the stored data cannot provide, an unknown calendar. Stale data is not an error: see
    ``Forecast.stale``. ``inference``: "auto" (numpy where the architecture has a numpy
    forward: no torch import) or "torch" (the reference route).
    """
    sym = normalize_symbol(symbol)
    name, model_id = model_ref(sym, model_id)  # an id, a model name (global) or NAME:ID
    # an unknown --calendar fails before any heavy work (the cached session table is cheap)
    code = cal.check_calendar(cal.calendar_code_for(sym, calendar), root)
    try:
        loaded = load_live(root, name, model_id, sym, inference)
    except NoModel:
        if name == sym and not PriceStore(root).exists(sym):  # fetching is the first step
            raise NoPrices(
                f"no prices stored for {sym}; run `stockcast fetch {sym}`, then "
                f"`stockcast train {sym}`"
            ) from None
        raise
    manifest, predict = loaded.manifest, loaded.predict
    assert predict is not None  # load_live falls back to torch
    check_horizon(horizon, manifest.horizon, str(manifest.id))
    prices = PriceStore(root).read(sym)
    try:
        last_completed = cal.last_completed_session(now, code, root)
    except UsageError:  # today is past the calendar's range: the forecast can still be dated
        last_completed = None
    return build_forecast(
        sym,
        prices,
        manifest,
        predict,
        loaded.calib,
        horizon=horizon,
        levels=levels,
        calendar=code,
        last_completed=last_completed,
        made_at=now,
        root=root,
        scale=loaded.scale,
    )


def untrained(manifest: Manifest) -> bool:
    """No member of the model beat its untrained start on validation (best epoch 0 for all),
    so the model forecasts its naive start (``Forecast.start_drift``)."""
    return manifest.untrained()

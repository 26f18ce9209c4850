"""Evaluate a model on its test split against naive baselines -> an ``EvaluateResult``.

Its ``to_dict()`` is the `stockcast evaluate --json` object. A saved model's view of a symbol's
data is rebuilt from its manifest alone (features, lookback, horizon, and the symbol's scaler
statistics and split dates, read through ``Manifest.series_of``), never from the options that
`train` was given.

`train` keeps what it scored on the test split in the model file (the raw test predictions, the
band's scales and the GARCH baseline's scales, with a digest of every input they came from:
``scored_arrays``). `evaluate` rebuilds the data from the stored prices and, when the digest of
the rebuilt inputs matches, scores those arrays against the rebuilt outcomes and baselines:
the same numbers, without importing torch or arch (``evaluate --recompute``, or a digest that
differs because stored prices were revised, runs the saved weights again). Sessions added
after training leave the digest unchanged: every feature and scale is causal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stockcast.data.paths import normalize_symbol
from stockcast.data.store import PriceStore
from stockcast.errors import UsageError
from stockcast.forecasting import bands, crosssection, garch, metrics, stats
from stockcast.forecasting.history import parts_from_split
from stockcast.forecasting.intervals import DEFAULT_LEVELS
from stockcast.forecasting.latest import data_config, scalers
from stockcast.forecasting.shrink import Shrink
from stockcast.forecasting.shrink import apply as apply_shrink
from stockcast.models.manifest import Manifest
from stockcast.models.scale import ScaleHead
from stockcast.models.store import (
    list_models,
    load_model,
    load_numpy,
    model_ref,
    read_manifest,
    read_scored,
    read_scored_sets,
)
from stockcast.prep import features
from stockcast.prep.windows import Dataset, build_dataset

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from stockcast.models.store import ScoredSet


def rebuild_dataset(symbol: str, prices: pd.DataFrame, manifest: Manifest) -> Dataset:
    """The saved model's dataset: its features, scalers and split dates on current prices."""
    cfg = data_config(manifest)
    offset = features.warmup(cfg.features)
    dates = prices.index[offset:]
    split = manifest.series_of(symbol).split_json()
    parts = parts_from_split(symbol, dates, split, cfg.horizon)
    return build_dataset(symbol, prices, cfg, scalers=scalers(manifest, symbol), parts=parts)


def predict_log_returns(
    model: nn.Module, ds: Dataset, rows: slice, device: torch.device | str = "cpu"
) -> np.ndarray:
    """(N, H) predicted log returns for window rows ``rows`` of ``ds``."""
    import torch

    from stockcast.models.base import predict_scaled

    scaled = predict_scaled(model, ds.x[rows], torch.device(device))
    return ds.target_scaler.inverse(scaled)


@dataclass(frozen=True)
class PartPredictions:
    """Targets and predictions of one part, for metrics and interval calibration."""

    asof: np.ndarray  # (N,) as-of indices into ds.dates
    y: np.ndarray  # (N, H) realised log returns
    mu: np.ndarray  # (N, H) predicted log returns
    vol: np.ndarray  # (N,) EWMA volatility at each as-of session
    sigma: np.ndarray | None = None  # (N, H) the band's scale (None: the EWMA vol * sqrt(h))

    @property
    def band_scale(self) -> np.ndarray:
        """What the model's band is calibrated and built with: ``sigma`` (N, H) or ``vol``."""
        return self.vol if self.sigma is None else self.sigma


# a scale network's forward (scaled windows (B, L, F) -> log scales (B, H)) and how it is used
ScaleNet = tuple[Callable[[np.ndarray], np.ndarray], ScaleHead]


def part_predictions(
    model: nn.Module,
    ds: Dataset,
    part: str,
    device: torch.device | str = "cpu",
    scale: ScaleNet | None = None,
) -> PartPredictions:
    """The model's predictions of one part of ``ds``, with the band scale of ``scale``."""
    rows = ds.window_slice(part)
    r = ds.parts[part]
    asof = np.arange(r.start, r.stop)
    mu = predict_log_returns(model, ds, rows, device)
    return PartPredictions(asof, ds.y[rows], mu, ds.vol[asof], band_scales(ds, rows, scale))


def band_scales(ds: Dataset, rows: slice, scale: ScaleNet | None) -> np.ndarray | None:
    """(N, H) band scales of window ``rows`` from a scale network (None: no network)."""
    if scale is None:
        return None
    net, head = scale
    first = ds.config.lookback - 1
    vol = ds.vol[rows.start + first : rows.stop + first]
    out = np.asarray(net(ds.x[rows]), float) if any(head.use) else None
    return head.scales(out, vol)


@dataclass(frozen=True)
class PartSpan:
    """The evaluated part: its as-of sessions (first, last, count) and their targets' dates."""

    start: str  # ISO date of the first as-of session
    end: str
    n: int  # windows
    target_start: str  # the first window's h=1 target session
    target_end: str  # the last window's h=H target session

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "n": self.n,
                "target_start": self.target_start, "target_end": self.target_end}  # fmt: skip


@dataclass(frozen=True)
class EvaluationReport:
    """``evaluate_dataset``'s report of one part: per horizon the model's errors against the
    naive forecasts (each horizon the JSON object of `evaluate --json`'s ``horizons``), the
    verdict over all horizons and the sentences that say it."""

    test: PartSpan
    horizons: tuple[Mapping[str, Any], ...]  # h, n, errors, skill, verdict, intervals, ...
    beats_baselines: bool  # "better" than the best naive forecast at every horizon
    summary: str
    notes: tuple[str, ...]  # one sentence per horizon

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON (the manifest's test report; `evaluate --json` less ticker and
        model)."""
        return {
            "test": self.test.to_dict(),
            "horizons": [dict(h) for h in self.horizons],
            "beats_baselines": self.beats_baselines,
            "summary": self.summary,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class EvaluateResult:
    """A symbol's model evaluated on its test split (`evaluate`, and inside `train`)."""

    ticker: str
    model: str  # the model's id
    report: EvaluationReport

    def to_dict(self) -> dict[str, Any]:
        """The `evaluate --json` object."""
        return {"ticker": self.ticker, "model": self.model, **self.report.to_dict()}


def evaluate_dataset(
    model: nn.Module | None,
    ds: Dataset,
    device: torch.device | str = "cpu",
    part: str = "test",
    val: PartPredictions | None = None,
    shrink: Shrink | None = None,
    predicted: PartPredictions | None = None,
    scale: ScaleNet | None = None,
    garch_scales: garch.GarchScales | None = None,
) -> EvaluationReport:
    """Per-horizon errors of the model and the baselines on one part of ``ds``; ``val`` and
    ``predicted``: the model's raw validation and ``part`` predictions when the caller has them
    already (validation calibrates the bands);
    ``shrink``: the model's learned shrinkage toward a naive forecast (``shrink.py``), applied to
    both. The comparator is the naive forecast (persistence or drift) with the lower MAE on
    the validation windows, chosen without the test outcomes; SMA5 is reported, not compared.
    Skill against it comes with a 95% HAC confidence interval and a
    Diebold-Mariano p-value; the verdict is "better" only when the interval lies above zero.
    ``scale``: the band's scale network (``val`` and ``predicted``, when given, carry its
    scales already); ``garch_scales``: the GARCH baseline's scales at the validation then
    ``part`` windows when the caller has them (``garch.for_dataset``), else fitted here.
    ``model`` may be None when ``val`` and ``predicted`` are given."""
    if model is not None:
        p = part_predictions(model, ds, part, device, scale) if predicted is None else predicted
        val = part_predictions(model, ds, "val", device, scale) if val is None else val
    elif val is None or predicted is None:
        raise ValueError("without a model, give both the validation and the part's predictions")
    else:
        p = predicted
    if shrink is not None:
        p, val = _shrunk(p, shrink), _shrunk(val, shrink)
    px = _PartPrices.of(ds, p)
    val_err = metrics.naive_log_errors(ds.history_close, val.asof + ds.offset, val.y)
    span = ds.split_summary()[part]
    bands = interval_report(val, p, ds, garch_scales)  # the model's band and the baselines'
    horizons = []
    for h in range(1, ds.config.horizon + 1):
        best = metrics.chosen_comparator(val_err, h)  # on validation, not on the test outcomes
        row = {
            "h": h,
            "n": len(px.last),
            "target_start": _iso(ds.dates[p.asof[0] + h]),
            "target_end": _iso(ds.dates[p.asof[-1] + h]),
            **px.errors(h, best),
            "intervals": bands[h - 1],
        }
        horizons.append({**row, "description": describe(row)})
    return EvaluationReport(
        test=PartSpan(**{k: span[k] for k in ("start", "end", "n", "target_start", "target_end")}),
        horizons=tuple(horizons),
        beats_baselines=all(h["verdict"] == "better" for h in horizons),
        summary=_summary(horizons),
        notes=tuple(_note(h) for h in horizons),
    )


@dataclass(frozen=True)
class _PartPrices:
    """One part's windows in prices: what the model and the naive forecasts said and what came."""

    last: np.ndarray  # (N,) closes at the as-of sessions
    actual: np.ndarray  # (N, H) closes h sessions later
    pred: np.ndarray  # (N, H) the model's
    naive: dict[str, np.ndarray]  # baseline name -> (N, H)

    @classmethod
    def of(cls, ds: Dataset, p: PartPredictions) -> _PartPrices:
        close, H = ds.history_close, ds.config.horizon
        asof = p.asof + ds.offset  # absolute indices into the stored history
        return cls(
            last=close[asof],
            actual=metrics.actuals(close, asof, H),
            pred=metrics.model_prices(close, asof, p.mu),
            naive={name: fn(close, asof, H) for name, fn in metrics.BASELINES.items()},
        )

    def errors(self, h: int, best: str) -> dict:
        """Horizon ``h``'s errors of the model, its skill against persistence, its test against
        the comparator ``best`` (chosen on validation), and each baseline's errors."""
        c = h - 1
        actual = self.actual[:, c]
        model_err = metrics.error_summary(self.pred[:, c], actual, self.last)
        base = {k: metrics.error_summary(v[:, c], actual, self.last) for k, v in self.naive.items()}
        test = _significance(self.pred[:, c], self.naive[best][:, c], actual, h)
        return {
            **model_err,
            "up_share": metrics.up_share(actual, self.last),
            "skill": metrics.skill(model_err["mae_bps"], base["persistence"]["mae_bps"]),
            "best_baseline": best,
            "beats_best_baseline": test["verdict"] == "better",
            **test,
            "baselines": base,
        }


def interval_report(
    v: PartPredictions, p: PartPredictions, ds: Dataset, g: garch.GarchScales | None = None
) -> list[list[dict]]:
    """Per horizon, per level (0.8, 0.9): the model's band on ``p`` next to the EWMA, GARCH and
    constant-width bands (``bands.band_rows``), all calibrated on the validation predictions
    ``v`` like the model file's calibration arrays; the constant band also under today's
    ``baseline_*`` keys. ``g``: the GARCH scales at ``v`` then ``p`` (fitted when None)."""
    g = garch.for_dataset(ds, v.asof, p.asof) if g is None else g
    nv = len(v.asof)
    val = bands.BandInputs(v.y, v.mu, v.band_scale, v.vol, g.scale[:nv])
    test = bands.BandInputs(p.y, p.mu, p.band_scale, p.vol, g.scale[nv:])
    bounds = bands.log_bounds(val, test, DEFAULT_LEVELS)
    close = ds.history_close[p.asof + ds.offset]
    out = []
    for h in range(1, p.y.shape[1] + 1):
        rows = bands.band_rows(p.y, close, bounds, DEFAULT_LEVELS, h)
        for row in rows:
            const = row["bands"]["constant"]
            row["n"] = len(p.y)
            row["baseline_coverage"] = const["coverage"]
            row["baseline_mean_width"] = const["mean_width"]
            row["baseline_mean_width_pct"] = const["mean_width_pct"]
            row["baseline_interval_score"] = const["interval_score"]
            row["garch_converged"] = g.converged
        out.append(rows)
    return out


def _iso(ts: pd.Timestamp) -> str:
    return ts.date().isoformat()


def _shrunk(p: PartPredictions, shrink: Shrink) -> PartPredictions:
    return PartPredictions(p.asof, p.y, apply_shrink(p.mu, shrink), p.vol, p.sigma)


def _significance(pred: np.ndarray, naive: np.ndarray, actual: np.ndarray, h: int) -> dict:
    """``skill_vs_best`` {value, low, high} (95% HAC CI, h - 1 lags), ``dm_pvalue`` and
    ``verdict`` of the model against the naive forecast ``naive`` (prices, (N,)), on the
    scale-free errors ``metrics.log_errors``."""
    e_model, e_naive = metrics.log_errors(pred, actual), metrics.log_errors(naive, actual)
    try:
        value, low, high = stats.skill_ci(e_model, e_naive, h - 1)
        pvalue: float | None = stats.diebold_mariano(e_model, e_naive, h).pvalue
    except ValueError:  # too few windows or a perfect naive forecast: no interval
        return {"skill_vs_best": None, "dm_pvalue": None, "verdict": "indistinguishable"}
    ci = {"value": value, "low": low, "high": high}
    return {"skill_vs_best": ci, "dm_pvalue": pvalue, "verdict": stats.verdict(low, high)}


def describe(h: dict) -> str:
    """E.g. "indistinguishable from drift (skill -0.2%, 95% CI -0.9..+0.5)" for one horizon."""
    ci = h.get("skill_vs_best")
    if not ci:
        return f"not tested against {h['best_baseline']} (too few windows)"
    return stats.describe_skill(h["best_baseline"], ci["value"], ci["low"], ci["high"])


def _note(h: dict) -> str:
    best = h["best_baseline"]
    ref = h["baselines"][best]["mae_bps"]
    p = "" if h.get("dm_pvalue") is None else f", DM p = {h['dm_pvalue']:.2f}"
    return (f"At h={h['h']} the model is {describe(h)}: MAE {h['mae_bps']:.1f} bps vs "
            f"{ref:.1f}{p}.")  # fmt: skip


def _summary(horizons: list[dict]) -> str:
    by = {v: [str(h["h"]) for h in horizons if h["verdict"] == v]
          for v in ("better", "indistinguishable", "worse")}  # fmt: skip
    if len(by["better"]) == len(horizons):
        return (
            "The model is better than the best naive forecast at every horizon on the test split "
            "(95% CIs above zero); check it over several folds with `stockcast backtest`."
        )
    if not by["better"]:
        worse = f" (worse at h={', '.join(by['worse'])})" if by["worse"] else ""
        return (
            "The model is not better than the best naive forecast at any horizon" + worse + "; "
            "use persistence or drift instead of its point forecasts."
        )
    return (
        f"The model is better than the best naive forecast only at h={', '.join(by['better'])}; "
        "elsewhere it is not, so check it with `stockcast backtest` before relying on it."
    )


def evaluate_saved(
    root: Path, symbol: str, model_id: str | None = None, recompute: bool = False
) -> EvaluateResult:
    """`stockcast evaluate`: the saved model's test split scored against the stored prices:
    from what `train` scored when the rebuilt inputs' digest matches (see the module
    docstring), else (or with ``recompute``) by running the saved weights again."""
    sym = normalize_symbol(symbol)
    name, model_id = model_ref(sym, model_id)  # an id, a model name (global) or NAME:ID
    saved = read_scored(root, name, model_id, symbol=sym)
    manifest = saved.manifest
    ds = rebuild_dataset(sym, PriceStore(root).read(sym), manifest)
    shrink = Shrink.from_dict(manifest.shrink)
    stored = None if recompute else stored_predictions(ds, saved)
    if stored is None:
        report = _run_saved_weights(root, name, str(manifest.id), sym, ds, shrink)
    else:
        val, test, g = stored
        report = evaluate_dataset(None, ds, val=val, shrink=shrink, predicted=test,
                                  garch_scales=g)  # fmt: skip
    return EvaluateResult(sym, str(manifest.id), report)


def _run_saved_weights(
    root: Path, name: str, model_id: str, sym: str, ds: Dataset, shrink: Shrink | None
) -> EvaluationReport:
    """The test report from the saved weights run again (torch)."""
    import torch

    from stockcast.device import threads_for

    _, model, _ = load_model(root, name, model_id, symbol=sym)
    scale = saved_scale(root, name, model_id, sym)
    with threads_for(torch.device("cpu")):  # as `train` evaluates: the same numbers, and 2
        return evaluate_dataset(model, ds, shrink=shrink, scale=scale)  # threads were slower


def inputs_digest(ds: Dataset) -> np.ndarray:
    """(32,) uint8 SHA-256 of every input the validation and test predictions, the band's
    scales and the GARCH baseline's scales are computed from: the scaled windows, the EWMA
    volatility at their as-of sessions, the closes up to the last test as-of session, and the
    split's positions. Sessions stored after the test part do not enter it."""
    v, t = ds.parts["val"], ds.parts["test"]
    asof = np.concatenate([np.arange(v.start, v.stop), np.arange(t.start, t.stop)])
    meta = [ds.offset, v.start, v.stop, t.start, t.stop, ds.config.horizon, ds.config.lookback]
    sha = hashlib.sha256(np.asarray(meta, dtype=np.int64).tobytes())
    for arr in (ds.x[ds.window_slice("val")], ds.x[ds.window_slice("test")], ds.vol[asof],
                ds.history_close[: ds.offset + t.stop]):  # fmt: skip
        sha.update(np.ascontiguousarray(arr).tobytes())
    return np.frombuffer(sha.digest(), dtype=np.uint8).copy()


def scored_arrays(
    ds: Dataset, test: PartPredictions, g: garch.GarchScales
) -> dict[str, np.ndarray]:
    """What a model file keeps of `train`'s test scoring for one symbol (``scored.<SYMBOL>.*``):
    the raw test predictions ``mu`` (and the band's scales ``sigma``), the GARCH scales at the
    validation then test windows, whether that fit converged, and ``inputs_digest(ds)``."""
    out = {"mu": test.mu, "garch": g.scale, "garch_converged": np.array([g.converged], np.uint8),
           "inputs_sha256": inputs_digest(ds)}  # fmt: skip
    return out if test.sigma is None else {**out, "sigma": test.sigma}


def stored_predictions(
    ds: Dataset, saved: ScoredSet
) -> tuple[PartPredictions, PartPredictions, garch.GarchScales] | None:
    """The raw validation and test predictions and the GARCH scales `train` scored, on the
    rebuilt ``ds``; None when the model keeps none or the inputs' digest differs."""
    s = saved.scored
    if s is None or not np.array_equal(s.get("inputs_sha256", ()), inputs_digest(ds)):
        return None
    v, t = ds.parts["val"], ds.parts["test"]
    va, ta = np.arange(v.start, v.stop), np.arange(t.start, t.stop)
    c = saved.calib
    val = PartPredictions(va, ds.y[ds.window_slice("val")], c["mu"], ds.vol[va], c.get("sigma"))
    test = PartPredictions(ta, ds.y[ds.window_slice("test")], s["mu"], ds.vol[ta], s.get("sigma"))
    g = garch.GarchScales(s["garch"], bool(s["garch_converged"][0]))
    shapes = [(a.shape, b.shape) for a, b in ((val.mu, val.y), (test.mu, test.y))]
    shapes += [(p.sigma.shape, p.y.shape) for p in (val, test) if p.sigma is not None]
    shapes.append((g.scale.shape, (len(va) + len(ta), ds.config.horizon)))
    if any(got != want for got, want in shapes) or (val.sigma is None) != (test.sigma is None):
        return None  # not what this code would have kept: run the weights
    return val, test, g


def saved_scale(root: Path, name: str, model_id: str, symbol: str) -> ScaleNet | None:
    """A saved model's evaluated scale networks as ``part_predictions`` takes them (None: the
    EWMA band of a model without them)."""
    loaded = load_numpy(root, name, model_id, symbol=symbol, torch_route=True).scale
    if loaded is None:
        return None
    head, predict = loaded
    return (predict if predict is not None else _no_net), head


def _no_net(x: np.ndarray) -> np.ndarray:
    raise ValueError("no horizon uses the scale network")


def symbol_test(symbol: str, ds: Dataset, p: PartPredictions) -> crosssection.SymbolTest:
    """``p`` (a symbol's test predictions, shrunk when the model shrinks) as the cross-section
    reads it: as-of dates, log returns of the model, the outcome and the naive forecasts, and
    the MASE scale (mean |one-session log return| over the training windows)."""
    close, H = ds.history_close, ds.config.horizon
    asof = p.asof + ds.offset  # absolute indices into the stored history
    last = close[asof][:, None]  # (N, 1)
    naive = {k: np.log(metrics.BASELINES[k](close, asof, H) / last) for k in crosssection.NAIVE}
    train_y1 = ds.y[ds.window_slice("train")][:, 0]  # (Nt,)
    v = ds.parts["val"]
    val_asof = np.arange(v.start, v.stop) + ds.offset
    val_naive = metrics.naive_log_errors(close, val_asof, ds.y[ds.window_slice("val")])
    return crosssection.SymbolTest(
        symbol=symbol,
        dates=np.array([d.date().isoformat() for d in ds.dates[p.asof]]),
        mu=p.mu,
        y=p.y,
        naive=naive,
        scale=float(np.mean(np.abs(train_y1))),
        val_naive=val_naive,
    )


@dataclass(frozen=True)
class MemberEvaluation:
    """One symbol of a global model on its test split: what `evaluate SYM --model NAME` reports,
    its test windows for the cross-section, the raw validation (calibration of the evaluated
    weights) and test predictions (calibration of the live weights), and what a model file
    keeps of the scoring (``scored_arrays``)."""

    report: EvaluationReport  # test span, horizons, summary, notes
    test: crosssection.SymbolTest
    val: PartPredictions  # raw (unshrunk) validation predictions
    test_raw: PartPredictions  # raw (unshrunk) test predictions: calibrate the live bands
    scored: dict[str, np.ndarray]


def evaluate_member(
    model: nn.Module,
    symbol: str,
    prices: pd.DataFrame,
    manifest: Manifest,
    scale: ScaleNet | None = None,
) -> MemberEvaluation:
    """Evaluate ``symbol`` of a (global) model from its manifest by running the weights, as
    ``evaluate_saved --recompute`` does; ``scale``: the model's band scale networks (None: the
    EWMA band)."""
    import torch

    from stockcast.device import threads_for

    ds = rebuild_dataset(symbol, prices, manifest)
    with threads_for(torch.device("cpu")):  # as `evaluate_saved`
        val = part_predictions(model, ds, "val", scale=scale)
        test = part_predictions(model, ds, "test", scale=scale)
    g = garch.for_dataset(ds, val.asof, test.asof)
    return _member(symbol, ds, manifest, val, test, g, scored_arrays(ds, test, g))


def stored_member(saved: ScoredSet, prices: pd.DataFrame) -> MemberEvaluation | None:
    """``evaluate_member`` of ``saved.symbol`` from what `train` kept in the model file (no
    torch), or None when it keeps none or the stored prices they came from changed (run
    ``evaluate_member`` then)."""
    ds = rebuild_dataset(saved.symbol, prices, saved.manifest)
    stored = stored_predictions(ds, saved)
    if stored is None or saved.scored is None:
        return None
    return _member(saved.symbol, ds, saved.manifest, *stored, saved.scored)


def _member(
    symbol: str,
    ds: Dataset,
    manifest: Manifest,
    val: PartPredictions,
    test: PartPredictions,
    g: garch.GarchScales,
    scored: dict[str, np.ndarray],
) -> MemberEvaluation:
    shrink = Shrink.from_dict(manifest.shrink)
    report = evaluate_dataset(None, ds, val=val, shrink=shrink, predicted=test, garch_scales=g)
    shown = test if shrink is None else _shrunk(test, shrink)
    return MemberEvaluation(report, symbol_test(symbol, ds, shown), val, test, scored)


def cross_sectional(members: dict[str, MemberEvaluation]) -> dict:
    """``{"pooled", "cross_section"}`` over the evaluated symbols (``crosssection.report``)."""
    return crosssection.report([m.test for m in members.values()])


def global_manifest(root: Path, ref: str) -> Manifest:
    """The manifest of the global model that ``--model`` ``ref`` (NAME or NAME:ID) names;
    UsageError when ``ref`` is a bare id, names no model, or names a per-symbol model (give
    its symbol then)."""
    if ":" not in ref and model_ref("ID", ref)[1] is not None:  # a bare id: a symbol's own
        raise UsageError(
            f"--model {ref} is a model id of one symbol's own models; give that symbol: "
            f"`stockcast evaluate SYMBOL --model {ref}`"
        )
    name, model_id = model_ref("NAME", ref)  # NAME or NAME:ID: the symbol is not read
    if not list_models(root, name):  # a typo in an option: bad usage, as check_model_option
        raise UsageError(
            f"--model {ref}: no saved model is named {name}; `stockcast models` lists them"
        )
    manifest = read_manifest(root, name, model_id)
    if not manifest.is_global:
        raise UsageError(
            f"--model {ref} is a per-symbol model, not a global one; name its symbol: "
            f"`stockcast evaluate {' '.join(manifest.symbols)}`"
        )
    return manifest


class GlobalEvaluator:
    """`evaluate --model NAME` of a global model, one symbol at a time: from what `train` kept
    where the inputs are unchanged, else (or with ``recompute``) by running the weights, which
    are loaded once, on the first symbol that needs them."""

    def __init__(self, root: Path, manifest: Manifest, recompute: bool = False) -> None:
        self.root, self.manifest, self.recompute = root, manifest, recompute
        self._net: nn.Module | None = None
        self._kept: dict[str, ScoredSet] | None = None  # every symbol's, from one read

    def member(self, symbol: str, prices: pd.DataFrame) -> MemberEvaluation:
        m, sym = self.manifest, normalize_symbol(symbol)
        if not self.recompute:
            if self._kept is None:
                self._kept = read_scored_sets(self.root, str(m.name), str(m.id), m.symbols)
            if (kept := stored_member(self._kept[sym], prices)) is not None:
                return kept
        if self._net is None:
            _, self._net, _ = load_model(self.root, str(m.name), str(m.id), symbol=m.symbols[0])
        scale = saved_scale(self.root, str(m.name), str(m.id), sym)
        return evaluate_member(self._net, symbol, prices, m, scale)

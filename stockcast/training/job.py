"""Train one symbol end to end: options -> configs, read prices, fit the recipe, evaluate it on
the test split, refit it on every stored window for the live model, save both.

The fitting lives in ``recipe`` (usable on any prices frame) and the loop in ``loop``; this
module wires them to the store, the evaluation and the model store, and returns the
`train --json` object.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import stockcast
from stockcast import models, options
from stockcast.data.paths import normalize_symbol
from stockcast.data.store import PriceStore
from stockcast.errors import StoreUnwritable, TrainingError, UsageError
from stockcast.forecasting import bands, evaluation, garch, naivestart, shrink
from stockcast.models import store as modelstore
from stockcast.models.manifest import (
    Live,
    Manifest,
    Member,
    Scale,
    Series,
    Training,
    members_of,
)
from stockcast.prep import features
from stockcast.prep.windows import DataConfig
from stockcast.training import preflight
from stockcast.training.loop import Callback, TrainConfig, make_loss
from stockcast.training.recipe import (
    Fitted,
    Recipe,
    ScaleFit,
    all_stored_rows,
    fit_recipe,
    live_refit,
    refit_live,
    refit_live_scale,
)
from stockcast.training.results import TrainResult

__all__ = [
    "Fitted",
    "Recipe",
    "configs_from_options",
    "fit_recipe",
    "model_config",
    "recipe_from_options",
    "train_symbol",
]

NAIVE_START_NOTE = (
    "no epoch beat the untrained model, which forecasts the naive start chosen on validation "
    "({start}); the saved model is that naive forecast"
)


def recipe_from_options(given: dict) -> tuple[Recipe, str]:
    """Flat `train` options (CLI flags, stockcast.toml [train]) -> the ``Recipe`` (data
    options, the ``Config`` of the chosen architecture (``arch``, default lstm), training
    options) and the device spec; the checks of ``configs_from_options``."""
    data, model_cfg, train, device = configs_from_options(given)
    return Recipe(data, model_cfg, train), device


def configs_from_options(given: dict) -> tuple[DataConfig, Any, TrainConfig, str]:
    """Flat `train` options (CLI flags, stockcast.toml [train]) -> data config, the ``Config``
    of the chosen architecture (``arch``, default lstm), train config and device spec.

    Keys left out or None take the defaults; an unknown key, a bad value (``options.check``),
    an unknown feature or architecture, settings the architecture cannot take or a model too
    large for the memory free on the device (``preflight.check_model``) is a UsageError.
    """
    opts = options.check(given)
    if "features" in opts:
        opts["features"] = features.parse_names(opts["features"])
    data, model, train, run = options.split(opts)
    chosen = {k: opts[k] for k in opts.keys() & {f.name for f in fields(model)} - {"arch"}}
    model_cfg = model_config(model.arch, data, chosen)
    preflight.check_model(model_cfg, data, train, run.device)
    return data, model_cfg, train, run.device


def model_config(arch: str, data: DataConfig, chosen: dict) -> Any:
    """The ``Config`` of architecture ``arch`` for ``data``'s features and horizon, with the
    model options the user chose (``hidden``, ...; the others keep the architecture's defaults).
    """
    config_cls, _ = models.lookup(arch)
    accepted = {f.name for f in fields(config_cls)}
    for key in sorted(set(chosen) - accepted):
        raise UsageError(f"--{key} does not apply to architecture {arch}; leave it out")
    return config_cls(n_features=len(data.features), horizon=data.horizon, **chosen)


def check_symbol(root: Path, symbol: str, data: DataConfig) -> None:
    """What `train` can refuse before it shows or trains anything, in milliseconds: no prices
    stored, a chosen lookback or horizon too long for the stored sessions (the Parquet footer's
    row count), a models folder that could not take the trained model."""
    sym = normalize_symbol(symbol)
    preflight.check_lookback(sym, PriceStore(root).info(sym).rows, data)
    place = Path(root) / "models" / sym
    while not place.exists() and place != place.parent:
        place = place.parent  # the nearest folder that exists: where saving would create one
    if not os.access(place, os.W_OK | os.X_OK):
        raise StoreUnwritable(
            f"{place} is not writable, so a trained {sym} model could not be saved; fix its "
            "permissions or choose another data directory (--data-dir, STOCKCAST_HOME)"
        )


def train_symbol(
    root: Path,
    symbol: str,
    recipe: Recipe,
    device: str = "auto",
    callback: Callback | None = None,
) -> TrainResult:
    """Read prices, fit the recipe (its ensemble of members), evaluate it on the test split,
    refit it on every stored window (the live model), save; returns what it did (``to_dict``: the
    `train --json` object).

    Raises KeyboardInterrupt when Ctrl-C came before any epoch finished (nothing is saved);
    after that, the best model so far is saved with ``interrupted: true`` and no live weights.
    ``TrainingError`` (nothing saved) when a loss is not finite.
    """
    sym = normalize_symbol(symbol)
    t_start = time.perf_counter()
    modelstore.check_name(root, sym, [sym])
    prices = PriceStore(root).read(sym)
    preflight.check_lookback(sym, len(prices), recipe.data)
    fitted = fit_recipe(sym, prices, recipe, device=device, callback=callback)
    cfg = recipe.train
    ds, model = fitted.dataset, fitted.model
    learned = shrink.learn(ds, fitted.val) if cfg.shrink else None  # toward a naive forecast
    net = None if fitted.scale is None else fitted.scale.net
    test = evaluation.part_predictions(model, ds, "test", scale=net)
    g = garch.for_dataset(ds, fitted.val.asof, test.asof)  # kept: `evaluate` re-scores them
    report = evaluation.evaluate_dataset(
        model, ds, val=fitted.val, shrink=learned, predicted=test, garch_scales=g
    )
    why = bands.unusable([h["intervals"] for h in report.horizons])
    if why is not None:  # refused before anything is saved
        raise TrainingError(f"{sym}: the model's band is unusable ({why}); train with --band ewma")
    refit = live_refit(
        lambda: (refit_live(fitted, device), refit_live_scale(fitted, device)), fitted.interrupted
    )
    live, live_scale, live_seconds = refit.model, refit.scale, refit.seconds
    manifest = _manifest(sym, fitted, report, live is not None, refit.interrupted)
    if learned is not None:  # evaluate and predict apply it (forecasting/shrink.py)
        manifest = replace(manifest, shrink=learned.to_dict())
    sf = fitted.scale
    model_id, path = modelstore.save_model(
        root, sym, manifest, model.state_dict(), {sym: _calib(fitted.val)},
        live_weights=None if live is None else live.state_dict(),
        live_calib=None if live is None else {sym: _calib(test)},
        scale_weights=None if sf is None else sf.model.state_dict(),
        live_scale_weights=None if live is None or live_scale is None else live_scale.state_dict(),
        scored={sym: evaluation.scored_arrays(ds, test, g)},
    )  # fmt: skip
    return _result(sym, model_id, path, fitted, manifest, report, live_seconds, t_start)


def calib_arrays(p: evaluation.PartPredictions) -> dict[str, np.ndarray]:
    """The calibration arrays a model file keeps per symbol (``sigma``: the band's scales)."""
    return _calib(p)


def _calib(p: evaluation.PartPredictions) -> dict[str, np.ndarray]:
    sigma = {} if p.sigma is None else {"sigma": p.sigma}  # the band's scale, when a network
    return {"y": p.y, "mu": p.mu, "vol": p.vol, **sigma}


def scale_entry(sf: ScaleFit | None) -> Scale | None:
    """The manifest's ``scale``: the band's scale networks (likelihood, per-horizon use,
    members), or None (`--band ewma`: the EWMA band)."""
    if sf is None:
        return None
    return Scale(
        kind=sf.head.kind,
        use=sf.head.use,
        description=sf.head.describe(),
        members=tuple(
            Member(f.seed, f.best_epoch, f.best_val_loss, f.initial_val_loss, f.epochs)
            for f in sf.fits
        ),
        seconds=round(sf.seconds, 3),
    )


def _result(sym: str, model_id: str, path: Path, fitted: Fitted, manifest: Manifest,
            report: evaluation.EvaluationReport, live_seconds: float,
            t_start: float) -> TrainResult:  # fmt: skip
    """The `train --json` object."""
    ds, fits = fitted.dataset, fitted.fits
    windows_per_s = sum(f.windows_per_s for f in fits)  # all members together
    model: Any = fitted.model
    one = model.members[0] if len(fits) > 1 else model  # flops of one member
    gflops = windows_per_s * one.flops_per_window(ds.config.lookback) / 1e9
    return TrainResult(
        ticker=sym,
        model=model_id,
        path=str(path),
        epochs=int(manifest.training.epochs or 0),
        best_epoch=int(manifest.training.best_epoch or 0),
        val_loss=float(manifest.training.best_val_loss or 0.0),
        initial_val_loss=float(manifest.training.initial_val_loss or 0.0),
        train_windows=len(ds.parts["train"]),
        val_windows=len(ds.parts["val"]),
        test_windows=len(ds.parts["test"]),
        seconds=round(fitted.seconds, 3),
        cpu_seconds=round(fitted.cpu_seconds, 3),
        live_seconds=round(live_seconds, 3),
        total_seconds=round(time.perf_counter() - t_start, 3),
        device=fitted.device,
        windows_per_s=round(windows_per_s, 1),
        gflops_per_s=round(gflops, 2),
        interrupted=manifest.interrupted,
        note=manifest.note or "",
        start_drift=manifest.series_of(sym).start_drift,
        start=naivestart.describe(manifest.series_of(sym).start_drift),
        ensemble=len(fits),
        members=manifest.members,
        workers=fitted.workers,
        ensemble_seconds_ratio=round(fitted.seconds_ratio, 3),
        live=manifest.live,
        evaluation=evaluation.EvaluateResult(sym, model_id, report),
    )


def start_drift(fitted: Fitted) -> list[float]:
    """(H,) the drift share of the members' naive start at each horizon (the manifest's
    ``series.<SYM>.start_drift``)."""
    shares = fitted.start_drift
    if shares is None:
        return naivestart.legacy(fitted.dataset.config.horizon)
    return [float(v) for v in shares]


def ensemble_val_loss(fitted: Fitted) -> float:
    """The training loss of the (averaged) model on the scaled validation targets."""
    if len(fitted.fits) == 1:
        return fitted.fits[0].best_val_loss
    cfg, ts = fitted.cfg or TrainConfig(), fitted.dataset.target_scaler
    pred, y = ts.forward(fitted.val.mu), ts.forward(fitted.val.y)  # (Nv, H) scaled
    loss = make_loss(cfg.loss, cfg.huber_delta)
    return float(
        loss(torch.as_tensor(pred, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32))
    )


def notes(fitted: Fitted, interrupted: bool, live: bool,
          start: str | None = None) -> str:  # fmt: skip
    """The manifest's ``note``: what a reader of the model must know, in words; ``start``: the
    naive start in words (default: ``fitted.start_drift`` described)."""
    out = []
    if start is None:
        start = naivestart.describe(start_drift(fitted))
    zero = [f.seed for f in fitted.fits if f.best_epoch == 0]
    if len(zero) == len(fitted.fits):
        out.append(NAIVE_START_NOTE.format(start=start))
    elif zero:
        out.append(
            f"{len(zero)} of {len(fitted.fits)} members (seeds {', '.join(map(str, zero))}) did "
            f"not beat the untrained model; they forecast the naive start ({start})"
        )
    if interrupted:
        out.append("training was interrupted (Ctrl-C); best epoch so far")
        if not live:
            out.append("no live refit on all data: predict uses these evaluated weights")
    return "; ".join(out)


def _manifest(sym: str, fitted: Fitted, report: evaluation.EvaluationReport, live: bool,
              interrupted: bool) -> Manifest:  # fmt: skip
    """Everything `evaluate` and `predict` need to rebuild the model's view (see modelstore,
    which adds the name and id)."""
    ds, fits = fitted.dataset, fitted.fits
    data: DataConfig = ds.config
    cfg = fitted.cfg or TrainConfig()
    split = ds.split_summary()
    data_end = ds.dates[-1].date().isoformat()
    last_as_of = all_stored_rows(ds).stop - 1 + data.lookback - 1
    series = Series.from_json(
        sym,
        {
            "scalers": {
                "features": ds.feature_scaler.to_dict(),
                "targets": ds.target_scaler.to_dict(),
            },
            "split": split,
            "start_drift": start_drift(fitted),  # (H,) 0: persistence .. 1: drift
            # the last date whose price shaped the weights predict uses: the live ones saw
            # every stored session; the evaluated ones the validation targets (early stopping)
            "trained_through": data_end if live else split["val"]["target_end"],
            "evaluated_trained_through": split["val"]["target_end"],
            "data_end": data_end,
        },
        data.horizon,
        report.to_dict(),
    )
    live_block = Live(
        trained_through=data_end,
        as_of_end=ds.dates[last_as_of].date().isoformat(),
        windows=all_stored_rows(ds).stop,
        epochs=tuple(f.best_epoch for f in fits),
        calibration="test-split predictions of the evaluated model",
        calibration_start=split["test"].get("start"),
        calibration_end=split["test"].get("end"),
    )
    return Manifest(
        created=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        data=replace(data, features=tuple(data.features)),
        arch=models.arch_of(fitted.model_cfg),
        model_config=fitted.model_cfg.to_dict(),
        train_config=cfg.to_dict(),
        series=(series,),
        training=Training(
            best_val_loss=ensemble_val_loss(fitted),
            initial_val_loss=min(f.initial_val_loss for f in fits),
            epochs=max(f.epochs for f in fits),
            best_epoch=max(f.best_epoch for f in fits),  # 0: every member is persistence
            seed=cfg.seed,
            device=fitted.device,
            seconds=round(fitted.seconds, 3),
            cpu_seconds=round(fitted.cpu_seconds, 3),
            windows_per_s=round(sum(f.windows_per_s for f in fits), 1),
        ),
        members=members_of(fits),
        interrupted=interrupted,
        note=notes(fitted, interrupted, live),
        scale=scale_entry(fitted.scale),
        live=live_block if live else None,
        versions=versions(),
    )


def versions() -> dict[str, str]:
    """The library versions a saved model records (its manifest's ``versions``)."""
    return {
        "stockcast": stockcast.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }

"""One network over the windows of many symbols (`train SYM... --global`), saved as one model.

The symbols are packed by ``prep.dataset.build_multi``: each series scaled by statistics of its
own training part, and all of them split at the same calendar dates (``common_split``), so no
series' validation or test period is inside another series' training period. The windows are
gathered by index at batch time (``loop.Gathered``) through the same ``fit`` loop, optionally
sharded over torchrun ranks (``loop.Shard``). Each symbol is then evaluated exactly as
``evaluate --model NAME`` will: its dataset rebuilt from the manifest's per-symbol scalers and
split; the pooled and cross-sectional figures over all of them (``forecasting.crosssection``)
are stored in the manifest as ``pooled`` and ``cross_section``. A global model has one member
and no live refit (predict uses its evaluated weights).
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import stockcast
from stockcast import models
from stockcast.data.paths import normalize_symbol
from stockcast.data.store import PriceStore
from stockcast.device import describe, resolve_device, threads_for
from stockcast.errors import UsageError
from stockcast.forecasting import evaluation
from stockcast.models import store as modelstore
from stockcast.prep import features
from stockcast.prep.dataset import MultiDataset, build_multi
from stockcast.prep.windows import DataConfig, fraction_bounds
from stockcast.training import job
from stockcast.training.loop import Callback, FitResult, Gathered, Shard, TrainConfig, fit
from stockcast.training.recipe import START_DRIFT, Fitted, combine, initial_member

GLOBAL_NAME = "global"  # the default name of a global model
GLOBAL_NOTE = "a global model: one network over all its symbols, no live refit"


def common_split(prices: dict[str, pd.DataFrame], data: DataConfig) -> tuple[str, str]:
    """(validation start, test start) as ISO dates: the fraction split (or ``test_start``) of
    the union of every series' sessions after feature warm-up."""
    warm = features.warmup(data.features)
    union = pd.DatetimeIndex(sorted(set().union(*(set(p.index[warm:]) for p in prices.values()))))
    if len(union) == 0:
        raise UsageError("the symbols have no sessions after feature warm-up; fetch more history")
    if data.test_start is not None:
        b2 = int(union.searchsorted(pd.Timestamp(data.test_start)))
        b1 = b2 - int(np.floor(round(data.val_frac * len(union), 9)))
    else:
        b1, b2 = fraction_bounds(len(union), data.val_frac, data.test_frac)
    b1, b2 = max(0, b1), min(len(union) - 1, b2)
    return union[b1].date().isoformat(), union[b2].date().isoformat()


def train_global(
    root: Path,
    name: str,
    symbols: list[str],
    data: DataConfig,
    model_cfg: Any,
    cfg: TrainConfig,
    device: str = "auto",
    callback: Callback | None = None,
    shard: Shard | None = None,
) -> dict | None:
    """Train, evaluate per symbol and save one model over ``symbols``; the `train --json`
    object (None on ranks other than 0 of a torchrun launch, which write nothing).

    KeyboardInterrupt when Ctrl-C came before epoch 1 finished; ``TrainingError`` (nothing
    saved) on a non-finite loss; DataError when a symbol is too short for the common split.
    """
    t_start = time.perf_counter()
    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    store = PriceStore(root)
    prices = {s: store.read(s) for s in syms}
    for sym, frame in prices.items():
        features.require_inputs(frame, data.features, sym, "the chosen features include")
    split_dates = common_split(prices, data)
    ds = build_multi(prices, dataclasses.replace(data, test_start=None), split_dates)
    member = dataclasses.replace(cfg, ensemble=1)
    # the naive start (recipe.naive_start) of each series, whose scaled drift is about 0
    start = -(1.0 - START_DRIFT) * ds.target_mean / ds.target_std  # (S, H)
    net = initial_member(model_cfg, member, np.mean(start, axis=0))
    dev = resolve_device(device)
    train, val = Gathered(ds.gather, ds.index("train")), Gathered(ds.gather, ds.index("val"))
    with threads_for(dev):
        result = fit(net, train, val, member, dev, callback, shard)
        trained_on = describe(dev)
    if result.state is None:
        raise KeyboardInterrupt
    if shard is not None and shard.rank != 0:
        return None
    model = combine([net])
    manifest = _manifest(ds, data, model_cfg, member, result, trained_on, split_dates)
    # exactly what `evaluate --model NAME` computes, per symbol and across them
    members = {sym: evaluation.evaluate_member(model, sym, prices[sym], manifest) for sym in syms}
    calib = {s: {"y": m.val.y, "mu": m.val.mu, "vol": m.val.vol} for s, m in members.items()}
    reports = {sym: m.report for sym, m in members.items()}
    manifest["series_metrics"] = reports  # per symbol: the `evaluate --json` report
    across = evaluation.cross_sectional(members)
    manifest.update(across)  # `pooled` and `cross_section`, as `evaluate --model NAME` prints
    model_id, path = modelstore.save_model(root, name, manifest, model.state_dict(), calib)
    world = 1 if shard is None else shard.world
    return {
        "name": normalize_symbol(name),
        "model": model_id,
        "path": str(path),
        "symbols": syms,
        "processes": world,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "val_loss": result.best_val_loss,
        "initial_val_loss": result.initial_val_loss,
        "train_windows": len(train),
        "val_windows": len(val),
        "test_windows": len(ds.index("test")),
        "split": {
            "val_start": manifest["split_dates"][0],
            "test_start": manifest["split_dates"][1],
        },
        "seconds": round(result.seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "device": trained_on,
        "windows_per_s": round(result.windows_per_s * world, 1),
        "interrupted": result.interrupted,
        "note": manifest["note"],
        "evaluation": {sym: {"ticker": sym, "model": model_id, **r} for sym, r in reports.items()},
        **across,
    }


def _manifest(ds: MultiDataset, data: DataConfig, model_cfg: Any, cfg: TrainConfig,
              result: FitResult, device: str, split_dates: tuple[str, str]) -> dict:  # fmt: skip
    """The per-symbol series blocks and the recipe (``job._manifest``'s keys for one member)."""
    fitted = Fitted(model=None, dataset=None, val=None, fits=[result], seconds=result.seconds,  # type: ignore[arg-type]
                    device=device, model_cfg=model_cfg, cfg=cfg)  # fmt: skip
    series = {}
    for s in ds.series:
        split = ds.split_summary(s.symbol)
        series[s.symbol] = {
            "scalers": {
                "features": s.feature_scaler.to_dict(),
                "targets": s.target_scaler.to_dict(),
            },
            "split": split,
            "trained_through": split["val"]["target_end"],
            "evaluated_trained_through": split["val"]["target_end"],
            "data_end": s.dates[-1].date().isoformat(),
        }
    note = job.notes(fitted, result.interrupted, live=False)
    return {
        "created": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "kind": "global",
        "format_version": modelstore.FORMAT_VERSION,  # series_view reads it before saving
        "features": list(data.features),
        "lookback": data.lookback,
        "horizon": data.horizon,
        "data_config": {**dataclasses.asdict(data), "features": list(data.features)},
        "arch": models.arch_of(model_cfg),
        "model_config": model_cfg.to_dict(),
        "train_config": cfg.to_dict(),
        "split_dates": list(split_dates),  # every series splits at these sessions
        "series": series,
        "best_val_loss": result.best_val_loss,
        "initial_val_loss": result.initial_val_loss,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "ensemble": 1,
        "members": [
            {
                "seed": result.seed,
                "best_epoch": result.best_epoch,
                "best_val_loss": result.best_val_loss,
                "initial_val_loss": result.initial_val_loss,
                "epochs": result.epochs,
                "interrupted": result.interrupted,
            }
        ],
        "interrupted": result.interrupted,
        "note": "; ".join(n for n in (GLOBAL_NOTE, note) if n),
        "live": None,
        "seed": cfg.seed,
        "device": device,
        "seconds": round(result.seconds, 3),
        "windows_per_s": round(result.windows_per_s, 1),
        "versions": {
            "stockcast": stockcast.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        },
    }

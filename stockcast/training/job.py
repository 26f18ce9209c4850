"""Train one symbol end to end: options -> configs, read and check prices, fit, evaluate, save.

The loop itself lives in ``training``; this module wires it to the store, the evaluation and
the model store, and returns the `train --json` object.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from typing import Any

import numpy as np
import torch

from stockcast import models, options
from stockcast.errors import UsageError
from stockcast.prep.windows import DataConfig
from stockcast.training.loop import Callback, FitResult, TrainConfig, build_model, fit


def configs_from_options(given: dict) -> tuple[DataConfig, Any, TrainConfig, str]:
    """Flat `train` options (CLI flags, stockcast.toml [train]) -> data config, the ``Config``
    of the chosen architecture (``arch``, default lstm), train config and device spec.

    Keys left out or None take the defaults; an unknown key, a bad value (``options.check``),
    an unknown feature or architecture is a UsageError.
    """
    from stockcast.prep import features

    opts = options.check(given)
    if "features" in opts:
        opts["features"] = features.parse_names(opts["features"])
    data, model, train, run = options.split(opts)
    chosen = {k: opts[k] for k in opts.keys() & {f.name for f in fields(model)} - {"arch"}}
    return data, model_config(model.arch, data, chosen), train, run.device


def model_config(arch: str, data: DataConfig, chosen: dict) -> Any:
    """The ``Config`` of architecture ``arch`` for ``data``'s features and horizon, with the
    model options the user chose (``hidden``, ...; the others keep the architecture's defaults).
    """
    config_cls, _ = models.lookup(arch)
    accepted = {f.name for f in fields(config_cls)}
    for key in sorted(set(chosen) - accepted):
        raise UsageError(f"--{key} does not apply to architecture {arch}; leave it out")
    return config_cls(n_features=len(data.features), horizon=data.horizon, **chosen)


def train_symbol(
    root,
    symbol: str,
    data: DataConfig,
    model_cfg: Any,
    cfg: TrainConfig,
    device: str = "auto",
    callback: Callback | None = None,
) -> dict:
    """Read prices, train, evaluate on the test split, save; returns the `train --json` object.

    ``model_cfg`` is the ``Config`` of a registered architecture: it picks the model.

    Raises KeyboardInterrupt when Ctrl-C came before any epoch finished (nothing is saved);
    after that, the best model so far is saved with ``interrupted: true``.
    """
    from stockcast.data.paths import normalize_symbol
    from stockcast.data.store import PriceStore
    from stockcast.device import describe, resolve_device, threads_for
    from stockcast.forecasting import evaluation
    from stockcast.models import store as modelstore
    from stockcast.prep import features
    from stockcast.prep.windows import build_dataset

    sym = normalize_symbol(symbol)
    dev = resolve_device(device)
    t_start = time.perf_counter()
    prices = PriceStore(root).read(sym)
    # predict would refuse a model whose feature reads an absent column: refuse it first
    features.require_inputs(prices, data.features, sym, "the chosen features include")
    ds = build_dataset(sym, prices, data)
    model = build_model(model_cfg, cfg.seed)
    # start at persistence: the scaled output of a zero log return
    model.init_output_bias(-ds.target_scaler.mean / ds.target_scaler.std)
    with threads_for(dev):  # the caller's thread count comes back afterwards
        res = fit(model, ds.arrays("train"), ds.arrays("val"), cfg, dev, callback)
        trained_on = describe(dev)  # e.g. "cpu (1 thread)": what training used
    if res.state is None:
        raise KeyboardInterrupt
    model.to("cpu")
    val = evaluation.part_predictions(model, ds, "val")
    report = evaluation.evaluate_dataset(model, ds, val=val)
    manifest = _manifest(sym, ds, model_cfg, cfg, res, report, trained_on)
    calib = {sym: {"y": val.y, "mu": val.mu, "vol": val.vol}}
    model_id, path = modelstore.save_model(root, sym, manifest, res.state, calib)
    gflops = res.windows_per_s * model.flops_per_window(data.lookback) / 1e9
    return {
        "ticker": sym,
        "model": model_id,
        "path": str(path),
        "epochs": res.epochs,
        "best_epoch": res.best_epoch,
        "val_loss": res.best_val_loss,
        "train_windows": len(ds.parts["train"]),
        "val_windows": len(ds.parts["val"]),
        "test_windows": len(ds.parts["test"]),
        "seconds": round(res.seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "device": trained_on,
        "windows_per_s": round(res.windows_per_s, 1),
        "gflops_per_s": round(gflops, 2),
        "interrupted": res.interrupted,
        "evaluation": {"ticker": sym, "model": model_id, **report},
    }


def _manifest(sym: str, ds, model_cfg: Any, cfg: TrainConfig, res: FitResult, report: dict,
              device: str) -> dict:  # fmt: skip
    """Everything `evaluate` and `predict` need to rebuild the model's view (see modelstore,
    which adds the name, symbols and id)."""
    import platform

    import pandas as pd

    import stockcast

    data: DataConfig = ds.config
    split = ds.split_summary()
    return {
        "created": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "features": list(data.features),
        "lookback": data.lookback,
        "horizon": data.horizon,
        "data_config": {**asdict(data), "features": list(data.features)},
        "arch": models.arch_of(model_cfg),
        "model_config": model_cfg.to_dict(),
        "train_config": cfg.to_dict(),
        "series": {
            sym: {
                "scalers": {
                    "features": ds.feature_scaler.to_dict(),
                    "targets": ds.target_scaler.to_dict(),
                },
                "split": split,
                # the last date whose price shaped the weights (early stopping reads the
                # validation targets)
                "trained_through": split["val"]["target_end"],
                "data_end": ds.dates[-1].date().isoformat(),
            }
        },
        "best_val_loss": res.best_val_loss,
        "epochs": res.epochs,
        "best_epoch": res.best_epoch,
        "interrupted": res.interrupted,
        "note": "training was interrupted (Ctrl-C); best epoch so far" if res.interrupted else "",
        "seed": cfg.seed,
        "device": device,
        "seconds": round(res.seconds, 3),
        "windows_per_s": round(res.windows_per_s, 1),
        "test_metrics": report,
        "versions": {
            "stockcast": stockcast.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        },
    }

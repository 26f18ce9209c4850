"""Train one symbol end to end: options -> configs, read and check prices, fit, evaluate, save.

The loop itself lives in ``training``; this module wires it to the store, the evaluation and
the model store, and returns the `train --json` object.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import torch

from stockcast.errors import UsageError
from stockcast.models.lstm import ModelConfig
from stockcast.prep.windows import DataConfig
from stockcast.training.loop import Callback, FitResult, TrainConfig, build_model, fit

MODEL_KEYS = {"hidden", "layers", "dropout"}
DATA_KEYS = {"features", "lookback", "horizon", "val_frac", "test_frac", "test_start"}
TRAIN_KEYS = {"epochs", "batch_size", "lr", "weight_decay", "loss", "patience", "seed"}


def configs_from_options(options: dict) -> tuple[DataConfig, ModelConfig, TrainConfig, str]:
    """Flat `train` options (CLI flags, stockcast.toml [train]) -> configs and device spec.

    Keys left out or None take the defaults; an unknown key is a UsageError.
    """
    from stockcast.prep import features

    opts = {k: v for k, v in options.items() if v is not None}
    unknown = set(opts) - MODEL_KEYS - DATA_KEYS - TRAIN_KEYS - {"device"}
    if unknown:
        raise UsageError(f"unknown training option {', '.join(sorted(unknown))}")
    data = {k: opts[k] for k in DATA_KEYS & set(opts)}
    if "features" in data:
        data["features"] = features.parse_names(data["features"])
    dcfg = DataConfig(**data)
    mcfg = ModelConfig(
        n_features=len(dcfg.features),
        horizon=dcfg.horizon,
        **{k: opts[k] for k in MODEL_KEYS & set(opts)},
    )
    tcfg = TrainConfig(**{k: opts[k] for k in TRAIN_KEYS & set(opts)})
    _check_ranges(dcfg, mcfg, tcfg)
    return dcfg, mcfg, tcfg, str(opts.get("device", "auto"))


def _check_ranges(d: DataConfig, m: ModelConfig, t: TrainConfig) -> None:
    rules = [
        (d.lookback >= 2, "--lookback must be at least 2"),
        (d.horizon >= 1, "--horizon must be at least 1"),
        (m.hidden >= 1 and m.layers >= 1, "--hidden and --layers must be at least 1"),
        (0.0 <= m.dropout < 1.0, "--dropout must be in [0, 1)"),
        (t.epochs >= 1 and t.batch_size >= 1, "--epochs and --batch-size must be at least 1"),
        (t.lr > 0 and t.weight_decay >= 0, "--lr must be positive, weight decay not negative"),
        (t.patience >= 1, "--patience must be at least 1"),
        (t.loss in ("huber", "l1"), f"unknown loss {t.loss!r}; use huber or l1"),
    ]
    for ok, message in rules:
        if not ok:
            raise UsageError(message)


def train_symbol(
    root,
    symbol: str,
    data: DataConfig,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    device: str = "auto",
    callback: Callback | None = None,
) -> dict:
    """Read prices, train, evaluate on the test split, save; returns the `train --json` object.

    Raises KeyboardInterrupt when Ctrl-C came before any epoch finished (nothing is saved);
    after that, the best model so far is saved with ``interrupted: true``.
    """
    from stockcast.data.paths import normalize_symbol
    from stockcast.data.store import PriceStore
    from stockcast.device import configure_threads, describe, resolve_device
    from stockcast.forecasting import evaluation
    from stockcast.models import store as modelstore
    from stockcast.models.lstm import flops_per_window
    from stockcast.prep import features
    from stockcast.prep.windows import build_dataset

    sym = normalize_symbol(symbol)
    dev = resolve_device(device)
    configure_threads(dev)
    t_start = time.perf_counter()
    prices = PriceStore(root).read(sym)
    # predict would refuse a model whose feature reads an absent column: refuse it first
    features.require_inputs(prices, data.features, sym, "the chosen features include")
    ds = build_dataset(sym, prices, data)
    model = build_model(model_cfg, cfg.seed)
    with torch.no_grad():  # start at persistence: scaled output = a zero log return
        bias = -ds.target_scaler.mean / ds.target_scaler.std
        model.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    res = fit(model, ds.arrays("train"), ds.arrays("val"), cfg, dev, callback)
    if res.state is None:
        raise KeyboardInterrupt
    model.to("cpu")
    val = evaluation.part_predictions(model, ds, "val")
    report = evaluation.evaluate_dataset(model, ds, val=val)
    manifest = _manifest(ds, model_cfg, cfg, res, report, describe(dev))
    calib = {"y": val.y, "mu": val.mu, "vol": val.vol}
    model_id, path = modelstore.save_model(root, sym, manifest, res.state, calib)
    gflops = res.windows_per_s * flops_per_window(model_cfg, data.lookback) / 1e9
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
        "device": describe(dev),
        "windows_per_s": round(res.windows_per_s, 1),
        "gflops_per_s": round(gflops, 2),
        "interrupted": res.interrupted,
        "evaluation": {"ticker": sym, "model": model_id, **report},
    }


def _manifest(ds, model_cfg: ModelConfig, cfg: TrainConfig, res: FitResult, report: dict,
              device: str) -> dict:  # fmt: skip
    """Everything `evaluate` and `predict` need to rebuild the model's view (see modelstore)."""
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
        "model_config": model_cfg.to_dict(),
        "train_config": cfg.to_dict(),
        "scalers": {
            "features": ds.feature_scaler.to_dict(),
            "targets": ds.target_scaler.to_dict(),
        },
        "split": split,
        # the last date whose price shaped the weights: early stopping reads validation targets
        "trained_through": split["val"]["target_end"],
        "data_end": ds.dates[-1].date().isoformat(),
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

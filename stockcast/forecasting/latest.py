"""A saved model's view of a symbol's prices, and its newest window: what `predict` feeds it.

The view is rebuilt from the manifest alone (features, lookback, horizon, and the symbol's
scaler statistics, read through ``Manifest.series_of``), never from the options that
`train` was given. Torch-free, so that `predict` can run a numpy forward
(``models/numpy_infer.py``) without importing torch; ``evaluation`` builds on the same pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockcast.errors import ModelError
from stockcast.models.manifest import Manifest, Stats
from stockcast.prep import features
from stockcast.prep.windows import DataConfig, Scaler, make_windows, prepare


def data_config(manifest: Manifest) -> DataConfig:
    return manifest.data


def scalers(manifest: Manifest, symbol: str) -> tuple[Scaler, Scaler]:
    """(feature scaler, target scaler) of ``symbol`` in the model."""
    s = manifest.series_of(symbol)
    if s.features is None or s.targets is None:
        raise ModelError(f"model {manifest.id} has no scalers for {s.symbol}; run "
                         f"`stockcast train {s.symbol}` to replace it")  # fmt: skip
    return _scaler(s.features), _scaler(s.targets)


def _scaler(stats: Stats) -> Scaler:
    return Scaler(mean=np.asarray(stats.mean, float), std=np.asarray(stats.std, float))


@dataclass(frozen=True)
class LatestWindow:
    """The window ending at the last stored session, with its as-of context."""

    x: np.ndarray  # (1, L, F) float32 scaled features; the model maps it to (1, H) scaled outputs
    as_of: pd.Timestamp  # the last stored session (the window's last row)
    last_close: float  # adjusted close at as_of
    vol: float  # EWMA std of daily log returns at as_of
    target_scaler: Scaler  # scaled outputs -> log returns

    def log_returns(self, scaled: np.ndarray) -> np.ndarray:
        """(1, H) scaled outputs of ``x`` -> (H,) predicted log returns."""
        return self.target_scaler.inverse(scaled)[0]


def latest_window(symbol: str, prices: pd.DataFrame, manifest: Manifest) -> LatestWindow:
    """The model's newest input window of ``symbol``; ModelError when the history is short."""
    cfg = data_config(manifest)
    dates, rows, close, vol, _ = prepare(symbol, prices, cfg)
    if len(dates) < cfg.lookback:
        need = cfg.lookback + features.warmup(cfg.features)
        raise ModelError(f"{symbol} has {len(prices)} sessions; this model needs {need}")
    fs, ts = scalers(manifest, symbol)
    x = make_windows(fs.forward(rows[-cfg.lookback :]), cfg.lookback)  # -> (1, L, F)
    return LatestWindow(x, dates[-1], float(close[-1]), float(vol[-1]), ts)

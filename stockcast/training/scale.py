"""The scale network's likelihood: how far the next h sessions can move, learned per window.

A scale member is a registered architecture (the recipe's own ``Config``) whose H outputs are
read as ``log m_h``, the log of a multiplier on the EWMA scale ``vol * sqrt(h)``
(``models/scale.py``). It trains on the point model's windows with the negative log-likelihood
of the EWMA-standardised move ``y / (vol * sqrt(h))`` (``standardised``) around zero:

    Gaussian:   out + z^2 / 2,                          z = y_std * exp(-out)
    Student-t:  out + (nu + 1) / 2 * log(1 + z^2 / nu), nu = NU

Epoch 0 is a constant multiplier (the head bias at the training root mean square,
``initial_bias``): the EWMA band itself, so early stopping on validation likelihood never keeps
a network worse there than the EWMA scale. Standardising by EWMA leaves the network the part of
the scale that EWMA misses (a range that says more than squared returns, a faster reaction);
the level of volatility, which moves far between decades and which a network of standardised
inputs cannot extrapolate, stays with EWMA. ``std_factor`` turns the learned scale into a
standard deviation. The band itself is split-conformal on validation
(``forecasting.intervals``): the likelihood only ranks the windows by spread; the coverage
guarantee comes from the calibration.

Why Gaussian by default: it estimates the variance, as GARCH and HAR do, while the Student-t
likelihood down-weights the large moves that decide whether a 90% band covers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from stockcast.models.scale import KINDS, NU, ewma_scale, std_factor


class ScaleNLL(nn.Module):
    """Mean negative log-likelihood (without constants) of scaled targets ``y`` (B, H) given
    log scales ``out`` (B, H) around the fixed centre (H,)."""

    def __init__(self, centre: np.ndarray, kind: str = "gaussian") -> None:  # centre (H,): 0
        super().__init__()
        if kind not in KINDS.values():
            raise ValueError(f"kind must be one of {', '.join(KINDS.values())}, got {kind!r}")
        self.kind = kind
        self.register_buffer("centre", torch.as_tensor(np.asarray(centre), dtype=torch.float32))

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c: torch.Tensor = self.get_buffer("centre")
        z = (y - c) * torch.exp(-out)  # (B, H) standardised moves
        if self.kind == "gaussian":
            return (out + 0.5 * z * z).mean()
        return (out + 0.5 * (NU + 1.0) * torch.log1p(z * z / NU)).mean()


def standardised(y: np.ndarray, vol: np.ndarray) -> np.ndarray:
    """(N, H) float32 moves ``y`` (log returns) over the EWMA scale ``vol * sqrt(h)`` (N,)."""
    y = np.asarray(y, float)
    return (y / ewma_scale(vol, y.shape[1])).astype(np.float32)


def initial_bias(y_scaled: np.ndarray, c: np.ndarray, kind: str) -> np.ndarray:
    """(H,) head bias of an untrained scale member: the log of the training part's root mean
    square move around ``c``, as the likelihood's scale (a constant band)."""
    rms = np.sqrt(np.nanmean((np.asarray(y_scaled, float) - c) ** 2, axis=0))
    return np.log(np.maximum(rms, 1e-6)) - math.log(std_factor(kind))

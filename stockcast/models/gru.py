"""The GRU forecaster (registry name ``gru``): architecture and initialisation only."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from stockcast.models.base import copy_bias, fp32_recurrence, init_recurrent


@dataclass(frozen=True)
class Config:
    """Architecture; stored in the manifest and enough to rebuild the module."""

    n_features: int = 4  # F: input columns per session
    horizon: int = 5  # H: outputs, one per horizon 1..H (scaled log returns)
    hidden: int = 64  # GRU hidden units per layer
    layers: int = 1  # stacked GRU layers
    dropout: float = 0.0  # between GRU layers and before the head
    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias

    def to_dict(self) -> dict:
        return asdict(self)


class Model(nn.Module):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    def __init__(self, cfg: Config, init: bool = True) -> None:
        """``init=False`` skips the initialisation, for a module whose weights are loaded next."""
        super().__init__()
        self.cfg = cfg
        self.gru = nn.GRU(
            input_size=cfg.n_features,
            hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.horizon)
        if init:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier input weights, orthogonal recurrent weights per gate, update-gate bias 1 (the
        state is carried at first, like an LSTM's forget gate), and a near-zero head so that the
        untrained model outputs its head bias."""
        init_recurrent(self.gru, gates=3, carry_gate=1)  # update gate bias 1
        nn.init.normal_(self.head.weight, std=self.cfg.head_init_std)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, D hidden units, H horizons
        with fp32_recurrence(x.device):
            out, _ = self.gru(x.float())  # (B, L, F) -> (B, L, D), in fp32 under autocast
        last = out[:, -1, :]  # -> (B, D): state after the as-of session
        return self.head(self.drop(last))  # -> (B, H)

    def init_output_bias(self, bias: np.ndarray | torch.Tensor) -> None:
        """Set the head bias (H,): the untrained output is about ``bias``."""
        copy_bias(self.head, bias)

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass (backward ~ 2x forward)."""
        cfg, fwd, inp = self.cfg, 0.0, self.cfg.n_features
        for _ in range(cfg.layers):
            fwd += lookback * 2 * 3 * cfg.hidden * (inp + cfg.hidden)  # gate matmuls
            fwd += lookback * 8 * cfg.hidden  # gate nonlinearities and state update (rough)
            inp = cfg.hidden
        fwd += 2 * cfg.hidden * cfg.horizon
        return 3.0 * fwd

"""A causal 1-D convolution front end feeding an LSTM (registry name ``cnn-lstm``).

The convolution looks at ``kernel`` consecutive sessions (the current one and the ones before
it, never after: the input is padded on the left only), so each LSTM step sees local patterns of
the last few sessions rather than one session's features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from stockcast.models.base import copy_bias, fp32_recurrence, init_recurrent, lstm_flops


@dataclass(frozen=True)
class Config:
    """Architecture; stored in the manifest and enough to rebuild the module."""

    n_features: int = 4  # F: input columns per session
    horizon: int = 5  # H: outputs, one per horizon 1..H (scaled log returns)
    hidden: int = 64  # LSTM hidden units per layer (D)
    layers: int = 1  # stacked LSTM layers
    dropout: float = 0.0  # between LSTM layers and before the head
    channels: int = 16  # C: convolution output channels
    kernel: int = 5  # K: sessions one convolution output sees (causal)
    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias

    def to_dict(self) -> dict:
        return asdict(self)


class Model(nn.Module):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    def __init__(self, cfg: Config, init: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv1d(cfg.n_features, cfg.channels, cfg.kernel)
        self.lstm = nn.LSTM(cfg.channels, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)  # fmt: skip
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.horizon)
        if init:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """He init for the convolution (GELU follows), the LSTM's own init, a near-zero head."""
        nn.init.kaiming_uniform_(self.conv.weight, nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        init_recurrent(self.lstm, gates=4, carry_gate=1)
        nn.init.normal_(self.head.weight, std=self.cfg.head_init_std)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, C channels, K kernel, D hidden units, H horizons
        z = F.pad(x.transpose(1, 2), (self.cfg.kernel - 1, 0))  # (B, L, F) -> (B, F, K-1+L)
        z = F.gelu(self.conv(z)).transpose(1, 2)  # -> (B, C, L) -> (B, L, C); causal
        with fp32_recurrence(x.device):
            out, _ = self.lstm(z.float())  # -> (B, L, D), in fp32 under autocast
        return self.head(self.drop(out[:, -1, :]))  # (B, D) -> (B, H)

    def init_output_bias(self, bias: np.ndarray | torch.Tensor) -> None:
        """Set the head bias (H,): the untrained output is about ``bias``."""
        copy_bias(self.head, bias)

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass (backward ~ 2x forward)."""
        c = self.cfg
        fwd = float(lookback * 2 * c.n_features * c.kernel * c.channels)  # convolution
        fwd += lstm_flops(c.channels, c.hidden, c.layers, lookback)
        fwd += 2 * c.hidden * c.horizon
        return 3.0 * fwd

"""A causal 1-D convolution front end feeding an LSTM (registry name ``cnn-lstm``).

The convolution looks at ``kernel`` consecutive sessions (the current one and the ones before
it, never after: the input is padded on the left only), so each LSTM step sees local patterns of
the last few sessions rather than one session's features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from stockcast.models import base


@dataclass(frozen=True)
class Config(base.ArchConfig):
    """Architecture; stored in the manifest and enough to rebuild the module (``hidden``: LSTM
    units per layer, D; ``dropout``: between LSTM layers and before the head)."""

    channels: int = 16  # C: convolution output channels
    kernel: int = 5  # K: sessions one convolution output sees (causal)
    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias


class Model(base.HeadModel):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    def __init__(self, cfg: Config, init: bool = True) -> None:
        super().__init__(cfg)
        self.conv = nn.Conv1d(cfg.n_features, cfg.channels, cfg.kernel)
        self.lstm = base.recurrent(nn.LSTM, cfg.channels, cfg)
        self.add_head(cfg.hidden, init)

    def reset_parameters(self) -> None:
        """He init for the convolution (GELU follows), the LSTM's own init, a near-zero head."""
        nn.init.kaiming_uniform_(self.conv.weight, nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        base.init_recurrent(self.lstm, gates=4, carry_gate=1)
        self.reset_head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, C channels, K kernel, D hidden units, H horizons
        z = F.pad(x.transpose(1, 2), (self.cfg.kernel - 1, 0))  # (B, L, F) -> (B, F, K-1+L)
        z = F.gelu(self.conv(z)).transpose(1, 2)  # -> (B, C, L) -> (B, L, C); causal
        out = base.run_recurrent(self.lstm, z)  # -> (B, L, D)
        return self.read_out(out[:, -1, :])  # (B, D) -> (B, H)

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass (backward ~ 2x forward)."""
        c = self.cfg
        fwd = float(lookback * 2 * c.n_features * c.kernel * c.channels)  # convolution
        fwd += base.lstm_flops(c.channels, c.hidden, c.layers, lookback)
        fwd += 2 * c.hidden * c.horizon
        return 3.0 * fwd

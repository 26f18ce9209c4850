"""LSTM with attention pooling (registry name ``lstm-attn``): architecture and initialisation.

Instead of reading only the state after the as-of session, the head reads a weighted mean of
the states after every session of the window, with weights from a learned score (additive
attention, Bahdanau-style: ``score_t = v . tanh(W h_t)``, softmax over the window).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from stockcast.models.base import copy_bias, fp32_recurrence, init_recurrent, lstm_flops


@dataclass(frozen=True)
class Config:
    """Architecture; stored in the manifest and enough to rebuild the module."""

    n_features: int = 4  # F: input columns per session
    horizon: int = 5  # H: outputs, one per horizon 1..H (scaled log returns)
    hidden: int = 64  # LSTM hidden units per layer (D)
    layers: int = 1  # stacked LSTM layers
    dropout: float = 0.0  # between LSTM layers and before the head
    attn: int = 32  # A: units of the attention score's hidden layer
    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias

    def to_dict(self) -> dict:
        return asdict(self)


class Model(nn.Module):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    def __init__(self, cfg: Config, init: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.n_features, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)  # fmt: skip
        self.score_in = nn.Linear(cfg.hidden, cfg.attn)  # W (and its bias)
        self.score_out = nn.Linear(cfg.attn, 1, bias=False)  # v
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.horizon)
        if init:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Recurrent init as the LSTM's; a zero score vector (uniform attention: the mean of the
        states) at first; a near-zero head so that the untrained model outputs its bias."""
        init_recurrent(self.lstm, gates=4, carry_gate=1)
        nn.init.xavier_uniform_(self.score_in.weight)
        nn.init.zeros_(self.score_in.bias)
        nn.init.zeros_(self.score_out.weight)
        nn.init.normal_(self.head.weight, std=self.cfg.head_init_std)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, D hidden units, H horizons
        with fp32_recurrence(x.device):
            out, _ = self.lstm(x.float())  # (B, L, F) -> (B, L, D), in fp32 under autocast
        score = self.score_out(torch.tanh(self.score_in(out))).squeeze(-1)  # -> (B, L)
        weights = torch.softmax(score, dim=1)  # -> (B, L), sums to 1 over the window
        context = torch.einsum("bl,bld->bd", weights, out)  # -> (B, D)
        return self.head(self.drop(context))  # -> (B, H)

    def init_output_bias(self, bias: np.ndarray | torch.Tensor) -> None:
        """Set the head bias (H,): the untrained output is about ``bias``."""
        copy_bias(self.head, bias)

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass (backward ~ 2x forward)."""
        c = self.cfg
        fwd = lstm_flops(c.n_features, c.hidden, c.layers, lookback)
        fwd += lookback * (2 * c.hidden * c.attn + 2 * c.attn + 2 * c.hidden)  # scores, pooling
        fwd += 2 * c.hidden * c.horizon
        return 3.0 * fwd

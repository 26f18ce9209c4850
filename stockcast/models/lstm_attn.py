"""LSTM with attention pooling (registry name ``lstm-attn``): architecture and initialisation.

Instead of reading only the state after the as-of session, the head reads a weighted mean of
the states after every session of the window, with weights from a learned score (additive
attention, Bahdanau-style: ``score_t = v . tanh(W h_t)``, softmax over the window).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from stockcast.models import base


@dataclass(frozen=True)
class Config(base.ArchConfig):
    """Architecture; stored in the manifest and enough to rebuild the module (``hidden``: LSTM
    units per layer, D; ``dropout``: between LSTM layers and before the head)."""

    attn: int = 32  # A: units of the attention score's hidden layer
    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias


class Model(base.HeadModel):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    def __init__(self, cfg: Config, init: bool = True) -> None:
        super().__init__(cfg)
        self.lstm = base.recurrent(nn.LSTM, cfg.n_features, cfg)
        self.score_in = nn.Linear(cfg.hidden, cfg.attn)  # W (and its bias)
        self.score_out = nn.Linear(cfg.attn, 1, bias=False)  # v
        self.add_head(cfg.hidden, init)

    def reset_parameters(self) -> None:
        """Recurrent init as the LSTM's; a zero score vector (uniform attention: the mean of the
        states) at first; a near-zero head so that the untrained model outputs its bias."""
        base.init_recurrent(self.lstm, gates=4, carry_gate=1)
        nn.init.xavier_uniform_(self.score_in.weight)
        nn.init.zeros_(self.score_in.bias)
        nn.init.zeros_(self.score_out.weight)
        self.reset_head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, D hidden units, H horizons
        out = base.run_recurrent(self.lstm, x)  # (B, L, F) -> (B, L, D)
        score = self.score_out(torch.tanh(self.score_in(out))).squeeze(-1)  # -> (B, L)
        weights = torch.softmax(score, dim=1)  # -> (B, L), sums to 1 over the window
        context = torch.einsum("bl,bld->bd", weights, out)  # -> (B, D)
        return self.read_out(context)  # -> (B, H)

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass (backward ~ 2x forward)."""
        c = self.cfg
        fwd = base.lstm_flops(c.n_features, c.hidden, c.layers, lookback)
        fwd += lookback * (2 * c.hidden * c.attn + 2 * c.attn + 2 * c.hidden)  # scores, pooling
        fwd += 2 * c.hidden * c.horizon
        return 3.0 * fwd

"""A small Transformer encoder over the lookback window (registry name ``transformer``).

Sessions are projected to ``hidden`` dimensions, given sinusoidal positions counted back from
the as-of session (so a window of any length works), and encoded with causal self-attention:
each session attends to itself and the sessions before it, never after. The head reads the
encoded as-of session, which has attended to the whole window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stockcast.models.base import ArchConfig, HeadModel


@dataclass(frozen=True)
class Config(ArchConfig):
    """Architecture; stored in the manifest and enough to rebuild the module (``hidden``: the
    model width D, divisible by ``heads``; ``layers``: encoder layers; ``dropout``: inside the
    encoder and before the head)."""

    heads: int = 4  # attention heads (D / heads dimensions each)
    ff_mult: int = 2  # feed-forward width as a multiple of D
    causal: bool = True  # each session attends only to itself and earlier ones
    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias


def positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal encodings (L, D) of the distance back from the last session (0 = as-of)."""
    back = torch.arange(length - 1, -1, -1, device=device, dtype=torch.float32)[:, None]  # (L, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(back * freq)
    pe[:, 1::2] = torch.cos(back * freq[: dim // 2])
    return pe


class Model(HeadModel):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    def __init__(self, cfg: Config, init: bool = True) -> None:
        if cfg.hidden % cfg.heads:
            raise ValueError(f"hidden {cfg.hidden} is not divisible by heads {cfg.heads}")
        super().__init__(cfg)
        self.embed = nn.Linear(cfg.n_features, cfg.hidden)
        layer = nn.TransformerEncoderLayer(
            cfg.hidden, cfg.heads, dim_feedforward=cfg.ff_mult * cfg.hidden,
            dropout=cfg.dropout, batch_first=True, norm_first=True, activation="gelu",
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.hidden)
        self.add_head(cfg.hidden, init)

    def reset_parameters(self) -> None:
        """Xavier projections (PyTorch's own init for the encoder), a near-zero head."""
        nn.init.xavier_uniform_(self.embed.weight)
        nn.init.zeros_(self.embed.bias)
        self.reset_head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, D model width, H horizons
        length = x.shape[1]
        z = self.embed(x) + positions(length, self.cfg.hidden, x.device)  # (B, L, F) -> (B, L, D)
        mask = None
        if self.cfg.causal:  # True above the diagonal: a session never sees later ones
            mask = torch.triu(torch.ones(length, length, dtype=torch.bool, device=x.device), 1)
        z = self.encoder(z, mask=mask, is_causal=self.cfg.causal)  # -> (B, L, D)
        last = self.norm(z[:, -1, :])  # -> (B, D): the as-of session, having seen the window
        return self.read_out(last)  # -> (B, H)

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass (backward ~ 2x forward)."""
        c, n = self.cfg, lookback
        fwd = 2 * n * c.n_features * c.hidden  # embedding
        per_layer = 2 * n * 4 * c.hidden * c.hidden  # q, k, v, out projections
        per_layer += 2 * 2 * n * n * c.hidden  # scores and weighted sum (full; causal ~half)
        per_layer += 2 * 2 * n * c.hidden * c.ff_mult * c.hidden  # feed-forward
        fwd += c.layers * per_layer + 2 * c.hidden * c.horizon
        return 3.0 * fwd

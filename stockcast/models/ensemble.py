"""An ensemble: K members of one architecture whose scaled outputs are averaged.

Members share the dataset's scalers, so the mean of their scaled outputs, inverted once, is the
mean of their predicted log returns. Not a registry entry: the store rebuilds it from the
manifest's ``members`` list and the weights ``model.members.<i>.*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn


class Ensemble(nn.Module):
    """Mean of the members' forwards: (B, L, F) -> (B, H)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.cfg: Any = members[0].cfg  # the members' common architecture Config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, H horizons, K members
        outs = torch.stack([m(x) for m in self.members])  # (B, L, F) -> (K, B, H)
        return outs.mean(dim=0)  # -> (B, H)

    def init_output_bias(self, bias: np.ndarray | torch.Tensor) -> None:
        """Set every member's output bias (H,)."""
        for m in self.members:
            cast(Any, m).init_output_bias(bias)

    def flops_per_window(self, lookback: int) -> float:
        """Sum of the members' FLOPs per window (forward and backward)."""
        return float(sum(cast(Any, m).flops_per_window(lookback) for m in self.members))

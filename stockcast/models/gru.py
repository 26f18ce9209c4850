"""The GRU forecaster (registry name ``gru``): an LSTM's shape with a GRU cell
(``base.LastState``: layers, initialisation, forward)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from stockcast.models.base import ArchConfig, LastState


@dataclass(frozen=True)
class Config(ArchConfig):
    """GRU units per layer in ``hidden``, dropout between GRU layers and before the head; stored
    in the manifest and enough to rebuild the module."""

    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias


class Model(LastState):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    cell = nn.GRU  # weights stored as gru.*
    gates = 3  # r, z, n; the update gate's bias starts at 1 (the state is carried at first)
    pointwise = 8  # gate nonlinearities and state update

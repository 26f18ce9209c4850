"""The LSTM forecaster (registry name ``lstm``): the state of a stacked LSTM after the as-of
session, read by a linear head (``base.LastState``: layers, initialisation, forward)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from stockcast.models.base import ArchConfig, LastState


@dataclass(frozen=True)
class Config(ArchConfig):
    """Architecture; stored in the manifest and enough to rebuild the module (``hidden``: LSTM
    units per layer; ``dropout``: between LSTM layers and before the head)."""

    head_init_std: float = 1e-3  # std of the head weights: the untrained model outputs ~its bias


class Model(LastState):
    """Window of scaled features -> scaled log returns for horizons 1..H (direct, all at once)."""

    cell = nn.LSTM  # weights stored as lstm.*
    gates = 4  # i, f, g, o; the forget gate's bias starts at 1
    pointwise = 10  # gate nonlinearities and cell update

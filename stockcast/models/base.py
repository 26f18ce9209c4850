"""What every architecture meets, and the pieces they share.

A model maps a window of scaled features to scaled log returns for horizons 1..H at once:
``forward: (B, L, F) -> (B, H)``. Training sets its output bias to the scaled zero return
(``init_output_bias``) and reports throughput with ``flops_per_window``. ``predict_scaled`` is
the one inference path of evaluation and prediction.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from stockcast.device import amp_context

EVAL_BATCH = 4096  # windows per forward pass when predicting (no gradients kept)


@runtime_checkable
class Forecaster(Protocol):
    """The protocol of a registered ``Model``; ``cfg`` is its architecture's ``Config``."""

    cfg: Any  # frozen dataclass with at least n_features (F) and horizon (H)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, F) scaled features -> (B, H) scaled log returns."""
        ...

    def init_output_bias(self, bias: np.ndarray | torch.Tensor) -> None:
        """Set the output bias (H,), so that the untrained model outputs about ``bias``."""
        ...

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass."""
        ...


@dataclass(frozen=True)
class ArchConfig:
    """The fields every architecture's ``Config`` starts with (a subclass adds its own after
    them, then ``head_init_std``: the manifest stores them in this order)."""

    n_features: int = 4  # F: input columns per session
    horizon: int = 5  # H: outputs, one per horizon 1..H (scaled log returns)
    hidden: int = 64  # D: hidden units (a transformer's width) per layer
    layers: int = 1  # stacked recurrent (or encoder) layers
    dropout: float = 0.0  # between layers and before the head

    def to_dict(self) -> dict:
        return asdict(self)


class HeadModel(nn.Module):
    """A network whose last step reads one (B, D) summary of the window through dropout and a
    linear head (B, D) -> (B, H). A subclass builds its own layers, then calls ``add_head``
    (so the head's parameters come last, as saved models hold them) and defines
    ``reset_parameters``, which ends with ``reset_head``."""

    cfg: Any  # the architecture's Config: dropout, horizon, head_init_std
    drop: nn.Dropout
    head: nn.Linear

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg

    def add_head(self, width: int, init: bool) -> None:
        """Dropout and the head; then the initialisation, unless ``init`` is False (a module
        whose weights are about to be loaded: the orthogonal init costs a few hundred ms)."""
        self.drop = nn.Dropout(self.cfg.dropout)
        self.head = nn.Linear(width, self.cfg.horizon)
        if init:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        raise NotImplementedError

    def reset_head(self) -> None:
        """A near-zero head, so that the untrained model outputs its head bias."""
        nn.init.normal_(self.head.weight, std=self.cfg.head_init_std)
        nn.init.zeros_(self.head.bias)

    def read_out(self, summary: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(summary))  # (B, D) -> (B, H)

    def init_output_bias(self, bias: np.ndarray | torch.Tensor) -> None:
        """Set the head bias (H,): the untrained output is about ``bias``."""
        copy_bias(self.head, bias)


class LastState(HeadModel):
    """A stacked LSTM or GRU (``cell``) whose state after the as-of session feeds the head; the
    layer is stored under the cell's name (``lstm.*`` or ``gru.*`` in the weights file)."""

    cell: ClassVar[type[nn.LSTM] | type[nn.GRU]]
    gates: ClassVar[int]  # gates stacked in the weights: 4 (LSTM i, f, g, o), 3 (GRU r, z, n)
    pointwise: ClassVar[int]  # FLOPs per unit and session besides the gate matmuls (rough)

    def __init__(self, cfg: Any, init: bool = True) -> None:
        super().__init__(cfg)
        self.add_module(self.cell.__name__.lower(), recurrent(self.cell, cfg.n_features, cfg))
        self.add_head(cfg.hidden, init)

    def rnn(self) -> nn.LSTM | nn.GRU:
        layer: nn.LSTM | nn.GRU = getattr(self, self.cell.__name__.lower())
        return layer

    def reset_parameters(self) -> None:
        """Xavier input weights, orthogonal recurrent weights per gate, bias 1 on the gate that
        carries the state (``init_recurrent``), and a near-zero head so that the untrained model
        outputs its head bias."""
        init_recurrent(self.rnn(), gates=self.gates, carry_gate=1)
        self.reset_head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # B batch, L lookback, F features, D hidden units, H horizons
        out = run_recurrent(self.rnn(), x)  # (B, L, F) -> (B, L, D)
        return self.read_out(out[:, -1, :])  # state after the as-of session (B, D) -> (B, H)

    def flops_per_window(self, lookback: int) -> float:
        """Approximate FLOPs of one window's forward and backward pass (backward ~ 2x forward)."""
        c = self.cfg
        fwd = lstm_flops(c.n_features, c.hidden, c.layers, lookback, self.gates, self.pointwise)
        return 3.0 * (fwd + 2 * c.hidden * c.horizon)


def recurrent(kind: type[nn.LSTM] | type[nn.GRU], n_in: int, cfg: Any) -> nn.LSTM | nn.GRU:
    """A stacked batch-first LSTM or GRU of ``cfg.layers`` layers of ``cfg.hidden`` units,
    dropout between layers (none with one layer)."""
    return kind(
        input_size=n_in,
        hidden_size=cfg.hidden,
        num_layers=cfg.layers,
        dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        batch_first=True,
    )


def run_recurrent(rnn: nn.LSTM | nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """The states after every session, (B, L, n_in) -> (B, L, D), in fp32 under autocast."""
    with fp32_recurrence(x.device):
        out, _ = rnn(x.float())
    return out


def fp32_recurrence(device: torch.device) -> contextlib.AbstractContextManager:
    """A region where CUDA autocast is off: cuDNN runs LSTM/GRU in fp16 under autocast whatever
    dtype is asked, and the gradients reaching the recurrent layer are mostly below fp16's normal
    range. Elsewhere a no-op (the only autocast stockcast opens is CUDA's, ``amp_context``)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", enabled=False)
    return contextlib.nullcontext()


def copy_bias(layer: nn.Linear, bias: np.ndarray | torch.Tensor) -> None:
    """Overwrite ``layer.bias`` (shape (H,)) in place, without recording gradients."""
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))


def n_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


@torch.inference_mode()
def predict_scaled(
    model: nn.Module, x: np.ndarray | torch.Tensor, device: torch.device
) -> np.ndarray:
    """Scaled outputs (N, H) as float64 numpy, in batches of EVAL_BATCH."""
    model.eval()
    xt = torch.as_tensor(x)
    outs = []
    for i in range(0, len(xt), EVAL_BATCH):
        with amp_context(device):
            outs.append(model(xt[i : i + EVAL_BATCH].to(device)).float().cpu())  # -> (b, H)
    if not outs:
        cfg: Any = model.cfg  # the architecture's Config
        return np.zeros((0, cfg.horizon))
    return torch.cat(outs).numpy().astype(np.float64)


def init_recurrent(rnn: nn.LSTM | nn.GRU, gates: int, carry_gate: int) -> None:
    """Xavier input weights and orthogonal recurrent weights per gate, zero biases but 1 on the
    gate that carries the state (an LSTM's forget gate, index 1 of i, f, g, o; a GRU's update
    gate, index 1 of r, z, n), so that the untrained network remembers rather than forgets."""
    hid = rnn.hidden_size
    for name, p in rnn.named_parameters():
        if name.startswith("weight_ih"):
            for g in range(gates):  # gates stacked along dim 0
                nn.init.xavier_uniform_(p.data[g * hid : (g + 1) * hid])
        elif name.startswith("weight_hh"):
            for g in range(gates):
                nn.init.orthogonal_(p.data[g * hid : (g + 1) * hid])
        elif name.startswith("bias_ih"):
            p.data.zero_()
            p.data[carry_gate * hid : (carry_gate + 1) * hid] = 1.0
        elif name.startswith("bias_hh"):
            p.data.zero_()


def lstm_flops(
    n_in: int, hidden: int, layers: int, lookback: int, gates: int = 4, pointwise: int = 10
) -> float:
    """Forward FLOPs of a stacked LSTM over ``lookback`` steps (gate matmuls plus pointwise);
    a GRU has ``gates=3, pointwise=8``."""
    fwd = 0.0
    for _ in range(layers):
        fwd += lookback * (2 * gates * hidden * (n_in + hidden) + pointwise * hidden)
        n_in = hidden
    return fwd

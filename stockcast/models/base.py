"""What every architecture meets, and the pieces they share.

A model maps a window of scaled features to scaled log returns for horizons 1..H at once:
``forward: (B, L, F) -> (B, H)``. Training sets its output bias to the scaled zero return
(``init_output_bias``) and reports throughput with ``flops_per_window``. ``predict_scaled`` is
the one inference path of evaluation and prediction.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, runtime_checkable

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


def lstm_flops(n_in: int, hidden: int, layers: int, lookback: int) -> float:
    """Forward FLOPs of a stacked LSTM over ``lookback`` steps (gate matmuls plus pointwise)."""
    fwd = 0.0
    for _ in range(layers):
        fwd += lookback * (2 * 4 * hidden * (n_in + hidden) + 10 * hidden)
        n_in = hidden
    return fwd

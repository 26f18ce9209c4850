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

"""The LSTM forecaster: shapes, initialisation, devices."""

from __future__ import annotations

import pytest
import torch

from stockcast.device import describe, resolve_device, threads_for
from stockcast.errors import UsageError
from stockcast.models.base import n_parameters
from stockcast.models.lstm import Config as ModelConfig
from stockcast.models.lstm import Model as LSTMForecaster


def test_forward_shape_and_untrained_output_near_the_bias():
    torch.manual_seed(0)
    cfg = ModelConfig(n_features=4, horizon=5, hidden=16, layers=2, dropout=0.1)
    model = LSTMForecaster(cfg).eval()
    x = torch.randn(7, 30, 4)  # (B, L, F)
    out = model(x)
    assert out.shape == (7, 5)
    assert out.abs().max() < 0.05  # head starts near zero: ~persistence after the bias prior


def test_initialisation():
    cfg = ModelConfig(n_features=3, horizon=2, hidden=8)
    model = LSTMForecaster(cfg)
    hid = cfg.hidden
    b = model.lstm.bias_ih_l0.detach() + model.lstm.bias_hh_l0.detach()
    assert torch.all(b[hid : 2 * hid] == 1.0) and torch.all(b[:hid] == 0.0)
    w = model.lstm.weight_hh_l0.detach()
    for g in range(4):
        block = w[g * hid : (g + 1) * hid]
        torch.testing.assert_close(block @ block.T, torch.eye(hid), atol=1e-5, rtol=0)
    assert n_parameters(model) > 0
    assert LSTMForecaster(ModelConfig(hidden=64)).flops_per_window(60) > 1e6


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(UsageError, match="auto, cpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="--device cpu"):
            resolve_device("cuda:0")
    with threads_for(torch.device("cpu"), 1) as n:
        assert n == 1
        assert describe(torch.device("cpu")) == "cpu (1 thread)"

"""The fused CPU LSTM matches nn.LSTM: outputs and every parameter gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stockcast import fastlstm
from stockcast.model import LSTMForecaster, ModelConfig

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-11), torch.float32: dict(rtol=2e-4, atol=2e-5)}


def _grads(out: torch.Tensor, weight: torch.Tensor, inputs: list[torch.Tensor]) -> list:
    return list(torch.autograd.grad((out * weight).sum(), inputs))


def _compare(lstm: nn.LSTM, x: torch.Tensor, last_only: bool, masks=None, reference=None) -> None:
    inputs = [x, *lstm.parameters()]
    if reference is None:
        ref = lstm(x)[0]
        ref = ref[:, -1] if last_only else ref
    else:
        ref = reference
    weight = torch.randn_like(ref)
    expected = _grads(ref, weight, inputs)
    out = fastlstm.lstm_forward(lstm, x, last_only=last_only, masks=masks)
    got = _grads(out, weight, inputs)
    tol = TOL[x.dtype]
    torch.testing.assert_close(out, ref, **tol)
    names = ["x", *(n for n, _ in lstm.named_parameters())]
    for name, g, e in zip(names, got, expected, strict=True):
        torch.testing.assert_close(g, e, **tol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("last_only", [True, False])
def test_matches_nn_lstm(dtype: torch.dtype, layers: int, last_only: bool) -> None:
    torch.manual_seed(layers)
    lstm = nn.LSTM(5, 13, layers, batch_first=True).to(dtype)  # odd sizes
    x = torch.randn(7, 11, 5, dtype=dtype, requires_grad=True)
    _compare(lstm, x, last_only)


def test_matches_on_the_onednn_path() -> None:
    # batches of at least ONEDNN_MIN_ROWS take oneDNN's GEMMs (float32)
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 24, 2, batch_first=True)
    x = torch.randn(fastlstm.ONEDNN_MIN_ROWS + 3, 9, 4, requires_grad=True)
    _compare(lstm, x, last_only=True)


def test_single_step_and_no_input_grad() -> None:
    torch.manual_seed(1)
    lstm = nn.LSTM(3, 6, 2, batch_first=True).double()
    x = torch.randn(4, 1, 3, dtype=torch.float64)  # L = 1, x without grad
    out = fastlstm.lstm_forward(lstm, x, last_only=True)
    torch.testing.assert_close(out, lstm(x)[0][:, -1])
    out.sum().backward()
    assert all(p.grad is not None for p in lstm.parameters())


def test_dropout_masks_match_a_stack_of_single_layers() -> None:
    """Dropout between layers: the same masks applied to a manual stack of nn.LSTMs."""
    torch.manual_seed(2)
    hidden, steps, batch = 6, 8, 5
    lstm = nn.LSTM(4, hidden, 2, batch_first=True, dropout=0.3).double()
    x = torch.randn(batch, steps, 4, dtype=torch.float64, requires_grad=True)
    keep = 0.7
    mask = torch.bernoulli(torch.full((steps, batch, hidden), keep, dtype=torch.float64)) / keep
    lower = nn.LSTM(4, hidden, batch_first=True).double()
    upper = nn.LSTM(hidden, hidden, batch_first=True).double()
    for k, layer in enumerate((lower, upper)):  # share the parameters
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(layer, f"{name}_l0", getattr(lstm, f"{name}_l{k}"))
    mid = lower(x)[0] * mask.transpose(0, 1)  # -> (B, L, H)
    ref = upper(mid)[0][:, -1]
    _compare(lstm, x, last_only=True, masks=[mask], reference=ref)


def test_dropout_zero_equals_eval_forward() -> None:
    torch.manual_seed(3)
    lstm = nn.LSTM(4, 8, 2, batch_first=True, dropout=0.0).double()
    x = torch.randn(6, 10, 4, dtype=torch.float64)
    lstm.train()
    torch.testing.assert_close(fastlstm.lstm_forward(lstm, x), lstm(x)[0], rtol=1e-12, atol=1e-12)


def test_training_dropout_draws_a_mask() -> None:
    torch.manual_seed(4)
    lstm = nn.LSTM(4, 8, 2, batch_first=True, dropout=0.5).train()
    x = torch.randn(6, 10, 4)
    a, b = fastlstm.lstm_forward(lstm, x), fastlstm.lstm_forward(lstm, x)
    assert not torch.equal(a, b)


def test_use_for_only_cpu_training_batches(monkeypatch) -> None:
    monkeypatch.setattr(fastlstm, "ENABLED", True)
    lstm = nn.LSTM(4, 8, batch_first=True)
    big = torch.randn(fastlstm.MIN_BATCH, 5, 4)
    assert fastlstm.use_for(lstm, big)
    assert not fastlstm.use_for(lstm, big[: fastlstm.MIN_BATCH - 1])
    with torch.no_grad():
        assert not fastlstm.use_for(lstm, big)
    assert not fastlstm.use_for(nn.LSTM(4, 8), big)  # not batch_first
    assert not fastlstm.use_for(nn.LSTM(4, 8, batch_first=True, bidirectional=True), big)
    assert not fastlstm.use_for(lstm, big.double())  # dtypes differ
    monkeypatch.setattr(fastlstm, "ENABLED", False)
    assert not fastlstm.use_for(lstm, big)


def test_tune_cpu_allocator_is_idempotent() -> None:
    first = fastlstm.tune_cpu_allocator()
    assert fastlstm.tune_cpu_allocator() == first


def test_forecaster_trains_with_the_kernel_like_with_nn_lstm(monkeypatch) -> None:
    """One optimiser step of the real model: same loss and weights either way (float32)."""
    cfg = ModelConfig(n_features=4, horizon=5, hidden=16, layers=2)
    monkeypatch.setattr(fastlstm, "MIN_BATCH", 8)
    x, y = torch.randn(8, 12, 4), torch.randn(8, 5)
    results = []
    for enabled in (False, True):
        monkeypatch.setattr(fastlstm, "ENABLED", enabled)
        torch.manual_seed(0)
        model = LSTMForecaster(cfg).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        loss = nn.functional.huber_loss(model(x), y)
        loss.backward()
        opt.step()
        results.append((loss.detach(), [p.detach().clone() for p in model.parameters()]))
    (loss_a, params_a), (loss_b, params_b) = results
    torch.testing.assert_close(loss_b, loss_a)
    for a, b in zip(params_a, params_b, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)

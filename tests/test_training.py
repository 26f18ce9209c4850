"""The training loop: learns, is reproducible, stops cleanly on Ctrl-C, validates options."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import synthetic_prices

from stockcast.data.sources.sample import load_sample
from stockcast.data.store import PriceStore
from stockcast.errors import TrainingError, UsageError
from stockcast.models import store as modelstore
from stockcast.models.lstm import Config as ModelConfig
from stockcast.prep.windows import DataConfig, build_dataset
from stockcast.training import loop as training
from stockcast.training.job import Recipe, configs_from_options, fit_recipe, train_symbol
from stockcast.training.loop import TrainConfig, build_model, fit
from stockcast.training.recipe import initial_member, naive_start

CPU = torch.device("cpu")


def tiny_problem(n: int = 256, seed: int = 0):
    """Targets that are a simple function of the window (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12, 2)).astype(np.float32)
    y = np.stack([x[:, -1, 0], x[:, -3:, 1].mean(axis=1)], axis=1).astype(np.float32)
    return (x[: n * 3 // 4], y[: n * 3 // 4]), (x[n * 3 // 4 :], y[n * 3 // 4 :])


def small_model(seed: int = 0):
    return build_model(ModelConfig(n_features=2, horizon=2, hidden=16), seed)


@pytest.mark.slow
def test_a_tiny_series_is_overfit():
    train, val = tiny_problem()
    cfg = TrainConfig(epochs=30, batch_size=32, lr=1e-2, patience=30, weight_decay=0.0)
    seen = []
    res = fit(small_model(), train, val, cfg, CPU, seen.append)
    assert [r.epoch for r in seen] == list(range(1, 31))
    assert seen[-1].train_loss < 0.3 * seen[0].train_loss
    assert res.best_val_loss == min(r.val_loss for r in seen)
    assert res.windows_per_s > 0 and not res.interrupted


@pytest.mark.slow
def test_same_seed_same_weights_and_losses():
    train, val = tiny_problem()
    cfg = TrainConfig(epochs=3, batch_size=32, seed=7)
    a = fit(small_model(7), train, val, cfg, CPU)
    b = fit(small_model(7), train, val, cfg, CPU)
    assert a.best_val_loss == b.best_val_loss
    for k in a.state:
        assert torch.equal(a.state[k], b.state[k]), k
    c = fit(small_model(8), train, val, TrainConfig(epochs=3, batch_size=32, seed=8), CPU)
    assert c.best_val_loss != a.best_val_loss


@pytest.mark.slow
def test_early_stopping_restores_the_best_weights():
    train, val = tiny_problem()
    cfg = TrainConfig(epochs=40, batch_size=16, lr=3e-2, patience=2)
    model = small_model()
    res = fit(model, train, val, cfg, CPU)
    assert res.epochs < 40 and res.epochs - res.best_epoch == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, res.state[k])


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_epoch_so_far():
    train, val = tiny_problem()

    def stop_at_two(report):
        if report.epoch == 2:
            raise KeyboardInterrupt

    res = fit(small_model(), train, val, TrainConfig(epochs=10, batch_size=32), CPU, stop_at_two)
    assert res.interrupted and res.epochs == 2 and res.state is not None


def test_ctrl_c_before_the_first_epoch_keeps_nothing(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_step", interrupted)
    train, val = tiny_problem()
    res = fit(small_model(), train, val, TrainConfig(epochs=3), CPU)
    assert res.interrupted and res.state is None and res.epochs == 0


def test_options_map_to_configs_and_are_checked():
    data, model, cfg, device = configs_from_options(
        {"hidden": 8, "features": "log_return,rsi", "epochs": 2, "lr": None, "device": "cpu"}
    )
    assert model.hidden == 8 and model.n_features == 2 and model.horizon == data.horizon
    assert cfg.epochs == 2 and cfg.lr == TrainConfig().lr and device == "cpu"
    assert data.features == ("log_return", "rsi")
    with pytest.raises(UsageError, match="unknown training option"):
        configs_from_options({"hiden": 8})
    with pytest.raises(UsageError, match="dropout"):
        configs_from_options({"dropout": 1.5})
    with pytest.raises(UsageError, match="huber or l1"):
        configs_from_options({"loss": "mse"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_cuda_path_trains_with_resident_tensors_and_bf16():
    train, val = tiny_problem()
    seen = []
    res = fit(small_model(), train, val, TrainConfig(epochs=3, batch_size=32), torch.device("cuda"),
              seen.append)  # fmt: skip
    assert res.state is not None and all(v.device.type == "cpu" for v in res.state.values())
    assert np.isfinite([r.val_loss for r in seen]).all()
    assert res.windows_per_s > 0


def test_a_diverging_loss_is_a_training_error_naming_the_lr():
    train, val = tiny_problem()
    with pytest.raises(
        TrainingError, match=r"training diverged \(.* at epoch 1\); lower --lr \(now 1e\+30\)"
    ):
        fit(small_model(), train, val, TrainConfig(epochs=3, batch_size=32, lr=1e30), CPU)


@pytest.mark.slow
def test_a_diverging_symbol_saves_nothing(stockcast_home):
    PriceStore(stockcast_home).write("MSFT", load_sample(), source="sample")
    data, model, cfg, _ = configs_from_options(
        {"epochs": 2, "hidden": 8, "lookback": 20, "batch_size": 512, "ensemble": 2}
    )
    with pytest.raises(TrainingError, match="lower --lr"):
        train_symbol(stockcast_home, "MSFT", Recipe(data, model, replace(cfg, lr=1e30)), "cpu")
    assert modelstore.list_models(stockcast_home, "MSFT") == []


@pytest.mark.slow
def test_same_seed_and_k_give_identical_ensembles():
    prices = load_sample().iloc[-1500:]
    data, model, cfg, _ = configs_from_options(
        {"epochs": 2, "hidden": 8, "lookback": 20, "batch_size": 512}
    )
    made = Recipe(data, model, cfg)
    a, b = (fit_recipe("MSFT", prices, made, ensemble=3, device="cpu") for _ in "ab")
    assert len(a.fits) == 3 and [f.seed for f in a.fits] == [0, 1, 2]
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    one = fit_recipe("MSFT", prices, made, ensemble=1, device="cpu")
    for k, v in one.model.state_dict().items():  # member 0 of the ensemble is the K=1 model
        assert torch.equal(v, a.model.members[0].state_dict()[k]), k


def test_the_untrained_model_forecasts_its_naive_start():
    """Epoch 0 (what every member keeps when no epoch beats it on validation) forecasts the
    naive start: ``share[h] * h * m``, m the mean daily log return of the training closes and
    share the drift share of each horizon (0 persistence, 0.5 half the drift, 1 drift)."""
    prices = synthetic_prices(600, seed=3, drift=0.002)
    data = DataConfig(lookback=20, horizon=5, features=("log_return",))
    ds = build_dataset("SYN", prices, data)
    y1 = ds.y[ds.window_slice("train")][:, 0]  # (N,) one-step log returns of training windows
    m = float(np.mean(y1))
    assert m == pytest.approx(0.002, abs=0.002)  # the synthetic drift, roughly
    share = np.array([0.0, 0.5, 1.0, 1.0, 0.5])
    want = share * m * np.arange(1, 6)
    start = naive_start(ds, share)
    net = initial_member(ModelConfig(n_features=1, hidden=8), TrainConfig(seed=0), start)
    x, _ = ds.arrays("test")
    with torch.no_grad():
        out = net.eval()(torch.as_tensor(x[:50])).numpy()  # (50, H) scaled
    got = ds.target_scaler.inverse(out)
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), atol=2e-4)
    # the live refit keeps the shares and takes the drift of every stored window instead
    rows = slice(0, len(ds.x) - 1)
    live = ds.target_scaler.inverse(naive_start(ds, share, rows)[None, :])[0]
    np.testing.assert_allclose(live, share * float(np.mean(ds.y[rows][:, 0])) * np.arange(1, 6))

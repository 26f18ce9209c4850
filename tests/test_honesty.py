"""Tests that catch planted errors: each recomputes what a command reports from the stored
prices and the saved model, by an independent route (numpy windows, own features), so a
leak or an off-by-one in the shared code shows up as a mismatch.

Checked by planting each error and watching the test fail (see each test's docstring).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.sources.sample import load_sample
from stockcast.data.store import PriceStore
from stockcast.forecasting.intervals import evaluate_intervals
from stockcast.models import store as modelstore
from stockcast.models.base import predict_scaled
from stockcast.models.ensemble import Ensemble
from stockcast.models.lstm import Config as LSTMConfig
from stockcast.models.store import load_numpy
from stockcast.prep.features import ewma_volatility
from stockcast.training.loop import TrainConfig, build_model, fit

TINY = ["--epochs", "2", "--hidden", "8", "--lookback", "20", "--batch-size", "512"]
VOLUME_CLIP = 5.0  # as in features.py's log_volume_change
runner = CliRunner()


def cli_json(*args: str) -> dict:
    """The one symbol's object of ``--json`` (an array of one)."""
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    [obj] = json.loads(res.stdout)
    return obj


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """The sample stored and one small 2-member model trained (shared: training is the cost)."""
    home = tmp_path_factory.mktemp("honesty")
    mp = pytest.MonkeyPatch()
    mp.setenv("STOCKCAST_HOME", str(home))
    PriceStore(home).write("MSFT", load_sample(), source="sample")
    out = cli_json("train", "MSFT", *TINY, "--ensemble", "2", "--quiet")
    ev = cli_json("evaluate", "MSFT")
    pred = cli_json("predict", "MSFT")
    mp.undo()
    return {"home": home, "train": out, "evaluate": ev, "predict": pred}


def own_features(prices) -> tuple[np.ndarray, np.ndarray, int]:
    """(rows (n, 4) of the default features after warm-up, adjusted closes (n,), warm-up),
    computed here with numpy from the stored columns."""
    ratio = prices["adj_close"].to_numpy() / prices["close"].to_numpy()
    o, h, lo = (prices[c].to_numpy() * ratio for c in ("open", "high", "low"))
    c = prices["adj_close"].to_numpy(dtype=np.float64)
    logv = np.log1p(np.clip(prices["volume"].to_numpy(dtype=np.float64), 0, None))
    rows = np.stack(
        [
            np.r_[np.nan, np.diff(np.log(c))],
            (h - lo) / c * 100.0,
            (c - o) / o * 100.0,
            np.r_[np.nan, np.clip(np.diff(logv), -VOLUME_CLIP, VOLUME_CLIP)],
        ],
        axis=1,
    )
    return np.nan_to_num(rows[1:], nan=0.0), c[1:], 1


def own_windows(rows: np.ndarray, scalers: dict, asof: np.ndarray, lookback: int) -> np.ndarray:
    """(N, L, F) scaled windows ending at each as-of index."""
    mean, std = np.asarray(scalers["mean"]), np.asarray(scalers["std"])
    z = (rows - mean) / std
    return np.stack([z[t - lookback + 1 : t + 1] for t in asof]).astype(np.float32)


def own_log_returns(model, x: np.ndarray, targets: dict) -> np.ndarray:
    scaled = predict_scaled(model, x, torch.device("cpu"))
    return scaled * np.asarray(targets["std"]) + np.asarray(targets["mean"])


def asof_range(dates, part: dict) -> np.ndarray:
    lo, hi = (int(dates.searchsorted(np.datetime64(part[k]))) for k in ("start", "end"))
    return np.arange(lo, hi + 1)


def loaded(home: Path, weights: str):
    manifest, model, calib = modelstore.load_model(home, "MSFT", weights=weights)
    prices = PriceStore(home).read("MSFT")
    rows, close, warm = own_features(prices)
    saved = manifest.to_json()  # as written: read here independently of the loaders
    return saved, model, calib, prices.index[warm:], rows, close


@pytest.mark.slow
def test_test_mae_equals_an_independent_computation(trained):
    """(e), planted (b): evaluation's model prices from the next close (close[asof + 1])."""
    manifest, model, _, dates, rows, close = loaded(trained["home"], "evaluated")
    s = manifest["series"]["MSFT"]
    asof = asof_range(dates, s["split"]["test"])
    x = own_windows(rows, s["scalers"]["features"], asof, manifest["lookback"])
    mu = own_log_returns(model, x, s["scalers"]["targets"])  # (N, H)
    for h in trained["evaluate"]["horizons"]:
        mae = np.mean(np.abs(close[asof] * np.exp(mu[:, h["h"] - 1]) - close[asof + h["h"]]))
        assert h["mae"] == pytest.approx(mae, rel=1e-6)
    assert trained["train"]["evaluation"]["horizons"][0]["mae"] == pytest.approx(
        trained["evaluate"]["horizons"][0]["mae"], rel=1e-9
    )  # the saved ensemble is the evaluated one: (g) save/load round trip


@pytest.mark.slow
def test_bands_are_calibrated_on_validation(trained):
    """(a), planted: evaluation.interval_report calibrated on the test predictions."""
    manifest, model, calib, dates, rows, close = loaded(trained["home"], "evaluated")
    s, H = manifest["series"]["MSFT"], manifest["horizon"]
    val = asof_range(dates, s["split"]["val"])
    own_y = np.log(close[val[:, None] + np.arange(1, H + 1)] / close[val][:, None])
    np.testing.assert_allclose(calib["y"], own_y, rtol=1e-9)  # validation targets, not test
    test = asof_range(dates, s["split"]["test"])
    x = own_windows(rows, s["scalers"]["features"], test, manifest["lookback"])
    mu = own_log_returns(model, x, s["scalers"]["targets"])
    y = np.log(close[test[:, None] + np.arange(1, H + 1)] / close[test][:, None])
    prices = PriceStore(trained["home"]).read("MSFT")
    v = ewma_volatility(prices["adj_close"]).to_numpy()[1:][test]
    scale_now = v  # the EWMA band, or the scale networks' (N, H) standard deviations
    loaded_scale = load_numpy(trained["home"], "MSFT", manifest["id"], symbol="MSFT").scale
    if loaded_scale is not None:  # the model's own band: the scale networks on these windows
        head, net = loaded_scale
        out = None if net is None else net(x)
        scale_now = head.scales(out, v)
    calib_scale = calib.get("sigma", calib["vol"])
    want = evaluate_intervals((calib["y"], calib["mu"], calib_scale), (y, mu, scale_now,
                                                                       close[test]))  # fmt: skip
    for h, bands in zip(trained["evaluate"]["horizons"], want, strict=True):
        for got, exp in zip(h["intervals"], bands, strict=True):
            assert got["coverage"] == pytest.approx(exp["coverage"])
            assert got["mean_width"] == pytest.approx(exp["mean_width"], rel=1e-6)


@pytest.mark.slow
def test_predict_uses_the_live_weights_on_the_last_window(trained):
    """(c) and (f), planted: the latest window ends one session early; load_model ignores
    weights="live"."""
    manifest, live, _, dates, rows, _ = loaded(trained["home"], "live")
    _, evaluated, _, *_ = loaded(trained["home"], "evaluated")
    s, L = manifest["series"]["MSFT"], manifest["lookback"]
    assert s["trained_through"] == dates[-1].date().isoformat()  # live weights saw it all
    assert manifest["live"]["trained_through"] == s["data_end"] == s["trained_through"]
    assert s["evaluated_trained_through"] == s["split"]["val"]["target_end"]
    last = np.array([len(dates) - 1])
    x = own_windows(rows, s["scalers"]["features"], last, L)
    want = own_log_returns(live, x, s["scalers"]["targets"])[0]
    p = trained["predict"]
    got = [np.log(f["close"] / p["last_close"]) for f in p["forecasts"]]
    np.testing.assert_allclose(got, want[: len(got)], rtol=1e-6, atol=1e-12)
    other = own_log_returns(evaluated, x, s["scalers"]["targets"])[0]
    assert not np.allclose(got, other[: len(got)], rtol=1e-6, atol=1e-12)
    assert trained["predict"]["trained_through"] == dates[-1].date().isoformat()


def adversarial_problem(n: int = 256):
    """Training targets follow the last input; validation targets are their negatives, so
    every epoch of learning makes validation worse than the untrained model."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 12, 2)).astype(np.float32)
    y = np.stack([x[:, -1, 0], x[:, -1, 1]], axis=1).astype(np.float32)
    half = n // 2
    return (x[:half], y[:half]), (x[half:], -y[half:])


def test_the_saved_validation_loss_is_never_above_epoch_zero():
    """(d), planted: fit's initial best left at infinity (epoch 0 not a candidate)."""
    train, val = adversarial_problem()
    model = build_model(LSTMConfig(n_features=2, horizon=2, hidden=16), 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=4, batch_size=32, lr=1e-2, patience=10, weight_decay=0.0)
    seen = []
    res = fit(model, train, val, cfg, torch.device("cpu"), seen.append)
    assert res.best_val_loss <= res.initial_val_loss
    assert all(r.val_loss > res.initial_val_loss for r in seen)  # the problem is adversarial
    assert res.best_epoch == 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # the saved model is the untrained one


def test_an_ensemble_of_one_is_the_member():
    """(g), planted: Ensemble.forward sums instead of averaging."""
    torch.manual_seed(0)
    member = build_model(LSTMConfig(n_features=3, horizon=4, hidden=8), 3)
    x = torch.randn(5, 10, 3)
    with torch.no_grad():
        assert torch.equal(Ensemble([member])(x), member(x))
        pair = Ensemble([member, build_model(LSTMConfig(n_features=3, horizon=4, hidden=8), 4)])
        want = (pair.members[0](x) + pair.members[1](x)) / 2
        torch.testing.assert_close(pair(x), want)

"""Evaluation against stored prices: baselines checked independently, no leakage, rebuilds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import predict_latest

from stockcast.data.sources.sample import load_sample
from stockcast.data.store import PriceStore
from stockcast.errors import ModelError
from stockcast.forecasting import evaluation
from stockcast.models import store as modelstore
from stockcast.training.job import recipe_from_options, train_symbol

TINY = {"epochs": 2, "hidden": 8, "lookback": 20, "batch_size": 512, "device": "cpu"}


def store_sample(root, frame=None, symbol="MSFT"):
    PriceStore(root).write(symbol, load_sample() if frame is None else frame, source="sample")


def train(root, symbol="MSFT", **extra):
    recipe, device = recipe_from_options({**TINY, **extra})
    return train_symbol(root, symbol, recipe, device).to_dict()  # the --json object


@pytest.mark.slow
def test_persistence_mae_matches_the_stored_closes(stockcast_home):
    store_sample(stockcast_home)
    ev = evaluation.evaluate_saved(stockcast_home, "MSFT", train(stockcast_home)["model"]).report
    close = PriceStore(stockcast_home).read("MSFT")["adj_close"]
    asof = close.loc[ev.test.start : ev.test.end]
    assert len(asof) == ev.test.n
    pos = close.index.get_indexer(asof.index)
    for h in ev.horizons:
        later = close.to_numpy()[pos + h["h"]]
        expected = np.mean(np.abs(later - asof.to_numpy()))
        assert h["baselines"]["persistence"]["mae"] == pytest.approx(expected, rel=1e-12)
        assert h["target_end"] == close.index[pos[-1] + h["h"]].date().isoformat()
        # skill on the scale-free errors: |log(forecast / outcome)| in bps
        bps = 1e4 * np.mean(np.abs(np.log(later / asof.to_numpy())))
        assert h["baselines"]["persistence"]["mae_bps"] == pytest.approx(bps, rel=1e-12)
        assert h["skill"] == pytest.approx(1 - h["mae_bps"] / bps)


@pytest.mark.slow
def test_changing_only_test_prices_leaves_val_loss_and_weights_identical(stockcast_home):
    store_sample(stockcast_home)
    a = train(stockcast_home, seed=5)
    split = modelstore.read_manifest(stockcast_home, "MSFT", a["model"]).series_of().split_json()
    frame = load_sample()
    later = frame.index > pd.Timestamp(split["test"]["start"])  # sessions only test targets see
    frame.loc[later, ["open", "high", "low", "close", "adj_close"]] *= 1.5
    frame.loc[later, "volume"] *= 3
    store_sample(stockcast_home, frame)
    b = train(stockcast_home, seed=5)
    assert a["val_loss"] == b["val_loss"]
    ma, wa, ca = modelstore.load_model(stockcast_home, "MSFT", a["model"])
    mb, wb, cb = modelstore.load_model(stockcast_home, "MSFT", b["model"])
    assert ma.series_of().scalers == mb.series_of().scalers
    for k, v in wa.state_dict().items():
        assert torch.equal(v, wb.state_dict()[k]), k
    np.testing.assert_array_equal(ca["mu"], cb["mu"])
    assert a["evaluation"]["horizons"][0]["mae"] != b["evaluation"]["horizons"][0]["mae"]


@pytest.mark.slow
def test_new_sessions_do_not_move_the_test_period(stockcast_home):
    frame = load_sample()
    store_sample(stockcast_home, frame.iloc[:-200])
    res = train(stockcast_home)
    store_sample(stockcast_home, frame)  # 200 sessions arrive after training
    ev = evaluation.evaluate_saved(stockcast_home, "MSFT").to_dict()
    assert ev["test"] == res["evaluation"]["test"]
    assert ev["horizons"] == res["evaluation"]["horizons"]
    manifest, model, calib = modelstore.load_model(stockcast_home, "MSFT")
    latest = predict_latest("MSFT", frame, manifest, model)
    assert latest["as_of"] == frame.index[-1] and latest["log_returns"].shape == (5,)
    assert latest["last_close"] == frame["adj_close"].iloc[-1] and latest["vol"] > 0
    saved = manifest.to_json()
    assert calib["y"].shape == calib["mu"].shape == (saved["split"]["val"]["n"], 5)
    val_end = saved["split"]["val"]["target_end"]
    assert saved["series"]["MSFT"]["evaluated_trained_through"] == val_end
    assert saved["trained_through"] == saved["data_end"]  # the live weights saw it all
    store_sample(stockcast_home, frame.iloc[:-2000])  # history rewritten: test period is gone
    with pytest.raises(ModelError, match="stockcast train MSFT"):
        evaluation.evaluate_saved(stockcast_home, "MSFT")


def _spy_reruns(monkeypatch) -> list[str]:
    """The symbols whose saved weights `evaluate_saved` runs again (torch) instead of scoring
    what `train` kept."""
    calls: list[str] = []
    real = evaluation._run_saved_weights

    def spy(root, name, model_id, sym, ds, shrink):
        calls.append(sym)
        return real(root, name, model_id, sym, ds, shrink)

    monkeypatch.setattr(evaluation, "_run_saved_weights", spy)
    return calls


@pytest.mark.slow
def test_evaluate_scores_what_train_kept_and_running_the_weights_again_agrees(
    stockcast_home, monkeypatch
):
    store_sample(stockcast_home)
    res = train(stockcast_home)
    reruns = _spy_reruns(monkeypatch)
    kept = evaluation.evaluate_saved(stockcast_home, "MSFT").to_dict()
    assert reruns == []  # scored from the model file
    again = evaluation.evaluate_saved(stockcast_home, "MSFT", recompute=True).to_dict()
    assert reruns == ["MSFT"]
    assert kept == again  # the kept predictions are what the weights give
    assert {k: kept[k] for k in res["evaluation"]} == res["evaluation"]
    saved = modelstore.read_scored(stockcast_home, "MSFT", res["model"])
    assert saved.scored is not None and saved.scored["inputs_sha256"].shape == (32,)
    assert saved.scored["garch"].shape == (saved.calib["y"].shape[0] + kept["test"]["n"], 5)


@pytest.mark.slow
def test_revised_prices_make_evaluate_run_the_weights_again_and_new_sessions_do_not(
    stockcast_home, monkeypatch
):
    frame = load_sample()
    store_sample(stockcast_home, frame.iloc[:-100])
    res = train(stockcast_home)
    reruns = _spy_reruns(monkeypatch)
    store_sample(stockcast_home, frame)  # 100 sessions after training: the digest holds
    assert (
        evaluation.evaluate_saved(stockcast_home, "MSFT").to_dict()["horizons"]
        == (res["evaluation"]["horizons"])
    )
    assert reruns == []
    test_start = pd.Timestamp(res["evaluation"]["test"]["start"])
    revised = frame.copy()  # one close inside the test part revised by a data vendor
    day = revised.index[revised.index.get_indexer([test_start])[0] + 10]
    revised.loc[day, ["close", "adj_close"]] *= 1.01
    store_sample(stockcast_home, revised)
    ev = evaluation.evaluate_saved(stockcast_home, "MSFT").to_dict()
    assert reruns == ["MSFT"]  # inputs changed: the saved weights ran on the revised windows
    assert ev == evaluation.evaluate_saved(stockcast_home, "MSFT", recompute=True).to_dict()
    assert ev["horizons"] != res["evaluation"]["horizons"]


@pytest.mark.slow
def test_evaluate_of_a_per_symbol_model_imports_neither_torch_nor_arch(stockcast_home):
    import subprocess
    import sys

    store_sample(stockcast_home)
    train(stockcast_home)
    code = (
        "import sys; from pathlib import Path\n"
        "from stockcast.forecasting.evaluation import evaluate_saved\n"
        f"evaluate_saved(Path({str(stockcast_home)!r}), 'MSFT')\n"
        "print(sorted(m for m in ('torch', 'arch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr

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

"""Saved models: atomic folders, newest by default, manifest round trip, clear failures."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import torch

from stockcast.errors import ModelError
from stockcast.models import store as modelstore
from stockcast.models.lstm import Config as ModelConfig
from stockcast.models.lstm import Model as LSTMForecaster


def save_one(root, symbol="MSFT", seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(n_features=3, horizon=2, hidden=4)
    model = LSTMForecaster(cfg)
    series = {symbol: {"scalers": {}, "split": {}, "trained_through": None, "data_end": None}}
    manifest = {"model_config": cfg.to_dict(), "features": ["a", "b", "c"], "note": "x",
                "series": series}  # fmt: skip
    calib = {symbol: {"y": np.zeros((5, 2)), "mu": np.ones((5, 2)), "vol": np.full(5, 0.01)}}
    model_id, path = modelstore.save_model(root, symbol, manifest, model.state_dict(), calib)
    return model_id, path, model


def test_round_trip(tmp_path):
    model_id, path, model = save_one(tmp_path)
    assert path == tmp_path.resolve() / "models" / "MSFT" / model_id
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "model.safetensors"]
    manifest, loaded, calib = modelstore.load_model(tmp_path, "msft")
    assert manifest["id"] == model_id and manifest["ticker"] == "MSFT"
    assert manifest["format_version"] == modelstore.FORMAT_VERSION
    assert manifest["features"] == ["a", "b", "c"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    np.testing.assert_array_equal(calib["mu"], np.ones((5, 2)))
    assert calib["vol"].shape == (5,)
    assert not loaded.training


def test_newest_is_the_default_and_ids_sort_by_time(tmp_path):
    first, _, _ = save_one(tmp_path, seed=0)
    second, _, _ = save_one(tmp_path, seed=1)  # same second: the id still sorts later
    assert modelstore.list_models(tmp_path, "MSFT") == [first, second]
    assert modelstore.load_model(tmp_path, "MSFT")[0]["id"] == second
    assert modelstore.load_model(tmp_path, "MSFT", first)[0]["id"] == first
    (tmp_path / "models" / "MSFT" / ".tmp-half-written").mkdir()
    assert modelstore.list_models(tmp_path, "MSFT") == [first, second]


def test_new_ids_move_past_a_clock_that_went_back():
    now = dt.datetime(2026, 11, 29, 15, 30, 0, tzinfo=dt.UTC)
    later = "20261129T153005-abcdef"
    assert modelstore.new_model_id([later], now) > later
    assert modelstore.new_model_id([], now).startswith("20261129T153000-")


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(ModelError, match="no model for AAPL; run `stockcast train AAPL`"):
        modelstore.load_model(tmp_path, "AAPL")
    save_one(tmp_path)
    with pytest.raises(ModelError, match="no model 'nope'"):
        modelstore.load_model(tmp_path, "MSFT", "nope")


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest", "version"])
def test_damaged_models_give_one_clear_line(tmp_path, damage):
    _, path, _ = save_one(tmp_path)
    weights, manifest = path / "model.safetensors", path / "manifest.json"
    if damage == "flip":
        blob = bytearray(weights.read_bytes())
        blob[-3] ^= 0xFF
        weights.write_bytes(bytes(blob))
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:50])
    elif damage == "delete":
        weights.unlink()
    elif damage == "manifest":
        manifest.write_text("{not json")
    else:
        m = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**m, "format_version": 99}))
    with pytest.raises(ModelError) as err:
        modelstore.load_model(tmp_path, "MSFT")
    message = str(err.value)
    assert "\n" not in message and "stockcast train MSFT" in message


def test_a_failed_save_leaves_no_folder(tmp_path, monkeypatch):
    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(modelstore.os, "rename", boom)
    with pytest.raises(OSError):
        save_one(tmp_path)
    assert list((tmp_path / "models" / "MSFT").iterdir()) == []


def test_saving_removes_stale_half_written_folders_but_not_recent_ones(stockcast_home):
    import os
    import time

    folder = modelstore.models_dir(stockcast_home, "MSFT")
    old = folder / ".tmp-killed-long-ago"
    new = folder / ".tmp-being-written-now"
    for tmp in (old, new):
        tmp.mkdir(parents=True)
        (tmp / "model.safetensors").write_bytes(b"half")
    past = time.time() - 2 * 3600
    os.utime(old, (past, past))
    save_one(stockcast_home)
    assert not old.exists() and new.exists()

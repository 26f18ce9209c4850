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
from stockcast.models.manifest import Manifest


def save_one(root, symbol="MSFT", seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(n_features=3, horizon=2, hidden=4)
    model = LSTMForecaster(cfg)
    series = {symbol: {"scalers": {}, "split": {}, "trained_through": None, "data_end": None}}
    manifest = {"model_config": cfg.to_dict(), "features": ["a", "b", "c"], "note": "x",
                "series": series}  # fmt: skip
    calib = {symbol: {"y": np.zeros((5, 2)), "mu": np.ones((5, 2)), "vol": np.full(5, 0.01)}}
    model_id, path = modelstore.save_model(
        root, symbol, Manifest.from_json(manifest), model.state_dict(), calib
    )
    return model_id, path, model


def test_round_trip(tmp_path):
    model_id, path, model = save_one(tmp_path)
    assert path == tmp_path.resolve() / "models" / "MSFT" / model_id
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "model.safetensors"]
    manifest, loaded, calib = modelstore.load_model(tmp_path, "msft")
    assert manifest.id == model_id and manifest.symbols == ["MSFT"]
    assert manifest.format_version == modelstore.FORMAT_VERSION
    assert manifest.data.features == ("a", "b", "c")
    saved = json.loads((path / "manifest.json").read_text())
    assert saved["ticker"] == "MSFT" and saved["features"] == ["a", "b", "c"]
    assert Manifest.from_json(saved) == manifest  # the JSON round trip loses nothing
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    np.testing.assert_array_equal(calib["mu"], np.ones((5, 2)))
    assert calib["vol"].shape == (5,)
    assert not loaded.training


def test_newest_is_the_default_and_ids_sort_by_time(tmp_path):
    first, _, _ = save_one(tmp_path, seed=0)
    second, _, _ = save_one(tmp_path, seed=1)  # same second: the id still sorts later
    assert modelstore.list_models(tmp_path, "MSFT") == [first, second]
    assert modelstore.load_model(tmp_path, "MSFT")[0].id == second
    assert modelstore.load_model(tmp_path, "MSFT", first)[0].id == first
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


def save_marked(root, interrupted: bool, seed: int) -> str:
    """A saved model whose manifest says whether its training was interrupted."""
    model_id, path, _ = save_one(root, seed=seed)
    manifest_file = path / modelstore.MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps({**manifest, "interrupted": interrupted}))
    return model_id


def test_an_interrupted_model_is_the_default_only_when_it_is_the_only_one(tmp_path):
    alone = save_marked(tmp_path, interrupted=True, seed=0)
    assert modelstore.read_manifest(tmp_path, "MSFT").id == alone  # nothing else to use
    whole = save_marked(tmp_path, interrupted=False, seed=1)
    newest = save_marked(tmp_path, interrupted=True, seed=2)
    assert modelstore.list_models(tmp_path, "MSFT") == [alone, whole, newest]
    assert modelstore.read_manifest(tmp_path, "MSFT").id == whole
    assert modelstore.load_model(tmp_path, "MSFT")[0].id == whole
    assert modelstore.load_model(tmp_path, "MSFT", newest)[0].id == newest  # named: used


def test_live_weights_load_and_old_models_fall_back(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(n_features=3, horizon=2, hidden=4)
    evaluated, live = LSTMForecaster(cfg), LSTMForecaster(cfg)
    series = {"MSFT": {"scalers": {}, "split": {}, "trained_through": None, "data_end": None}}
    manifest = {"model_config": cfg.to_dict(), "features": ["a", "b", "c"], "series": series}
    calib = {"MSFT": {"y": np.zeros((5, 2)), "mu": np.ones((5, 2)), "vol": np.full(5, 0.01)}}
    live_calib = {"MSFT": {"y": np.ones((3, 2)), "mu": np.ones((3, 2)), "vol": np.full(3, 0.02)}}
    modelstore.save_model(tmp_path, "MSFT", Manifest.from_json(manifest), evaluated.state_dict(),
                          calib, live_weights=live.state_dict(), live_calib=live_calib)  # fmt: skip
    _, got, c = modelstore.load_model(tmp_path, "MSFT", weights="live")
    _, ev, ce = modelstore.load_model(tmp_path, "MSFT")
    for k, v in live.state_dict().items():
        assert torch.equal(got.state_dict()[k], v) and torch.equal(
            ev.state_dict()[k], evaluated.state_dict()[k]
        )
    assert c["vol"].shape == (3,) and ce["vol"].shape == (5,)
    old_id, _, model = save_one(tmp_path, seed=3)  # no live weights: the evaluated ones
    _, fallback, c = modelstore.load_model(tmp_path, "MSFT", old_id, weights="live")
    for k, v in model.state_dict().items():
        assert torch.equal(fallback.state_dict()[k], v)
    assert c["vol"].shape == (5,)

"""The model registry, model identity apart from the symbol, and manifests of both formats."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FAST, run

from stockcast import models
from stockcast.data.store import PriceStore
from stockcast.device import amp_context
from stockcast.errors import ModelError, UsageError
from stockcast.forecasting import evaluation
from stockcast.models import store as modelstore
from stockcast.models.base import Forecaster, predict_scaled
from stockcast.models.manifest import Manifest

LEGACY = Path(__file__).parent / "fixtures" / "legacy_model_v1"
PREDECESSOR = Path(__file__).parent / "fixtures" / "models_397d288"  # see its README.md
SP500 = Path(__file__).parents[1] / "stockcast" / "sample" / "sp500_10.csv"


# --- the registry -------------------------------------------------------------------------


def test_importing_the_registry_does_not_import_torch():
    code = "import sys, stockcast.models, stockcast.models.store; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_unknown_architecture_names_the_choices():
    with pytest.raises(UsageError) as err:
        models.lookup("x")
    choices = "cnn-lstm, gru, lstm, lstm-attn, transformer"
    assert str(err.value) == f"unknown architecture 'x'; choose one of {choices}"
    assert err.value.exit_code == 2


@pytest.mark.parametrize("arch", sorted(models.REGISTRY))
def test_each_architecture_round_trips_through_the_registry(arch):
    config_cls, model_cls = models.lookup(arch)
    cfg = config_cls(n_features=3, horizon=4, hidden=8, layers=2, head_init_std=0.0)
    assert models.arch_of(cfg) == arch
    torch.manual_seed(0)
    model = models.build(cfg).eval()
    assert isinstance(model, model_cls) and isinstance(model, Forecaster)
    x = torch.randn(6, 15, 3)  # (B, L, F)
    bias = np.array([0.5, -1.0, 0.25, 2.0])
    model.init_output_bias(bias)
    out = model(x)
    assert out.shape == (6, 4)  # (B, H)
    # a zero head (head_init_std=0) outputs exactly its bias before training
    torch.testing.assert_close(out, torch.tensor(bias, dtype=torch.float32).expand(6, 4))
    assert model.flops_per_window(15) > 0
    assert predict_scaled(model, x[:0].numpy(), torch.device("cpu")).shape == (0, 4)


@pytest.mark.parametrize("arch", sorted(models.REGISTRY))
def test_the_default_head_starts_near_its_bias(arch):
    config_cls, _ = models.lookup(arch)
    torch.manual_seed(0)
    model = models.build(config_cls(n_features=4, horizon=5, hidden=16)).eval()
    model.init_output_bias(np.full(5, 0.3))
    out = model(torch.randn(7, 30, 4))
    assert (out - 0.3).abs().max() < 0.05


def test_amp_context_autocasts_only_on_cuda():
    assert isinstance(amp_context(torch.device("cpu")), contextlib.nullcontext)
    assert isinstance(amp_context(torch.device("mps")), contextlib.nullcontext)  # no autocast built


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("arch", sorted(models.REGISTRY))
def test_the_recurrent_layer_runs_in_fp32_under_cuda_autocast(arch):
    config_cls, _ = models.lookup(arch)
    model = models.build(config_cls(n_features=4, horizon=5, hidden=16)).cuda()
    rnn = getattr(model, arch)
    seen = []
    rnn.register_forward_hook(lambda mod, inp, out: seen.append(out[0].dtype))
    with amp_context(torch.device("cuda")):
        model(torch.randn(8, 20, 4, device="cuda")).float().sum().backward()
    assert seen == [torch.float32]
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in rnn.parameters())


# --- manifests: names, symbols, formats ---------------------------------------------------


def save_pair(root: Path) -> tuple[str, dict]:
    """A two-symbol model named PAIR (hand-made series; the store does not train)."""
    cfg = models.lookup("gru")[0](n_features=2, horizon=3, hidden=4)
    model = models.build(cfg)
    series, calib = {}, {}
    for i, sym in enumerate(("BRK.B", "AAA")):
        series[sym] = {"scalers": {"n": i}, "split": {}, "trained_through": f"2020-01-0{i + 1}",
                       "data_end": None}  # fmt: skip
        calib[sym] = {"y": np.full((4, 3), i), "mu": np.full((4, 3), i), "vol": np.full(4, i)}
    manifest = {"arch": "gru", "model_config": cfg.to_dict(), "features": ["a", "b"],
                "series": series}  # fmt: skip
    model_id, _ = modelstore.save_model(root, "PAIR", Manifest.from_json(manifest),
                                        model.state_dict(), calib)  # fmt: skip
    return model_id, calib


def test_a_model_of_several_symbols_keeps_each_symbols_state_apart(tmp_path):
    model_id, calib = save_pair(tmp_path)
    manifest, model, brk = modelstore.load_model(tmp_path, "pair", symbol="brk.b")
    assert manifest.name == "PAIR" and manifest.symbols == ["BRK.B", "AAA"]
    assert modelstore.model_arch(manifest) == "gru" and isinstance(model, models.lookup("gru")[1])
    np.testing.assert_array_equal(brk["mu"], calib["BRK.B"]["mu"])
    aaa = modelstore.load_model(tmp_path, "PAIR", model_id, symbol="AAA")[2]
    np.testing.assert_array_equal(aaa["vol"], calib["AAA"]["vol"])
    view = modelstore.series_view(manifest, "AAA")
    assert view.symbol == "AAA" and view.trained_through == "2020-01-02"
    saved = json.loads(next((tmp_path / "models" / "PAIR").glob("*/manifest.json")).read_text())
    assert "scalers" not in saved and "ticker" not in saved  # no single symbol to mirror
    with pytest.raises(ModelError, match=re.escape("covers BRK.B, AAA; name one of them")):
        modelstore.load_model(tmp_path, "PAIR")
    with pytest.raises(ModelError, match="not trained on MSFT"):
        modelstore.series_view(manifest, "MSFT")


def test_a_manifest_without_its_series_gives_one_clear_line(tmp_path):
    arrays = {"y": np.zeros(1), "mu": np.zeros(1), "vol": np.zeros(1)}
    manifest = Manifest.from_json({"series": {"MSFT": {}}})
    _, folder = modelstore.save_model(tmp_path, "MSFT", manifest, {}, {"MSFT": arrays})
    saved = json.loads((folder / "manifest.json").read_text())
    del saved["series"]["MSFT"]["scalers"]  # as a hand edit or a foreign writer could leave it
    (folder / "manifest.json").write_text(json.dumps(saved))
    with pytest.raises(
        ModelError, match=re.escape("unreadable manifest.json; run `stockcast train MSFT`")
    ):
        modelstore.read_manifest(tmp_path, "MSFT")


def test_an_unknown_architecture_in_a_manifest_is_a_model_error(tmp_path):
    model_id, _ = save_pair(tmp_path)
    folder = tmp_path / "models" / "PAIR" / model_id
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "arch": "wavenet"}))
    with pytest.raises(ModelError, match=r"architecture 'wavenet'.*stockcast train PAIR"):
        modelstore.load_model(tmp_path, "PAIR", symbol="AAA")


def assert_close(got, want, path="") -> None:
    """Equal structure, strings and ints; floats equal to 1e-9 relative (a change in percent,
    100 * expm1 of a log return near 0, to 1e-7 points: `predict` runs the model in numpy
    (float64) where 0.1.0 ran torch (float32); the closes and bands still agree to 1e-9)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for k in want:
            assert_close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        tol = 1e-7 if path.endswith(".change_pct") else 1e-12
        assert got == pytest.approx(want, rel=1e-9, abs=tol), path
    else:
        assert got == want, path


def copy_legacy(home: Path) -> dict:
    """The format-1 fixture under ``home``; returns its expected outputs."""
    shutil.copytree(LEGACY / "MSFT", home / "models" / "MSFT")
    return json.loads((LEGACY / "expected.json").read_text())


def test_a_format_1_manifest_reads_as_a_one_symbol_lstm(stockcast_home):
    copy_legacy(stockcast_home)
    saved = json.loads(next((LEGACY / "MSFT").glob("*/manifest.json")).read_text())
    manifest = modelstore.read_manifest(stockcast_home, "MSFT")
    assert manifest.format_version == 1 and "arch" not in saved
    assert modelstore.model_arch(manifest) == "lstm" and manifest.arch == "lstm"
    assert modelstore.model_symbols(manifest) == ["MSFT"]
    view = modelstore.series_view(manifest)
    assert view.scalers == saved["scalers"] and view.split_json() == saved["split"]
    assert view.trained_through == saved["trained_through"]
    assert view.start_drift == (0.5,) * 5  # saved before the naive start was chosen
    assert manifest.data.lookback == saved["lookback"] and manifest.ensemble == 1
    upgraded = Manifest.from_json(manifest.to_json())  # written as format 2, read back the same
    assert upgraded == dataclasses.replace(manifest, format_version=2)


@pytest.mark.slow
def test_a_model_saved_by_the_0_1_0_release_predicts_and_evaluates_as_it_did(
    sample, stockcast_home
):
    expected = copy_legacy(stockcast_home)
    out = run("predict", "MSFT", "--json")
    assert out.exit_code == 0, out.output
    (one,) = json.loads(out.stdout)  # predict --json: always an array
    # `predict` runs a format-1 model through torch, as 0.1.0 did: exactly what it printed
    assert one["forecasts"] == expected["predict_forecasts"]
    out = run("evaluate", "MSFT", "--json")
    assert out.exit_code == 0, out.output
    (ev,) = json.loads(out.stdout)
    got = [{k: h[k] for k in ("h", "n", "mae", "rmse")} for h in ev["horizons"]]
    assert_close(got, expected["evaluate_horizons"])


def forecasts_of(printed: str) -> list[list[dict]]:
    """The ``forecasts`` of each symbol in a `predict --json` output, as printed (the JSON
    numbers parsed back: equal floats print equally)."""
    return [one["forecasts"] for one in json.loads(printed)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("MSFT", ("MSFT",), "predict_msft.json"),  # a per-symbol ensemble of 2
        ("GLOBAL", ("AAPL", "AMD", "KO", "--model", "global"), "predict_global.json"),
    ],
)
def test_models_saved_by_the_predecessor_release_predict_byte_for_byte_as_they_did(
    sample, stockcast_home, name, args, expected
):
    shutil.copytree(PREDECESSOR / name, stockcast_home / "models" / name)
    if name == "GLOBAL":
        assert run("fetch", "--csv", str(SP500), "-q").exit_code == 0
    out = run("predict", *args, "--json")
    assert out.exit_code == 0, out.output
    want = (PREDECESSOR / expected).read_text()
    assert forecasts_of(out.stdout) == forecasts_of(want)  # exact float equality
    for got, saved in zip(json.loads(out.stdout), json.loads(want), strict=True):
        assert got["model"] == saved["model"]
        assert got["trained_through"] == saved["trained_through"]
        if name == "MSFT":  # that release printed no test skill for a global model
            assert got["skill"] == saved["skill"]


# --- --arch end to end ----------------------------------------------------------------------


def test_an_unknown_arch_flag_is_one_line_and_exit_2(sample):
    out = run("train", "MSFT", "--arch", "wavenet", "-q")
    assert out.exit_code == 2
    assert out.stderr.count("\n") == 1 and "gru, lstm, lstm-attn, transformer" in out.stderr


@pytest.mark.slow
def test_train_evaluate_predict_a_gru_and_reload_it_identically(sample, stockcast_home):
    out = run("train", "MSFT", "--arch", "gru", *FAST, "--json", "-q")
    assert out.exit_code == 0, out.output
    (res,) = json.loads(out.stdout)
    manifest, model, calib = modelstore.load_model(stockcast_home, "MSFT", res["model"])
    assert manifest.arch == "gru" and manifest.format_version == 2
    gru = models.lookup("gru")[1]
    assert all(isinstance(m, gru) for m in model.members) and len(model.members) == 4
    assert manifest.name == "MSFT" and manifest.symbols == ["MSFT"]
    saved = manifest.to_json()
    series = saved["series"]["MSFT"]
    for key in ("scalers", "split", "trained_through", "data_end"):  # format-1 keys kept
        assert saved[key] == series[key]
    # the calibration predictions were made by the in-memory model at the end of training
    ds = evaluation.rebuild_dataset("MSFT", PriceStore(stockcast_home).read("MSFT"), manifest)
    np.testing.assert_array_equal(evaluation.part_predictions(model, ds, "val").mu, calib["mu"])
    ev = run("evaluate", "MSFT", "--json")
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.stdout) == [res["evaluation"]]
    fc = run("predict", "MSFT", "--json")
    assert fc.exit_code == 0, fc.output
    (d,) = json.loads(fc.stdout)
    assert d["model"] == res["model"] and len(d["forecasts"]) == 5
    assert d["trained_through"] == series["trained_through"]

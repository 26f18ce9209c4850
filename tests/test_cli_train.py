"""`stockcast train`, `evaluate` and `features` end to end on the bundled sample (tiny models)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import FAST, run

TRAIN_KEYS = {"ticker", "model", "epochs", "best_epoch", "val_loss", "train_windows", "seconds",
              "device", "windows_per_s", "evaluation"}  # fmt: skip
HORIZON_KEYS = {"h", "n", "mae", "rmse", "mape", "directional_accuracy", "up_share", "skill",
                "baselines"}  # fmt: skip


def test_features_command():
    out = run("features")
    assert out.exit_code == 0 and "log(C[t] / C[t-1])" in out.stdout and "rsi" in out.stdout
    rows = json.loads(run("features", "--json").stdout)
    assert next(r["name"] for r in rows if r["default"]) == "log_return"


@pytest.mark.slow
def test_train_and_evaluate_on_the_sample(sample, stockcast_home):
    out = run("train", "MSFT", *FAST, "--json", "--quiet")
    assert out.exit_code == 0, out.output
    [res] = json.loads(out.stdout)  # always an array, one object per symbol
    assert set(res) >= TRAIN_KEYS and res["ticker"] == "MSFT" and res["device"].startswith("cpu")
    assert (stockcast_home / "models" / "MSFT" / res["model"] / "model.safetensors").is_file()
    manifest = json.loads((stockcast_home / "models" / "MSFT" / res["model"] / "manifest.json")
                          .read_text())  # fmt: skip
    assert res["start_drift"] == manifest["series"]["MSFT"]["start_drift"]  # chosen, recorded
    assert len(res["start_drift"]) == 5 and set(res["start_drift"]) <= {0.0, 0.5, 1.0}
    [ev] = json.loads(run("evaluate", "MSFT", "--json").stdout)
    assert ev["model"] == res["model"] and ev["ticker"] == "MSFT"
    assert {"start", "end", "n"} <= set(ev["test"]) and ev["test"]["n"] > 1000
    assert [h["h"] for h in ev["horizons"]] == [1, 2, 3, 4, 5]
    for h in ev["horizons"]:
        assert set(h) >= HORIZON_KEYS
        assert set(h["baselines"]) == {"persistence", "drift", "sma"}
        assert {"mae", "rmse", "mape", "directional_accuracy"} <= set(h["baselines"]["drift"])
    assert ev == res["evaluation"]  # `train` reports what `evaluate` later finds
    table = run("evaluate", "MSFT", "--model", res["model"])
    assert table.exit_code == 0 and "Persistence" in table.stdout and "Skill" in table.stdout
    # rich wraps the summary sentence to the terminal width: compare with whitespace normalised
    assert " ".join(ev["summary"].split()) in " ".join(table.stdout.split())


@pytest.mark.slow
def test_train_prints_tables_and_progress_lines(sample):
    out = run("train", "MSFT", *FAST)
    assert out.exit_code == 0, out.output
    assert "Training" in out.stdout and "Naive forecasts" in out.stdout
    assert "MSFT epoch 1/2" in out.stderr and "val" in out.stderr
    quiet = run("train", "MSFT", *FAST, "--quiet")
    assert quiet.stderr == ""


@pytest.mark.slow
def test_same_seed_gives_identical_evaluation(sample):
    [a] = json.loads(run("train", "MSFT", *FAST, "--seed", "3", "--json", "-q").stdout)
    [b] = json.loads(run("train", "MSFT", *FAST, "--seed", "3", "--json", "-q").stdout)
    [ev_a] = json.loads(run("evaluate", "MSFT", "--model", a["model"], "--json").stdout)
    [ev_b] = json.loads(run("evaluate", "MSFT", "--model", b["model"], "--json").stdout)
    assert a["val_loss"] == b["val_loss"]
    assert {**ev_a, "model": None} == {**ev_b, "model": None}


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_damaged_weights_give_one_clear_line(sample, stockcast_home, damage):
    [res] = json.loads(run("train", "MSFT", *FAST, "--json", "-q").stdout)
    weights = stockcast_home / "models" / "MSFT" / res["model"] / "model.safetensors"
    if damage == "delete":
        weights.unlink()
    else:
        weights.write_bytes(b"\x00" * 100)
    out = run("evaluate", "MSFT")
    assert out.exit_code != 0
    assert out.stderr.count("\n") == 1 and "stockcast train MSFT" in out.stderr


def test_no_model_and_no_prices_name_the_fix(sample):
    out = run("evaluate", "MSFT")
    assert out.exit_code == 1 and "run `stockcast train MSFT`" in out.stderr
    out = run("train", "AAPL", "-q")
    assert out.exit_code == 1 and "stockcast fetch AAPL" in out.stderr


def test_too_short_history_names_the_minimum(stockcast_home):
    from stockcast.data.sources.sample import load_sample
    from stockcast.data.store import PriceStore

    PriceStore(stockcast_home).write("SHORT", load_sample().iloc[:100], source="sample")
    out = run("train", "SHORT", "-q")
    assert out.exit_code == 1
    assert "SHORT has 100 sessions" in out.stderr and "at least" in out.stderr
    assert out.stderr.count("\n") == 1


@pytest.mark.slow
def test_several_symbols_partial_failure_exits_3(sample):
    out = run("train", "MSFT", "NOPE", *FAST, "--json", "-q")
    assert out.exit_code == 3
    res = json.loads(out.stdout)
    assert [r["ticker"] for r in res] == ["MSFT", "NOPE"] and "error" in res[1]


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_epoch_so_far(sample, monkeypatch):
    from stockcast.cli.progress import EpochProgress

    def interrupt_at_two(self, report):
        if report.epoch == 2:
            raise KeyboardInterrupt
        return ""

    monkeypatch.setattr(EpochProgress, "line", interrupt_at_two)
    out = run("train", "MSFT", *FAST[2:], "--epochs", "5", "--ensemble", "1", "--json")
    assert out.exit_code == 130
    [res] = json.loads(out.stdout)
    assert res["interrupted"] and res["epochs"] == 2
    [ev] = json.loads(run("evaluate", "MSFT", "--json").stdout)
    assert ev["model"] == res["model"]


def test_help_imports_no_heavy_modules_and_shows_the_real_defaults():
    code = (
        "import sys; from typer.testing import CliRunner; from stockcast.cli import app; "
        "r = CliRunner().invoke(app, ['train', '--help']); "
        "print(sorted(m for m in ('torch', 'pandas', 'yfinance') if m in sys.modules)); "
        "print(r.stdout)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0] == "[]"
    from stockcast.models.lstm import Config as ModelConfig
    from stockcast.prep.windows import DataConfig
    from stockcast.training.loop import TrainConfig

    text = " ".join(out.stdout.replace("│", " ").split())
    t, m, d = TrainConfig(), ModelConfig(), DataConfig()
    for value in (t.epochs, t.batch_size, t.lr, t.weight_decay, t.patience, t.seed, m.hidden,
                  m.layers, d.lookback, d.horizon, d.val_frac, d.test_frac):  # fmt: skip
        assert f"(default {value:g})" in text, value
    assert f"(default {', '.join(d.features)})" in text

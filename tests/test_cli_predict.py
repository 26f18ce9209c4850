"""`stockcast predict` end to end on the bundled sample and a synthetic series (offline)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import AFTER_NEW_YEAR, TINY, nyse_prices, run, run_in

from stockcast.data.store import PriceStore
from stockcast.models.store import read_manifest


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample stored and a tiny model trained on it, plus a synthetic series to 2018-12-31."""
    root = tmp_path_factory.mktemp("predict")
    assert run_in(root, "fetch", "--sample").exit_code == 0
    res = run_in(root, "train", "MSFT", *TINY)
    assert res.exit_code == 0, res.output
    PriceStore(root).write("SYN", nyse_prices(), source="csv")
    res = run_in(root, "train", "SYN", *TINY)
    assert res.exit_code == 0, res.output
    return root


@pytest.mark.slow
def test_table_on_the_sample(home: Path) -> None:
    res = run_in(home, "predict", "MSFT", "--level", "0.8,0.9")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "last close 83.87 on 2017-11-10" in out
    assert "Test skill vs persistence" in out and "trained through" in out
    assert "2017-11-13" in out and "80% low" in out and "90% high" in out
    assert "run `stockcast fetch --sample`" in res.stderr  # the sample is years old: stale


@pytest.mark.slow
def test_json_csv_plot_on_the_sample(home: Path, tmp_path: Path) -> None:
    csv_path, png_path = tmp_path / "f.csv", tmp_path / "f.png"
    res = run_in(
        home, "predict", "MSFT", "--json", "--level", "0.8,0.9",
        "--csv", str(csv_path), "--plot", str(png_path),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    [d] = json.loads(res.stdout)  # always an array, one object per symbol
    assert d["ticker"] == "MSFT" and d["as_of"] == "2017-11-10" and d["stale"] is True
    assert d["levels"] == [0.8, 0.9] and len(d["forecasts"]) == 5
    assert d["forecasts"][0]["date"] == "2017-11-13"
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 5 and {"lower_80", "upper_90", "date", "close"} <= set(rows[0])
    assert float(rows[0]["close"]) == pytest.approx(d["forecasts"][0]["close"])
    png = png_path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.slow
def test_acceptance_new_year_dates_via_cli(home: Path) -> None:
    res = run_in(home, "predict", "SYN", "--horizon", "5", "--json")
    assert res.exit_code == 0, res.output
    [d] = json.loads(res.stdout)
    assert d["as_of"] == "2018-12-31"
    assert [f["date"] for f in d["forecasts"]] == [x.isoformat() for x in AFTER_NEW_YEAR]


@pytest.mark.slow
def test_several_symbols_give_an_array_and_one_plot_each(home: Path, tmp_path: Path) -> None:
    res = run_in(home, "predict", "MSFT", "SYN", "--json", "--plot", str(tmp_path / "c.png"))
    assert res.exit_code == 0, res.output
    assert [d["ticker"] for d in json.loads(res.stdout)] == ["MSFT", "SYN"]
    assert (tmp_path / "c-MSFT.png").is_file() and (tmp_path / "c-SYN.png").is_file()


@pytest.mark.slow
def test_no_model_is_one_clear_line(home: Path) -> None:
    PriceStore(home).write("NEW", nyse_prices(n=50), source="csv")
    res = run_in(home, "predict", "NEW")
    assert res.exit_code == 1
    assert "no model for NEW; run `stockcast train NEW`" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    partial = run_in(home, "predict", "SYN", "NEW", "--quiet")
    assert partial.exit_code == 3 and "NEW: no model for NEW" in partial.stderr


@pytest.mark.slow
def test_usage_errors(home: Path) -> None:
    for args, text in [
        (["--horizon", "9"], "outside 1..5"),
        (["--calendar", "NOPE"], "unknown exchange calendar 'NOPE'"),
        (["--level", "1.5"], "invalid level"),
    ]:
        res = run_in(home, "predict", "SYN", *args)
        assert res.exit_code == 2, (args, res.output)
        assert text in res.stderr and len(res.stderr.strip().splitlines()) == 1
    several = run_in(home, "predict", "SYN", "MSFT", "--calendar", "NOPE")
    assert several.exit_code == 2 and len(several.stderr.strip().splitlines()) == 1


def test_help_has_an_example() -> None:
    res = run("predict", "--help")
    assert res.exit_code == 0 and "stockcast predict MSFT" in res.stdout


@pytest.mark.slow
def test_evaluate_reports_interval_coverage_next_to_the_constant_band(home: Path) -> None:
    res = run_in(home, "evaluate", "MSFT", "--json")
    assert res.exit_code == 0, res.output
    horizons = json.loads(res.stdout)[0]["horizons"]
    keys = {"level", "coverage", "mean_width", "baseline_coverage", "baseline_mean_width"}
    for h in horizons:
        assert [b["level"] for b in h["intervals"]] == [0.8, 0.9]
        assert all(keys <= set(b) for b in h["intervals"])
        b90 = h["intervals"][1]
        # calibrated on validation, measured on the 1,194 test windows of the sample
        assert 0.87 <= b90["coverage"] <= 0.93, b90
        assert b90["mean_width"] < b90["baseline_mean_width"], b90
    table = run_in(home, "evaluate", "MSFT")
    assert "Bands on test" in table.stdout and "vs GARCH (95% CI)" in table.stdout


@pytest.mark.slow
def test_an_untrained_model_is_said_to_forecast_its_naive_start(home: Path) -> None:
    """When no member beat its untrained start, predict says so in words and in --json (the
    drift share per horizon chosen on validation, as the manifest keeps it), and the forecast
    is share * h * m with m the mean daily log return of the live refit's windows."""
    res = run_in(home, "predict", "MSFT", "--json")
    assert res.exit_code == 0, res.output
    [d] = json.loads(res.stdout)
    manifest = read_manifest(home, "MSFT", d["model"])
    members = [m.best_epoch for m in manifest.members]
    assert d["untrained"] is all(e == 0 for e in members)
    text = run_in(home, "predict", "MSFT").stdout
    assert d["start_drift"] == list(manifest.series_of("MSFT").start_drift)
    said = f"these forecasts are its naive start ({d['start']})"
    assert (said in " ".join(text.split())) is d["untrained"]
    if d["untrained"] and set(d["start_drift"]) == {1.0}:  # TINY: one epoch never beats it
        steps = [np.log(f["close"] / d["last_close"]) for f in d["forecasts"]]
        ratios = np.array(steps) / np.arange(1, len(steps) + 1)
        np.testing.assert_allclose(ratios, ratios[0], rtol=0.05)  # linear in h: a drift
        assert 0 < ratios[0] < 0.002  # MSFT's mean daily log return (~0.1%)
    if d["untrained"]:  # persistence where the start is persistence
        for f, share in zip(d["forecasts"], d["start_drift"], strict=False):
            assert share > 0 or abs(np.log(f["close"] / d["last_close"])) < 1e-4


@pytest.mark.slow
def test_predict_names_the_start_of_an_untrained_model(home: Path, tmp_path: Path) -> None:
    """A model whose members all kept epoch 0: predict's line and --json name its start, from
    the manifest (a model saved before the choice reads as half the drift everywhere)."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(home, root)
    [d] = json.loads(run_in(root, "predict", "MSFT", "--json").stdout)
    path = root / "models" / "MSFT" / d["model"] / "manifest.json"
    manifest = json.loads(path.read_text())
    for m in manifest["members"]:
        m["best_epoch"] = 0
    manifest["series"]["MSFT"]["start_drift"] = [0.0, 0.0, 0.0, 1.0, 1.0]
    path.write_text(json.dumps(manifest))
    text = " ".join(run_in(root, "predict", "MSFT").stdout.split())
    assert "its naive start (persistence at h=1-3, drift at h=4-5)" in text
    [d] = json.loads(run_in(root, "predict", "MSFT", "--json").stdout)
    assert d["untrained"] and d["start_drift"] == [0.0, 0.0, 0.0, 1.0, 1.0]
    del manifest["series"]["MSFT"]["start_drift"]  # as saved before the choice
    path.write_text(json.dumps(manifest))
    [old] = json.loads(run_in(root, "predict", "MSFT", "--json").stdout)
    assert old["start_drift"] == [0.5] * 5 and old["start"] == "half the drift"
    assert old["forecasts"] == d["forecasts"]  # the weights alone make the forecast

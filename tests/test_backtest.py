"""`stockcast backtest` (walk-forward folds), shrinkage toward the naive forecast, verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.store import PriceStore
from stockcast.forecasting import shrink, walkforward

FAST = ["--epochs", "2", "--hidden", "8", "--lookback", "20", "--batch-size", "512"]
HORIZON_KEYS = {"h", "n", "mae", "mae_bps", "mase", "baselines", "skill_vs_best", "dm_pvalue",
                "verdict", "intervals", "skill_vs_persistence", "skill_vs_drift", "shrunk",
                "directional_accuracy", "up_share"}  # fmt: skip
INTERVAL_KEYS = {"level", "coverage", "coverage_low", "coverage_high", "mean_width",
                 "interval_score", "constant_interval_score", "ewma_interval_score",
                 "ewma_skill", "independence_pvalue", "interval_score_rel",
                 "ewma_interval_score_rel"}  # fmt: skip


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def backtest_json(tmp_path_factory: pytest.TempPathFactory):
    """One small backtest of the sample (2 folds, 1 seed, tiny model) and its data dir."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("STOCKCAST_HOME", str(home))
    try:
        assert run("fetch", "--sample").exit_code == 0
        out = run("backtest", "MSFT", "--folds", "2", "--seeds", "1", *FAST, "--json")
        assert out.exit_code == 0, out.output
        close = PriceStore(home).read("MSFT")["adj_close"]
    finally:
        mp.undo()
    return json.loads(out.stdout), close


@pytest.mark.slow
def test_backtest_json_carries_the_documented_keys(backtest_json):
    results, _ = backtest_json
    assert isinstance(results, list) and len(results) == 1
    r = results[0]
    assert r["ticker"] == "MSFT" and len(r["folds"]) == 2
    for f in r["folds"]:
        assert {"origin", "test_start", "test_end", "n"} <= set(f)
    assert [h["h"] for h in r["horizons"]] == [1, 2, 3, 4, 5]
    for h in r["horizons"]:
        assert set(h) >= HORIZON_KEYS
        assert set(h["baselines"]) == {"persistence", "drift"}
        ci = h["skill_vs_best"]
        assert ci["low"] <= ci["value"] <= ci["high"]
        assert h["verdict"] == ("better" if ci["low"] > 0 else "worse" if ci["high"] < 0
                                else "indistinguishable")  # fmt: skip
        assert 0 <= h["dm_pvalue"] <= 1
        assert [b["level"] for b in h["intervals"]] == [0.8, 0.9]
        for b in h["intervals"]:
            assert set(b) >= INTERVAL_KEYS
            assert b["coverage_low"] <= b["coverage"] <= b["coverage_high"]
            assert 0 <= b["independence_pvalue"] <= 1
            e = b["ewma_skill"]  # 1 - score / EWMA band's score (units of the close), with CI
            ratio = b["interval_score_rel"] / b["ewma_interval_score_rel"]
            assert e["value"] == pytest.approx(1 - ratio)
            assert e["low"] <= e["value"] <= e["high"]


@pytest.mark.slow
def test_persistence_mae_matches_the_stored_closes_over_the_reported_dates(backtest_json):
    results, close = backtest_json
    r = results[0]
    values, pos = close.to_numpy(), []
    for f in r["folds"]:
        asof = close.loc[f["test_start"] : f["test_end"]]
        assert len(asof) == f["n"]
        pos.append(close.index.get_indexer(asof.index))
    asof_pos = np.concatenate(pos)
    for h in r["horizons"]:
        expected = np.mean(np.abs(values[asof_pos + h["h"]] - values[asof_pos]))
        assert h["n"] == len(asof_pos)
        assert h["baselines"]["persistence"]["mae"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_folds_never_overlap_and_no_target_crosses_an_origin(backtest_json):
    results, close = backtest_json
    folds, H = results[0]["folds"], len(results[0]["horizons"])
    idx = {d.date().isoformat(): i for i, d in enumerate(close.index)}
    for k, f in enumerate(folds):
        origin, first, last = idx[f["origin"]], idx[f["test_start"]], idx[f["test_end"]]
        assert first == origin - 1  # the first window's targets start at the origin
        assert idx[f["target_end"]] == last + H <= idx[f["end"]]
        if k + 1 < len(folds):
            nxt = idx[folds[k + 1]["origin"]]
            assert idx[f["end"]] == nxt - 1 and last + H < nxt  # blocks abut, targets stay in
            assert idx[folds[k + 1]["test_start"]] > last  # as-of dates never overlap
    assert idx[folds[-1]["end"]] == len(close) - 1


@pytest.mark.slow
def test_backtest_prints_tables_and_progress(backtest_json, stockcast_home):
    assert run("fetch", "--sample").exit_code == 0
    out = run("backtest", "MSFT", "--folds", "2", "--seeds", "1", *FAST)
    assert out.exit_code == 0, out.output
    assert "MSFT fold 1/2" in out.stderr and "Pooled over folds" in out.stdout
    assert "vs EWMA (95% CI)" in out.stdout and "vs GARCH (95% CI)" in out.stdout


def test_backtest_needs_stored_prices_and_enough_sessions():
    out = run("backtest", "AAPL", "--folds", "2")
    assert out.exit_code == 1 and "stockcast fetch AAPL" in out.stderr
    assert run("fetch", "--sample").exit_code == 0
    out = run("backtest", "MSFT", "--folds", "50", "--horizon", "250")
    assert out.exit_code != 0 and "fewer --folds" in out.stderr


def test_fold_blocks_are_equal_contiguous_and_end_at_the_last_session():
    blocks = walkforward.fold_blocks(1000, 5)
    sizes = {e - o + 1 for o, e in blocks}
    assert sizes == {60} and blocks[-1][1] == 999 and blocks[0][0] == 1000 - 300
    assert all(blocks[i][1] + 1 == blocks[i + 1][0] for i in range(4))


def test_shrinkage_keeps_a_good_model_and_drops_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(0.0, 0.01, size=(400, 3))
    assert shrink.fit(y, y, drift=0.0).weight == 1.0  # a perfect model is kept whole
    noise = rng.normal(0.0, 0.02, size=(400, 3))  # unrelated to y: the naive forecast wins
    learned = shrink.fit(y, noise, drift=0.0)
    assert learned.weight < 0.3
    mixed = shrink.apply(noise, learned)
    assert np.mean(np.abs(mixed - y)) < np.mean(np.abs(noise - y))


def test_shrinkage_toward_drift_uses_h_times_the_training_drift():
    s = shrink.Shrink(weight=0.0, toward="drift", drift=0.001)
    np.testing.assert_allclose(shrink.apply(np.ones((2, 3)), s), [[0.001, 0.002, 0.003]] * 2)
    assert shrink.Shrink.from_dict(s.to_dict()) == s and shrink.Shrink.from_dict(None) is None


@pytest.mark.slow
def test_train_with_shrink_stores_it_and_evaluate_applies_it(stockcast_home):
    assert run("fetch", "--sample").exit_code == 0
    [res] = json.loads(run("train", "MSFT", *FAST, "--shrink", "--json", "-q").stdout)
    from stockcast.models.store import load_model

    manifest, _, _ = load_model(stockcast_home, "MSFT", res["model"], symbol="MSFT")
    learned = manifest.shrink
    assert learned is not None
    assert 0.0 <= learned["weight"] <= 1.0 and learned["toward"] in ("persistence", "drift")
    [ev] = json.loads(run("evaluate", "MSFT", "--json").stdout)
    assert ev["horizons"] == res["evaluation"]["horizons"]
    [fc] = json.loads(run("predict", "MSFT", "--json").stdout)
    assert fc["skill"]["best_baseline"] in ("persistence", "drift", "sma")


@pytest.mark.slow
def test_evaluation_says_better_only_when_the_interval_says_so(stockcast_home):
    assert run("fetch", "--sample").exit_code == 0
    ev = json.loads(run("train", "MSFT", *FAST, "--json", "-q").stdout)[0]["evaluation"]
    for h, note in zip(ev["horizons"], ev["notes"], strict=True):
        ci = h["skill_vs_best"]
        assert h["beats_best_baseline"] == (ci["low"] > 0) == (h["verdict"] == "better")
        word = {"better": "better than", "worse": "worse than"}.get(
            h["verdict"], "indistinguishable from"
        )
        assert f"{word} {h['best_baseline']} (skill" in note
    if not any(h["verdict"] == "better" for h in ev["horizons"]):
        assert "not better than the best naive forecast at any horizon" in ev["summary"]
        assert ev["beats_baselines"] is False


def test_seeds_is_the_old_name_of_ensemble(stockcast_home) -> None:
    """One name for the members: `--ensemble` (as train); `--seeds` still works, unlisted."""
    res = run("backtest", "MSFT", "--seeds", "2", "--ensemble", "3")
    assert res.exit_code == 2
    assert "--seeds is the old name of --ensemble" in res.stderr
    assert run("backtest", "MSFT", "--seeds", "2", "--ensemble", "2").exit_code == 1  # no prices
    shown = run("backtest", "--help").stdout
    assert "--ensemble" in shown and "--seeds" not in shown


def test_a_fold_bands_its_test_windows_with_the_scale_networks_it_calibrated_on(sample) -> None:
    """The band of a fold's test windows uses the same scale networks as its validation
    calibration (a fold that scaled test by the EWMA vol but calibrated on the networks' scales
    would publish another band than the one it calibrated)."""
    import dataclasses

    from stockcast.forecasting import evaluation
    from stockcast.models.scale import ScaleHead, ewma_scale
    from stockcast.prep.windows import DataConfig, build_dataset
    from stockcast.training.backtest import fold_predictions
    from stockcast.training.job import recipe_from_options
    from stockcast.training.loop import build_model

    prices = PriceStore(sample).read("MSFT").iloc[:1500]
    day = prices.index[1200].date().isoformat()
    recipe, _ = recipe_from_options({"hidden": 8, "lookback": 20})
    data = dataclasses.replace(recipe.data, test_start=day)
    assert isinstance(data, DataConfig)
    ds = build_dataset("MSFT", prices, data)
    model = build_model(recipe.model, seed=0).eval()
    horizon = data.horizon
    doubled = (lambda x: np.full((len(x), horizon), np.log(2.0)), ScaleHead("gaussian",
               (True,) * horizon))  # fmt: skip
    val = evaluation.part_predictions(model, ds, "val", scale=doubled)
    fp = fold_predictions("MSFT", model, ds, val, prices, day, 0.0, scale=doubled)
    rows = ds.window_slice("test")
    assert fp.sigma is not None and fp.val_sigma is not None
    np.testing.assert_array_equal(fp.sigma, evaluation.band_scales(ds, rows, doubled))
    assert not np.allclose(fp.sigma, ewma_scale(fp.vol, horizon))  # the networks', not EWMA's

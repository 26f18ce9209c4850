"""Many symbols from one CSV, one global model over them, and its torchrun/DDP run.

The DDP tests start `torchrun --standalone --nproc-per-node 2` (gloo on the CPU, a free port
chosen by torchrun) on a tiny model over a few hundred windows, and compare it with one process
on the same global batch.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run, synthetic_prices

from stockcast.data.sources.csvfile import read_csv_table, table_shape
from stockcast.data.store import PriceStore
from stockcast.forecasting import stats
from stockcast.models import store as modelstore

SYMS = ["AAA", "BBB", "CCC"]
GLOBAL = ["--epochs", "3", "--hidden", "4", "--lookback", "10", "--horizon", "3", "--ensemble", "1",
          "--batch-size", "64", "--features", "log_return,hl_pct", "--quiet", "--json"]  # fmt: skip
DDP_TOL = 1e-5  # relative: 2 gloo ranks vs 1 process (measured 3e-8: sums in another order)


def _store_three(home: Path, n: int = 260) -> None:
    store = PriceStore(home)
    for i, sym in enumerate(SYMS):
        store.write(sym, synthetic_prices(n, seed=i), source="csv")


# many symbols from one file -----------------------------------------------------------------
def _wide(tmp_path: Path) -> Path:
    path = tmp_path / "closes.csv"
    path.write_text(
        "Date,AAA,BBB\n2024-01-02,10.0,\n2024-01-03,10.5,20.0\n2024-01-04,11.0,21.0\n"
        "2024-01-05,10.8,20.5\n"
    )
    return path


def test_wide_and_long_tables_are_recognised(tmp_path):
    assert table_shape(_wide(tmp_path)) == ("wide", ["AAA", "BBB"])
    long = tmp_path / "long.csv"
    long.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2024-01-02,AAA,1,2,0.5,1.5,100\n2024-01-02,BBB,3,4,2.5,3.5,200\n"
        "2024-01-03,AAA,1.5,2,1,1.8,100\n2024-01-03,BBB,3.5,4,3,3.9,200\n"
    )
    assert table_shape(long) == ("long", ["AAA", "BBB"])
    table = read_csv_table(long)
    assert table["BBB"]["close"].tolist() == [3.5, 3.9]
    one = tmp_path / "AAPL.csv"
    one.write_text("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n")
    assert table_shape(one) == ("single", [])


def test_fetch_wide_csv_stores_every_symbol_and_run_rereads_its_column(tmp_path, stockcast_home):
    path = _wide(tmp_path)
    res = run("fetch", "--csv", str(path), "--json")
    assert res.exit_code == 0, res.output
    out = {r["ticker"]: r for r in json.loads(res.output)}
    assert set(out) == {"AAA", "BBB"} and out["BBB"]["rows"] == 3  # BBB listed a day later
    store = PriceStore(stockcast_home)
    assert store.read("AAA")["close"].tolist() == [10.0, 10.5, 11.0, 10.8]
    info = store.info("BBB")
    assert info.source == "csv" and (info.source_options or {}).get("column") == "BBB"
    from stockcast.schedule.steps import refresh  # what `run` does: re-read the recorded column

    assert refresh(stockcast_home, "BBB").source == "csv"
    assert store.read("BBB")["close"].tolist() == [20.0, 21.0, 20.5]


def test_fetch_csv_refuses_a_symbol_the_table_lacks(tmp_path):
    res = run("fetch", "ZZZ", "--csv", str(_wide(tmp_path)))
    assert res.exit_code == 2 and "has no ZZZ" in res.output


def test_sp500_wide_file_stores_ten_symbols_matching_the_file(stockcast_home):
    path = Path(__file__).resolve().parents[1] / "stockcast" / "sample" / "sp500_10.csv"
    res = run("fetch", "--csv", str(path), "--json")
    assert res.exit_code == 0, res.output
    raw = pd.read_csv(path, index_col=0, parse_dates=True)
    store = PriceStore(stockcast_home)
    assert sorted(store.symbols()) == sorted(raw.columns)
    for sym in raw.columns:
        np.testing.assert_allclose(store.read(sym)["close"].to_numpy(), raw[sym].dropna())


# one model over many symbols ----------------------------------------------------------------
@pytest.mark.slow
def test_global_model_is_evaluated_per_symbol_by_name(stockcast_home):
    _store_three(stockcast_home)
    res = run("train", *SYMS, "--global", "--name", "trio", *GLOBAL)
    assert res.exit_code == 0, res.output
    trained = json.loads(res.output)
    manifest = modelstore.read_manifest(stockcast_home, "trio").to_json()
    assert manifest["symbols"] == SYMS and manifest["kind"] == "global"
    tests = {s: manifest["series"][s]["split"]["test"]["target_start"] for s in SYMS}
    vals = {s: manifest["series"][s]["split"]["train"]["target_end"] for s in SYMS}
    assert max(vals.values()) < min(tests.values())  # no series trains on another's test
    ev = run("evaluate", "BBB", "--model", "trio", "--json")
    assert ev.exit_code == 0, ev.output
    assert _one(ev.output)["horizons"] == trained["evaluation"]["BBB"]["horizons"]
    by_id = run("evaluate", "BBB", "--model", f"trio:{trained['model']}", "--json")
    assert _one(by_id.output)["model"] == trained["model"]


@pytest.mark.slow
def test_global_model_pooled_and_cross_section_in_train_and_evaluate(stockcast_home):
    _store_three(stockcast_home)
    res = run("train", *SYMS, "--global", "--name", "trio", *GLOBAL)
    assert res.exit_code == 0, res.output
    trained = json.loads(res.output)
    pooled_keys = {"h", "n", "days", "mae_bps", "mase", "best_baseline", "skill_vs_best"}
    for h, row in enumerate(trained["pooled"]["horizons"], start=1):
        assert row["h"] == h and pooled_keys <= set(row)
        assert set(row["skill_vs_best"]) == {"value", "low", "high"}
    for h, row in enumerate(trained["cross_section"]["horizons"], start=1):
        assert row["h"] == h and {"rank_ic", "rank_ic_t", "spread", "days"} <= set(row)
        assert row["days"] > 10 and -1.0 <= row["rank_ic"] <= 1.0
    assert len(trained["pooled"]["horizons"]) == len(trained["cross_section"]["horizons"]) == 3
    manifest = modelstore.read_manifest(stockcast_home, "trio").to_json()
    assert manifest["cross_section"] == trained["cross_section"]

    ev = run("evaluate", "--model", "trio", "--json")  # no symbols: all of them, together
    assert ev.exit_code == 0, ev.output
    out = json.loads(ev.output)
    assert set(out) == {"model", "name", "symbols", "pooled", "cross_section"}
    assert out["model"] == trained["model"] and out["name"] == "TRIO"
    assert [s["ticker"] for s in out["symbols"]] == SYMS
    assert out["symbols"][1]["horizons"] == trained["evaluation"]["BBB"]["horizons"]
    assert out["pooled"] == trained["pooled"]  # recomputed exactly as at train time
    assert out["cross_section"] == trained["cross_section"]
    again = run("evaluate", "--model", "trio", "--json", "--recompute")  # the weights run again
    assert again.exit_code == 0 and json.loads(again.output) == out  # = what train kept
    kept = modelstore.read_scored(stockcast_home, "trio", symbol="CCC").scored
    assert kept is not None and kept["mu"].shape == (trained["evaluation"]["CCC"]["test"]["n"], 3)
    named = json.loads(run("evaluate", "AAA", "CCC", "--model", "trio", "--json").output)
    assert [s["ticker"] for s in named] == ["AAA", "CCC"]  # named symbols: today's array
    table = run("evaluate", "--model", "trio")
    assert table.exit_code == 0 and "Pooled" in table.output and "Cross-section" in table.output
    assert run("evaluate").exit_code == 2  # neither symbols nor --model


def _one(output: str) -> dict:
    """The symbol's object of `evaluate --json` (an object, or an array of one)."""
    out = json.loads(output)
    return out[0] if isinstance(out, list) else out


def test_model_ref_tells_names_from_ids():
    assert modelstore.model_ref("msft", None) == ("MSFT", None)
    assert modelstore.model_ref("msft", "20261129T153000-ab12cd") == (
        "MSFT",
        "20261129T153000-ab12cd",
    )
    assert modelstore.model_ref("msft", "global") == ("GLOBAL", None)
    assert modelstore.model_ref("msft", "g:20261129T153000-ab12cd") == (
        "G",
        "20261129T153000-ab12cd",
    )

    from stockcast.models.schema import is_model_id  # the one definition of an id's shape

    assert is_model_id("20261129T153000-ab12cd")
    assert not any(map(is_model_id, ["global", "20261129T153000-ab12cd\n", "20261129-ab12cd"]))


def test_rank_ic_by_hand():
    # ranks (1, 3, 2, 4) vs (1, 2, 3, 4): d = (0, 1, -1, 0), 1 - 6 * 2 / (4 * 15) = 0.8
    assert stats.rank_ic(np.array([0.1, 0.5, 0.2, 0.9]), np.array([-1.0, 0.0, 1.0, 2.0])) == (
        pytest.approx(0.8)
    )


# torchrun -------------------------------------------------------------------------------------
def _torchrun(home: Path, *args: str, nproc: int = 2, timeout: float = 240):
    env = {**os.environ, "STOCKCAST_HOME": str(home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", *args]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_and_only_rank0_writes(stockcast_home):
    _store_three(stockcast_home)
    one = run("train", *SYMS, "--global", "--name", "solo", *GLOBAL)
    assert one.exit_code == 0, one.output
    res = _torchrun(stockcast_home, "-m", "stockcast", "train", *SYMS, "--global", "--name",
                    "duo", *GLOBAL)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    two = json.loads(res.stdout)  # one JSON object: only rank 0 printed
    solo = json.loads(one.output)
    assert two["processes"] == 2 and two["epochs"] == solo["epochs"]
    assert math.isclose(two["val_loss"], solo["val_loss"], rel_tol=DDP_TOL)
    assert two["best_epoch"] == solo["best_epoch"]
    assert len(modelstore.list_models(stockcast_home, "duo")) == 1  # rank 0 alone saved


@pytest.mark.slow
def test_a_failing_rank_fails_the_run_and_keeps_nothing(stockcast_home, tmp_path):
    _store_three(stockcast_home)
    script = tmp_path / "fail_rank1.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from stockcast.training import dist
        from stockcast.training.globaljob import train_global
        from stockcast.training.job import recipe_from_options

        made, _ = recipe_from_options(dict(
            epochs=3, hidden=4, lookback=10, horizon=3, batch_size=64,
            features="log_return,hl_pct"))
        me, dev, shard = dist.start("cpu")

        def boom(report):
            if me.rank == 1:
                raise RuntimeError("rank 1 failed on purpose")

        try:
            train_global(Path({str(stockcast_home)!r}), "broken", {SYMS!r}, made, str(dev),
                         boom, shard)
        except RuntimeError as exc:
            print(f"error: {{exc}}", file=sys.stderr)
            sys.exit(1)
    """)
    )
    res = _torchrun(stockcast_home, str(script), timeout=180)
    assert res.returncode != 0
    assert "rank 1 failed on purpose" in res.stderr
    folder = stockcast_home / "models" / "BROKEN"
    assert not folder.exists() or not any(folder.iterdir())  # nothing, not even a temporary


@pytest.mark.slow
def test_torchrun_shares_per_symbol_training_out_and_rank0_prints_all(stockcast_home):
    _store_three(stockcast_home)
    res = _torchrun(stockcast_home, "-m", "stockcast", "train", *SYMS, *GLOBAL, "--ensemble", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    assert [r["ticker"] for r in json.loads(res.stdout)] == SYMS
    assert all(len(modelstore.list_models(stockcast_home, s)) == 1 for s in SYMS)


def test_config_names_a_global_model_for_its_symbols():
    from stockcast.schedule.config import ConfigError, parse

    cfg = parse({"symbols": ["AAA", "BBB", "CCC"], "global": {"trio": {"symbols": ["aaa", "BBB"]}}})
    assert cfg.plan("AAA").model == "TRIO" and cfg.plan("CCC").model is None
    with pytest.raises(ConfigError, match="not in `symbols`"):
        parse({"symbols": ["AAA"], "global": {"g": {"symbols": ["ZZZ"]}}})


# walk-forward backtest of a global model's recipe -------------------------------------------
def _train_trio() -> dict:
    res = run("train", *SYMS, "--global", "--name", "trio", *GLOBAL)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.slow
def test_backtest_of_a_global_model_per_symbol_with_the_cross_section_per_fold(stockcast_home):
    _store_three(stockcast_home)
    trained = _train_trio()
    res = run("backtest", "CCC", "AAA", "--model", "trio", "--folds", "2", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [r["ticker"] for r in out] == ["CCC", "AAA"]  # the symbols asked, in that order
    interval_keys = {"level", "coverage", "coverage_low", "coverage_high", "mean_width",
                     "interval_score", "constant_interval_score",
                     "ewma_interval_score"}  # fmt: skip
    for r in out:
        assert r["settings"]["model"] == f"TRIO:{trained['model']}"
        assert r["settings"]["symbols"] == SYMS and r["settings"]["folds"] == 2
        assert [h["h"] for h in r["horizons"]] == [1, 2, 3]
        for h in r["horizons"]:
            assert set(h["skill_vs_best"]) >= {"value", "low", "high"}
            assert 0.0 <= h["dm_pvalue"] <= 1.0
            assert h["verdict"] in ("better", "indistinguishable", "worse")
            assert all(interval_keys <= set(b) for b in h["intervals"])
        assert len(r["cross_section_folds"]) == 2
        for fold, xs in zip(r["folds"], r["cross_section_folds"], strict=True):
            assert xs["origin"] == fold["origin"]
            assert xs["cross_section"]["series"] == 3
            for h in xs["cross_section"]["horizons"]:
                assert {"h", "rank_ic", "rank_ic_t", "spread", "days"} <= set(h)
                assert h["days"] == fold["n"]  # every as-of date of the block, 3 names each
        days = [h["days"] for h in r["cross_section"]["horizons"]]
        assert days == [sum(f["n"] for f in r["folds"])] * 3  # pooled over the folds
    assert out[0]["cross_section_folds"] == out[1]["cross_section_folds"]  # all the symbols'

    # folds never overlap and no target crosses an origin: targets start at the origin and end
    # before the next one (the three series share their sessions)
    r = out[1]
    dates = [d.date().isoformat() for d in PriceStore(stockcast_home).read("AAA").index]
    for k, f in enumerate(r["folds"]):
        assert f["target_start"] == f["origin"] and f["target_end"] <= f["end"]
        assert dates.index(f["test_start"]) == dates.index(f["origin"]) - 1
        if k + 1 < len(r["folds"]):
            assert f["end"] < r["folds"][k + 1]["origin"]
    assert r["folds"][-1]["end"] == dates[-1]
    # its persistence MAE at h=1 recomputed from the stored closes over the reported as-of dates
    close = PriceStore(stockcast_home).read("AAA")["adj_close"].to_numpy()
    asof = np.concatenate([np.arange(dates.index(f["test_start"]), dates.index(f["test_end"]) + 1)
                           for f in r["folds"]])  # fmt: skip
    naive = np.mean(np.abs(close[asof + 1] - close[asof]))
    assert r["horizons"][0]["baselines"]["persistence"]["mae"] == pytest.approx(naive, rel=1e-9)

    table = run("backtest", "AAA", "--model", "trio", "--folds", "2", "--quiet")
    assert table.exit_code == 0 and table.output == ""
    human = run("backtest", "AAA", "--model", "trio", "--folds", "2")
    assert "Cross-section per fold" in human.output and "TRIO" in human.output


@pytest.mark.slow
def test_backtest_model_refuses_a_symbol_outside_it_and_training_flags(stockcast_home):
    _store_three(stockcast_home)
    _train_trio()
    for args, said in (
        (["ZZZ", "--model", "trio"], "ZZZ is not a symbol of model TRIO:"),
        (["AAA", "--model", "trio", "--arch", "lstm,gru"], "leave out --arch lstm,gru"),
        (["AAA", "--model", "trio", "--epochs", "2"], "leave out --epochs"),
        (["AAA", "--model", "nothing"], "no saved model is named NOTHING"),
    ):
        res = run("backtest", *args)
        line = res.output.strip()
        assert res.exit_code == 2 and "\n" not in line and said in line, res.output
    assert "covers AAA, BBB, CCC" in run("backtest", "ZZZ", "--model", "trio").output


@pytest.mark.slow
def test_backtest_of_a_symbols_own_model_uses_its_recipe(stockcast_home):
    _store_three(stockcast_home)
    res = run("train", "AAA", *GLOBAL, "--ensemble", "1", "--epochs", "1")
    assert res.exit_code == 0, res.output
    model_id = json.loads(res.output)[0]["model"]
    out = run("backtest", "AAA", "--model", model_id, "--folds", "2", "--json")
    assert out.exit_code == 0, out.output
    [r] = json.loads(out.output)
    assert r["settings"]["model"] == f"AAA:{model_id}" and r["settings"]["seeds"] == 1
    assert r["settings"]["train_config"]["epochs"] == 1  # the model's options, not train's
    assert r["settings"]["data_config"]["lookback"] == 10
    wrong = run("backtest", "BBB", "--model", "AAA")
    assert wrong.exit_code == 2 and "not a symbol of model AAA:" in wrong.output


# live weights of a global model --------------------------------------------------------------
@pytest.mark.slow
def test_global_model_predicts_with_live_weights_trained_through_the_last_session(
    stockcast_home,
):
    import torch
    from helpers import predict_latest

    _store_three(stockcast_home)
    trained = _train_trio()
    manifest = modelstore.read_manifest(stockcast_home, "trio").to_json()
    store = PriceStore(stockcast_home)
    last = {s: store.read(s).index[-1].date().isoformat() for s in SYMS}
    for s in SYMS:
        series = manifest["series"][s]
        assert series["trained_through"] == series["data_end"] == last[s]
        assert series["evaluated_trained_through"] < last[s]
    live = manifest["live"]
    assert trained["live"] == live and live["trained_through"] == max(last.values())
    assert live["epochs"] == [trained["best_epoch"]]
    # every window whose targets are stored: n - warm-up (1) - lookback (10) - horizon (3) + 1
    assert live["windows"] == sum(len(store.read(s)) - 1 - 10 - 3 + 1 for s in SYMS)
    assert "no live refit" not in manifest["note"]

    res = run("predict", "BBB", "--model", "trio", "--json")
    assert res.exit_code == 0, res.output
    [fc] = json.loads(res.stdout)
    assert fc["trained_through"] == last["BBB"]
    prices = store.read("BBB")
    got = np.log([f["close"] / fc["last_close"] for f in fc["forecasts"]])  # (H,)
    forecasts = {}
    for weights in ("live", "evaluated"):
        m, net, _ = modelstore.load_model(stockcast_home, "trio", symbol="BBB", weights=weights)
        forecasts[weights] = predict_latest("BBB", prices, m, net)["log_returns"]
    np.testing.assert_allclose(got, forecasts["live"], rtol=1e-5, atol=1e-9)
    # these settings train 3 epochs, each better on validation: the refit moved the weights
    assert trained["best_epoch"] > 0
    assert not np.allclose(forecasts["live"], forecasts["evaluated"], rtol=1e-4, atol=0)
    live_net = modelstore.load_model(stockcast_home, "trio", symbol="BBB", weights="live")[1]
    evaluated = modelstore.load_model(stockcast_home, "trio", symbol="BBB")[1]
    pairs = zip(live_net.state_dict().values(), evaluated.state_dict().values(), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)


@pytest.mark.slow
def test_live_refit_of_zero_epochs_is_the_naive_start_over_every_stored_window(stockcast_home):
    """best_epoch 0: the live network is the seeded untrained one, its output bias each
    series' drift share (chosen on validation, kept) times the mean h-session log return of
    every stored window of the series (own target scaler), averaged over the series; computed
    here from the stored closes."""
    import dataclasses

    from stockcast.training.globaljob import fit_global, refit_global
    from stockcast.training.job import Recipe, configs_from_options
    from stockcast.training.loop import build_model

    _store_three(stockcast_home)
    store = PriceStore(stockcast_home)
    prices = {s: store.read(s) for s in SYMS}
    options = dict(epochs=1, hidden=4, lookback=10, horizon=3, batch_size=64, ensemble=1,
                   features="log_return,hl_pct")  # fmt: skip
    data, model_cfg, cfg, _ = configs_from_options(options)
    fitted = fit_global(prices, Recipe(data, model_cfg, cfg), "cpu")
    zero = dataclasses.replace(fitted, results=[dataclasses.replace(fitted.result, best_epoch=0)])
    live = refit_global(zero, model_cfg, "cpu")
    starts = []
    for i, (s, frame) in enumerate(prices.items()):
        log_close = np.log(frame["adj_close"].to_numpy())[1:]  # after the warm-up session
        asof = np.arange(10 - 1, len(log_close) - 3)  # every window whose targets are stored
        y = np.stack([log_close[asof + h] - log_close[asof] for h in (1, 2, 3)], axis=1)
        ts = zero.dataset.get(s).target_scaler
        starts.append((zero.start_drift[i] * y.mean(axis=0) - ts.mean) / ts.std)
    expected = build_model(model_cfg, cfg.seed)
    expected.init_output_bias(np.mean(starts, axis=0))
    for (k, a), b in zip(live.state_dict().items(), expected.state_dict().values(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=k)


# global packing refuses a feature that never moves -------------------------------------------
def test_build_multi_refuses_a_feature_that_reads_zero_in_training():
    from stockcast.errors import DataError
    from stockcast.prep.dataset import build_multi
    from stockcast.prep.windows import DataConfig

    good = synthetic_prices(200, seed=0)
    flat = synthetic_prices(200, seed=1)
    flat[["open", "high", "low"]] = np.repeat(flat[["close"]].to_numpy(), 3, axis=1)
    cfg = DataConfig(features=("log_return", "hl_pct"), lookback=10, horizon=3)
    for split in (None, ("2000-06-01", "2000-08-01")):
        with pytest.raises(DataError) as err:
            build_multi({"GOOD": good, "FLAT": flat}, cfg, split)
        line = str(err.value)
        assert "\n" not in line and "hl_pct reads zero" in line and "FLAT" in line
        assert line.endswith("`--features log_return`")
    assert build_multi({"GOOD": good}, cfg).symbols == ("GOOD",)


@pytest.mark.slow
def test_a_global_ensemble_is_listed_and_predicts_like_any_model(stockcast_home):
    """`train A B C --global --ensemble 2` saves a model of 2 members (seeds 0 and 1, both
    refit live); `models --json` lists its pooled skill; `predict B --model NAME --json` has
    B's own test skill and verdict from the global model's per-symbol test metrics."""
    from stockcast.models.ensemble import Ensemble

    _store_three(stockcast_home)
    two = [
        ("2" if prev == "--ensemble" else o)
        for prev, o in zip(["", *GLOBAL[:-1]], GLOBAL, strict=True)
    ]
    res = run("train", *SYMS, "--global", "--name", "duet", *two)
    assert res.exit_code == 0, res.output
    trained = json.loads(res.output)
    assert trained["ensemble"] == 2 and [m["seed"] for m in trained["members"]] == [0, 1]
    manifest = modelstore.read_manifest(stockcast_home, "duet").to_json()
    assert manifest["ensemble"] == 2 and len(manifest["members"]) == 2
    assert manifest["live"]["epochs"] == [m["best_epoch"] for m in trained["members"]]
    for weights in ("evaluated", "live"):
        net = modelstore.load_model(stockcast_home, "duet", symbol="BBB", weights=weights)[1]
        assert isinstance(net, Ensemble) and len(net.members) == 2

    [row] = [r for r in json.loads(run("models", "--json").stdout) if r["name"] == "DUET"]
    pooled = trained["pooled"]["horizons"][0]["skill_vs_best"]["value"]
    assert row["members"] == 2 and row["skill_vs_best"] == pytest.approx(pooled)

    res = run("predict", "BBB", "--model", "duet", "--json")
    assert res.exit_code == 0, res.output
    [fc] = json.loads(res.stdout)
    own = trained["evaluation"]["BBB"]["horizons"][0]
    h1 = 1 - own["mae"] / own["baselines"]["persistence"]["mae"]
    assert fc["skill"]["h1"] == pytest.approx(h1)
    assert fc["skill"]["verdict_h1"] == own["verdict"] and fc["skill"]["headline"]


def test_train_global_refuses_shrink_with_one_line(stockcast_home):
    res = run("train", *SYMS, "--global", "--shrink", "--quiet")
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        "error: --shrink learns one symbol's weight toward its naive forecast and does not "
        "apply to a --global model; leave --shrink out"
    ]

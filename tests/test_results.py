"""Typed results: ``to_dict()`` is the `--json` contract, keys and JSON types as before."""

from __future__ import annotations

import dataclasses
import json

from stockcast.forecasting.evaluation import EvaluateResult, EvaluationReport, PartSpan
from stockcast.models.manifest import Live, Member
from stockcast.training.results import (
    BacktestResult,
    BacktestSettings,
    GlobalTrainResult,
    TrainResult,
    TuneBacktest,
    TuneBest,
    TuneResult,
)

# the `train --json` keys of one symbol, in the order they were printed before the types
TRAIN_JSON = ["ticker", "model", "path", "epochs", "best_epoch", "val_loss", "initial_val_loss",
              "train_windows", "val_windows", "test_windows", "seconds", "cpu_seconds",
              "live_seconds", "total_seconds", "device", "windows_per_s", "gflops_per_s",
              "interrupted", "note", "start_drift", "start", "ensemble", "members", "workers",
              "ensemble_seconds_ratio", "live", "evaluation"]  # fmt: skip
GLOBAL_JSON = ["name", "display_name", "model", "path", "symbols", "processes", "epochs",
               "best_epoch", "val_loss", "initial_val_loss", "train_windows", "val_windows",
               "test_windows", "split", "seconds", "live_seconds", "total_seconds", "device",
               "windows_per_s", "interrupted", "note", "ensemble", "members", "start_drift",
               "start", "live", "evaluation", "pooled", "cross_section"]  # fmt: skip
# the `evaluate --json` keys of one symbol, and its test span's
EVALUATE_JSON = ["ticker", "model", "test", "horizons", "beats_baselines", "summary", "notes"]
SPAN = ["start", "end", "n", "target_start", "target_end"]
# the `backtest --json` keys of one symbol (a global model's adds the cross-section before
# `seconds`) and its settings' (a saved model's recipe: `model` last; a global one's first)
BACKTEST_JSON = ["ticker", "sessions", "settings", "folds", "horizons", "garch", "seconds"]
GLOBAL_BACKTEST_JSON = ["ticker", "sessions", "settings", "folds", "horizons", "garch",
                        "cross_section_folds", "cross_section", "pooled_across_symbols",
                        "seconds"]  # fmt: skip
SETTINGS = ["folds", "share", "seeds", "data_config", "train_config", "model_config"]
MEMBERS = (Member(0, 2, 0.3, 0.4, 3, False), Member(1, 0, 0.4, 0.4, 3, False))
LIVE = Live("2020-01-10", "2020-01-03", 100, (2, 0), "test-split predictions", "2019-06-01")


def evaluated(symbol: str = "MSFT") -> EvaluateResult:
    span = PartSpan("2020-01-02", "2020-03-02", 40, "2020-01-03", "2020-03-09")
    h1 = {"h": 1, "n": 40, "verdict": "indistinguishable", "intervals": []}
    report = EvaluationReport(span, (h1,), False, "not better", ("At h=1 ...",))
    return EvaluateResult(symbol, "20261206T000000-abcdef", report)


def test_an_evaluate_result_prints_the_keys_evaluate_json_printed():
    d = evaluated().to_dict()
    assert list(d) == EVALUATE_JSON and list(d["test"]) == SPAN
    assert d["notes"] == ["At h=1 ..."] and d["horizons"][0]["h"] == 1
    assert d["beats_baselines"] is False and d["test"]["n"] == 40
    assert json.loads(json.dumps(d)) == d
    assert evaluated().report.to_dict() == {k: v for k, v in d.items()
                                            if k not in ("ticker", "model")}  # fmt: skip


def backtested(**settings) -> BacktestResult:
    s = BacktestSettings(folds=2, share=0.3, seeds=1, data_config={"lookback": 20},
                         train_config={"epochs": 2}, model_config={"hidden": 8},
                         **settings)  # fmt: skip
    return BacktestResult("MSFT", 1000, s, ({"origin": "2020-01-02", "n": 5},), ({"h": 1},),
                          {"folds": 2, "fallbacks": 0, "reasons": []}, 1.5)  # fmt: skip


def test_a_backtest_result_prints_the_keys_backtest_json_printed():
    d = backtested().to_dict()
    assert list(d) == BACKTEST_JSON and list(d["settings"]) == SETTINGS
    assert d["folds"] == [{"origin": "2020-01-02", "n": 5}] and d["seconds"] == 1.5
    assert json.loads(json.dumps(d)) == d
    recipe = backtested(model="MSFT:20261206T000000-abcdef").to_dict()["settings"]
    assert list(recipe) == [*SETTINGS, "model"]
    glob = dataclasses.replace(
        backtested(model="BIG:m", symbols=("A", "B")),
        cross_section_folds=({"origin": "2020-01-02"},), cross_section={"horizons": []},
        pooled_across_symbols={"horizons": []},
    ).to_dict()  # fmt: skip
    assert list(glob) == GLOBAL_BACKTEST_JSON
    assert list(glob["settings"]) == ["model", "symbols", *SETTINGS]
    assert glob["settings"]["symbols"] == ["A", "B"]
    assert json.loads(json.dumps(glob)) == glob


def one() -> TrainResult:
    return TrainResult(
        ticker="MSFT", model="20261206T000000-abcdef", path="/x", epochs=3, best_epoch=2,
        val_loss=0.3, initial_val_loss=0.4, train_windows=70, val_windows=15, test_windows=15,
        seconds=1.0, cpu_seconds=1.5, live_seconds=0.5, total_seconds=2.5, device="cpu",
        windows_per_s=100.0, gflops_per_s=0.1, interrupted=False, note="",
        start_drift=(1.0, 0.5), start="drift", ensemble=2, members=MEMBERS, workers=2,
        ensemble_seconds_ratio=1.1, live=LIVE, evaluation=evaluated(),
    )  # fmt: skip


def test_a_train_result_prints_the_keys_train_json_printed():
    d = one().to_dict()
    assert list(d) == TRAIN_JSON
    assert d["start_drift"] == [1.0, 0.5] and d["live"]["epochs"] == [2, 0]
    want = {"seed": 1, "best_epoch": 0, "best_val_loss": 0.4, "initial_val_loss": 0.4,
            "epochs": 3, "interrupted": False}  # fmt: skip
    assert d["members"][1] == want
    assert json.loads(json.dumps(d)) == d  # plain JSON types only
    assert dataclasses.replace(one(), live=None).to_dict()["live"] is None
    assert list(d["evaluation"]) == EVALUATE_JSON


def test_a_global_train_result_prints_the_keys_train_global_json_printed():
    r = GlobalTrainResult(
        name="BIG", display_name="big", model="m", path="/x", symbols=("A", "B"), processes=1,
        epochs=3, best_epoch=2, val_loss=0.3, initial_val_loss=0.4, train_windows=10,
        val_windows=5, test_windows=5, split=("2020-01-01", "2021-01-01"), seconds=1.0,
        live_seconds=0.5, total_seconds=2.0, device="cpu", windows_per_s=10.0,
        interrupted=False, note="a global model", ensemble=2, members=MEMBERS,
        start_drift={"A": (1.0,), "B": (0.0,)}, start="A: drift / B: persistence", live=None,
        evaluation={"A": evaluated("A"), "B": evaluated("B")}, pooled={"horizons": []},
        cross_section=None,
    )  # fmt: skip
    d = r.to_dict()
    assert list(d) == GLOBAL_JSON
    assert d["split"] == {"val_start": "2020-01-01", "test_start": "2021-01-01"}
    assert d["symbols"] == ["A", "B"] and d["start_drift"] == {"A": [1.0], "B": [0.0]}
    assert d["evaluation"]["B"]["ticker"] == "B" and list(d["evaluation"]["A"]) == EVALUATE_JSON
    assert json.loads(json.dumps(d)) == d


def test_a_tune_result_prints_command_and_backtest_only_when_there_are_some():
    empty = TuneResult("SYN", "lstm", {"name": "SYN-lstm", "storage": "sqlite:///x"}, 0, 0, 1,
                       None, None, "2020-01-01")  # fmt: skip
    assert list(empty.to_dict()) == ["ticker", "arch", "study", "trials_completed",
                                     "trials_pruned", "trials_failed", "best",
                                     "searched_through"]  # fmt: skip
    assert empty.to_dict()["best"] is None
    bt = TuneBacktest("2020-01-01", ({"origin": "2020-02-01", "n": 5},), ({"h": 1},))
    best = TuneBest({"hidden": 4, "features": ["log_return"]}, 0.95, 3)
    full = dataclasses.replace(empty, best=best, command="stockcast train SYN", backtest=bt)
    d = full.to_dict()
    assert d["best"] == {"params": {"hidden": 4, "features": ["log_return"]}, "value": 0.95,
                         "trial": 3}  # fmt: skip
    assert d["command"] == "stockcast train SYN" and list(d)[-1] == "backtest"
    assert d["backtest"] == {"searched_through": "2020-01-01",
                             "folds": [{"origin": "2020-02-01", "n": 5}],
                             "horizons": [{"h": 1}]}  # fmt: skip

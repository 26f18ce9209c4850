"""Typed results: ``to_dict()`` is the `--json` contract, keys and JSON types as before."""

from __future__ import annotations

import dataclasses
import json

from stockcast.models.manifest import Live, Member
from stockcast.training.results import (
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
MEMBERS = (Member(0, 2, 0.3, 0.4, 3, False), Member(1, 0, 0.4, 0.4, 3, False))
LIVE = Live("2020-01-10", "2020-01-03", 100, (2, 0), "test-split predictions", "2019-06-01")


def one() -> TrainResult:
    return TrainResult(
        ticker="MSFT", model="20261206T000000-abcdef", path="/x", epochs=3, best_epoch=2,
        val_loss=0.3, initial_val_loss=0.4, train_windows=70, val_windows=15, test_windows=15,
        seconds=1.0, cpu_seconds=1.5, live_seconds=0.5, total_seconds=2.5, device="cpu",
        windows_per_s=100.0, gflops_per_s=0.1, interrupted=False, note="",
        start_drift=(1.0, 0.5), start="drift", ensemble=2, members=MEMBERS, workers=2,
        ensemble_seconds_ratio=1.1, live=LIVE, evaluation={"ticker": "MSFT", "horizons": []},
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


def test_a_global_train_result_prints_the_keys_train_global_json_printed():
    r = GlobalTrainResult(
        name="BIG", display_name="big", model="m", path="/x", symbols=("A", "B"), processes=1,
        epochs=3, best_epoch=2, val_loss=0.3, initial_val_loss=0.4, train_windows=10,
        val_windows=5, test_windows=5, split=("2020-01-01", "2021-01-01"), seconds=1.0,
        live_seconds=0.5, total_seconds=2.0, device="cpu", windows_per_s=10.0,
        interrupted=False, note="a global model", ensemble=2, members=MEMBERS,
        start_drift={"A": (1.0,), "B": (0.0,)}, start="A: drift / B: persistence", live=None,
        evaluation={"A": {"ticker": "A"}, "B": {"ticker": "B"}}, pooled={"horizons": []},
        cross_section=None,
    )  # fmt: skip
    d = r.to_dict()
    assert list(d) == GLOBAL_JSON
    assert d["split"] == {"val_start": "2020-01-01", "test_start": "2021-01-01"}
    assert d["symbols"] == ["A", "B"] and d["start_drift"] == {"A": [1.0], "B": [0.0]}
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

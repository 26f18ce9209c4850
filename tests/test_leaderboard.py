"""`stockcast backtest SYMBOL --arch a,b`: the same backtest per architecture, side by side."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import nyse_prices, run_in

from stockcast import options
from stockcast.data.store import PriceStore
from stockcast.errors import DataError, UsageError
from stockcast.training import leaderboard
from stockcast.training.results import BacktestResult, BacktestSettings

# a tiny model on 600 sessions: two folds of 90 sessions, about a second per architecture
QUICK = ["--folds", "2", "--seeds", "1", "--epochs", "1", "--hidden", "4", "--lookback", "10",
         "--batch-size", "512"]  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding SYN, a 600-session random walk with volume."""
    home = tmp_path_factory.mktemp("leaderboard")
    PriceStore(home).write("SYN", nyse_prices(n=600), source="csv")
    return home


@pytest.fixture(scope="module")
def board(root: Path) -> dict:
    out = run_in(root, "backtest", "SYN", "--arch", "lstm,gru", *QUICK, "--json")
    assert out.exit_code == 0, out.output
    results = json.loads(out.stdout)
    assert isinstance(results, list) and len(results) == 1
    return results[0]


@pytest.mark.slow
def test_json_has_every_arch_with_its_size_time_and_full_backtest(board: dict) -> None:
    assert board["ticker"] == "SYN" and board["settings"]["folds"] == 2
    assert [a["arch"] for a in board["archs"]] == ["lstm", "gru"]
    for a in board["archs"]:
        assert isinstance(a["parameters"], int) and a["parameters"] > 0
        assert a["seconds"] > 0 and a["train_seconds"] > 0 and a["mflops_per_window"] > 0
        assert len(a["folds"]) == 2 and [h["h"] for h in a["horizons"]] == [1, 2, 3, 4, 5]
        assert a["model_config"]["hidden"] == 4
    lstm, gru = board["archs"]
    assert gru["parameters"] < lstm["parameters"]  # 3 gates against 4
    assert [h["h"] for h in board["leaderboard"]] == [1, 2, 3, 4, 5]
    for k, h in enumerate(board["leaderboard"]):
        assert set(h["naive"]) == {"persistence", "drift"}
        assert h["naive"][h["best_baseline"]]["skill_vs_best"] == 0.0
        for a, row in zip(board["archs"], h["archs"], strict=True):
            assert row["arch"] == a["arch"]
            assert row["skill_vs_best"] == a["horizons"][k]["skill_vs_best"]
            assert row["verdict"] == a["horizons"][k]["verdict"]
    better = [(r["arch"], h["h"]) for h in board["leaderboard"] for r in h["archs"]
              if r["verdict"] == "better"]  # fmt: skip
    assert [(e["arch"], e["h"]) for e in board["edges"]] == better
    assert board["comparisons"] == 10 and sorted(board["ranking"]) == ["gru", "lstm"]
    assert board["summary"].startswith("SYN: ")


@pytest.mark.slow
def test_tables_show_both_archs_beside_the_naive_rows(root: Path) -> None:
    out = run_in(root, "backtest", "SYN", "--arch", "lstm,gru", *QUICK)
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert "SYN leaderboard: 2 architectures" in text
    for name in ("lstm", "gru", "persistence", "drift"):
        assert re.search(rf"^\s+1\s+{name}\s", text, re.M), name
    assert "best naive" in text and "significant edge" in text
    assert "SYN lstm fold 1/2" in out.stderr and "SYN gru fold 2/2 done" in out.stderr


@pytest.mark.slow
def test_one_arch_keeps_the_single_backtest_output(root: Path) -> None:
    plain = run_in(root, "backtest", "SYN", *QUICK)
    named = run_in(root, "backtest", "SYN", "--arch", "lstm", *QUICK)
    assert plain.exit_code == named.exit_code == 0, plain.output + named.output

    def steady(text: str) -> str:  # the header's seconds vary between runs
        return re.sub(r"per fold, \d+s", "per fold, Ns", text)

    assert steady(plain.stdout) == steady(named.stdout)
    assert "walk-forward backtest" in plain.stdout and "leaderboard" not in plain.stdout
    [one] = json.loads(run_in(root, "backtest", "SYN", "--arch", "gru,", *QUICK, "--json").stdout)
    assert "archs" not in one and one["settings"]["model_config"]["hidden"] == 4


@pytest.mark.parametrize("arch", ["lstm,nope", "gru,lstm-att", ",", "nope"])
def test_an_unknown_arch_is_one_line_and_exit_2(arch: str) -> None:
    out = run_in(Path("/nonexistent"), "backtest", "SYN", "--arch", arch)
    assert out.exit_code == 2, out.output
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cnn-lstm, gru, lstm, lstm-attn, transformer" in lines[0]


def test_arch_list_parses_names_and_keeps_one_as_given() -> None:
    assert options.arch_list(None) is None
    assert options.arch_list("lstm") == ("lstm",)
    assert options.arch_list(" GRU , lstm,gru,") == ("gru", "lstm")
    with pytest.raises(UsageError, match="unknown 'cnn'"):
        options.arch_list("lstm,cnn")


def _result(maes: list[float], skills: list[tuple[float, float, float]]) -> BacktestResult:
    """A backtest with only what the leaderboard reads."""
    horizons = []
    for h, (value, low, high) in enumerate(skills, start=1):
        verdict = "better" if low > 0 else "worse" if high < 0 else "indistinguishable"
        horizons.append({
            "h": h, "n": 100, "mae": 1.0 - value, "mae_bps": 1.0 - value,
            "baselines": {"persistence": {"mae": maes[h - 1], "mae_bps": maes[h - 1]},
                          "drift": {"mae": 1.0, "mae_bps": 1.0}},
            "best_baseline": "drift",
            "skill_vs_best": {"value": value, "low": low, "high": high, "verdict": verdict},
            "dm_pvalue": 0.01 if verdict != "indistinguishable" else 0.5, "verdict": verdict,
            "intervals": [{"level": 0.9, "coverage": 0.9, "interval_score": 2.0,
                           "ewma_interval_score": 4.0, "interval_score_rel": 0.02,
                           "ewma_interval_score_rel": 0.04}],
        })  # fmt: skip
    settings = BacktestSettings(folds=1, share=0.3, seeds=1, data_config={}, train_config={},
                                model_config={})  # fmt: skip
    return BacktestResult(ticker="X", sessions=1000, settings=settings, folds=({"seconds": 0.5},),
                          horizons=tuple(horizons), garch={}, seconds=1.0)  # fmt: skip


def test_combine_names_the_edges_and_the_losses_in_words() -> None:
    runs = [
        leaderboard.ArchRun("lstm", 100, 1e6, _result([1.1, 1.2], [(0, -0.1, 0.1)] * 2)),
        leaderboard.ArchRun("gru", 80, 1e6, _result([1.1, 1.2], [(0.02, 0.01, 0.03),
                                                                 (-0.02, -0.03, -0.01)])),
    ]  # fmt: skip
    r = leaderboard.combine(runs)
    assert [(e["arch"], e["h"]) for e in r["edges"]] == [("gru", 1)]
    assert [(w["arch"], w["h"]) for w in r["worse"]] == [("gru", 2)]
    assert "gru at h=1 vs drift (+2.0%, 95% CI +1.0..+3.0, adjusted p = 0.040)" in r["summary"]
    assert "1 of 4 comparisons" in r["summary"] and "gru at h=2" in r["summary"].split("worse")[-1]
    assert r["correction"] == "holm" and "Holm-adjusted over the 4" in r["summary"]
    # Holm over the four DM p-values (0.5, 0.5, 0.01, 0.01): 4 x 0.01 for the smallest, then
    # max(4 x 0.01, 3 x 0.01), then 2 x 0.5 and 1 x 0.5 raised to 1
    adjusted = [a["adjusted_pvalue"] for h in r["leaderboard"] for a in h["archs"]]
    assert adjusted == pytest.approx([1.0, 0.04, 1.0, 0.04])
    assert r["edges"][0]["adjusted_pvalue"] == pytest.approx(0.04)
    row = r["leaderboard"][0]
    assert row["naive"]["persistence"]["skill_vs_best"] == pytest.approx(-0.1)
    assert row["archs"][1]["interval_score_vs_ewma"] == 0.5 and r["ranking"] == ["lstm", "gru"]
    assert "settings" in r and "model_config" not in r["settings"]

    # with more comparisons the same p = 0.01 no longer survives the family-wise control
    many = [leaderboard.ArchRun(f"a{i}", 80, 1e6, r0.result) for i, r0 in enumerate(runs * 3)]
    crowded = leaderboard.combine(many)
    assert crowded["edges"] == [] and crowded["worse"] == []
    assert all(
        a["verdict"] != "indistinguishable" for a in crowded["leaderboard"][0]["archs"][1::2]
    )

    quiet = leaderboard.combine(runs[:1])
    assert quiet["edges"] == [] and "no architecture has a significant edge" in quiet["summary"]


def test_combine_refuses_archs_scored_on_other_windows() -> None:
    a = leaderboard.ArchRun("lstm", 1, 1.0, _result([1.1], [(0, -0.1, 0.1)]))
    b = leaderboard.ArchRun("gru", 1, 1.0, _result([1.3], [(0, -0.1, 0.1)]))
    with pytest.raises(DataError, match="other windows"):
        leaderboard.combine([a, b])

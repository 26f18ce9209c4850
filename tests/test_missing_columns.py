"""A CSV without volume: training refuses the volume feature up front (predict would refuse the
model later, and a cron run would then fail every night), and trains without it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import run

from stockcast.prep.features import missing_inputs

FAST = ["--epochs", "1", "--hidden", "8", "--lookback", "20", "--batch-size", "512", "-q"]


def _close_only_csv(tmp_path: Path, n: int = 400) -> Path:
    rng = pd.Series(range(n), dtype=float)
    close = 100.0 * (1.0 + 0.01 * (rng % 7 - 3) / 3).cumprod()
    dates = pd.bdate_range("2020-01-01", periods=n)
    path = tmp_path / "NOVOL.csv"
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": close.round(4)}).to_csv(
        path, index=False
    )
    return path


def test_missing_inputs_names_the_feature_and_column() -> None:
    prices = pd.DataFrame(
        {"adj_close": [1.0, 2.0], "open": [1.0, 2.0], "high": [1.0, 2.0], "low": [1.0, 2.0],
         "volume": [float("nan")] * 2}
    )  # fmt: skip
    assert missing_inputs(prices, ["log_return", "log_volume_change"]) == {
        "log_volume_change": ["volume"]
    }
    assert missing_inputs(prices, ["log_return", "hl_pct"]) == {}


@pytest.mark.slow
def test_train_refuses_a_feature_without_its_column_then_trains_without_it(
    tmp_path: Path,
) -> None:
    assert run("fetch", "NOVOL", "--csv", str(_close_only_csv(tmp_path)), "-q").exit_code == 0
    out = run("train", "NOVOL", *FAST)
    assert out.exit_code == 1
    line = out.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "no volume" in line and "--features log_return,hl_pct,pct_change" in line

    ok = run("train", "NOVOL", *FAST, "--features", "log_return,hl_pct,pct_change", "--json")
    assert ok.exit_code == 0, ok.output
    pred = run("predict", "NOVOL", "--json")
    assert pred.exit_code == 0, pred.output
    assert len(json.loads(pred.stdout)[0]["forecasts"]) == 5

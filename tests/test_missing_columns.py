"""A CSV without volume: training refuses the volume feature up front (predict would refuse the
model later, and a cron run would then fail every night), and trains without it. A CSV without
open/high/low: its range features read zero, and training refuses them too (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run

from stockcast.errors import DataError
from stockcast.prep import features
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
    # the fix offers no range feature: the file has no open/high/low, so they read zero
    assert "no volume" in line and "hl_pct, pct_change read zero" in line
    assert line.endswith("--features log_return`")

    ok = run("train", "NOVOL", *FAST, "--features", "log_return", "--json")
    assert ok.exit_code == 0, ok.output
    pred = run("predict", "NOVOL", "--json")
    assert pred.exit_code == 0, pred.output
    assert len(json.loads(pred.stdout)[0]["forecasts"]) == 5


def _filled_from_close(n: int = 60, volume: bool = True) -> pd.DataFrame:
    close = 100.0 + np.arange(n, dtype=float) % 5
    return pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close, "adj_close": close,
         "volume": 1e6 + close * 10 if volume else float("nan")},
        index=pd.bdate_range("2020-01-01", periods=n),
    )  # fmt: skip


def test_flat_features_are_the_range_features_of_ohlc_filled_from_the_close() -> None:
    table = features.build(_filled_from_close(), features.DEFAULT_FEATURES)
    assert features.flat_features(table) == ["hl_pct", "pct_change"]
    assert features.flat_features(features.build(_filled_from_close(), ["log_return"])) == []


def test_usable_features_drop_absent_and_flat_inputs() -> None:
    prices = _filled_from_close(volume=False)
    assert features.usable_features(prices, features.DEFAULT_FEATURES) == ("log_return",)
    assert features.usable_features(_filled_from_close(), ["log_return", "log_volume_change",
                                                           "hl_pct"]) == (
        "log_return", "log_volume_change")  # fmt: skip


def test_require_signal_names_the_zero_features_and_the_usable_ones() -> None:
    names = list(features.DEFAULT_FEATURES)
    rows = features.build(_filled_from_close(), names).fillna(0.0).to_numpy()
    with pytest.raises(DataError) as err:
        features.require_signal(rows, names, "VOL")
    line = str(err.value)
    assert "\n" not in line and "hl_pct, pct_change read zero" in line and "VOL" in line
    assert line.endswith("`--features log_return,log_volume_change`")
    features.require_signal(rows[:, [0, 3]], ["log_return", "log_volume_change"], "VOL")


def test_require_inputs_offers_no_feature_that_reads_zero() -> None:
    with pytest.raises(DataError) as err:
        features.require_inputs(
            _filled_from_close(volume=False), features.DEFAULT_FEATURES, "NOVOL", "x uses"
        )
    assert str(err.value).endswith("`stockcast train NOVOL --features log_return`")


def _close_volume_csv(tmp_path: Path, n: int = 400) -> Path:
    path = _close_only_csv(tmp_path, n)
    frame = pd.read_csv(path)
    frame["Volume"] = 1_000_000 + 1_000 * frame.index
    path = tmp_path / "VOL.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_refuses_range_features_that_read_zero_in_one_line(tmp_path: Path) -> None:
    """Issue 12: a file without open/high/low gives range features that are all zero; train,
    backtest (the same recipe) and tune refuse them with one line naming the usable ones."""
    assert run("fetch", "VOL", "--csv", str(_close_volume_csv(tmp_path)), "-q").exit_code == 0
    for cmd in ("train", "backtest"):
        out = run(cmd, "VOL", *FAST)
        assert out.exit_code == 1, out.output
        line = out.output.strip()
        assert "\n" not in line and "Traceback" not in line
        assert "hl_pct, pct_change read zero in every training session of VOL" in line
        assert line.endswith("`--features log_return,log_volume_change`")
    one = run("train", "VOL", *FAST, "--features", "log_return,hl_pct")
    assert one.exit_code == 1 and "feature hl_pct reads zero" in one.output
    assert one.output.strip().endswith("`--features log_return`")


@pytest.mark.slow
def test_the_offered_features_train(tmp_path: Path) -> None:
    assert run("fetch", "VOL", "--csv", str(_close_volume_csv(tmp_path)), "-q").exit_code == 0
    ok = run("train", "VOL", *FAST, "--features", "log_return,log_volume_change")
    assert ok.exit_code == 0, ok.output

"""The naive start (the floor of every model) is chosen per horizon on validation only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_prices

from stockcast.forecasting import choosestart, naivestart
from stockcast.models.manifest import Manifest, Member
from stockcast.models.store import series_view
from stockcast.prep.dataset import build_multi
from stockcast.prep.windows import DataConfig, build_dataset
from stockcast.training.globaljob import choose_starts, common_split
from stockcast.training.recipe import choose_start
from stockcast.training.results import TrainResult

DATA = DataConfig(lookback=20, horizon=5, features=("log_return",))


def regime_prices(train_drift: float, later_drift: float, n: int = 900, seed: int = 0,
                  vol: float = 0.006) -> pd.DataFrame:  # fmt: skip
    """A random walk whose daily drift is ``train_drift`` over the first 70% of the sessions
    (the training part) and ``later_drift`` after it (validation and test)."""
    frame = synthetic_prices(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    drift = np.where(np.arange(n) < int(0.7 * n), train_drift, later_drift)
    close = 50.0 * np.exp(np.cumsum(rng.normal(drift, vol)))
    scale = close / frame["close"].to_numpy()
    for col in ("open", "high", "low", "close"):
        frame[col] = frame[col].to_numpy() * scale
    frame["adj_close"] = frame["close"] * 0.9
    return frame


def test_drift_wrong_on_validation_starts_at_persistence():
    """Training trends up, validation does not (persistence beats drift there): persistence."""
    ds = build_dataset("FLAT", regime_prices(0.004, -0.001), DATA)
    assert np.mean(ds.y[ds.window_slice("train")][:, 0]) > 0.003  # drift says "up"
    np.testing.assert_array_equal(choose_start(ds), np.zeros(5))


def test_drift_right_on_validation_starts_at_drift():
    """The trend of the training part goes on through validation: the start is drift."""
    ds = build_dataset("TREND", regime_prices(0.002, 0.002), DATA)
    np.testing.assert_array_equal(choose_start(ds), np.ones(5))


def test_the_choice_never_reads_the_test_part():
    """Rewriting every price of the test part changes nothing in the choice."""
    prices = regime_prices(0.004, -0.001)
    ds = build_dataset("FLAT", prices, DATA)
    later = prices.copy()
    first_test_target = ds.offset + ds.parts["test"].start + 1
    for col in ("open", "high", "low", "close", "adj_close"):
        later.iloc[first_test_target:, later.columns.get_loc(col)] *= 1.5
    np.testing.assert_array_equal(choose_start(build_dataset("FLAT", later, DATA)),
                                  choose_start(ds))  # fmt: skip


def test_choose_keeps_drift_unless_another_start_is_significantly_better():
    """Noise alone (no significant difference) keeps drift; a clear advantage of half the drift
    at one horizon moves that horizon only."""
    rng = np.random.default_rng(0)
    drift = np.array([0.001, 0.002])
    y = rng.normal(0.0005, 0.02, size=(300, 2))  # between the candidates, very noisy
    np.testing.assert_array_equal(choosestart.choose(y, np.full(300, 10.0), drift), [1.0, 1.0])
    y = np.column_stack([rng.normal(0.001, 0.001, 300), rng.normal(0.001, 0.001, 300)])
    got = choosestart.choose(y, np.full(300, 10.0), drift)  # h=2: 0.001 is half the drift
    np.testing.assert_array_equal(got, [1.0, 0.5])
    assert list(choosestart.choose(y[:2], np.ones(2), drift)) == [1.0, 1.0]  # too few windows


def test_a_global_model_chooses_per_series():
    """Each series of a global model gets its own start, from its own validation windows."""
    prices = {"FLAT": regime_prices(0.004, -0.001), "TREND": regime_prices(0.002, 0.002, seed=1)}
    ds = build_multi(prices, DATA, common_split(prices, DATA))
    shares = choose_starts(ds)
    assert shares.shape == (2, 5)
    np.testing.assert_array_equal(shares[ds.symbols.index("FLAT")], np.zeros(5))
    np.testing.assert_array_equal(shares[ds.symbols.index("TREND")], np.ones(5))


@pytest.mark.parametrize(
    ("shares", "words"),
    [
        ([1.0] * 5, "drift"),
        ([0.0, 0.0, 0.0, 1.0, 1.0], "persistence at h=1-3, drift at h=4-5"),
        ([0.0, 0.5, 1.0], "persistence at h=1, half the drift at h=2, drift at h=3"),
    ],
)
def test_the_start_in_words(shares, words):
    assert naivestart.describe(shares) == words


def test_a_model_saved_before_the_choice_reads_half_the_drift():
    """Manifests without ``start_drift`` (format 1 and earlier format 2) started at the
    midpoint at every horizon, and say so."""
    v1 = {"ticker": "MSFT", "horizon": 3, "scalers": {}, "split": {}}
    v2 = {"format_version": 2, "horizon": 3, "series": {"MSFT": {"scalers": {}, "split": {}}}}
    for manifest in (v1, v2):
        assert series_view(Manifest.from_json(manifest)).start_drift == (0.5, 0.5, 0.5)
    v2["series"]["MSFT"]["start_drift"] = [0.0, 1.0, 1.0]
    assert series_view(Manifest.from_json(v2)).start_drift == (0.0, 1.0, 1.0)


def test_train_says_which_start_a_member_kept():
    """`0*` in train's table: the caption names the naive start each such model forecasts."""
    import io

    from rich.console import Console

    from stockcast.cli.train import training_table

    def result(sym: str, best: list[int], start: str) -> TrainResult:
        members = tuple(Member(seed=i, best_epoch=b) for i, b in enumerate(best))
        return TrainResult(
            ticker=sym, model="m", path="p", epochs=5, best_epoch=max(best), val_loss=0.25,
            initial_val_loss=0.3, train_windows=10, val_windows=5, test_windows=5, seconds=1.0,
            cpu_seconds=1.0, live_seconds=0.5, total_seconds=2.0, device="cpu (1 thread)",
            windows_per_s=100.0, gflops_per_s=0.1, interrupted=False, note="",
            start_drift=(0.0,), start=start, ensemble=len(best), members=members, workers=1,
            ensemble_seconds_ratio=1.0, live=None, evaluation={},
        )  # fmt: skip

    def caption(results: list[TrainResult]) -> str:
        con = Console(width=300, file=io.StringIO(), color_system=None)
        con.print(training_table(results))
        return " ".join(con.file.getvalue().split())

    mixed = "persistence at h=1-3, drift at h=4-5"
    assert f"it forecasts the naive start ({mixed})" in caption([result("GE", [0, 0], mixed)])
    both = caption([result("GE", [0, 2], mixed), result("KO", [0], "drift")])
    assert f"(GE: {mixed}; KO: drift)" in both
    assert "naive start" not in caption([result("KO", [3], "drift")])

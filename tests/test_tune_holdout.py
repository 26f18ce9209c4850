"""`tune`'s reported backtest shares no session with the search: its blocks start after the
last session the search saw, and a backtest planted over the search is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import synthetic_prices

from stockcast.data.store import PriceStore
from stockcast.errors import DataError
from stockcast.forecasting import walkforward
from stockcast.options import DataConfig
from stockcast.prep import windows
from stockcast.training import tune as tuning


def _rows(blocks: list[tuple[int, int]], dates: list[str]) -> list[dict]:
    """Fold rows as `backtest --json` has them: the first as-of session is o_k - 1."""
    return [{"test_start": dates[o - 1]} for o, _ in blocks]


@pytest.mark.parametrize("n", [1200, 2600, 5001])
def test_the_blocks_after_the_search_start_after_its_last_session(n: int) -> None:
    d = DataConfig()
    _, searched = windows.fraction_bounds(n, d.val_frac, d.test_frac)  # what tune searches
    dates = [f"{i:06d}" for i in range(n)]  # sortable session labels
    blocks = walkforward.fold_blocks(n, 5, tuning.after_search_share(n, searched))
    assert blocks[-1][1] == n - 1
    assert all(o - 1 >= searched for o, _ in blocks)  # first as-of after the search's last
    tuning.check_after_search(_rows(blocks, dates), dates[searched - 1])
    # planted overlap: the default backtest's blocks cover the last 30%, half in the search
    planted = walkforward.fold_blocks(n, 5)
    assert planted[0][0] < searched
    with pytest.raises(DataError, match="overlap the search"):
        tuning.check_after_search(_rows(planted, dates), dates[searched - 1])


def test_nothing_after_the_search_is_an_error() -> None:
    with pytest.raises(DataError, match="fetch newer prices"):
        tuning.after_search_share(100, 99)


@pytest.mark.slow
def test_tune_json_backtest_lies_after_searched_through(stockcast_home: Path) -> None:
    PriceStore(stockcast_home).write("SYN", synthetic_prices(1200, seed=3), source="csv")
    cmd = [sys.executable, "-m", "stockcast", "--data-dir", str(stockcast_home), "tune", "SYN",
           "--trials", "1", "--json", "--hidden", "4", "--lookback", "10", "--epochs", "1",
           "--batch-size", "512", "--horizon", "2"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    res = json.loads(out.stdout)
    through = res["searched_through"]
    assert res["backtest"]["searched_through"] == through
    assert res["backtest"]["folds"]
    assert all(f["test_start"] > through for f in res["backtest"]["folds"])

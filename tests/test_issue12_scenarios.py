"""Scenarios of issue 12's "Why" that no other test file reproduced (the mapping of every scenario
to its test is in the audit note of that issue): OHLC filled from the close in the import report,
range features that read zero, diverging training at the command line and inside `run`, today's
unfinished session in a CSV import, symbols that would be stored as hidden files.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from helpers import run

from stockcast.data import ingest
from stockcast.data.store import PriceStore
from stockcast.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from stockcast.models import store as modelstore
from stockcast.training import loop

SAMPLE = Path(__file__).parents[1] / "stockcast" / "sample" / "MSFT.csv"


def one_line(out) -> str:
    text = out.stderr.strip()
    assert "\n" not in text and "Traceback" not in text, text
    return text


# OHLC filled from the close is counted in the import report, per symbol --------------------
def test_a_close_only_import_counts_the_rows_filled_from_the_close(tmp_path: Path) -> None:
    path = tmp_path / "C.csv"
    path.write_text("Date,Close,Volume\n2024-01-02,10,5\n2024-01-03,11,6\n2024-01-04,12,7\n")
    text = run("fetch", "C", "--csv", str(path))
    assert text.exit_code == 0, text.output
    assert "C: 3 rows with a missing or non-positive open/high/low set to the close" in text.stdout
    assert "no open, high or low in the source" in text.stdout
    [obj] = json.loads(run("fetch", "C", "--csv", str(path), "--json").stdout)
    assert obj["issues"] == {"filled_prices": 3}
    assert "no open, high or low in the source" in obj["notes"][0]


def test_a_wide_table_counts_the_filled_rows_of_each_symbol(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("Date,AAA,BBB\n2024-01-02,1,\n2024-01-03,1.1,2\n2024-01-04,1.2,2.1\n")
    out = run("fetch", "--csv", str(path), "--json")
    assert out.exit_code == 0, out.output
    issues = {o["ticker"]: o["issues"] for o in json.loads(out.stdout)}
    assert issues == {"AAA": {"filled_prices": 3}, "BBB": {"filled_prices": 2}}


# a diverging training: a training error naming --lr, never Ctrl-C ---------------------------
@pytest.mark.parametrize("lr", ["inf", "1e30", "nan"])
def test_an_lr_out_of_range_is_refused_before_training(sample: Path, lr: str) -> None:
    out = run("train", "MSFT", "--lr", lr)
    assert out.exit_code == EXIT_USAGE
    assert "--lr must be in" in one_line(out)
    assert modelstore.list_models(sample, "MSFT") == []


@pytest.fixture
def diverging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every training epoch ends with a non-finite loss (as a too-high learning rate gives)."""
    monkeypatch.setattr(loop, "_train_epoch", lambda *args, **kwargs: math.nan)


FAST = ["--epochs", "2", "--hidden", "8", "--lookback", "20", "--ensemble", "1", "-q"]


def test_a_diverging_training_is_exit_1_naming_the_lr(sample: Path, diverging) -> None:
    out = run("train", "MSFT", *FAST)
    assert out.exit_code == EXIT_ERROR != EXIT_INTERRUPTED
    line = one_line(out)
    assert "training diverged" in line and "lower --lr" in line
    assert modelstore.list_models(sample, "MSFT") == []


def test_a_diverging_training_in_run_does_not_stop_the_other_symbols(
    sample: Path, tmp_path: Path, diverging
) -> None:
    feed = tmp_path / "ABC.csv"
    pd.read_csv(SAMPLE).iloc[:700].to_csv(feed, index=False)
    assert run("fetch", "ABC", "--csv", str(feed), "-q").exit_code == 0
    (sample / "stockcast.toml").write_text(
        'symbols = ["MSFT", "ABC"]\nstale_sessions = 100000\n'
        "[train]\nepochs = 2\nhidden = 8\nlookback = 20\nensemble = 1\n"
    )
    out = run("run", "--quiet", "--json")
    assert out.exit_code == EXIT_ERROR  # every symbol failed, none was skipped
    symbols = json.loads(out.stdout)["symbols"]
    assert [s["ticker"] for s in symbols] == ["MSFT", "ABC"]
    assert all("lower --lr" in s["error"] for s in symbols)


# today's unfinished session of a CSV import is not stored -----------------------------------
def test_a_csv_import_drops_the_session_still_trading(tmp_path: Path) -> None:
    days = pd.bdate_range("2024-01-02", "2024-01-10")  # NYSE sessions, no holiday among them
    path = tmp_path / "ABC.csv"
    frame = pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": range(10, 10 + len(days))})
    frame.to_csv(path, index=False)
    store = PriceStore(tmp_path / "home")
    during = dt.datetime(2024, 1, 10, 18, 0, tzinfo=dt.UTC)  # 1 pm in New York
    result = ingest.ingest_csv(store, "ABC", path, now=during)
    assert store.read("ABC").index[-1] == pd.Timestamp("2024-01-09")
    assert result.issues["future_sessions"] == 1
    assert any("2024-01-10" in note for note in result.notes)


# symbols that would be hidden files or case-folded into another symbol -----------------------
def test_a_table_column_that_is_no_symbol_refuses_the_import(
    stockcast_home: Path, tmp_path: Path
) -> None:
    for bad in (".HID", "ß"):
        path = tmp_path / "wide.csv"
        path.write_text(f"Date,{bad},OK\n2024-01-02,1,3\n2024-01-03,1.1,3.1\n")
        out = run("fetch", "--csv", str(path), "--json")
        assert out.exit_code == EXIT_USAGE
        assert f"{bad!r} is not a ticker symbol" in one_line(out)
        prices = stockcast_home / "prices"
        assert not prices.exists() or not list(prices.iterdir())  # no hidden file, no SS

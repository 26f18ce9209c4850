"""Validation: every drop and repair is counted; good data passes untouched."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockcast.data.sources.sample import load_sample
from stockcast.data.store import COLUMNS
from stockcast.data.validate import validate


def frame(rows: list[dict], dates: list[str]) -> pd.DataFrame:
    base = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0, "adj_close": 10.0}
    base |= {"volume": 100.0, "dividends": 0.0, "splits": 0.0}
    df = pd.DataFrame([base | r for r in rows], index=pd.DatetimeIndex(dates, name="date"))
    return df[COLUMNS]


def test_sample_passes_whole() -> None:
    raw = load_sample()
    clean, report = validate(raw)
    assert len(clean) == 7983 and report.counts() == {}
    pd.testing.assert_frame_equal(clean, raw, check_freq=False)


def test_duplicates_keep_last_and_sort() -> None:
    df = frame(
        [{"close": 10}, {"close": 10.5}, {"close": 10.2}],
        ["2024-01-03", "2024-01-02", "2024-01-03"],
    )
    clean, report = validate(df)
    assert list(clean.index.strftime("%m-%d")) == ["01-02", "01-03"]
    assert clean.loc["2024-01-03", "close"] == 10.2
    assert report.counts() == {"duplicates": 1}
    assert report.lines() == ["1 duplicate session dropped (kept the last of each)"]


def test_bad_close_rows_dropped() -> None:
    df = frame(
        [{}, {"close": 0.0}, {"close": -1.0}, {"close": np.nan}],
        ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"],
    )
    clean, report = validate(df)
    assert len(clean) == 1 and report.bad_close == 3


def test_high_low_widened_and_open_filled() -> None:
    df = frame(
        [{"high": 9.5}, {"low": 10.5}, {"open": np.nan}],
        ["2024-01-02", "2024-01-03", "2024-01-04"],
    )
    clean, report = validate(df)
    assert report.high_low_repaired == 2 and report.filled_prices == 1
    assert (clean["high"] >= clean[["open", "close"]].max(axis=1)).all()
    assert (clean["low"] <= clean[["open", "close"]].min(axis=1)).all()
    assert clean.loc["2024-01-04", "open"] == 10.0


def test_negative_volume_becomes_unknown() -> None:
    clean, report = validate(frame([{"volume": -5.0}], ["2024-01-02"]))
    assert math.isnan(clean["volume"].iloc[0]) and report.negative_volume == 1


def test_missing_adj_close_rebuilt_from_neighbouring_ratio() -> None:
    df = frame(
        [{"adj_close": 9.0}, {"adj_close": np.nan, "close": 20.0, "high": 21}],
        ["2024-01-02", "2024-01-03"],
    )
    clean, report = validate(df)
    assert clean["adj_close"].iloc[1] == pytest.approx(18.0) and report.filled_adj_close == 1


def test_absurd_moves_flagged_not_dropped_unless_split() -> None:
    df = frame(
        [{}, {"close": 40.0, "high": 41}, {"close": 10.0, "splits": 0.25}],
        ["2024-01-02", "2024-01-03", "2024-01-04"],
    )
    clean, report = validate(df)
    assert len(clean) == 3
    assert report.absurd_moves == 1 and report.absurd_dates == ["2024-01-03"]
    assert "2024-01-03" in report.lines()[0]


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=-5, max_value=1e4) | st.just(math.nan), min_size=1, max_size=30)
)
def test_output_always_satisfies_the_invariants(closes: list[float]) -> None:
    dates = pd.bdate_range("2024-01-01", periods=len(closes)).strftime("%Y-%m-%d").tolist()
    df = frame([{"close": c, "open": c * 1.01 if c == c else 1.0} for c in closes], dates)
    clean, report = validate(df)
    assert len(clean) + report.bad_close == len(closes)
    assert (clean["close"] > 0).all() and clean.index.is_monotonic_increasing
    assert (clean["high"] >= clean[["open", "close"]].max(axis=1)).all()
    assert (clean["low"] <= clean[["open", "close"]].min(axis=1)).all()


def test_infinite_prices_count_as_missing() -> None:
    inf = float("inf")
    df = frame(
        [{"close": inf}, {"open": inf, "high": -inf}, {"adj_close": inf}],
        ["2024-01-02", "2024-01-03", "2024-01-04"],
    )
    clean, report = validate(df)
    assert list(clean.index.strftime("%Y-%m-%d")) == ["2024-01-03", "2024-01-04"]
    assert np.isfinite(clean[["open", "high", "low", "close", "adj_close"]].to_numpy()).all()
    # open and high of one row: one row filled
    assert (report.bad_close, report.filled_prices, report.filled_adj_close) == (1, 1, 1)


def test_infinite_volume_is_counted_and_stored_as_unknown() -> None:
    df = frame([{"volume": math.inf}, {"volume": -math.inf}, {}], ["2024-01-02", "2024-01-03",
                                                                  "2024-01-04"])  # fmt: skip
    clean, report = validate(df)
    assert clean["volume"].isna().tolist() == [True, True, False]
    assert report.counts() == {"negative_volume": 1, "infinite_volume": 1}  # -inf is negative
    assert "1 infinite volume set to unknown" in report.lines()


def test_open_high_low_a_source_lacks_are_counted_per_row_and_named() -> None:
    """Issue 12: OHLC filled from the close is counted in the import report (rows, and the
    columns the source lacks named), as the README says."""
    df = frame([{}, {}, {}], ["2024-01-02", "2024-01-03", "2024-01-04"])
    df[["open", "high", "low"]] = np.nan  # a close-only CSV
    clean, report = validate(df)
    assert (clean["open"] == clean["close"]).all() and (clean["high"] == clean["close"]).all()
    assert report.counts() == {"filled_prices": 3}
    assert report.filled_columns == ["open", "high", "low"]
    assert report.lines() == [
        "3 rows with a missing or non-positive open/high/low set to the close "
        "(no open, high or low in the source; range features read zero)"
    ]


def test_a_few_missing_opens_do_not_name_a_column() -> None:
    df = frame([{"open": np.nan}, {}], ["2024-01-02", "2024-01-03"])
    _, report = validate(df)
    assert report.filled_prices == 1 and report.filled_columns == []
    assert report.lines() == ["1 row with a missing or non-positive open/high/low set to the close"]

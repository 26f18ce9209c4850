"""Scoring logged forecasts, checked against figures worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from stockcast.schedule import forecastlog
from stockcast.schedule.score import NO_OUTCOMES, HorizonScore, level_key, realised_total, score

CLOSES = pd.Series(
    [100.0, 102.0, 99.0, 105.0],
    index=pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]),
)


def row(as_of, target, h, close, last, level, lower, upper, model="m"):
    return dict(
        made_at=pd.Timestamp("2024-01-02 22:00", tz="UTC"),
        model=model,
        as_of=as_of,
        target=target,
        h=h,
        close=close,
        last_close=last,
        level=level,
        lower=lower,
        upper=upper,
        stale=False,
        origin="run",
    )


def make_log() -> pd.DataFrame:
    rows = [
        # as of 01-02 (close 100): h=1 -> 01-03 (actual 102), h=2 -> 01-04 (actual 99)
        row("2024-01-02", "2024-01-03", 1, 101.0, 100.0, 0.8, 100.5, 101.5),  # 102 outside
        row("2024-01-02", "2024-01-03", 1, 101.0, 100.0, 0.9, 99.0, 103.0),  # inside
        row("2024-01-02", "2024-01-04", 2, 103.0, 100.0, 0.8, 101.0, 105.0),  # 99 outside
        row("2024-01-02", "2024-01-04", 2, 103.0, 100.0, 0.9, 98.0, 108.0),  # inside
        # as of 01-03 (close 102): h=1 -> 01-04 (actual 99), h=2 -> 01-05 (actual 105)
        row("2024-01-03", "2024-01-04", 1, 100.0, 102.0, 0.8, 99.0, 101.0),  # 99 inside (edge)
        row("2024-01-03", "2024-01-04", 1, 100.0, 102.0, 0.9, 97.0, 103.0),  # inside
        row("2024-01-03", "2024-01-05", 2, 104.0, 102.0, 0.8, 100.0, 104.5),  # 105 outside
        row("2024-01-03", "2024-01-05", 2, 104.0, 102.0, 0.9, 99.0, 106.0),  # inside
        # as of 01-05: its targets are not stored yet (pending)
        row("2024-01-05", "2024-01-08", 1, 106.0, 105.0, 0.9, 100.0, 110.0),
        row("2024-01-05", "2024-01-09", 2, 107.0, 105.0, 0.9, 100.0, 110.0),
    ]
    return forecastlog.normalize(pd.DataFrame(rows))


def _head(s: HorizonScore) -> tuple:
    return (s.h, s.n, s.pending, s.mae, s.persistence_mae, s.coverage)


def test_score_matches_a_hand_computation() -> None:
    scores = score(make_log(), CLOSES)
    assert [s.h for s in scores] == [1, 2]
    h1, h2 = scores
    # h=1: errors |101-102| = 1 and |100-99| = 1 -> MAE 1.0
    #      persistence |100-102| = 2 and |102-99| = 3 -> 2.5
    #      80%: 102 in [100.5, 101.5]? no; 99 in [99, 101]? yes -> 0.5; 90%: both inside -> 1.0
    assert _head(h1) == (1, 2, 1, 1.0, 2.5, {"0.8": 0.5, "0.9": 1.0})
    # interval scores in units of the last close: 80% as of 01-02 misses 102 by 0.5 above
    # [100.5, 101.5]: (1 + 2/0.2 x 0.5) / 100; as of 01-03 width 2 / 102; 90%: widths 4 and 6
    assert h1.interval_score["0.8"] == pytest.approx((6 / 100 + 2 / 102) / 2)
    assert h1.interval_score["0.9"] == pytest.approx((4 / 100 + 6 / 102) / 2)
    assert h1.ewma_coverage == {} and h1.ewma_interval_score == {}  # none logged
    # h=2: errors |103-99| = 4 and |104-105| = 1 -> 2.5
    #      persistence |100-99| = 1 and |102-105| = 3 -> 2.0
    #      80%: 99 in [101, 105]? no; 105 in [100, 104.5]? no -> 0.0; 90%: both -> 1.0
    assert _head(h2) == (2, 2, 1, 2.5, 2.0, {"0.8": 0.0, "0.9": 1.0})
    assert realised_total(scores) == 4


def test_the_logged_ewma_band_is_scored_beside_the_model_band() -> None:
    log = make_log()
    log["ewma_lower"] = log["lower"] - 1.0  # a wider baseline band, logged with each forecast
    log["ewma_upper"] = log["upper"] + 1.0
    h1 = score(forecastlog.normalize(log), CLOSES)[0]
    # 80%: 102 in [99.5, 102.5] and 99 in [98, 102]: both inside; widths 3 and 4
    assert h1.ewma_coverage == {"0.8": 1.0, "0.9": 1.0}
    assert h1.ewma_interval_score["0.8"] == pytest.approx((3 / 100 + 4 / 102) / 2)


def test_outcomes_are_compared_in_the_prices_of_the_as_of_session() -> None:
    # A later dividend halves the whole stored adjusted history: the scores do not change.
    assert score(make_log(), CLOSES / 2) == score(make_log(), CLOSES)


def test_nothing_realised_yet() -> None:
    log = make_log()
    future = log[log["as_of"] == "2024-01-05"]
    scores = score(future, CLOSES)
    assert realised_total(scores) == 0
    assert scores[0] == HorizonScore(1, 0, 1, None, None, {})
    assert score(forecastlog.empty(), CLOSES) == []
    assert NO_OUTCOMES == "no realised outcomes yet"


def test_each_forecast_counts_once_and_models_are_separate_forecasts() -> None:
    log = make_log()
    other = log[log["as_of"] == "2024-01-02"].assign(model="m2", close=102.0)
    both = pd.concat([log, other], ignore_index=True)
    h1 = score(both, CLOSES)[0]
    # h=1 now has errors 1, 1 and |102-102| = 0 -> 2/3; persistence 2, 3, 2 -> 7/3
    assert h1.n == 3
    assert math.isclose(h1.mae, 2 / 3)
    assert math.isclose(h1.persistence_mae, 7 / 3)


@pytest.mark.parametrize(("level", "key"), [(0.9, "0.9"), (0.8, "0.8"), (0.95, "0.95")])
def test_level_keys(level: float, key: str) -> None:
    assert level_key(level) == key

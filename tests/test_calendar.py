"""Trading-session dates: holidays, weekends, suffix inference, one build per process."""

from __future__ import annotations

import datetime as dt

import pytest

from stockcast.data import calendar as cal
from stockcast.errors import UsageError

D = dt.date


def test_new_year_acceptance() -> None:
    assert cal.next_sessions(D(2018, 12, 31), 5) == [
        D(2019, 1, 2),
        D(2019, 1, 3),
        D(2019, 1, 4),
        D(2019, 1, 7),
        D(2019, 1, 8),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Good Friday 2019-04-19 is closed; then the weekend
        (D(2019, 4, 18), [D(2019, 4, 22), D(2019, 4, 23)]),
        # Christmas 2019 (a Wednesday)
        (D(2019, 12, 24), [D(2019, 12, 26), D(2019, 12, 27), D(2019, 12, 30)]),
        # a Friday: skip the weekend
        (D(2019, 3, 8), [D(2019, 3, 11)]),
        # a Saturday is not a session: the first session after it is Monday
        (D(2019, 3, 9), [D(2019, 3, 11), D(2019, 3, 12)]),
        # from the data-layer note: the sessions after 2025-12-23
        (D(2025, 12, 23), [D(2025, 12, 24), D(2025, 12, 26), D(2025, 12, 29)]),
    ],
)
def test_next_sessions_skip_holidays_and_weekends(after: dt.date, expected: list) -> None:
    assert cal.next_sessions(after, len(expected)) == expected


def test_calendar_code_for_suffixes_and_override() -> None:
    assert cal.calendar_code_for("AAPL") == "XNYS"
    assert cal.calendar_code_for("vod.l") == "XLON"
    assert cal.calendar_code_for("SHOP.TO") == "XTSE"
    assert cal.calendar_code_for("AAPL", "xlon") == "XLON"


def test_london_calendar_differs_from_new_york() -> None:
    # 2019-12-26 is Boxing Day in London (closed) but a session in New York
    assert cal.next_sessions(D(2019, 12, 24), 1, "XLON") == [D(2019, 12, 27)]


def test_unknown_calendar_is_one_clear_line() -> None:
    with pytest.raises(UsageError) as err:
        cal.next_sessions(D(2019, 1, 2), 1, cal.calendar_code_for("AAPL", "NOPE"))
    msg = str(err.value)
    assert "\n" not in msg and "NOPE" in msg and "XNYS" in msg


def test_calendar_with_a_late_start_is_clamped_not_an_error() -> None:
    # XTKS rules start in 1997; building from 1980 used to raise inside exchange_calendars
    assert cal.next_sessions(D(2019, 1, 1), 1, "XTKS") == [D(2019, 1, 4)]
    with pytest.raises(UsageError, match="outside the dates"):
        cal.next_sessions(D(1990, 1, 5), 1, "XTKS")


def test_calendar_built_once_per_process() -> None:
    cal.next_sessions(D(2018, 12, 31), 5)
    before = cal._build.cache_info()
    cal.next_sessions(D(2017, 11, 10), 5)
    cal.last_completed_session()
    cal.get_calendar("xnys")
    after = cal._build.cache_info()
    assert after.misses == before.misses and after.currsize == before.currsize


def test_last_completed_session_respects_the_close() -> None:
    # Wednesday 2019-01-02, NYSE closes 21:00 UTC
    assert cal.last_completed_session(dt.datetime(2019, 1, 2, 20, 0, tzinfo=dt.UTC)) == D(
        2018, 12, 31
    )
    assert cal.last_completed_session(dt.datetime(2019, 1, 2, 21, 30, tzinfo=dt.UTC)) == D(
        2019, 1, 2
    )
    # a Sunday: the Friday before
    assert cal.last_completed_session(dt.datetime(2019, 1, 6, 12, 0)) == D(2019, 1, 4)

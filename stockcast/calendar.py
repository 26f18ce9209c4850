"""Exchange calendars for session dates: built once per process, only when needed.

Rule-based and offline (``exchange_calendars``): no weekends, no holidays, early closes known.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING

from stockcast.errors import UsageError

if TYPE_CHECKING:
    import exchange_calendars as xcals

DEFAULT_CALENDAR = "XNYS"
# Yahoo suffix -> exchange calendar code. Symbols without a known suffix trade on NYSE hours.
SUFFIX_CALENDARS = {
    ".L": "XLON",
    ".TO": "XTSE",
    ".V": "XTSX",
    ".DE": "XETR",
    ".F": "XFRA",
    ".PA": "XPAR",
    ".AS": "XAMS",
    ".BR": "XBRU",
    ".MI": "XMIL",
    ".MC": "XMAD",
    ".LS": "XLIS",
    ".SW": "XSWX",
    ".ST": "XSTO",
    ".CO": "XCSE",
    ".HE": "XHEL",
    ".OL": "XOSL",
    ".VI": "XWBO",
    ".IR": "XDUB",
    ".WA": "XWAR",
    ".T": "XTKS",
    ".HK": "XHKG",
    ".AX": "XASX",
    ".NZ": "XNZE",
    ".SI": "XSES",
    ".KS": "XKRX",
    ".TW": "XTAI",
    ".SS": "XSHG",
    ".BO": "XBOM",
    ".NS": "XBOM",
    ".SA": "BVMF",
    ".MX": "XMEX",
    ".JO": "XJSE",
    ".TA": "XTAE",
}
_FIRST_YEAR = 1980  # calendars are built from here (or earlier when a series needs it)


def calendar_code_for(symbol: str, override: str | None = None) -> str:
    """Calendar code for a symbol: ``override`` if given, else inferred from its suffix."""
    if override:
        return override.upper()
    sym = symbol.upper()
    for suffix, code in SUFFIX_CALENDARS.items():
        if sym.endswith(suffix):
            return code
    return DEFAULT_CALENDAR


@functools.lru_cache(maxsize=16)
def get_calendar(
    code: str = DEFAULT_CALENDAR, first_year: int = _FIRST_YEAR
) -> xcals.ExchangeCalendar:
    """The calendar ``code`` from ``first_year`` to two years ahead (cached per process)."""
    import exchange_calendars as xcals

    end = dt.date.today().year + 2
    try:
        return xcals.get_calendar(code, start=f"{first_year}-01-01", end=f"{end}-12-31")
    except xcals.errors.InvalidCalendarName:
        raise UsageError(
            f"unknown exchange calendar {code!r}; use a code such as XNYS, XLON or XTSE"
        ) from None


def _calendar_covering(code: str, day: dt.date) -> xcals.ExchangeCalendar:
    year = min(_FIRST_YEAR, day.year - 1)
    return get_calendar(code, year)


def next_sessions(after: dt.date, n: int, code: str = DEFAULT_CALENDAR) -> list[dt.date]:
    """The ``n`` trading sessions strictly after ``after``."""
    import pandas as pd

    cal = _calendar_covering(code, after)
    first = cal.date_to_session(pd.Timestamp(after), direction="next")
    if first.date() == after:
        first = cal.next_session(first)
    return [s.date() for s in cal.sessions_window(first, n)]


def last_completed_session(now: dt.datetime | None = None, code: str = DEFAULT_CALENDAR) -> dt.date:
    """The latest session whose close has passed at ``now`` (UTC, default: the current time)."""
    import pandas as pd

    now = now or dt.datetime.now(dt.UTC)
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    cal = _calendar_covering(code, stamp.date())
    session = cal.date_to_session(pd.Timestamp(stamp.date()), direction="previous")
    if cal.session_close(session) > stamp:
        session = cal.previous_session(session)
    return session.date()


def is_session_closed(
    session: dt.date, now: dt.datetime | None = None, code: str = DEFAULT_CALENDAR
) -> bool:
    """Whether the bar of ``session`` is final at ``now`` (its close has passed)."""
    return session <= last_completed_session(now, code)

"""Exchange calendars for session dates: built once per process, only when needed.

Rule-based and offline (``exchange_calendars``): no weekends, no holidays, early closes known.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings

import exchange_calendars as xcals
import pandas as pd

from stockcast.errors import UsageError

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


def get_calendar(
    code: str = DEFAULT_CALENDAR, first_year: int = _FIRST_YEAR
) -> xcals.ExchangeCalendar:
    """The calendar ``code`` from ``first_year`` (or its earliest supported date) to two years
    ahead (or its latest), built once per process and code (about 0.1 s)."""
    return _build(code.upper(), int(first_year))


@functools.lru_cache(maxsize=16)
def _build(code: str, first_year: int) -> xcals.ExchangeCalendar:
    dispatcher = xcals.calendar_utils.global_calendar_dispatcher
    try:
        cls = dispatcher._calendar_factories.get(dispatcher.resolve_alias(code))
    except xcals.errors.InvalidCalendarName:
        raise UsageError(
            f"unknown exchange calendar {code!r}; use a code such as XNYS, XLON or XTSE"
        ) from None
    start = pd.Timestamp(f"{first_year}-01-01")
    end = pd.Timestamp(f"{dt.date.today().year + 2}-12-31")
    if cls is not None:  # clamp to the range the calendar's holiday rules cover
        lo, hi = cls.bound_min(), cls.bound_max()
        start = max(start, lo) if lo is not None else start
        end = min(end, hi) if hi is not None else end
    try:
        with warnings.catch_warnings():  # pandas deprecations inside the library's rules
            warnings.simplefilter("ignore")
            return xcals.get_calendar(code, start=start, end=end)
    except (ValueError, KeyError) as exc:  # a calendar's own rules failing to build
        raise UsageError(
            f"exchange calendar {code} could not be built ({exc.__class__.__name__} inside "
            "exchange_calendars); pass --calendar with another code, e.g. XNYS"
        ) from None


def _calendar_covering(code: str, day: dt.date) -> xcals.ExchangeCalendar:
    cal = get_calendar(code, min(_FIRST_YEAR, day.year - 1))
    if not cal.first_session.date() <= day <= cal.last_session.date():
        raise UsageError(
            f"{day} is outside the dates exchange calendar {code} covers "
            f"({cal.first_session.date()} to {cal.last_session.date()}); "
            "pass --calendar with another code, e.g. XNYS"
        )
    return cal


def next_sessions(after: dt.date, n: int, code: str = DEFAULT_CALENDAR) -> list[dt.date]:
    """The ``n`` trading sessions strictly after ``after``."""

    cal = _calendar_covering(code, after)
    first = cal.date_to_session(pd.Timestamp(after), direction="next")
    if first.date() == after:
        first = cal.next_session(first)
    try:
        window = cal.sessions_window(first, n)
    except ValueError:
        raise UsageError(
            f"exchange calendar {code} ends on {cal.last_session.date()}, "
            f"before {n} sessions after {after}; forecast fewer sessions"
        ) from None
    return [s.date() for s in window]


def last_completed_session(now: dt.datetime | None = None, code: str = DEFAULT_CALENDAR) -> dt.date:
    """The latest session whose close has passed at ``now`` (UTC, default: the current time)."""

    now = now or dt.datetime.now(dt.UTC)
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    cal = _calendar_covering(code, stamp.date())
    session = cal.date_to_session(pd.Timestamp(stamp.date()), direction="previous")
    if cal.session_close(session) > stamp:
        session = cal.previous_session(session)
    return session.date()


def sessions_after(day: dt.date, until: dt.date, code: str = DEFAULT_CALENDAR) -> int:
    """The number of sessions strictly after ``day`` up to and including ``until`` (0 when
    ``until`` is not later): how far prices ending on ``day`` lag behind ``until``."""
    if until <= day:
        return 0
    cal = _calendar_covering(code, day)
    _calendar_covering(code, until)
    start, end = pd.Timestamp(day) + pd.Timedelta(days=1), pd.Timestamp(until)
    return len(cal.sessions_in_range(start, end))

"""Exchange calendars for session dates, answered from a session table cached on disk.

Rule-based and offline (``exchange_calendars``): no weekends, no holidays, early closes known.
Importing the library and building a calendar costs one to three seconds, so what forecasts ask
(the sessions after a date, the last completed session, the sessions between two dates) is
answered from a ``Sessions`` table: the session dates and their closes in UTC. With a data
directory (``root``) the table covers ten years back to two years ahead and is kept in
``<data>/cache/calendars/<CODE>.json`` (``calendarstore.py``), keyed by the library's version
and rebuilt when a date falls before it or a new year moves its end; without one it is built
from 1980 once per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import warnings
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from stockcast.data import calendarstore
from stockcast.errors import UsageError

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar

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


def get_calendar(code: str = DEFAULT_CALENDAR, first_year: int = _FIRST_YEAR) -> ExchangeCalendar:
    """The calendar ``code`` from ``first_year`` (or its earliest supported date) to two years
    ahead (or its latest), built once per process and code (about 0.1 s, after an import of
    a second or more: the session questions below use the cached ``Sessions`` instead)."""
    return _build(code.upper(), int(first_year))


@functools.lru_cache(maxsize=16)
def _build(code: str, first_year: int) -> ExchangeCalendar:
    import exchange_calendars as xcals  # only when a session table is (re)built

    dispatcher = xcals.calendar_utils.global_calendar_dispatcher
    try:
        cls = dispatcher._calendar_factories.get(dispatcher.resolve_alias(code))
    except xcals.errors.InvalidCalendarName:
        raise UsageError(
            f"unknown exchange calendar {code!r}; use a code such as XNYS, XLON or XTSE"
        ) from None
    start = pd.Timestamp(f"{first_year}-01-01")
    end = pd.Timestamp(_horizon_end())
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


# --- the session table ----------------------------------------------------------------------

CACHE_FORMAT = 1  # of the cache files; another value reads as missing
CACHE_YEARS_BACK = 10  # a cached table starts this many years before today (earlier if asked)
YEARS_AHEAD = 2  # every table ends on 31 December this many years after today's year


def _horizon_end() -> dt.date:
    return dt.date(dt.date.today().year + YEARS_AHEAD, 12, 31)


@functools.cache
def _library_version() -> str:
    """exchange_calendars' version (from its metadata: no import of the library)."""
    try:
        return importlib.metadata.version("exchange_calendars")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Sessions:
    """The sessions of one exchange calendar from ``start`` to ``end`` (the range asked of the
    library; the sessions may begin later where its rules do)."""

    code: str
    start: dt.date
    end: dt.date
    dates: list[dt.date]  # sessions, ascending
    closes: list[int]  # each session's close, seconds since the epoch (UTC)

    def answers(self, day: dt.date | None) -> bool:
        """Whether this table is the one to ask about ``day`` (not stale, starts early enough)."""
        return self.end >= _horizon_end() and (day is None or self.start <= day)

    def to_dict(self) -> dict:
        """The cache file's object."""
        return {
            "format": CACHE_FORMAT,
            "code": self.code,
            "exchange_calendars": _library_version(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "sessions": [d.isoformat() for d in self.dates],
            "closes": self.closes,
        }

    @classmethod
    def from_dict(cls, obj: dict | None, code: str) -> Sessions | None:
        """The table in a cache object; None when it is of another format, code or library
        version, or malformed."""
        if not obj or obj.get("format") != CACHE_FORMAT or obj.get("code") != code:
            return None
        if obj.get("exchange_calendars") != _library_version():
            return None
        try:
            dates = [dt.date.fromisoformat(d) for d in obj["sessions"]]
            closes = [int(c) for c in obj["closes"]]
            start, end = dt.date.fromisoformat(obj["start"]), dt.date.fromisoformat(obj["end"])
        except (KeyError, TypeError, ValueError):
            return None
        if len(dates) != len(closes) or dates != sorted(dates):
            return None
        return cls(code, start, end, dates, closes)

    @classmethod
    def from_calendar(cls, code: str, first_year: int) -> Sessions:
        """Build the table from ``exchange_calendars`` (UsageError for an unknown code)."""
        cal = get_calendar(code, first_year)
        days = cal.sessions.to_numpy().astype("datetime64[D]")
        closes = (cal.closes - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        return cls(code, dt.date(first_year, 1, 1), _horizon_end(), days.tolist(), closes.tolist())


_TABLES: dict[tuple[str, str | None], Sessions] = {}  # per process: (code, root) -> table


def sessions(
    code: str = DEFAULT_CALENDAR, root: Path | None = None, day: dt.date | None = None
) -> Any:
    """The session table of ``code`` that answers for ``day`` (any when None): from this
    process, else from ``root``'s cache, else built (and cached under ``root``). UsageError
    when ``code`` is not a calendar."""
    code = code.upper()
    key = (code, str(root) if root is not None else None)
    table = _TABLES.get(key)
    if table is None or not table.answers(day):
        table = _TABLES[key] = _load(code, root, day)
    return table


def _load(code: str, root: Path | None, day: dt.date | None) -> Sessions:
    first = _FIRST_YEAR if root is None else dt.date.today().year - CACHE_YEARS_BACK
    if day is not None:
        first = min(first, day.year - 1)
    if root is None:
        return Sessions.from_calendar(code, first)
    cached = Sessions.from_dict(calendarstore.read(root, code), code)
    if cached is not None:
        if cached.answers(day):
            return cached
        first = min(first, cached.start.year)  # a refresh never narrows the cached range
    table = Sessions.from_calendar(code, first)
    calendarstore.write(root, code, table.to_dict())
    return table


def check_calendar(code: str, root: Path | None = None) -> str:
    """``code`` upper-cased, checked to be an exchange calendar (UsageError naming examples)."""
    return sessions(code, root).code


def _covering(code: str, day: dt.date, root: Path | None) -> Sessions:
    table = sessions(code, root, day)
    if not table.dates or not table.dates[0] <= day <= table.dates[-1]:
        span = f"{table.dates[0]} to {table.dates[-1]}" if table.dates else "no sessions"
        raise UsageError(
            f"{day} is outside the dates exchange calendar {code} covers ({span}); "
            "pass --calendar with another code, e.g. XNYS"
        )
    return table


def next_sessions(
    after: dt.date, n: int, code: str = DEFAULT_CALENDAR, root: Path | None = None
) -> list[dt.date]:
    """The ``n`` trading sessions strictly after ``after``."""
    table = _covering(code, after, root)
    i = bisect_right(table.dates, after)
    if i + n > len(table.dates):
        raise UsageError(
            f"exchange calendar {code} ends on {table.dates[-1]}, "
            f"before {n} sessions after {after}; forecast fewer sessions"
        )
    return table.dates[i : i + n]


def last_completed_session(
    now: dt.datetime | None = None, code: str = DEFAULT_CALENDAR, root: Path | None = None
) -> dt.date:
    """The latest session whose close has passed at ``now`` (UTC, default: the current time;
    a naive time is taken as UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    table = _covering(code, now.date(), root)
    i = bisect_right(table.dates, now.date()) - 1  # the session on or before today
    if table.closes[i] > now.timestamp():  # not closed yet: the one before
        i -= 1
    if i < 0:
        raise UsageError(
            f"no session of exchange calendar {code} has closed by {now:%Y-%m-%d %H:%M} UTC "
            f"(its first is {table.dates[0]}); pass --calendar with another code, e.g. XNYS"
        )
    return table.dates[i]


def sessions_after(
    day: dt.date, until: dt.date, code: str = DEFAULT_CALENDAR, root: Path | None = None
) -> int:
    """The number of sessions strictly after ``day`` up to and including ``until`` (0 when
    ``until`` is not later): how far prices ending on ``day`` lag behind ``until``."""
    if until <= day:
        return 0
    table = _covering(code, day, root)
    _covering(code, until, root)
    return bisect_right(table.dates, until) - bisect_right(table.dates, day)

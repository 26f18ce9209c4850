"""Daily prices from Yahoo Finance through yfinance: the only module that reads the network.

One symbol per request, with yfinance's typed errors turned on (its default hides them behind an
empty frame), a short network timeout, and exponential backoff with jitter on rate limits within
a bound on the total wait. Every failure becomes a one-line ``SourceError`` that names the fix;
``SourceDown`` when no other symbol would fare better. ``YahooSource`` is the ``Source`` that the
incremental refresh in ``stockcast.data.ingest`` reads.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from stockcast.data.store import COLUMNS
from stockcast.errors import SourceDown, SourceError

if TYPE_CHECKING:
    from curl_cffi.requests import HttpMethod

REQUEST_TIMEOUT = 8.0  # seconds per HTTP request (yfinance's cookie calls default to 30)
PACE_SECONDS = 1.0  # pause between two symbols
_RENAME = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
    "Dividends": "dividends",
    "Stock Splits": "splits",
}

# Builds the HTTP session handed to yfinance. Tests replace it with a fake session class.
SESSION_FACTORY: Callable[[], Any] | None = None


class YahooUnreachable(SourceDown):
    """No connection to Yahoo: the remaining symbols would fail the same way."""


class RateLimited(SourceDown):
    """Yahoo kept answering 429 for longer than the retry budget."""


class SymbolNotFound(SourceError):
    """Yahoo has no prices for this symbol (unknown, delisted, or none in the range)."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter for rate limits, bounded in total."""

    first: float = 2.0  # seconds before the first retry (before jitter)
    factor: float = 2.0  # growth per retry
    cap: float = 20.0  # longest single wait
    budget: float = 60.0  # most seconds spent waiting for one symbol

    def delays(self, rng: Callable[[], float] = random.random) -> Iterator[float]:
        """Waits between attempts; each is the nominal delay times a factor in [0.5, 1.5)."""
        spent, nominal = 0.0, self.first
        while True:
            wait = min(self.cap, nominal) * (0.5 + rng())
            if spent + wait > self.budget:
                return
            spent += wait
            nominal *= self.factor
            yield wait


def configure(cache_dir: Path) -> None:
    """Typed errors on, no hidden retries, quiet logger, yfinance's caches under ``cache_dir``.

    yfinance 1.7 keeps three sqlite caches, each with its own location (``_TzDBManager``,
    ``_CookieDBManager``, ``_ISINDBManager``); ``set_cache_location`` moves all three.
    """
    from yfinance import cache as yf_cache

    _typed_errors()
    logging.getLogger("yfinance").setLevel(logging.CRITICAL)
    cache_dir.mkdir(parents=True, exist_ok=True)
    managers = (yf_cache._TzDBManager, yf_cache._CookieDBManager, yf_cache._ISINDBManager)
    if any(m.get_location() != str(cache_dir) for m in managers):
        yf_cache.set_cache_location(str(cache_dir))  # timezone, cookie and ISIN caches
        # Caches opened before keep their old file; drop them so the new folder is used.
        yf_cache._TzCacheManager._tz_cache = None
        yf_cache._CookieCacheManager._Cookie_cache = None
        yf_cache._ISINCacheManager._isin_cache = None


def _typed_errors() -> None:
    """yfinance raises instead of returning an empty frame, and never retries on its own.

    Set on every fetch (not saved and restored): stockcast is the only user of yfinance in
    its process, and these are the only settings under which its answers can be trusted.
    """
    import yfinance as yf

    yf.config.debug.hide_exceptions = False
    yf.config.network.retries = 0


def make_session() -> Any:
    """A fresh HTTP session for yfinance (``SESSION_FACTORY`` when a test sets one)."""
    if SESSION_FACTORY is not None:
        return SESSION_FACTORY()
    return _capped_session_class()(impersonate="chrome")


@functools.cache
def _capped_session_class() -> type:
    from curl_cffi import requests as curl

    class CappedSession(curl.Session):
        """curl_cffi session whose requests never wait longer than ``REQUEST_TIMEOUT``."""

        def request(self, method: HttpMethod, url: str, *args: Any, **kwargs: Any) -> Any:
            timeout = kwargs.get("timeout")
            if not isinstance(timeout, int | float) or timeout > REQUEST_TIMEOUT:
                kwargs["timeout"] = REQUEST_TIMEOUT
            return super().request(method, url, *args, **kwargs)

    return CappedSession


def fetch_history(
    symbol: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    backoff: Backoff = Backoff(),
    waits: Iterator[float] | None = None,
) -> pd.DataFrame:
    """Daily bars of ``symbol`` from ``start`` to ``end`` (both inclusive; None: all / today).

    Returns a frame in the store schema, indexed by tz-naive session date, not yet validated.
    Raises ``YahooUnreachable``, ``RateLimited``, ``SymbolNotFound`` or ``SourceError``.
    ``waits`` (from ``Backoff.delays``) shares one retry budget across several calls.

    >>> fetch_history("AAPL", dt.date(2024, 1, 1))  # doctest: +SKIP
    """
    from yfinance.exceptions import YFRateLimitError

    _typed_errors()
    session = session if session is not None else make_session()
    waits = waits if waits is not None else backoff.delays()
    while True:
        try:
            return to_schema(_history(symbol, start, end, session))
        except YFRateLimitError:
            wait = next(waits, None)
            if wait is None:
                raise RateLimited(
                    f"Yahoo is rate limiting requests (HTTP 429) for {symbol}; "
                    "try again later, or fetch fewer symbols at a time"
                ) from None
            sleep(wait)
        except Exception as exc:
            raise map_error(symbol, exc) from None


def _history(symbol: str, start: dt.date | None, end: dt.date | None, session: Any) -> Any:
    import yfinance as yf

    kwargs: dict[str, Any] = {"interval": "1d", "auto_adjust": False, "actions": True}
    kwargs["timeout"] = REQUEST_TIMEOUT
    if start is None and end is None:
        kwargs["period"] = "max"
    else:
        kwargs["start"] = (start or dt.date(1900, 1, 1)).isoformat()
        if end is not None:
            kwargs["end"] = (end + dt.timedelta(days=1)).isoformat()  # yfinance's end is exclusive
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # yfinance's own deprecation noise under pandas 3
        return yf.Ticker(symbol, session=session).history(**kwargs)


def map_error(symbol: str, exc: BaseException) -> SourceError:
    """One-line error for anything yfinance or the HTTP layer raised."""
    from curl_cffi.requests import exceptions as curl_exc
    from yfinance import exceptions as yf_exc

    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, yf_exc.YFPricesMissingError):
        return SymbolNotFound(
            f"no data for {symbol} on Yahoo; check the symbol and the dates ({exc.rationale})"
        )
    if isinstance(exc, yf_exc.YFTickerMissingError):
        return SymbolNotFound(f"no data for {symbol} on Yahoo; check the symbol")
    if isinstance(exc, curl_exc.HTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:  # an unknown symbol's quote lookup, after the chart said "not found"
            return SymbolNotFound(f"no data for {symbol} on Yahoo; check the symbol")
        return SourceError(f"Yahoo answered with an error for {symbol} ({exc}); try again later")
    if isinstance(exc, OSError):  # curl_cffi ConnectionError/Timeout/DNSError are OSErrors
        return YahooUnreachable(
            f"cannot reach Yahoo Finance ({exc.__class__.__name__}); check your connection, "
            "or import a file with --csv"
        )
    if isinstance(exc, yf_exc.YFDataException):
        return SourceError(f"Yahoo Finance is not answering properly ({exc}); try again later")
    if isinstance(exc, ValueError):  # undecodable JSON, an HTML error page
        return SourceError(f"Yahoo sent an unreadable answer for {symbol}; try again later")
    return SourceError(
        f"fetching {symbol} from Yahoo failed ({exc.__class__.__name__}: {exc}); try again later"
    )


def to_schema(raw: pd.DataFrame) -> pd.DataFrame:
    """yfinance's frame -> the store schema, indexed by tz-naive session date."""
    df = raw.rename(columns=_RENAME)
    if "adj_close" not in df.columns and "close" in df.columns:
        df["adj_close"] = df["close"]
    for col in ("dividends", "splits"):
        if col not in df.columns:
            df[col] = 0.0
    df = df.reindex(columns=COLUMNS).astype("float64")
    idx = pd.DatetimeIndex(df.index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)  # exchange-local midnight -> the session date
    df.index = idx.normalize().astype("datetime64[ns]")
    df.index.name = "date"
    return df


def drop_unfinished(df: pd.DataFrame, last_closed: dt.date) -> tuple[pd.DataFrame, list[str]]:
    """Drop bars after ``last_closed`` (a session still trading); also return their dates."""
    late = df.index > pd.Timestamp(last_closed)
    return df[~late], [d.date().isoformat() for d in df.index[late]]


class YahooSource:
    """Yahoo Finance as a ``Source``: one instance per symbol refresh, so that the re-fetch
    after a rewritten history shares the symbol's rate-limit budget."""

    name = "yahoo"
    incremental = True
    ref = None
    options = None
    pace = PACE_SECONDS  # one symbol at a time, politely

    @classmethod
    def from_record(
        cls, symbol: str, ref: str | None, options: dict[str, Any] | None, cache: Path
    ) -> YahooSource:
        """A fresh instance, yfinance's caches under ``cache`` (the registry's opener)."""
        configure(cache / "yfinance")
        return cls()

    @classmethod
    def fetch_command(cls, symbol: str, ref: str | None) -> str:
        return f"stockcast fetch {symbol}"

    def __init__(
        self,
        last_closed: dt.date | None = None,
        *,
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Backoff | None = None,
    ) -> None:
        self.last_closed = last_closed  # bars after this session are left out (still trading)
        self.session = session  # HTTP session for yfinance (None: a fresh one per request)
        self.sleep = sleep  # waits between rate-limit retries
        self.waits = (backoff or Backoff()).delays()  # one retry budget for the symbol
        self.left_out: list[str] = []  # dates of unfinished bars left out of the last answer

    def history(
        self, symbol: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> pd.DataFrame:
        """``fetch_history`` without the bars of sessions that have not closed yet."""
        raw = fetch_history(
            symbol, start, end, session=self.session, sleep=self.sleep, waits=self.waits
        )
        self.left_out = []
        if self.last_closed is not None:
            raw, self.left_out = drop_unfinished(raw, self.last_closed)
        return raw

    def describe(self, start: dt.date | None, end: dt.date | None) -> str:
        return f"Yahoo's answer ({start or 'start'} to {end or 'today'})"

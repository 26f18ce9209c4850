"""A fake Yahoo Finance behind a real ``curl_cffi.requests.Session`` subclass.

yfinance accepts only real session instances, so this subclass overrides ``request`` and answers
the URLs yfinance calls with the smallest JSON bodies its own parser accepts (see
``../shared/notes/yfinance.md``). Everything above the HTTP layer is yfinance's real code.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from curl_cffi.requests import Session
from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
from curl_cffi.requests.models import Response


@dataclass
class Bar:
    """One session as Yahoo serves it (close is split-adjusted, adjclose also dividend-adjusted)."""

    day: dt.date
    open: float
    high: float
    low: float
    close: float
    adjclose: float
    volume: int
    dividend: float = 0.0
    split: tuple[int, int] | None = None


def session_ts(day: dt.date, tz: str | None = None, open_at: dt.time = dt.time(10)) -> int:
    """Unix seconds of a session open: 14:30 UTC (New York; DST does not matter here) when
    ``tz`` is None, else ``open_at`` local time in ``tz`` (Sydney's 10:00 is 23:00 UTC the day
    before in January)."""
    if tz is None:
        return int(dt.datetime(day.year, day.month, day.day, 14, 30, tzinfo=dt.UTC).timestamp())
    local = dt.datetime.combine(day, open_at, tzinfo=zoneinfo.ZoneInfo(tz))
    return int(local.timestamp())


def make_bars(days: list[dt.date], start: float = 100.0) -> list[Bar]:
    """Plain, well-formed bars with a gentle drift."""
    bars = []
    for i, d in enumerate(days):
        c = start + i
        bars.append(Bar(d, c - 0.5, c + 1.0, c - 1.0, c, c, 1_000_000 + i))
    return bars


@dataclass
class Script:
    """What the fake Yahoo does; tests change it between calls."""

    bars: dict[str, list[Bar]] = field(default_factory=dict)
    down: bool = False  # every request raises ConnectionError
    rate_limited: int = 0  # the next N chart requests answer 429
    tz: str | None = None  # exchange time zone (None: New York, bars stamped 14:30 UTC)


class FakeYahoo(Session):
    """Answers yfinance's requests from ``script``; records every (url, params) in ``calls``."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.calls: list[tuple[str, dict]] = []

    def request(self, method: str, url: str, params: Any = None, **kw: Any) -> Response:
        params = dict(params or {})
        self.calls.append((url, params))
        if self.script.down:
            raise CurlConnectionError("Failed to perform, curl: (7) Could not connect to server")
        if "fc.yahoo.com" in url or "guce.yahoo.com" in url or "consent.yahoo.com" in url:
            return _response(url, 404, b"<html>not found</html>", "text/html")
        if "getcrumb" in url:
            return _response(url, 200, b"fakecrumb", "text/plain")
        if "/v8/finance/chart/" in url:
            return self._chart(url, params)
        # .info fallbacks used for unknown symbols: valid JSON saying "not found"
        body: dict[str, Any] = {"finance": {"result": None, "error": {"code": "Not Found"}}}
        if "quoteSummary" in url:
            body = {"quoteSummary": {"result": None, "error": {"code": "Not Found"}}}
        elif "/v7/finance/quote" in url:
            body = {"quoteResponse": {"result": [], "error": None}}
        elif "fundamentals-timeseries" in url:
            body = {"timeseries": {"result": [], "error": None}}
        return _response(url, 404, json.dumps(body).encode(), "application/json")

    def chart_calls(self) -> list[dict]:
        """Params of the history requests (not the 1-day timezone probes)."""
        return [p for u, p in self.calls if "/v8/finance/chart/" in u and "period1" in p]

    def _chart(self, url: str, params: dict) -> Response:
        if self.script.rate_limited > 0:
            self.script.rate_limited -= 1
            return _response(url, 429, b"Too Many Requests", "text/plain")
        symbol = url.rsplit("/", 1)[-1]
        bars = self.script.bars.get(symbol)
        if bars is None:
            body = {
                "chart": {
                    "result": None,
                    "error": {
                        "code": "Not Found",
                        "description": "No data found, symbol may be delisted",
                    },
                }
            }
            return _response(url, 404, json.dumps(body).encode(), "application/json")
        if "period1" in params:
            p1, p2 = int(params["period1"]), int(params["period2"])
            bars = [b for b in bars if p1 <= session_ts(b.day, self.script.tz) < p2]
        else:  # range=1d timezone probe
            bars = bars[-1:]
        body = chart_body(bars, self.script.tz)
        return _response(url, 200, json.dumps(body).encode(), "application/json")


def chart_body(bars: list[Bar], tz: str | None = None) -> dict:
    """The smallest /v8/finance/chart body yfinance accepts, with dividend and split events."""
    ts = [session_ts(b.day, tz) for b in bars]
    pairs = list(zip(ts, bars, strict=True))
    dividends = {str(t): {"amount": b.dividend, "date": t} for t, b in pairs if b.dividend}
    splits = {
        str(t): {"date": t, "numerator": b.split[0], "denominator": b.split[1]}
        for t, b in pairs
        if b.split
    }
    meta = {
        "instrumentType": "EQUITY",
        "exchangeTimezoneName": tz or "America/New_York",
        "currency": "USD",
        "validRanges": ["1d", "5d", "1mo", "max"],
    }
    result: dict[str, Any] = {
        "meta": meta,
        "timestamp": ts,
        "indicators": {
            "quote": [
                {
                    "open": [b.open for b in bars],
                    "high": [b.high for b in bars],
                    "low": [b.low for b in bars],
                    "close": [b.close for b in bars],
                    "volume": [b.volume for b in bars],
                }
            ],
            "adjclose": [{"adjclose": [b.adjclose for b in bars]}],
        },
        "events": {"dividends": dividends, "splits": splits},
    }
    return {"chart": {"error": None, "result": [result]}}


def _response(url: str, status: int, content: bytes, ctype: str) -> Response:
    r = Response()
    r.url = url
    r.status_code = status
    r.ok = 200 <= status < 400
    r.reason = "OK" if r.ok else "Error"
    r.content = content
    r.headers["Content-Type"] = ctype
    return r


def reset_yfinance(cache_dir: Any) -> None:
    """Forget yfinance's process-wide state: session singleton, caches, counters."""
    import yfinance as yf
    from yfinance import base, cache
    from yfinance.data import YfData

    type(YfData)._instances.pop(YfData, None)
    YfData.cache_get.cache_clear()
    base._tz_info_fetch_ctr = 0
    yf.set_tz_cache_location(str(cache_dir))
    cache._TzCacheManager._tz_cache = None
    cache._CookieCacheManager._Cookie_cache = None

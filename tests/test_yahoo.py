"""The Yahoo path through yfinance's own request and parsing code, with a fake HTTP session."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fakeyahoo import FakeYahoo, Script, make_bars, reset_yfinance, session_ts

from stockcast.data import ingest
from stockcast.data.paths import normalize_symbol
from stockcast.data.sources import yahoo
from stockcast.data.store import PriceStore

HOLIDAYS = {dt.date(2024, 1, 1), dt.date(2024, 1, 15)}
DAYS = [
    d
    for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(40))
    if d.weekday() < 5 and d not in HOLIDAYS
][:25]
NOW = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)  # every bar above has closed


@pytest.fixture(autouse=True)
def fresh_yfinance(tmp_path: Path):
    """yfinance keeps process-wide state (session singleton, lru cache, tz cache): reset it."""
    reset_yfinance(tmp_path / "yf-cache")
    yield
    reset_yfinance(tmp_path / "yf-cache")


@pytest.fixture
def store(stockcast_home: Path) -> PriceStore:
    return PriceStore(stockcast_home)


def ingest_yahoo(
    store: PriceStore,
    symbol: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    backoff: yahoo.Backoff | None = None,
    **options: Any,
) -> ingest.FetchResult:
    """``symbol`` fetched from Yahoo through the one refresh (``options``: full, replace, now),
    with the data directory's yfinance cache, as `fetch` does."""
    yahoo.configure(store.root / "cache" / "yfinance")
    source = yahoo.YahooSource(session=session, sleep=sleep, backoff=backoff)
    return ingest.refresh(store, normalize_symbol(symbol), source, start, end, **options)


def _ny_date(period1: int) -> dt.date:
    return pd.Timestamp(period1, unit="s", tz="UTC").tz_convert("America/New_York").date()


def test_history_with_dividend_and_split(store: PriceStore) -> None:
    bars = make_bars(DAYS)
    bars[3] = replace(bars[3], dividend=0.24)
    bars[7] = replace(bars[7], split=(4, 1))
    fake = FakeYahoo(Script(bars={"AAPL": bars}))
    result = ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    assert (result.status, result.rows, result.rows_added) == ("new", 25, 25)
    df = store.read("AAPL")
    assert list(df.index.date) == DAYS
    assert df.loc[str(DAYS[3]), "dividends"] == 0.24
    assert df.loc[str(DAYS[7]), "splits"] == 4.0
    assert df["dividends"].sum() == 0.24 and df["splits"].sum() == 4.0
    assert df.loc[str(DAYS[0]), "close"] == 100.0
    assert store.info("AAPL").source == "yahoo"


def test_incremental_update_asks_from_a_few_sessions_back(store: PriceStore) -> None:
    script = Script(bars={"AAPL": make_bars(DAYS[:15])})
    fake = FakeYahoo(script)
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    script.bars["AAPL"] = make_bars(DAYS)
    fake.calls.clear()
    result = ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    (params,) = fake.chart_calls()
    assert _ny_date(params["period1"]) == DAYS[14 - ingest.OVERLAP_SESSIONS]
    assert (result.status, result.rows, result.rows_added) == ("updated", 25, 10)
    assert list(store.read("AAPL").index.date) == DAYS


def test_unchanged_when_nothing_new(store: PriceStore) -> None:
    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}))
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    before = store.path("AAPL").read_bytes()
    result = ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    assert (result.status, result.rows_added) == ("unchanged", 0)
    assert store.path("AAPL").read_bytes() == before


def test_rewritten_adjusted_history_triggers_full_refetch(store: PriceStore) -> None:
    script = Script(bars={"AAPL": make_bars(DAYS[:15])})
    fake = FakeYahoo(script)
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    # a dividend on session 20 rescales every earlier adjusted close by 0.99
    bars = make_bars(DAYS)
    bars = [replace(b, adjclose=b.close * 0.99) if i < 20 else b for i, b in enumerate(bars)]
    bars[20] = replace(bars[20], dividend=1.2)
    script.bars["AAPL"] = bars
    fake.calls.clear()
    result = ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    first, second = fake.chart_calls()
    assert _ny_date(first["period1"]) == DAYS[14 - ingest.OVERLAP_SESSIONS]
    assert _ny_date(second["period1"]) == DAYS[0]  # everything stored, again
    assert result.status == "rewritten"
    df = store.read("AAPL")
    assert df.loc[str(DAYS[0]), "adj_close"] == pytest.approx(99.0)
    assert df["dividends"].sum() == 1.2


def test_rewrite_keeps_the_stored_range_when_start_is_later(store: PriceStore) -> None:
    script = Script(bars={"AAPL": make_bars(DAYS[:15])})
    fake = FakeYahoo(script)
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    script.bars["AAPL"] = [replace(b, adjclose=b.close * 0.98) for b in make_bars(DAYS)]
    result = ingest_yahoo(store, "AAPL", DAYS[12], session=fake, now=NOW)
    assert (result.status, result.rows, result.rows_removed) == ("rewritten", 25, 0)


def test_full_forces_whole_history(store: PriceStore) -> None:
    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}))
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    fake.calls.clear()
    result = ingest_yahoo(store, "AAPL", full=True, session=fake, now=NOW)
    (params,) = fake.chart_calls()
    assert _ny_date(params["period1"]) < DAYS[0]
    assert result.status == "unchanged"


def test_full_with_a_later_start_keeps_the_earlier_history(store: PriceStore) -> None:
    # "--full --start/--end re-fetches a past range": it must not drop what lies outside it
    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}))
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    fake.calls.clear()
    result = ingest_yahoo(store, "AAPL", DAYS[10], DAYS[12], full=True, session=fake, now=NOW)
    (params,) = fake.chart_calls()
    assert _ny_date(params["period1"]) == DAYS[0]
    assert (result.status, result.rows, result.rows_removed) == ("unchanged", 25, 0)
    assert list(store.read("AAPL").index.date) == DAYS


def test_unfinished_session_is_left_out(store: PriceStore) -> None:
    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}))
    during = dt.datetime.combine(DAYS[-1], dt.time(18, 0), tzinfo=dt.UTC)  # 1 pm in New York
    result = ingest_yahoo(store, "AAPL", session=fake, now=during)
    assert store.read("AAPL").index[-1].date() == DAYS[-2]
    assert result.issues["future_sessions"] == 1
    assert any("not closed yet" in n and str(DAYS[-1]) in n for n in result.notes)


def test_unknown_symbol(store: PriceStore) -> None:
    fake = FakeYahoo(Script())
    with pytest.raises(yahoo.SymbolNotFound, match="no data for NOPE on Yahoo; check the symbol"):
        ingest_yahoo(store, "NOPE", session=fake, now=NOW)
    assert not store.exists("NOPE")


def test_rate_limited_then_success(store: PriceStore) -> None:
    waits: list[float] = []
    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}, rate_limited=2))
    result = ingest_yahoo(store, "AAPL", session=fake, now=NOW, sleep=waits.append)
    assert result.status == "new"
    assert len(waits) == 1 and 1.0 <= waits[0] <= 3.0


def test_rate_limit_gives_up_within_its_budget() -> None:
    waits: list[float] = []
    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}, rate_limited=10_000))
    policy = yahoo.Backoff(first=1.0, budget=10.0)
    with pytest.raises(yahoo.RateLimited, match="try again later"):
        yahoo.fetch_history("AAPL", session=fake, sleep=waits.append, backoff=policy)
    assert len(waits) >= 1 and sum(waits) <= 10.0


def test_network_down_leaves_store_unchanged(store: PriceStore) -> None:
    script = Script(bars={"AAPL": make_bars(DAYS[:10])})
    fake = FakeYahoo(script)
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    before = store.path("AAPL").read_bytes()
    script.down = True
    with pytest.raises(yahoo.YahooUnreachable, match=r"cannot reach Yahoo.*--csv"):
        ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    assert store.path("AAPL").read_bytes() == before


def test_network_down_stops_the_run_after_the_first_symbol(store: PriceStore) -> None:
    fake = FakeYahoo(Script(down=True))
    results = ingest.run_all(
        ["AAPL", "MSFT", "IBM"],
        lambda s: ingest_yahoo(store, s, session=fake, now=NOW),
        source="yahoo",
    )
    assert [r.status for r in results] == ["failed"] * 3
    assert all("cannot reach Yahoo" in (r.error or "") for r in results)
    assert {u for u, _ in fake.calls if "chart" in u} <= {
        "https://query2.finance.yahoo.com/v8/finance/chart/AAPL"
    }


def test_caches_live_in_the_data_directory(store: PriceStore) -> None:
    from yfinance import cache

    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}))
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    assert cache._TzDBManager.get_location() == str(store.root / "cache" / "yfinance")
    assert (store.root / "cache" / "yfinance" / "tkr-tz.db").exists()


def test_backoff_is_bounded_and_jittered() -> None:
    policy = yahoo.Backoff(first=2.0, factor=2.0, cap=20.0, budget=60.0)
    low = list(policy.delays(rng=lambda: 0.0))
    high = list(policy.delays(rng=lambda: 0.999))
    assert low[:3] == [1.0, 2.0, 4.0]
    assert sum(low) <= 60.0 and sum(high) <= 60.0
    assert max(high) <= 20.0 * 1.5


def test_requests_are_capped_at_the_network_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from curl_cffi import requests as curl

    seen = []
    monkeypatch.setattr(curl.Session, "request", lambda self, m, u, *a, **kw: seen.append(kw))
    session = yahoo._capped_session_class()()
    session.request("GET", "https://fc.yahoo.com", timeout=30)
    session.request("GET", "https://fc.yahoo.com")
    assert [kw["timeout"] for kw in seen] == [yahoo.REQUEST_TIMEOUT] * 2


def test_to_schema_names_and_dates() -> None:
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-03"]).tz_localize("America/New_York")
    raw = pd.DataFrame(
        {"Open": [1.0, 2], "High": [1.0, 2], "Low": [1.0, 2], "Close": [1.0, 2], "Volume": [5, 6]},
        index=idx,
    )
    df = yahoo.to_schema(raw)
    assert df.index.tz is None and df.index.name == "date"
    assert list(df.index.date) == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert df["adj_close"].tolist() == [1.0, 2.0] and df["splits"].tolist() == [0.0, 0.0]


def test_sessions_east_of_utc_keep_their_local_date(store: PriceStore) -> None:
    # Sydney's 10:00 open is 23:00 UTC the day before in January: the stored session must be
    # the exchange's date, not the UTC date of the stamp.
    fake = FakeYahoo(Script(bars={"BHP.AX": make_bars(DAYS)}, tz="Australia/Sydney"))
    assert pd.Timestamp(session_ts(DAYS[0], "Australia/Sydney"), unit="s").date() < DAYS[0]
    result = ingest_yahoo(store, "BHP.AX", session=fake, now=NOW)
    assert (result.status, result.rows) == ("new", 25)
    assert list(store.read("BHP.AX").index.date) == DAYS


def test_unfinished_session_east_of_utc_is_left_out(store: PriceStore) -> None:
    fake = FakeYahoo(Script(bars={"BHP.AX": make_bars(DAYS)}, tz="Australia/Sydney"))
    during = dt.datetime.combine(DAYS[-1], dt.time(1, 0), tzinfo=dt.UTC)  # noon in Sydney
    result = ingest_yahoo(store, "BHP.AX", session=fake, now=during)
    assert store.read("BHP.AX").index[-1].date() == DAYS[-2]
    assert result.issues["future_sessions"] == 1
    assert any(f"not closed yet, or a wrong date) ({DAYS[-1]})" in n for n in result.notes)


def test_typed_errors_even_without_configure() -> None:
    # yfinance's default hides an unknown symbol behind an empty frame
    import yfinance as yf

    yf.config.debug.hide_exceptions = True
    try:
        with pytest.raises(yahoo.SymbolNotFound):
            yahoo.fetch_history("NOPE", session=FakeYahoo(Script()))
        assert yf.config.debug.hide_exceptions is False
    finally:
        yf.config.debug.hide_exceptions = False


def test_cookie_and_isin_caches_move_with_the_timezone_cache(store: PriceStore) -> None:
    from yfinance import cache

    fake = FakeYahoo(Script(bars={"AAPL": make_bars(DAYS)}))
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    cache._CookieDBManager.set_location(str(store.root / "elsewhere"))  # out of step
    cache._CookieCacheManager._Cookie_cache = None
    (store.root / "cache" / "yfinance" / "cookies.db").unlink()
    ingest_yahoo(store, "AAPL", full=True, session=fake, now=NOW)
    where = str(store.root / "cache" / "yfinance")
    managers = (cache._TzDBManager, cache._CookieDBManager, cache._ISINDBManager)
    assert [m.get_location() for m in managers] == [where] * 3
    assert (store.root / "cache" / "yfinance" / "cookies.db").exists()
    assert not (store.root / "elsewhere").exists()


def test_rate_limit_budget_covers_the_rewrite_refetch(store: PriceStore) -> None:
    from fakeyahoo import _response

    script = Script(bars={"AAPL": make_bars(DAYS[:15])})
    fake = FakeYahoo(script)
    ingest_yahoo(store, "AAPL", session=fake, now=NOW)
    before = store.path("AAPL").read_bytes()
    script.bars["AAPL"] = [replace(b, adjclose=b.close * 0.98) for b in make_bars(DAYS)]
    history_requests: list[str] = []
    real_chart = fake._chart

    def chart(url: str, params: dict):
        # the incremental request is turned away once (yfinance asks twice), then answered;
        # the re-fetch it triggers is turned away for good
        if "period1" in params:
            history_requests.append(url)
            if len(history_requests) != 3:
                return _response(url, 429, b"Too Many Requests", "text/plain")
        return real_chart(url, params)

    fake._chart = chart  # type: ignore[method-assign]

    class Steady(yahoo.Backoff):
        def delays(self, rng=lambda: 0.5):  # no jitter: every wait is 4 s
            return super().delays(rng)

    waits: list[float] = []
    policy = Steady(first=4.0, factor=1.0, budget=10.0)
    with pytest.raises(yahoo.RateLimited):
        ingest_yahoo(store, "AAPL", session=fake, now=NOW, sleep=waits.append, backoff=policy)
    assert waits == [4.0, 4.0]  # one budget for both requests, not 10 s each
    assert store.path("AAPL").read_bytes() == before


def _http_error(status: int) -> Exception:
    from curl_cffi.requests.exceptions import HTTPError
    from fakeyahoo import _response

    return HTTPError(
        f"HTTP Error {status}", response=_response("https://x", status, b"", "text/plain")
    )


@pytest.mark.parametrize(
    ("make", "kind", "text"),
    [
        (lambda e, y: e.Timeout("curl: (28) timed out"), "YahooUnreachable", "cannot reach Yahoo"),
        (lambda e, y: e.DNSError("curl: (6) no host"), "YahooUnreachable", "check your connection"),
        (lambda e, y: e.ConnectionError("curl: (7)"), "YahooUnreachable", "--csv"),
        (lambda e, y: y.YFTzMissingError("NOPE"), "SymbolNotFound", "check the symbol"),
        (
            lambda e, y: y.YFPricesMissingError("NOPE", "(1d 2024-01-06 -> 2024-01-07)"),
            "SymbolNotFound",
            "check the symbol and the dates",
        ),
        (lambda e, y: _http_error(404), "SymbolNotFound", "check the symbol"),
        (lambda e, y: _http_error(503), "SourceError", "try again later"),
        (lambda e, y: y.YFDataException("down"), "SourceError", "try again later"),
        (lambda e, y: ValueError("Expecting value"), "SourceError", "unreadable answer"),
    ],
)
def test_every_failure_maps_to_one_line_naming_the_fix(make, kind: str, text: str) -> None:
    from curl_cffi.requests import exceptions as curl_exc
    from yfinance import exceptions as yf_exc

    err = yahoo.map_error("NOPE", make(curl_exc, yf_exc))
    assert type(err).__name__ == kind and text in str(err) and "\n" not in str(err)

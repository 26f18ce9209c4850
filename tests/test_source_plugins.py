"""Sources by registry: `fetch --source NAME`, a third-party source loaded from the
``stockcast.sources`` entry point (tests/plugin/, a dist-info on sys.path as pip would install
it), `run` re-reading each symbol through its stored source, and a stored source that is not
installed failing its symbol without ever asking Yahoo."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.sources import base, yahoo
from stockcast.data.store import COLUMNS, PriceStore
from stockcast.errors import EXIT_ERROR, EXIT_PARTIAL, UnknownSource
from stockcast.schedule import runner, steps
from stockcast.schedule.config import parse
from stockcast.schedule.steptypes import LoggedForecast, Steps

PLUGIN = Path(__file__).parent / "plugin"
NOW = dt.datetime(2024, 2, 8, 22, 0, tzinfo=dt.UTC)  # after the close of 2024-02-08


@pytest.fixture
def feed(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The test plugin installed (its dist-info on sys.path); the plugin module itself."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    base.plugins.cache_clear()
    import stockcast_feed

    monkeypatch.setattr(stockcast_feed, "LAST", "2024-02-01")
    stockcast_feed.ASKED.clear()
    yield stockcast_feed
    base.plugins.cache_clear()


@pytest.fixture
def yahoo_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Yahoo is never reached; the symbols it is asked for are recorded."""
    asked: list[str] = []

    def refuse(symbol, *args, **kwargs):
        asked.append(symbol)
        raise yahoo.YahooUnreachable("cannot reach Yahoo Finance (test)")

    monkeypatch.setattr(yahoo, "fetch_history", refuse)
    return asked


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def no_forecast_steps() -> Steps:
    """The real refresh; no training, and a one-row forecast of the stored last close."""

    def forecast(root: Path, sym: str, plan, stale: bool, now: dt.datetime) -> LoggedForecast:
        prices = PriceStore(root).read(sym)
        as_of = prices.index[-1]
        row = dict(made_at=now, model="m1", as_of=as_of, target=as_of + pd.Timedelta(days=1),
                   h=1, close=prices["close"].iloc[-1], last_close=prices["close"].iloc[-1],
                   level=0.8, lower=90.0, upper=110.0, stale=stale, origin="run")  # fmt: skip
        return LoggedForecast("m1", as_of.date().isoformat(), pd.DataFrame([row]))

    return Steps(steps.refresh, lambda *a: None, lambda *a: "m1", forecast)


def test_a_plugin_source_is_listed_and_never_takes_a_built_in_name(feed, stockcast_home) -> None:
    assert base.source_names() == ["csv", "feed", "sample", "yahoo"]
    assert base.source_class("feed") is feed.FeedSource  # type: ignore[attr-defined]
    assert base.source_class("yahoo") is yahoo.YahooSource  # its entry point "yahoo" is ignored
    facts = json.loads(cli("info", "--json").stdout)
    assert facts["sources"] == [{"name": n} for n in ("csv", "feed", "sample", "yahoo")]
    assert base.fetch_command("feed", "AAA") == "stockcast fetch AAA --source feed"


def test_a_plugin_source_is_fetched_and_refreshed_by_run(
    feed, stockcast_home: Path, yahoo_asked: list[str]
) -> None:
    result = cli("fetch", "AAA", "--source", "feed", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["status"], row["source"], row["last"]) == ("new", "feed", "2024-02-01")
    assert PriceStore(stockcast_home).info("AAA").source == "feed"
    feed.LAST = "2024-02-08"  # type: ignore[attr-defined]  # five more sessions tonight
    report = runner.run(stockcast_home, parse({"symbols": ["AAA"]}), no_forecast_steps(), NOW)
    [aaa] = report.results
    assert aaa.ok and aaa.fetched and aaa.added == 5 and not aaa.stale, aaa
    assert feed.ASKED[-1][0] == "AAA" and feed.ASKED[-1][1] is not None  # type: ignore[attr-defined]
    assert PriceStore(stockcast_home).read("AAA").index[-1] == pd.Timestamp("2024-02-08")
    assert yahoo_asked == []


def test_an_uninstalled_stored_source_fails_its_symbol_and_never_asks_yahoo(
    stockcast_home: Path, yahoo_asked: list[str]
) -> None:
    store = PriceStore(stockcast_home)
    index = pd.DatetimeIndex(["2024-02-07", "2024-02-08"], name="date")
    frame = pd.DataFrame({c: [100.0, 101.0] for c in COLUMNS}, index=index)
    store.write("OLD", frame, source="ftp")  # a plugin once installed, now gone
    store.write("NEW", frame, source="sample")  # nothing to refresh: fine
    with pytest.raises(UnknownSource, match="OLD was stored from the price source 'ftp'"):
        steps.refresh(stockcast_home, "OLD")
    config = parse({"symbols": ["OLD", "NEW"]})
    report = runner.run(stockcast_home, config, no_forecast_steps(), NOW)
    old, new = report.results
    assert report.exit_code == EXIT_PARTIAL and new.ok and not old.ok
    assert old.error is not None and "\n" not in old.error
    assert old.error.startswith("OLD was stored from the price source 'ftp', which is not")
    assert "--source NAME --replace" in old.error
    assert old.stale and not old.fetched  # the stored prices still give a (stale) forecast
    assert yahoo_asked == []
    assert store.info("OLD").source == "ftp" and len(store.read("OLD")) == 2
    one = runner.run(stockcast_home, parse({"symbols": ["OLD"]}), no_forecast_steps(), NOW)
    assert one.exit_code == EXIT_ERROR


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["AAA", "--source", "ftp"],
            "unknown price source 'ftp'; choose one of csv, sample, yahoo",
        ),
        (["AAA", "--source", "csv"], "--source csv reads a file; give it with --csv FILE"),
        (["AAA", "--source", "yahoo", "--csv", "x.csv"], "--csv reads the csv source, not yahoo"),
        (["--source", "sample", "--start", "2024-01-02"], "not --sample"),
        (["--sample", "--csv", "x.csv"], "--sample stores MSFT only"),
    ],
)
def test_fetch_source_usage_errors(stockcast_home: Path, args: list[str], message: str) -> None:
    result = cli("fetch", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (stockcast_home / "prices").exists()


def test_source_sample_is_the_sample_alias(stockcast_home: Path) -> None:
    result = cli("fetch", "--source", "sample", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["source"] == "sample"
    assert PriceStore(stockcast_home).info("MSFT").source == "sample"

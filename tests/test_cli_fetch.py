"""`stockcast fetch` and `stockcast list` end to end: CliRunner, with only Yahoo's HTTP faked."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakeyahoo import FakeYahoo, Script, make_bars, reset_yfinance
from helpers import run

from stockcast.data.sources import yahoo
from stockcast.data.store import PriceStore

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
DAYS = [
    d for d in (dt.date(2024, 2, 1) + dt.timedelta(days=i) for i in range(20)) if d.weekday() < 5
]
DAYS.remove(dt.date(2024, 2, 19))  # Presidents' Day


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def fake_yahoo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Script:
    """Route the CLI's Yahoo requests to a fake; no pauses between symbols."""
    reset_yfinance(tmp_path / "yf-cache")
    script = Script(bars={"AAPL": make_bars(DAYS), "MSFT": make_bars(DAYS, start=300.0)})
    monkeypatch.setattr(yahoo, "SESSION_FACTORY", lambda: FakeYahoo(script))
    monkeypatch.setattr(yahoo.YahooSource, "pace", 0.0)
    yield script
    reset_yfinance(tmp_path / "yf-cache")


def test_sample_then_list_json(stockcast_home: Path) -> None:
    result = run("fetch", "--sample")
    assert result.exit_code == 0, result.output
    assert "MSFT" in result.stdout and "7983" in result.stdout
    listed = json.loads(run("list", "--json").stdout)
    assert len(listed) == 1
    msft = listed[0]
    assert (msft["ticker"], msft["rows"], msft["first"], msft["last"], msft["source"]) == (
        "MSFT",
        7983,
        "1986-03-13",
        "2017-11-10",
        "sample",
    )


def test_list_when_empty_points_to_the_sample() -> None:
    result = run("list")
    assert result.exit_code == 0 and "stockcast fetch --sample" in result.stdout
    assert json.loads(run("list", "--json").stdout) == []


@pytest.mark.parametrize("name", ["yahoo_mdy.csv", "pandas_unnamed.csv"])
def test_csv_import_keeps_every_row(stockcast_home: Path, name: str) -> None:
    result = run("fetch", "AAPL", "--csv", str(FIXTURES / name), "--json")
    assert result.exit_code == 0, result.output
    (obj,) = json.loads(result.stdout)
    assert (obj["status"], obj["rows"], obj["first"], obj["last"]) == (
        "new",
        12,
        "2024-01-02",
        "2024-01-18",
    )
    info = PriceStore(stockcast_home).info("AAPL")
    assert info.source == "csv" and info.source_ref == str((FIXTURES / name).resolve())


def test_csv_reimport_is_unchanged_and_another_file_rewrites(stockcast_home: Path) -> None:
    run("fetch", "AAPL", "--csv", str(FIXTURES / "yahoo_iso.csv"))
    again = json.loads(
        run("fetch", "AAPL", "--csv", str(FIXTURES / "yahoo_iso.csv"), "--json").stdout
    )
    assert again[0]["status"] == "unchanged"
    other = json.loads(run("fetch", "AAPL", "--csv", str(FIXTURES / "stooq.csv"), "--json").stdout)
    assert other[0]["status"] == "rewritten"  # no adjusted close in Stooq: adj_close changed


def test_csv_symbol_from_file_name(stockcast_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "shel.l.csv"
    path.write_bytes((FIXTURES / "stooq.csv").read_bytes())
    assert run("fetch", "--csv", str(path), "-q").exit_code == 0
    assert PriceStore(stockcast_home).symbols() == ["SHEL.L"]


def test_validation_issues_are_reported(stockcast_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "Date,Close,Volume\n2024-01-02,10,5\n2024-01-02,11,5\n2024-01-03,-1,5\n2024-01-04,12,-3\n"
    )
    result = run("fetch", "X", "--csv", str(path))
    assert result.exit_code == 0
    assert "X: 1 duplicate session dropped" in result.stdout
    assert "X: 1 row with a missing, zero or negative close dropped" in result.stdout
    assert "X: 1 negative volume set to unknown" in result.stdout
    obj = json.loads(run("fetch", "X", "--csv", str(path), "--json").stdout)[0]
    # the file has no open/high/low: the two stored rows took them from the close
    assert obj["issues"] == {
        "duplicates": 1, "bad_close": 1, "filled_prices": 2, "negative_volume": 1
    }  # fmt: skip


def test_evil_symbol_is_refused_and_nothing_written(stockcast_home: Path) -> None:
    result = run("fetch", "../../evil", "--csv", str(FIXTURES / "stooq.csv"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "invalid symbol" in result.stderr
    assert files_under(stockcast_home) == []
    assert not (stockcast_home.parent.parent / "evil.parquet").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["AAPL", "--csv", str(FIXTURES / "empty.csv")], 1, "is empty"),
        (["AAPL", "--csv", str(FIXTURES / "no_close.csv")], 1, "no close column"),
        (["AAPL", "--csv", str(FIXTURES / "ambiguous_dmy.csv")], 1, "--date-format"),
        (["AAPL", "--start", "2024-02-01", "--end", "2024-01-01"], 2, "bad date range"),
        (["AAPL", "--start", "2999-01-01"], 2, "--start 2999-01-01 is in the future"),
        (["AAPL", "--end", "2999-01-01"], 2, "--end 2999-01-01 is in the future"),
        (["AAPL", "--date-format", "%Y"], 2, "--csv imports only"),
        ([], 2, "give at least one symbol"),
    ],
)
def test_errors_are_one_line(
    args: list[str], code: int, message: str, stockcast_home: Path
) -> None:
    result = run("fetch", *args)
    assert result.exit_code == code
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert PriceStore(stockcast_home).symbols() == []


@pytest.mark.parametrize("value", ["2024/01/02", "2024-02-30", "yesterday"])
def test_bad_date_format_is_a_usage_error(value: str, stockcast_home: Path) -> None:
    result = run("fetch", "AAPL", "--start", value)
    assert result.exit_code == 2
    assert "--start" in result.stderr and "Traceback" not in result.output
    assert files_under(stockcast_home) == []


def test_yahoo_partial_failure_exit_3(fake_yahoo: Script, stockcast_home: Path) -> None:
    result = run("fetch", "AAPL", "NOPE", "MSFT")
    assert result.exit_code == 3
    assert "no data for NOPE on Yahoo; check the symbol" in result.stderr
    for word in ("AAPL", "MSFT", "NOPE", "new", "failed"):
        assert word in result.stdout
    assert PriceStore(stockcast_home).symbols() == ["AAPL", "MSFT"]


def test_yahoo_json_and_quiet(fake_yahoo: Script) -> None:
    quiet = run("fetch", "AAPL", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    objs = json.loads(run("fetch", "AAPL", "MSFT", "--json").stdout)
    assert [(o["ticker"], o["status"], o["source"]) for o in objs] == [
        ("AAPL", "unchanged", "yahoo"),
        ("MSFT", "new", "yahoo"),
    ]
    assert set(objs[0]) >= {"ticker", "status", "rows", "rows_added", "first", "last", "source"}
    assert set(objs[0]) >= {"issues", "error"}


def test_all_failed_exit_1_and_store_unchanged(fake_yahoo: Script, stockcast_home: Path) -> None:
    run("fetch", "--sample")
    before = {p: p.read_bytes() for p in files_under(stockcast_home / "prices")}
    fake_yahoo.down = True
    result = run("fetch", "MSFT", "AAPL")
    assert result.exit_code == 1
    assert "cannot reach Yahoo" in result.stderr and "--csv" in result.stderr
    assert {p: p.read_bytes() for p in files_under(stockcast_home / "prices")} == before


def test_damaged_file_is_repaired_by_full_or_import(
    fake_yahoo: Script, stockcast_home: Path
) -> None:
    run("fetch", "AAPL", "-q")
    path = PriceStore(stockcast_home).path("AAPL")
    path.write_bytes(b"not parquet")
    plain = run("fetch", "AAPL")
    assert plain.exit_code == 1 and "--full" in plain.stderr
    assert run("fetch", "AAPL", "--full", "-q").exit_code == 0
    assert len(PriceStore(stockcast_home).read("AAPL")) == len(DAYS)
    path.write_bytes(b"not parquet")
    assert run("fetch", "AAPL", "--csv", str(FIXTURES / "stooq.csv"), "-q").exit_code == 0


@pytest.mark.slow
def test_three_concurrent_csv_imports_leave_the_symbol_whole(stockcast_home: Path) -> None:
    import pandas as pd

    from stockcast.data.sources.csvfile import read_csv_prices
    from stockcast.data.validate import validate

    env = {**os.environ, "STOCKCAST_HOME": str(stockcast_home)}
    names = ["yahoo_iso.csv", "stooq.csv", "nasdaq.csv"]
    cmd = [sys.executable, "-m", "stockcast", "fetch", "SAME", "-q", "--csv"]
    procs = [subprocess.Popen([*cmd, str(FIXTURES / n)], env=env) for n in names]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    stored = PriceStore(stockcast_home).read("SAME")
    candidates = [validate(read_csv_prices(FIXTURES / n))[0] for n in names]
    assert any(stored.equals(c) for c in candidates), "stored data is not one whole file"
    assert isinstance(stored.index, pd.DatetimeIndex)


def test_help_imports_no_heavy_libraries() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "stockcast", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "fetch" in out.stdout
    heavy = [
        ln
        for ln in out.stderr.splitlines()
        if any(m in ln for m in ("torch", "pandas", "yfinance", "pyarrow"))
    ]
    assert heavy == []

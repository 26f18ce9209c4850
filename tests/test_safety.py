"""Nothing a feed or an output path does may silently lose stored history or a forecast.

End to end through the CLI (Typer's CliRunner), offline: a CSV feed of the bundled sample, a
tiny model trained by a first `run`, then the feed cut, shortened, replaced or future-dated,
outputs aimed at inputs and special files, and logs that cannot be written.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_in

from stockcast.data import fsutil, ingest
from stockcast.data.sources import yahoo
from stockcast.data.sources.csvfile import CsvSource
from stockcast.data.store import COLUMNS, PriceStore
from stockcast.errors import HistoryRefused

SAMPLE = Path(__file__).parents[1] / "stockcast" / "sample" / "MSFT.csv"
N = 700  # sessions of the feed
CONFIG = """\
symbols = ["MSFT"]
horizon = 3
levels = [0.8, 0.9]
stale_sessions = {stale}
[train]
epochs = 2
hidden = 8
layers = 1
lookback = 20
seed = 0
"""
NOT_STALE = 100000  # the sample ends decades ago; only the staleness tests use the default


def feed_rows(n: int = N) -> pd.DataFrame:
    return pd.read_csv(SAMPLE).iloc[:n]


@pytest.fixture(autouse=True)
def no_yahoo(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(symbol, *args, **kwargs):
        raise yahoo.YahooUnreachable("cannot reach Yahoo Finance (test); check your connection")

    monkeypatch.setattr(yahoo, "fetch_history", unreachable)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MSFT imported from a CSV feed, a config, and the model and forecasts of a first run."""
    home = tmp_path_factory.mktemp("safety")
    feed_rows().to_csv(home / "feed.csv", index=False)
    assert run_in(home, "fetch", "MSFT", "--csv", str(home / "feed.csv")).exit_code == 0
    (home / "stockcast.toml").write_text(CONFIG.format(stale=NOT_STALE))
    first = run_in(home, "run")
    assert first.exit_code == 0, first.output
    return home


@pytest.fixture
def home(template: Path, stockcast_home: Path) -> Path:
    """A private copy of the template whose symbol reads its own copy of the feed."""
    shutil.copytree(template, stockcast_home, dirs_exist_ok=True)
    store = PriceStore(stockcast_home)
    frame = store.read("MSFT")
    store.write("MSFT", frame, source="csv", source_ref=str(stockcast_home / "feed.csv"))
    return stockcast_home


def prices_bytes(home: Path) -> bytes:
    return (home / "prices" / "MSFT.parquet").read_bytes()


# 1. history never shrinks by accident ------------------------------------------------------
def cut_to_a_third(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # a copy caught mid-write


def last_100_rows(path: Path) -> None:
    feed_rows().iloc[-100:].to_csv(path, index=False)


def other_closes(path: Path) -> None:
    rows = feed_rows()
    rows["Close"] = rows["Close"] * 1.5  # another symbol's file under this name
    rows.to_csv(path, index=False)


@pytest.mark.parametrize("damage", [cut_to_a_third, last_100_rows, other_closes])
def test_a_damaged_feed_in_a_quiet_run_is_refused_and_stored_prices_stay(
    home: Path, damage
) -> None:
    before = prices_bytes(home)
    damage(home / "feed.csv")
    result = run_in(home, "run", "--quiet", "--json")
    assert result.exit_code == 1  # the only symbol failed
    [line] = result.stderr.splitlines()  # one line, even under --quiet
    assert "refusing to replace the 700 stored sessions of MSFT" in line and "--replace" in line
    assert prices_bytes(home) == before  # byte-identical
    [msft] = json.loads(result.stdout)["symbols"]
    assert msft["stale"] and msft["forecasts"] == 3 and "refusing" in msft["error"]
    log = pd.read_parquet(home / "forecasts" / "MSFT.parquet")
    newest = log[log["made_at"] == log["made_at"].max()]
    assert newest["stale"].all() and len(newest) == 6  # forecast from the stored prices


def test_the_refusal_names_the_counts_and_replace_accepts_it(home: Path) -> None:
    last_100_rows(home / "feed.csv")
    refused = run_in(home, "fetch", "MSFT", "--csv", str(home / "feed.csv"))
    assert refused.exit_code == 1
    assert "600 stored sessions would be removed" in refused.stderr
    assert f"stockcast fetch MSFT --csv {home / 'feed.csv'} --replace" in refused.stderr
    assert len(PriceStore(home).read("MSFT")) == N
    accepted = run_in(home, "fetch", "MSFT", "--csv", str(home / "feed.csv"), "--replace", "--json")
    assert accepted.exit_code == 0, accepted.output
    [obj] = json.loads(accepted.stdout)
    assert (obj["status"], obj["rows"], obj["rows_removed"]) == ("rewritten", 100, 600)


def test_a_few_changed_closes_are_a_correction_not_a_refusal(home: Path) -> None:
    rows = feed_rows()
    rows.loc[[10, 20, 30, 40], "Close"] *= 1.01  # more than max(3, 0.1% of 700): refused
    rows.to_csv(home / "feed.csv", index=False)
    refused = run_in(home, "fetch", "MSFT", "--csv", str(home / "feed.csv"))
    assert refused.exit_code == 1 and "4 stored closes changed" in refused.stderr
    rows.loc[40, "Close"] /= 1.01  # three corrected closes are a correction
    rows.to_csv(home / "feed.csv", index=False)
    assert run_in(home, "fetch", "MSFT", "--csv", str(home / "feed.csv")).exit_code == 0
    assert PriceStore(home).read("MSFT")["close"].iloc[10] == pytest.approx(rows["Close"][10])


def test_a_row_cut_inside_its_close_is_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "CUT.csv"
    rows = feed_rows(50)
    text = rows.to_csv(index=False)
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    close = f"{rows['Close'].iloc[-1]}"
    cut = text[: text.rindex(last) + last.index(close) + 1]  # "...,1" of "...,1.2285"
    path.write_text(cut)
    result = run_in(tmp_path / "home", "fetch", "--csv", str(path), "--json")
    assert result.exit_code == 0, result.output
    [obj] = json.loads(result.stdout)
    assert obj["rows"] == 49 and obj["issues"]["incomplete_rows"] == 1
    stored = PriceStore(tmp_path / "home").read("CUT")
    assert stored.index[-1] == pd.Timestamp(rows["Date"].iloc[-2])


class Feed:
    """An incremental source (standing in for Yahoo) that answers with a fixed frame."""

    name, incremental, ref, options = "yahoo", True, None, None

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def history(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        return self.frame[self.frame.index >= pd.Timestamp(start or "1900-01-01")]

    def describe(self, start, end) -> str:
        return "the test feed"


def bars(days: pd.DatetimeIndex) -> pd.DataFrame:
    c = 100.0 + np.arange(len(days))
    frame = pd.DataFrame({"open": c, "high": c, "low": c, "close": c, "adj_close": c}, days)
    frame.index.name = "date"
    return frame.assign(volume=1e6, dividends=0.0, splits=0.0)[COLUMNS]


def test_a_split_explains_a_rewrite_of_every_close(tmp_path: Path) -> None:
    days = pd.bdate_range("2024-01-02", periods=20)
    store = PriceStore(tmp_path)
    ingest.refresh(store, "ABC", Feed(bars(days[:15])))
    unexplained = bars(days)
    unexplained[["open", "high", "low", "close", "adj_close"]] /= 2
    with pytest.raises(HistoryRefused, match="15 stored closes changed"):
        ingest.refresh(store, "ABC", Feed(unexplained))
    split = unexplained.copy()
    split.loc[split.index >= days[15], ["open", "high", "low", "close", "adj_close"]] *= 2
    split.loc[days[15], "splits"] = 2.0  # the same halving, explained by a 2:1 split
    assert ingest.refresh(store, "ABC", Feed(split)).status == "rewritten"


# 2. outputs cannot destroy inputs -----------------------------------------------------------
def test_predict_refuses_to_write_over_a_source_file_or_into_the_stores(home: Path) -> None:
    feed = (home / "feed.csv").read_bytes()
    onto = run_in(home, "predict", "MSFT", "--csv", str(home / "feed.csv"))
    assert onto.exit_code == 2 and "the source file of MSFT" in onto.stderr
    assert (home / "feed.csv").read_bytes() == feed
    link = home / "link.csv"
    link.symlink_to(home / "feed.csv")
    assert run_in(home, "predict", "MSFT", "--csv", str(link)).exit_code == 2
    inside = run_in(home, "predict", "MSFT", "--plot", str(home / "prices" / "MSFT.png"))
    assert inside.exit_code == 2 and "inside the stores" in inside.stderr
    assert not (home / "prices" / "MSFT.png").exists()


def test_predict_writes_into_a_fifo_instead_of_replacing_it(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_in(home, "predict", "MSFT", "--csv", str(fifo), "--quiet")
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    lines = got[0].decode().splitlines()
    assert lines[0].startswith("ticker,") and len(lines) == 1 + 3  # the model's horizon


def test_predict_writes_into_device_nodes_instead_of_replacing_them(
    home: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    """Issue 12: `--csv /dev/stdout` and `--plot /dev/null` (as root) were replaced by regular
    files. A replacement of anything under /dev/ fails this test before it happens. A bare
    `--plot /dev/null` names no chart format and is refused before anything is written."""
    atomic = fsutil.atomic_write_bytes

    def never_under_dev(path: Path, data: bytes) -> None:
        assert not str(path).startswith("/dev/"), f"{path} would be replaced"
        atomic(path, data)

    monkeypatch.setattr(fsutil, "atomic_write_bytes", never_under_dev)
    refused = run_in(home, "predict", "MSFT", "--plot", "/dev/null")  # no chart format named
    assert refused.exit_code == 2 and len(refused.stderr.splitlines()) == 1
    link = home / "chart.png"  # a link to a device names the format
    link.symlink_to("/dev/null")
    result = run_in(home, "predict", "MSFT", "--csv", "/dev/null", "--plot", str(link), "-q")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and link.is_symlink()
    capfd.readouterr()
    result = run_in(home, "predict", "MSFT", "--csv", "/dev/stdout", "-q")
    assert result.exit_code == 0, result.output
    written = capfd.readouterr().out.splitlines()  # through file descriptor 1
    assert written[0].startswith("ticker,") and len(written) == 1 + 3


def test_csv_dash_is_stdout(home: Path) -> None:
    result = run_in(home, "predict", "MSFT", "--csv", "-")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ticker,") and len(lines) == 1 + 3


# 5. the forecast survives its log -----------------------------------------------------------
def damaged_log(home: Path) -> None:
    (home / "forecasts" / "MSFT.parquet").write_bytes(b"not parquet")


def unwritable_log(home: Path) -> None:
    shutil.rmtree(home / "forecasts")
    (home / "forecasts").write_text("a file where the log folder should be")


@pytest.mark.parametrize("spoil", [damaged_log, unwritable_log])
def test_a_broken_log_costs_a_warning_not_the_forecast(home: Path, spoil) -> None:
    spoil(home)
    result = run_in(home, "predict", "MSFT", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)[0]["forecasts"]) == 3
    assert "the forecast was not logged" in result.stderr


def test_a_failing_predict_logs_nothing(home: Path, tmp_path: Path) -> None:
    before = (home / "forecasts" / "MSFT.parquet").read_bytes()
    (tmp_path / "file").write_text("")
    result = run_in(home, "predict", "MSFT", "--plot", str(tmp_path / "file" / "x.png"))
    assert result.exit_code == 2  # the folder of --plot is a file: refused before forecasting
    assert (home / "forecasts" / "MSFT.parquet").read_bytes() == before


def test_a_manual_predict_keeps_the_runs_other_levels(home: Path) -> None:
    result = run_in(home, "predict", "MSFT", "--horizon", "3", "--level", "0.5,0.9")
    assert result.exit_code == 0, result.output
    log = pd.read_parquet(home / "forecasts" / "MSFT.parquet")
    assert sorted(set(log["level"])) == [0.5, 0.8, 0.9]
    assert (log.loc[log["level"] == 0.8, "origin"] == "run").all()
    assert (log.loc[log["level"] == 0.9, "origin"] == "predict").all()
    assert len(log) == 3 * 3


# 6. `run` keeps its promises ----------------------------------------------------------------
def test_any_refresh_failure_gives_a_stale_forecast(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self, symbol, start=None, end=None):
        raise PermissionError(13, "Permission denied", self.ref)

    monkeypatch.setattr(CsvSource, "history", denied)
    result = run_in(home, "run", "--quiet", "--json")
    assert result.exit_code == 5, result.output  # finished, from stale prices
    [msft] = json.loads(result.stdout)["symbols"]
    assert msft["stale"] and msft["forecasts"] == 3 and msft["error"] is None
    assert "Permission denied" in result.stderr


def test_old_prices_are_stale_even_when_the_feed_reads_fine(home: Path) -> None:
    (home / "stockcast.toml").write_text(CONFIG.format(stale=3))
    quiet = run_in(home, "run", "--quiet")
    assert quiet.exit_code == 5
    assert "stale prices: the last stored session" in quiet.stderr and "stale" in quiet.stdout
    result = run_in(home, "run", "--json")
    [msft] = json.loads(result.stdout)["symbols"]
    assert msft["stale"] and msft["age_sessions"] > 5000 and msft["error"] is None
    assert json.loads(result.stdout)["exit_code"] == 5


def test_an_unreadable_new_row_gives_a_stale_forecast(home: Path) -> None:
    """Issue 12: an unparseable new row failed the symbol instead of the stale fallback."""
    before = prices_bytes(home)
    with (home / "feed.csv").open("a") as fh:
        fh.write("1988-12-16,1,2,3,4,5,6,7,8,9\n")  # more fields than the header
    result = run_in(home, "run", "--quiet", "--json")
    assert result.exit_code == 5, result.output  # finished, from stale prices
    [msft] = json.loads(result.stdout)["symbols"]
    assert msft["stale"] and msft["forecasts"] == 3 and msft["error"] is None
    assert "refresh failed: cannot read" in msft["warnings"][0]
    [line] = result.stderr.splitlines()  # printed under --quiet
    assert "forecasting from stored prices" in line
    assert prices_bytes(home) == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_under_the_log_file_costs_one_warning(home: Path) -> None:
    log = home / "logs" / "stockcast.log"
    log.unlink()
    log.symlink_to("/dev/full")
    result = run_in(home, "run", "--quiet")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "cannot write the log file" in line
    plain = run_in(home, "run")
    assert "1 ok, 0 failed" in plain.stdout


def test_a_symlinked_log_file_is_not_followed(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    log = home / "logs" / "stockcast.log"
    log.unlink()
    log.symlink_to(target)
    result = run_in(home, "run", "--quiet")
    assert result.exit_code == 0, result.output
    assert target.read_text() == "precious\n"  # nothing written through the link
    [line] = result.stderr.splitlines()
    assert "cannot write the log file" in line


# 7. only real sessions are stored -----------------------------------------------------------
def test_future_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = feed_rows(30)
    future = rows.iloc[-2:].copy()
    future["Date"] = ["2027-01-04", "2099-06-01"]
    path = tmp_path / "FUT.csv"
    pd.concat([rows, future]).to_csv(path, index=False)
    result = run_in(tmp_path / "home", "fetch", "--csv", str(path), "--json")
    assert result.exit_code == 0, result.output
    [obj] = json.loads(result.stdout)
    assert obj["rows"] == 30 and obj["issues"]["future_sessions"] == 2
    assert any("2099-06-01" in note for note in obj["notes"])
    assert PriceStore(tmp_path / "home").read("FUT").index[-1].year < 2027

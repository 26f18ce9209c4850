"""`stockcast init`, `run` and `score` end to end, offline: real CSV imports, tiny real models.

Yahoo is never reached: every test replaces the Yahoo source's fetch with one that raises.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.sources import yahoo

SAMPLE = Path(__file__).parents[1] / "stockcast" / "sample" / "MSFT.csv"
CONFIG = """\
symbols = ["MSFT"]
horizon = 3
levels = [0.8, 0.9]
stale_sessions = 100000  # the sample ends decades ago: not stale here (tests/test_safety.py)
[train]
epochs = 2
hidden = 8
layers = 1
lookback = 20
seed = 0
"""


def cli(home: Path, *args: str):
    return CliRunner().invoke(app, ["--data-dir", str(home), *args])


def write_rows(path: Path, n: int) -> pd.DataFrame:
    """The first ``n`` sessions of the bundled sample, as a Yahoo-style CSV at ``path``."""
    rows = pd.read_csv(SAMPLE).iloc[:n]
    rows.to_csv(path, index=False)
    return rows


@pytest.fixture(autouse=True)
def no_yahoo(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Yahoo is unreachable; the symbols asked for are recorded."""
    asked: list[str] = []

    def unreachable(symbol, *args, **kwargs):
        asked.append(symbol)
        raise yahoo.YahooUnreachable("cannot reach Yahoo Finance (test); check your connection")

    monkeypatch.setattr(yahoo, "fetch_history", unreachable)
    return asked


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with MSFT imported from a CSV (700 sessions), a config and a model."""
    home = tmp_path_factory.mktemp("template")
    write_rows(home / "MSFT.csv", 700)
    assert cli(home, "fetch", "MSFT", "--csv", str(home / "MSFT.csv")).exit_code == 0
    (home / "stockcast.toml").write_text(CONFIG)
    result = cli(home, "run")
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(template: Path, stockcast_home: Path) -> Path:
    """A private copy of the template (its CSV source stays the template's file)."""
    shutil.copytree(template, stockcast_home, dirs_exist_ok=True)
    return stockcast_home


@pytest.mark.slow
def test_whole_cycle_scores_match_a_hand_computation(stockcast_home: Path) -> None:
    home, csv = stockcast_home, stockcast_home / "MSFT.csv"
    write_rows(csv, 600)  # cut at session 600
    assert cli(home, "fetch", "MSFT", "--csv", str(csv)).exit_code == 0
    (home / "stockcast.toml").write_text(CONFIG)

    first = json.loads(cli(home, "run", "--json").stdout)["symbols"][0]
    assert first["retrained"] and first["forecasts"] == 3 and first["error"] is None
    write_rows(csv, 603)  # the broker's file grew by 3 sessions: run reads it again
    second = cli(home, "run", "--json")
    assert second.exit_code == 0
    s2 = json.loads(second.stdout)["symbols"][0]
    assert (s2["added"], s2["retrained"]) == (3, False)  # 3 < new_sessions = 5
    rows = write_rows(csv, 615)  # the full series
    third = json.loads(cli(home, "run", "--json").stdout)["symbols"][0]
    assert (third["added"], third["retrained"]) == (12, True)

    scored = cli(home, "score", "MSFT", "--json")
    assert scored.exit_code == 0
    [msft] = json.loads(scored.stdout)
    assert msft["ticker"] == "MSFT"

    # By hand, from the CSV file and the raw log file: the first two runs' forecasts are realised.
    close = pd.Series(rows["Close"].to_numpy(), index=pd.to_datetime(rows["Date"]))
    log = pd.read_parquet(home / "forecasts" / "MSFT.parquet")
    log = log[log["as_of"] < close.index[614]]
    assert sorted(log["as_of"].unique()) == [close.index[599], close.index[602]]
    assert len(msft["horizons"]) == 3
    for got in msft["horizons"]:
        h = got["h"]
        mine = log[log["h"] == h]
        point = mine.drop_duplicates(["model", "as_of", "target"])
        actual = close[point["target"]].to_numpy()
        assert got["n"] == 2
        # the targets are the next sessions of the series itself
        assert list(point["target"]) == [close.index[599 + h], close.index[602 + h]]
        assert got["mae"] == pytest.approx(abs(point["close"].to_numpy() - actual).mean())
        persistence = close[point["as_of"]].to_numpy()
        assert got["persistence_mae"] == pytest.approx(abs(persistence - actual).mean())
        for level in (0.8, 0.9):
            band = mine[mine["level"] == level]
            truth = close[band["target"]].to_numpy()
            inside = (band["lower"].to_numpy() <= truth) & (truth <= band["upper"].to_numpy())
            assert got["coverage"][str(level)] == pytest.approx(inside.mean())

    table = cli(home, "score")
    assert "persistence" in table.stdout and "MSFT" in table.stdout


@pytest.mark.slow
def test_quiet_run_prints_nothing_on_success(home: Path) -> None:
    result = cli(home, "run", "--quiet")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    log = (home / "logs" / "stockcast.log").read_text()
    assert log.count("run finished") == 2  # the template's run and this one


@pytest.mark.slow
def test_yahoo_unreachable_still_forecasts_marked_stale(home: Path, no_yahoo: list[str]) -> None:
    from stockcast.data.store import PriceStore

    store = PriceStore(home)
    store.write("MSFT", store.read("MSFT"), source="yahoo")  # as if fetched from Yahoo
    result = cli(home, "run", "--json", "--quiet")
    assert result.exit_code == 5  # finished, but from stale prices
    assert no_yahoo == ["MSFT"]
    [msft] = json.loads(result.stdout)["symbols"]
    assert msft["stale"] and not msft["fetched"] and msft["forecasts"] == 3
    assert msft["error"] is None
    assert "cannot reach Yahoo Finance" in result.stderr
    log = pd.read_parquet(home / "forecasts" / "MSFT.parquet")
    assert log[log["made_at"] == log["made_at"].max()]["stale"].all()


@pytest.mark.slow
def test_a_failing_symbol_among_good_ones(home: Path) -> None:
    (home / "stockcast.toml").write_text(CONFIG.replace('["MSFT"]', '["NOPE", "MSFT"]'))
    result = cli(home, "run", "--json")
    assert result.exit_code == 3
    nope, msft = json.loads(result.stdout)["symbols"]
    assert "cannot reach Yahoo Finance" in nope["error"] and nope["forecasts"] == 0
    assert msft["error"] is None and msft["forecasts"] == 3
    plain = cli(home, "run")
    assert plain.exit_code == 3
    assert "failed" in plain.stdout and "1 ok, 1 failed" in plain.stdout


@pytest.mark.slow
def test_overlapping_run_exits_4_at_once_and_does_nothing(home: Path) -> None:
    from stockcast.schedule.runner import run_lock

    before = pd.read_parquet(home / "forecasts" / "MSFT.parquet")
    with run_lock(home):  # another run is in progress
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "stockcast", "--data-dir", str(home), "run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - start
    assert proc.returncode == 4
    assert proc.stdout == ""
    assert "another `stockcast run` is running" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 15  # no fetching, training or forecasting: only the start-up
    after = pd.read_parquet(home / "forecasts" / "MSFT.parquet")
    assert after.equals(before)
    assert "this one did nothing" in (home / "logs" / "stockcast.log").read_text()
    assert proc.stderr.count("another `stockcast run`") == 1


@pytest.mark.slow
def test_score_without_outcomes_and_without_forecasts(home: Path) -> None:
    [msft] = json.loads(cli(home, "score", "--json").stdout)
    assert msft["note"] == "no realised outcomes yet"
    assert [h["n"] for h in msft["horizons"]] == [0, 0, 0]
    assert "no realised outcomes yet" in cli(home, "score").stdout
    never = cli(home, "score", "aapl", "--json")  # never stored nor logged: a typo, exit 2
    assert never.exit_code == 2 and "nothing stored or logged for AAPL" in never.stderr
    shutil.copy(home / "prices" / "MSFT.parquet", home / "prices" / "AAPL.parquet")
    [aapl] = json.loads(cli(home, "score", "aapl", "--json").stdout)  # stored, not logged
    assert aapl["horizons"] == [] and "no forecasts logged" in aapl["note"]
    (home / "prices" / "MSFT.parquet").unlink()
    [msft] = json.loads(cli(home, "score", "--json").stdout)
    assert msft["horizons"] == [] and "stockcast fetch MSFT" in msft["note"]


def test_init_writes_an_example_and_run_needs_a_config(stockcast_home: Path) -> None:
    missing = cli(stockcast_home, "run")
    assert missing.exit_code == 2 and "stockcast init" in missing.stderr
    assert cli(stockcast_home, "init").exit_code == 0
    path = stockcast_home / "stockcast.toml"
    assert 'symbols = ["MSFT"]' in path.read_text()
    again = cli(stockcast_home, "init")
    assert again.exit_code == 2 and "--force" in again.stderr
    assert cli(stockcast_home, "init", "--force").exit_code == 0
    path.write_text('symbols = ["MSFT"]\nepochs = 3\n')
    bad = cli(stockcast_home, "run")
    assert bad.exit_code == 2 and "unknown key `epochs`" in bad.stderr


@pytest.mark.parametrize("command", ["init", "run", "score"])
def test_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Example" in result.stdout


@pytest.mark.slow
def test_predict_appends_to_the_forecast_log(home: Path) -> None:
    result = cli(home, "predict", "MSFT", "--level", "0.5,0.9", "--json")
    assert result.exit_code == 0, result.output
    [made] = json.loads(result.stdout)
    log = pd.read_parquet(home / "forecasts" / "MSFT.parquet")
    mine = log[log["origin"] == "predict"]
    assert len(mine) == 2 * len(made["forecasts"])
    assert sorted(set(mine["level"])) == [0.5, 0.9]
    first = made["forecasts"][0]
    row = mine[(mine["h"] == 1) & (mine["level"] == 0.5)].iloc[0]
    assert row["close"] == pytest.approx(first["close"])
    assert row["target"] == pd.Timestamp(first["date"])
    assert row["model"] == made["model"]


@pytest.mark.slow
def test_a_longer_horizon_retrains_and_a_missing_csv_is_stale(home: Path, tmp_path: Path) -> None:
    from stockcast.data.store import PriceStore

    moved = tmp_path / "elsewhere.csv"
    write_rows(moved, 700)
    store = PriceStore(home)
    store.write("MSFT", store.read("MSFT"), source="csv", source_ref=str(moved))
    moved.unlink()  # the broker's export is gone tonight
    (home / "stockcast.toml").write_text(CONFIG.replace("horizon = 3", "horizon = 4"))
    result = cli(home, "run", "--json")
    assert result.exit_code == 5, result.output  # finished, but from stale prices
    [msft] = json.loads(result.stdout)["symbols"]
    assert msft["retrained"] and msft["forecasts"] == 4
    assert msft["stale"] and "elsewhere.csv" in msft["warnings"][0]


@pytest.mark.slow
def test_run_and_score_tables_cut_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stockcast.data.sources.sample import load_sample
    from stockcast.data.store import PriceStore

    model = json.loads(cli(home, "run", "--json").stdout)["symbols"][0]["model"]
    for width in (60, 80, 120):
        monkeypatch.setenv("COLUMNS", str(width))
        table = cli(home, "run").stdout
        assert "…" not in table and all(len(line) <= width for line in table.splitlines()[:-1])
        assert model in table and "Status" in table and "ok" in table
    store = PriceStore(home)  # three more sessions stored: the first forecasts are realised
    with store.lock("MSFT"):
        store.write("MSFT", load_sample().iloc[:703], source="csv")
    [msft] = json.loads(cli(home, "score", "--json").stdout)
    for width in (60, 80, 120):
        monkeypatch.setenv("COLUMNS", str(width))
        text = cli(home, "score").stdout
        lines = [line for line in text.splitlines() if not line.startswith("Few outcomes")]
        assert "…" not in text and all(len(line) <= width for line in lines), text
        for h in msft["horizons"]:
            assert f"{h['mae']:.4g}" in text and f"{h['persistence_mae']:.4g}" in text
        assert "80% coverage" in text and "90% coverage" in text


def test_run_without_a_config_names_the_absolute_path_and_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cron error for a missing config shows the whole path and where the data directory
    came from (issue 23: a relative path without the hint)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOCKCAST_HOME", raising=False)
    res = CliRunner().invoke(app, ["run", "--quiet"])
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1, res.stderr
    line = " ".join(res.stderr.split())
    assert f"no config file at {tmp_path / 'data' / 'stockcast.toml'}" in line
    assert "from " in line and "point elsewhere with --data-dir or STOCKCAST_HOME" in line

"""The forecast log: de-duplication, concurrent appenders, and a kill in the middle of an append."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from stockcast.schedule import forecastlog

T0 = dt.datetime(2024, 1, 5, 22, 0, tzinfo=dt.UTC)


def rows(
    model: str = "m1",
    as_of: str = "2024-01-05",
    targets: tuple[str, ...] = ("2024-01-08", "2024-01-09"),
    levels: tuple[float, ...] = (0.8, 0.9),
    made_at: dt.datetime = T0,
    close: float = 101.0,
) -> pd.DataFrame:
    """Forecast rows in the log's long format: one row per (target, level)."""
    out = []
    for h, target in enumerate(targets, start=1):
        for level in levels:
            half = 10 * level * h
            out.append(
                dict(
                    made_at=made_at,
                    model=model,
                    as_of=as_of,
                    target=target,
                    h=h,
                    close=close + h,
                    last_close=100.0,
                    level=level,
                    lower=close + h - half,
                    upper=close + h + half,
                    stale=False,
                    origin="predict",
                )
            )
    return pd.DataFrame(out)


def test_append_and_read_round_trip(tmp_path: Path) -> None:
    assert forecastlog.read(tmp_path, "AAPL").empty
    assert forecastlog.append(tmp_path, "aapl", rows()) == 4
    log = forecastlog.read(tmp_path, "AAPL")
    assert list(log.columns) == forecastlog.COLUMNS
    assert log["target"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-08"] * 2 + ["2024-01-09"] * 2
    assert log["made_at"].iloc[0] == pd.Timestamp(T0)
    assert forecastlog.symbols(tmp_path) == ["AAPL"]
    assert (tmp_path / "forecasts" / "AAPL.parquet").is_file()


def test_dedup_keeps_the_latest_row_of_every_level(tmp_path: Path) -> None:
    forecastlog.append(tmp_path, "AAPL", rows())
    later = T0 + dt.timedelta(minutes=5)
    # Same model and as_of, one target again at levels 0.5 and 0.9: the 0.9 row is replaced,
    # the 0.8 row of the earlier forecast stays (a manual predict after `run`).
    forecastlog.append(
        tmp_path,
        "AAPL",
        rows(targets=("2024-01-08",), levels=(0.5, 0.9), made_at=later, close=200.0),
    )
    # Another model on the same dates is a different forecast: kept.
    forecastlog.append(tmp_path, "AAPL", rows(model="m2", targets=("2024-01-08",), levels=(0.9,)))
    log = forecastlog.read(tmp_path, "AAPL")
    m1 = log[(log["model"] == "m1") & (log["target"] == "2024-01-08")].sort_values("level")
    assert m1["level"].tolist() == [0.5, 0.8, 0.9]
    assert m1["close"].tolist() == [201.0, 102.0, 201.0]
    assert len(log[(log["model"] == "m1") & (log["target"] == "2024-01-09")]) == 2
    assert len(log[log["model"] == "m2"]) == 1
    # An older forecast appended late does not replace a newer one.
    forecastlog.append(
        tmp_path, "AAPL", rows(targets=("2024-01-08",), levels=(0.5, 0.9), made_at=T0, close=1.0)
    )
    again = forecastlog.read(tmp_path, "AAPL")
    m1 = again[(again["model"] == "m1") & (again["target"] == "2024-01-08")].sort_values("level")
    assert m1["close"].tolist() == [201.0, 102.0, 201.0]
    # Appending the very same rows again changes nothing (idempotence).
    n = len(again)
    same = rows(model="m2", targets=("2024-01-08",), levels=(0.9,))
    assert forecastlog.append(tmp_path, "AAPL", same) == n
    pd.testing.assert_frame_equal(forecastlog.read(tmp_path, "AAPL"), again)
    # On a made_at tie the appended forecast wins: m2 re-sent with levels 0.8 and 0.9 has two rows.
    assert forecastlog.append(tmp_path, "AAPL", rows(model="m2", targets=("2024-01-08",))) == n + 1
    m2 = forecastlog.read(tmp_path, "AAPL").query("model == 'm2'")
    assert m2["level"].tolist() == [0.8, 0.9]


def test_forecast_without_intervals_has_one_row(tmp_path: Path) -> None:
    plain = rows(levels=(0.9,)).assign(level=float("nan"), lower=float("nan"), upper=float("nan"))
    forecastlog.append(tmp_path, "AAPL", plain)
    log = forecastlog.read(tmp_path, "AAPL")
    assert len(log) == 2 and log["level"].isna().all()


_APPENDER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    import pandas as pd
    from stockcast.schedule import forecastlog
    root, model, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:  # stall inside the write of append number argv[4], half written
        stall_at, real = int(sys.argv[4]), pd.DataFrame.to_parquet
        def slow(self, fh, **kw):
            if i == stall_at:
                fh.write(b"PAR1 half a file")
                fh.flush()
                print("stalled", flush=True)
                time.sleep(60)
            return real(self, fh, **kw)
        pd.DataFrame.to_parquet = slow
    i = 0
    while count == 0 or i < count:
        day = pd.Timestamp("2000-01-03") + pd.offsets.BDay(i)
        row = dict(made_at=dt.datetime.now(dt.UTC), model=model, as_of=day,
                   target=day + pd.offsets.BDay(1), h=1, close=1.0 + i, last_close=1.0,
                   level=0.9, lower=0.5, upper=2.0 + i, stale=False, origin="run")
        forecastlog.append(root, "AAPL", pd.DataFrame([row]))
        print(i, flush=True)
        i += 1
    """
)


def _appender(root: Path, model: str, count: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _APPENDER, str(root), model, str(count), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_processes_appending_at_once_both_land(tmp_path: Path) -> None:
    procs = [_appender(tmp_path, model, 15) for model in ("a", "b")]
    for p in procs:
        p.communicate(timeout=60)
        assert p.returncode == 0
    log = forecastlog.read(tmp_path, "AAPL")
    assert len(log) == 30
    assert log.groupby("model").size().to_dict() == {"a": 15, "b": 15}


@pytest.mark.slow
def test_kill_mid_append_leaves_a_readable_log(tmp_path: Path) -> None:
    proc = _appender(tmp_path, "k", 0)
    assert proc.stdout is not None
    done = 0
    deadline = time.monotonic() + 30
    while done < 8 and time.monotonic() < deadline:  # let it append a few times
        if proc.stdout.readline():
            done += 1
    time.sleep(0.037)  # land somewhere inside the next append
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    log = forecastlog.read(tmp_path, "AAPL")
    assert len(log) >= done  # every completed append is there, the file is whole
    assert log["close"].tolist() == [1.0 + i for i in range(len(log))]
    # The log still takes appends (the killed process's lock is gone with it).
    forecastlog.append(tmp_path, "AAPL", rows(model="after"))
    assert len(forecastlog.read(tmp_path, "AAPL")) == len(log) + 4


@pytest.mark.slow
def test_kill_inside_the_write_keeps_the_previous_log(tmp_path: Path) -> None:
    proc = _appender(tmp_path, "k", 0, "3")  # appends 0, 1, 2, then stalls half-way through 3
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(4)]
    assert lines == ["0", "1", "2", "stalled"]
    stray = list((tmp_path / "forecasts").glob(".AAPL.parquet.*.tmp"))
    assert stray, "the half-written temporary file should exist while stalled"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    log = forecastlog.read(tmp_path, "AAPL")
    assert log["close"].tolist() == [1.0, 2.0, 3.0]
    assert forecastlog.append(tmp_path, "AAPL", rows(model="after")) == 7

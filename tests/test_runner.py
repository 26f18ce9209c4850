"""The run loop with fake steps: partial failures, stale forecasts, the run lock, exit codes."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest

from stockcast.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_STALE,
    BusyError,
    DataError,
    SourceDown,
)
from stockcast.schedule import forecastlog, runner
from stockcast.schedule.config import SymbolPlan, parse
from stockcast.schedule.runner import LoggedForecast, Refresh, Steps

NOW = dt.datetime(2024, 1, 8, 22, 30, tzinfo=dt.UTC)


class Unreachable(SourceDown):
    pass


class Fake:
    """Steps that record their calls; ``fail`` maps (step, symbol) to an error to raise."""

    def __init__(self, fail: dict[tuple[str, str], Exception] | None = None, due=None) -> None:
        self.fail = fail or {}
        self.due = due
        self.calls: list[tuple[str, str]] = []

    def _maybe_fail(self, step: str, sym: str) -> None:
        self.calls.append((step, sym))
        if (step, sym) in self.fail:
            raise self.fail[(step, sym)]

    def refresh(self, root: Path, sym: str) -> Refresh:
        self._maybe_fail("refresh", sym)
        return Refresh("yahoo", 2)

    def retrain_due(self, root: Path, sym: str, plan: SymbolPlan, now: dt.datetime):
        self._maybe_fail("retrain_due", sym)
        return self.due

    def train(self, root: Path, sym: str, options) -> str:
        self._maybe_fail("train", sym)
        return "m-new"

    def forecast(self, root: Path, sym: str, plan: SymbolPlan, stale: bool, now: dt.datetime):
        self._maybe_fail("forecast", sym)
        rows = [
            dict(
                made_at=now,
                model="m1",
                as_of="2024-01-08",
                target=f"2024-01-{8 + h:02d}",
                h=h,
                close=100.0 + h,
                last_close=100.0,
                level=level,
                lower=90.0,
                upper=110.0,
                stale=stale,
                origin="run",
            )
            for h in (1, 2)
            for level in plan.levels
        ]
        return LoggedForecast("m1", "2024-01-08", pd.DataFrame(rows))

    def steps(self) -> Steps:
        return Steps(self.refresh, self.retrain_due, self.train, self.forecast)


CONFIG = parse({"symbols": ["AAA", "BBB", "CCC"]})


def test_all_good(tmp_path: Path) -> None:
    report = runner.run(tmp_path, CONFIG, Fake().steps(), NOW)
    assert report.exit_code == EXIT_OK and report.clean
    assert [r.ticker for r in report.results] == ["AAA", "BBB", "CCC"]
    first = report.results[0]
    assert (first.fetched, first.added, first.model, first.as_of, first.forecasts) == (
        True,
        2,
        "m1",
        "2024-01-08",
        2,
    )
    log = forecastlog.read(tmp_path, "BBB")
    assert len(log) == 4 and set(log["level"]) == {0.8, 0.9}
    assert report.to_dict()["symbols"][0].keys() >= {
        "ticker",
        "fetched",
        "retrained",
        "model",
        "as_of",
        "stale",
        "forecasts",
        "error",
    }


def test_one_failing_symbol_does_not_stop_the_others(tmp_path: Path) -> None:
    fake = Fake({("forecast", "BBB"): DataError("no prices stored for BBB; run fetch")})
    report = runner.run(tmp_path, CONFIG, fake.steps(), NOW)
    assert report.exit_code == EXIT_PARTIAL
    assert [r.ok for r in report.results] == [True, False, True]
    assert report.results[1].error == "no prices stored for BBB; run fetch"
    assert forecastlog.symbols(tmp_path) == ["AAA", "CCC"]


def test_a_bug_in_one_symbol_is_contained(tmp_path: Path) -> None:
    fake = Fake({("forecast", "AAA"): ZeroDivisionError("oops")})
    report = runner.run(tmp_path, CONFIG, fake.steps(), NOW)
    assert report.exit_code == EXIT_PARTIAL
    assert "unexpected ZeroDivisionError" in report.results[0].error


def test_all_failing_is_exit_1(tmp_path: Path) -> None:
    fail = {("forecast", s): DataError("nope") for s in CONFIG.symbols}
    assert runner.run(tmp_path, CONFIG, Fake(fail).steps(), NOW).exit_code == EXIT_ERROR


def store(root: Path, *symbols: str) -> None:
    """Store two sessions of prices for each symbol (source yahoo)."""
    from stockcast.data.store import COLUMNS, PriceStore

    index = pd.DatetimeIndex(["2024-01-05", "2024-01-08"], name="date")
    frame = pd.DataFrame({c: [100.0, 101.0] for c in COLUMNS}, index=index)
    for sym in symbols:
        PriceStore(root).write(sym, frame, source="yahoo")


def test_unreachable_source_gives_stale_forecasts_and_is_asked_once(tmp_path: Path) -> None:
    store(tmp_path, "AAA", "BBB", "CCC")
    fake = Fake({("refresh", "AAA"): Unreachable("cannot reach Yahoo Finance")})
    report = runner.run(tmp_path, CONFIG, fake.steps(), NOW)
    assert report.exit_code == EXIT_STALE and not report.clean
    assert all(r.stale and r.forecasts == 2 and not r.fetched for r in report.results)
    assert [c for c in fake.calls if c[0] == "refresh"] == [("refresh", "AAA")]
    assert "cannot reach Yahoo Finance" in report.results[2].warnings[0]
    assert forecastlog.read(tmp_path, "CCC")["stale"].all()


def test_retrain_when_due_and_fallback_when_it_fails(tmp_path: Path) -> None:
    fake = Fake({("train", "BBB"): DataError("too short")}, due="model is 9 days old")
    report = runner.run(tmp_path, CONFIG, fake.steps(), NOW)
    assert [r.retrained for r in report.results] == [True, False, True]
    bbb = report.results[1]
    assert bbb.ok and bbb.forecasts == 2 and "retraining failed (too short)" in bbb.warnings[0]
    # Without any model to fall back on, a failed training fails the symbol.
    fake = Fake({("train", "BBB"): DataError("too short")}, due="no model yet")
    report = runner.run(tmp_path, CONFIG, fake.steps(), NOW)
    assert report.results[1].error == "too short"


def test_a_second_run_is_busy_at_once_and_does_nothing(tmp_path: Path) -> None:
    fake = Fake()
    with runner.run_lock(tmp_path):
        start = time.monotonic()
        with pytest.raises(BusyError) as err:
            runner.run(tmp_path, CONFIG, fake.steps(), NOW)
        assert time.monotonic() - start < 1.0
    assert err.value.exit_code == 4
    assert "another `stockcast run` is running" in str(err.value)
    assert fake.calls == []
    assert runner.run(tmp_path, CONFIG, fake.steps(), NOW).ok  # the lock is free again


def test_levels_and_overrides_reach_the_forecast(tmp_path: Path) -> None:
    config = parse({"symbols": ["AAA"], "overrides": {"AAA": {"levels": [0.5]}}})
    runner.run(tmp_path, config, Fake().steps(), NOW)
    assert forecastlog.read(tmp_path, "AAA")["level"].tolist() == [0.5, 0.5]


def test_a_symbol_never_stored_fails_with_the_refresh_error(tmp_path: Path) -> None:
    store(tmp_path, "BBB")
    fake = Fake({("refresh", "AAA"): Unreachable("cannot reach Yahoo Finance")})
    report = runner.run(tmp_path, CONFIG, fake.steps(), NOW)
    aaa, bbb, ccc = report.results
    assert aaa.error == "cannot reach Yahoo Finance"
    assert bbb.ok and bbb.stale
    assert ccc.error == "not fetched: cannot reach Yahoo Finance"
    assert report.exit_code == EXIT_PARTIAL


def test_logging_to_file_and_terminal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import logging

    from stockcast.schedule.logsetup import FILE_ONLY, MAX_BYTES, log_file, logging_to

    with logging_to(tmp_path, quiet=True) as log:
        log.info("progress line")
        log.warning("MSFT: stale")
        log.error("said by the CLI already", extra=FILE_ONLY)
        handler = next(h for h in log.handlers if hasattr(h, "maxBytes"))
        assert (handler.maxBytes, handler.backupCount) == (MAX_BYTES, 5)
    assert capsys.readouterr().err == "warning: MSFT: stale\n"
    text = log_file(tmp_path).read_text()
    assert "INFO stockcast: progress line" in text and "said by the CLI already" in text
    assert logging.getLogger("stockcast").handlers == []
    with logging_to(tmp_path) as log:
        log.info("loud")
    assert capsys.readouterr().err == "loud\n"


def test_pacer_keeps_calls_apart() -> None:
    from stockcast.schedule.steps import Pacer

    clock = iter([0.0, 0.25, 1.0, 5.0, 5.0]).__next__  # read once per wait, twice after
    slept: list[float] = []
    pacer = Pacer(1.0, clock=clock, sleep=slept.append)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.75, 0.0]


def test_refresh_notes_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = Fake()
    fake.refresh = lambda root, sym: Refresh("csv", 1, notes=["1 duplicate session dropped"])
    with caplog.at_level("INFO", logger="stockcast"):
        runner.run(tmp_path, parse({"symbols": ["AAA"]}), fake.steps(), NOW)
    assert "AAA: 1 duplicate session dropped" in caplog.text

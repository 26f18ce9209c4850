"""`stockcast tune`: a study in SQLite that survives kill -9 and is shared by two processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import synthetic_prices

from stockcast.data.store import PriceStore
from stockcast.training import tune as tuning
from stockcast.training.results import BacktestResult, BacktestSettings, TuneBest, TuneResult

FIXED = ["--hidden", "4", "--lookback", "10", "--epochs", "1", "--batch-size", "512",
         "--horizon", "2"]  # fmt: skip
slow = pytest.mark.slow


@pytest.fixture
def home(stockcast_home: Path) -> Path:
    PriceStore(stockcast_home).write("SYN", synthetic_prices(1200, seed=3), source="csv")
    return stockcast_home


def tune_cmd(home: Path, trials: int) -> list[str]:
    return [sys.executable, "-m", "stockcast", "--data-dir", str(home), "tune", "SYN",
            "--trials", str(trials), "--no-backtest", "--json", *FIXED]  # fmt: skip


def complete_trials(db: Path) -> list[tuple[int, float]]:
    """(number, value) of the COMPLETE trials, read straight from Optuna's tables."""
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as con:
        try:
            rows = con.execute(
                "SELECT t.number, v.value FROM trials t JOIN trial_values v "
                "ON v.trial_id = t.trial_id WHERE t.state = 'COMPLETE' ORDER BY t.number"
            ).fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []
    return [(int(n), float(v)) for n, v in rows]


def finished_trials(db: Path) -> int:
    """Trials that ended COMPLETE or PRUNED: what `--trials` counts (Optuna's tables)."""
    with sqlite3.connect(db, timeout=30) as con:
        (n,) = con.execute(
            "SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')"
        ).fetchone()
    return int(n)


@slow
def test_kill_9_then_the_same_command_continues_the_study(home: Path) -> None:
    db = home / "tune" / "SYN.db"
    proc = subprocess.Popen(tune_cmd(home, 4), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(complete_trials(db)) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    before = complete_trials(db)
    assert before, "no trial finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out = subprocess.run(tune_cmd(home, 4), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    after = complete_trials(db)
    assert res["trials_completed"] >= 4 and res["study"]["storage"].endswith("SYN.db")
    assert set(before) <= set(after)  # no finished trial was lost or changed
    assert res["best"]["value"] == min(v for _, v in after)
    assert res["command"].startswith("stockcast train SYN")


@slow
def test_two_processes_search_one_study(home: Path) -> None:
    env = {**os.environ, "STOCKCAST_THREADS": "1"}
    procs = [subprocess.Popen(tune_cmd(home, 4), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    results = [json.loads(o) for o, _ in outs]
    assert {r["study"]["name"] for r in results} == {"SYN-lstm"}
    finished = finished_trials(home / "tune" / "SYN.db")  # pruned trials count toward --trials
    assert 4 <= finished <= 5  # both stop once the shared study holds 4 (one may overshoot)
    assert max(r["trials_completed"] for r in results) == finished or finished == 4


@slow
def test_the_search_space_never_reaches_the_test_split(home: Path) -> None:
    prices = PriceStore(home).read("SYN")
    cut = tuning.tuning_prices(home, "SYN")
    assert len(cut) == int(0.85 * len(prices))
    assert cut.index[-1] < prices.index[int(0.85 * len(prices))]


@slow
def test_train_command_has_the_chosen_flags() -> None:
    cmd = tuning.train_command("MSFT", {"hidden": 32, "lr": 0.00123, "features": ("log_return",),
                                        "seed": 0})  # fmt: skip
    assert cmd == "stockcast train MSFT --hidden 32 --lr 0.00123 --features log_return"


@slow
def test_a_storage_being_created_by_another_process_is_retried(tmp_path, monkeypatch):
    """Two `tune` processes creating a new study database at once race on Optuna's schema (the
    loser gets an IntegrityError on the version row, seen in CI): the loser tries again."""
    import sqlalchemy.exc

    from stockcast.training import tune

    real, calls = tune._rdb_storage, []

    def racing(url):
        calls.append(url)
        if len(calls) == 1:
            raise sqlalchemy.exc.IntegrityError("INSERT INTO alembic_version", {}, Exception())
        return real(url)

    monkeypatch.setattr(tune, "_rdb_storage", racing)
    study = tune.open_study(f"sqlite:///{tmp_path / 'race.db'}", "RACE-lstm", seed=0)
    assert study.study_name == "RACE-lstm" and len(calls) == 2


def test_tune_device_cpu_backtests_the_best_parameters_on_the_cpu(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device given to `tune` reaches the backtest of the best parameters (it once read
    a result key that was never written, and backtested on the default device)."""
    from typer.testing import CliRunner

    from stockcast.cli import app

    def searched(root, sym, **kw):
        assert kw["device"] == "cpu"
        best = TuneBest(params={"hidden": 4}, value=0.9, trial=0)
        return TuneResult(sym, "lstm", {"name": "SYN-lstm", "storage": "x"}, 1, 0, 0, best,
                          "stockcast train SYN --hidden 4", "2020-01-01")  # fmt: skip

    asked: list[str] = []

    def backtested(root, sym, recipe, ensemble=None, device="auto", **kw):
        asked.append(device)
        settings = BacktestSettings(3, 0.3, 1, {}, {}, {})
        return BacktestResult(sym, 100, settings, (), (), {}, 0.0)

    monkeypatch.setattr(tuning, "tune_symbol", searched)
    monkeypatch.setattr(tuning.backtest, "backtest_symbol", backtested)
    result = CliRunner().invoke(app, ["tune", "SYN", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    assert asked == ["cpu"]
    assert json.loads(result.stdout)["backtest"]["horizons"] == []

"""Issue 23 (part B): odd option values, `-q` everywhere, Ctrl-C, and the rough edges of
`tune` a new user hits. Each refusal is one line, before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from helpers import run

from stockcast.cli import app


def _commands() -> list[tuple[str, ...]]:
    """Every command path: ("train",), ("models",), ("models", "rm"), ..."""
    root = typer.main.get_command(app)
    out: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if path:
            out.append(path)
        for name, sub in (subs or {}).items():
            walk(sub, (*path, name))

    walk(root, ())
    return out


def test_every_command_takes_quiet() -> None:
    root = typer.main.get_command(app)
    missing = []
    for path in _commands():
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        flags = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if not {"-q", "--quiet"} <= flags:
            missing.append(" ".join(path))
    assert missing == []


def test_quiet_prints_nothing_on_success(sample: Path) -> None:
    for args in (["list"], ["features"], ["info"], ["models"], ["score"], ["init"]):
        res = run(*args, "-q")
        assert res.exit_code == 0, (args, res.output)
        assert res.stdout == "", args


def test_counts_agree_with_their_nouns(sample: Path) -> None:
    res = run("info")
    assert "(0 names)" in res.stdout
    from stockcast.cli.app import counted

    assert counted(1, "model") == "1 model" and counted(2, "name") == "2 names"


def ctrl_c_as_in_a_terminal() -> None:
    """SIGINT delivered and handled by default, as in a terminal: a suite started in the
    background by a non-interactive shell inherits SIGINT ignored (POSIX), and Python then
    keeps ignoring it, so a Ctrl-C test would wait for nothing."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.slow
def test_ctrl_c_during_a_long_epoch_stops_at_once(sample: Path) -> None:
    """SIGINT while `train --lookback 2000` is inside its first epoch (a batch takes seconds
    there): exit 130 with one line, long before the epoch could end (minutes on a CPU)."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "stockcast", "train", "MSFT", "--lookback", "2000"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=ctrl_c_as_in_a_terminal)  # fmt: skip
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the start line: the command runs, its imports are done
    assert "training, at most" in first, first
    with contextlib.suppress(subprocess.TimeoutExpired):  # into epoch 0's validation or 1
        proc.wait(timeout=8)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # generous: an epoch here takes minutes
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and err.count("\n") == 1, err


# option values checked before work starts ----------------------------------------------------
def one_line(res, code: int, *parts: str) -> None:
    assert res.exit_code == code, res.output
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output, res.stderr
    for part in parts:
        assert part in res.stderr, res.stderr


def test_a_lookback_that_leaves_too_few_windows_is_refused_with_the_longest_that_fits(
    sample: Path,
) -> None:
    one_line(run("train", "MSFT", "--lookback", "5000"), 2, "--lookback 5000", "or less")
    one_line(run("tune", "MSFT", "--lookback", "5000"), 2, "lookback 5000", "or less")
    assert not (sample / "models").exists() and not (sample / "tune").exists()


def test_architecture_settings_and_size_are_checked_against_the_machine(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.training import preflight

    one_line(run("train", "MSFT", "--arch", "transformer", "--hidden", "3"), 2,
             "--hidden 3", "multiple of 4")  # fmt: skip
    monkeypatch.setattr(preflight, "free_bytes", lambda device: 8 * preflight.GiB)
    one_line(run("train", "MSFT", "--hidden", "4096", "--layers", "16"), 2,
             "GiB to train", "8.0 GiB is free", "lower --hidden")  # fmt: skip
    one_line(run("tune", "MSFT", "--jobs", "500"), 2, "--jobs 500", "cores")


def test_the_parameter_estimate_is_close_for_every_architecture() -> None:
    from stockcast import models
    from stockcast.options import ARCHS
    from stockcast.training import preflight
    from stockcast.training.job import configs_from_options

    for arch in ARCHS:
        for hidden, layers in ((16, 1), (64, 2)):
            _, cfg, _, _ = configs_from_options({"arch": arch, "hidden": hidden, "layers": layers})
            real = sum(p.numel() for p in models.build(cfg).parameters())
            assert 0.5 * real <= preflight.parameters(cfg) <= 2 * real, (arch, hidden, layers)


def test_a_symbol_too_short_to_tune_is_refused_before_any_trial(stockcast_home: Path) -> None:
    from helpers import synthetic_prices

    from stockcast.data.store import PriceStore

    PriceStore(stockcast_home).write("TINY", synthetic_prices(30), source="csv")
    one_line(run("tune", "TINY"), 2, "TINY is too short to tune")
    assert not (stockcast_home / "tune").exists()  # no database left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_directory_is_found_before_training(sample: Path) -> None:
    sample.chmod(0o555)
    try:
        res = run("train", "MSFT")
    finally:
        sample.chmod(0o755)
    one_line(res, 1, "is not writable", "--data-dir")


# tune: storage, study shape, failures, the recommended command --------------------------------
@pytest.fixture
def syn(stockcast_home: Path) -> Path:
    from helpers import synthetic_prices

    from stockcast.data.store import PriceStore

    PriceStore(stockcast_home).write("SYN", synthetic_prices(1200, seed=3), source="csv")
    return stockcast_home


@pytest.fixture
def fast_folds(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Trials that train nothing: each fold "scores" by the options it ran (recorded)."""
    from stockcast.training import backtest
    from stockcast.training import tune as tuning

    ran: list[dict] = []

    def fold(sym, prices, origin, recipe, members, device, callback):
        ran.append({"hidden": recipe.model.hidden, "lookback": recipe.data.lookback})
        return (recipe.model.hidden, recipe.data.lookback)

    monkeypatch.setattr(backtest, "run_fold", fold)
    monkeypatch.setattr(tuning.walkforward, "report", lambda preds: preds[-1])
    monkeypatch.setattr(tuning, "objective_value", lambda r: r[0] / 100 + r[1] / 1000)
    return ran


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql://u@localhost/db", "driver"),
        ("nosuchdb://x", "unknown database kind"),
        (" ", "not a database URL"),
        ("sqlite:////tmp/a%00b.db", "NUL"),
    ],
)
def test_a_storage_url_is_checked_before_optuna_sees_it(syn: Path, url: str, says: str) -> None:
    if url.startswith("postgresql"):
        pytest.importorskip("sqlalchemy")
        import importlib.util

        if importlib.util.find_spec("psycopg") or importlib.util.find_spec("psycopg2"):
            pytest.skip("a PostgreSQL driver is installed here")
    one_line(run("tune", "SYN", "--storage", url), 2, says)


def test_a_storage_that_is_a_folder_or_not_sqlite_is_refused(syn: Path, tmp_path: Path) -> None:
    one_line(run("tune", "SYN", "--storage", f"sqlite:///{tmp_path}"), 2, "is a folder")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all, just text")
    one_line(run("tune", "SYN", "--storage", f"sqlite:///{junk}"), 2, "not an SQLite database")
    assert junk.read_bytes() == b"not a database at all, just text"


def test_a_study_of_another_shape_is_refused_by_name(syn: Path, tmp_path: Path) -> None:
    import optuna

    db = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(storage=db, study_name="SYN-lstm", directions=["minimize", "minimize"])
    one_line(run("tune", "SYN", "--storage", db), 2, "SYN-lstm", "2 objectives")
    db = f"sqlite:///{tmp_path / 'max.db'}"
    optuna.create_study(storage=db, study_name="SYN-lstm", direction="maximize")
    one_line(run("tune", "SYN", "--storage", db), 2, "SYN-lstm", "maximizes")
    db = f"sqlite:///{tmp_path / 'space.db'}"
    study = optuna.create_study(storage=db, study_name="SYN-lstm")
    study.enqueue_trial({"hidden": "wide"})
    study.optimize(lambda t: float(len(t.suggest_categorical("hidden", ["wide", "narrow"]))),
                   n_trials=1)  # fmt: skip
    one_line(run("tune", "SYN", "--storage", db), 2, "SYN-lstm", "another space")


def test_the_recommended_command_is_what_the_best_trial_ran_and_fixed_options_stay(
    syn: Path, fast_folds: list[dict]
) -> None:
    import json

    res = run("tune", "SYN", "--hidden", "4", "--trials", "3", "--no-backtest", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {r["hidden"] for r in fast_folds} == {4}
    assert out["best"]["params"]["hidden"] == 4 and " --hidden 4 " in out["command"] + " "
    assert f"--lookback {out['best']['params']['lookback']}" in out["command"] or (
        out["best"]["params"]["lookback"] == 60
    )
    again = run("tune", "SYN", "--hidden", "32", "--trials", "4", "--no-backtest")
    one_line(again, 2, "SYN-lstm", "--hidden 4", "--hidden 32", "same options")


def test_tune_stops_after_failed_trials_in_a_row_and_keeps_no_empty_database(
    syn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.errors import DataError
    from stockcast.training import backtest
    from stockcast.training import tune as tuning

    calls: list[int] = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise DataError("SYN: something in the data went wrong; fetch it again")

    monkeypatch.setattr(backtest, "run_fold", failing)
    one_line(run("tune", "SYN", "--trials", "20", "-q"), 1, "5 failed trials in a row",
             "something in the data went wrong", "nothing was kept")  # fmt: skip
    assert len(calls) == tuning.MAX_FAILED_IN_A_ROW
    assert not (syn / "tune").exists()


def test_ctrl_c_in_tune_is_one_line_saying_what_was_kept(
    syn: Path, monkeypatch: pytest.MonkeyPatch, fast_folds: list[dict]
) -> None:
    from stockcast.training import backtest

    real, count = backtest.run_fold, []

    def interrupted(*args, **kwargs):
        count.append(1)
        if len(count) > 4:  # two trials of two folds finished first
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest, "run_fold", interrupted)
    one_line(run("tune", "SYN", "--trials", "9", "-q"), 130, "interrupted",
             "2 finished trials kept")  # fmt: skip
    assert (syn / "tune" / "SYN.db").exists()


def test_a_backtest_where_the_naive_forecast_makes_no_error_reports_instead_of_failing() -> None:
    """A flat stretch (every close equal) makes persistence exact: skill is undefined there, and
    the pooled report says so instead of raising."""
    import numpy as np

    from stockcast.forecasting import walkforward

    n, h = 120, 2
    close = np.full(n, 50.0)
    asof = np.arange(60, n - h)
    y = np.zeros((len(asof), h))
    fold = walkforward.FoldPredictions(
        origin="2020-01-01", end="2020-06-01", dates=[f"d{i}" for i in range(n)], close=close,
        asof=asof, y=y, mu=y + 0.001, mu_shrunk=y + 0.001, vol=np.full(len(asof), 0.01),
        val=(y[:20], y[:20] + 0.001, np.full(20, 0.01)), scale=0.01, shrink={}, seconds=0.0,
    )  # fmt: skip
    rep = walkforward.horizon_report([fold], 1)
    assert rep["skill_vs_best"] is None and rep["verdict"] == "worse"
    assert "made no error" in rep["summary"]


# the rough edges a new user hits ----------------------------------------------------------------
def test_backtest_refusing_a_feature_suggests_backtest(stockcast_home: Path) -> None:
    from helpers import nyse_prices

    from stockcast.data.store import PriceStore

    PriceStore(stockcast_home).write("NOVOL", nyse_prices(n=600, volume=False), source="csv")
    res = run("backtest", "NOVOL", "--features", "log_return,log_volume_change", "-q")
    one_line(res, 1, "`stockcast backtest NOVOL --features log_return`")


def test_predict_of_an_unknown_symbol_says_fetch_first_and_creates_nothing(
    stockcast_home: Path, tmp_path: Path
) -> None:
    from helpers import run_in

    res = run("predict", "NOPE")
    one_line(res, 1, "no prices stored for NOPE", "stockcast fetch NOPE", "then")
    typo = tmp_path / "no-such-home"
    res = run_in(typo, "predict", "MSFT")
    one_line(res, 1, "stockcast fetch MSFT", str(typo))
    assert not typo.exists()


def test_an_overlapping_run_exits_4_before_the_heavy_imports(stockcast_home: Path) -> None:
    import subprocess
    import sys

    from stockcast.schedule.runlock import run_lock

    (stockcast_home / "stockcast.toml").write_text('symbols = ["MSFT"]\n')
    code = (
        "import sys\nfrom stockcast.cli import main\n"
        f"sys.argv = ['stockcast', '--data-dir', {str(stockcast_home)!r}, 'run']\n"
        "try:\n    main()\nexcept SystemExit as e:\n"
        "    print(e.code, sorted(m for m in ('torch', 'pandas') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    with run_lock(stockcast_home):  # another run is in progress
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, env=env)  # fmt: skip
    assert out.stdout.strip() == "4 []", out.stdout + out.stderr
    assert "another `stockcast run` is running" in out.stderr


@pytest.mark.parametrize("failure", ["disk", "assert"])
def test_a_storage_failure_during_tune_is_one_line_saying_what_was_kept(
    syn: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    import optuna
    import sqlalchemy.exc

    def broken(self, *args, **kwargs):
        if failure == "disk":
            raise sqlalchemy.exc.OperationalError(
                "INSERT", {}, Exception("database or disk is full")
            )
        raise AssertionError("Should not reach.")

    monkeypatch.setattr(optuna.Study, "optimize", broken)
    res = run("tune", "SYN", "-q")
    one_line(res, 1, "the tune database", "run the same command again")
    if failure == "disk":
        assert "disk is full" in res.stderr


def test_tune_help_has_no_hard_line_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    res = run("tune", "--help")
    assert res.exit_code == 0
    para = [line for line in res.stdout.splitlines() if "Search hyper-parameters" in line]
    # the docstring's own line ends ("... options given" / "here are fixed") are not kept
    assert para and "training options given here are fixed" in para[0], res.stdout
    assert "A stored symbol (no trained model needed)" in res.stdout


def test_backtest_refuses_a_lookback_its_first_fold_cannot_hold(sample: Path) -> None:
    one_line(run("backtest", "MSFT", "--lookback", "5000", "-q"), 2, "first fold", "or less")


def test_a_damaged_study_database_is_one_line(syn: Path, tmp_path: Path) -> None:
    db = tmp_path / "damaged.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # the header, then garbage
    res = run("tune", "SYN", "--storage", f"sqlite:///{db}", "-q")
    one_line(res, 1, "cannot be opened", "another --storage")
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"


def test_ctrl_c_during_a_long_batch_keeps_the_members_best_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while a member sits in one batch longer than the grace period: the calling
    thread does not wait for the batch, and the member's best finished epoch is kept (from the
    copy its fit published, in a fresh network: the old one is still training)."""
    import _thread
    import signal
    import time

    from helpers import synthetic_prices

    from stockcast.training import loop, recipe
    from stockcast.training.job import configs_from_options

    data, model_cfg, cfg, _ = configs_from_options(
        {"lookback": 10, "hidden": 4, "epochs": 5, "batch_size": 64, "ensemble": 1,
         "band": "ewma"}  # the point member alone: no scale network beside it in the pool
    )  # fmt: skip
    after_epoch_one, real_step = [], loop.train_step

    def slow_step(*args, **kwargs):
        if after_epoch_one and len(after_epoch_one) == 1:
            after_epoch_one.append("interrupted")
            _thread.interrupt_main()  # Ctrl-C, while this batch "runs" for 3 s
            time.sleep(3)
        return real_step(*args, **kwargs)

    built, real_member = [], recipe.initial_member

    def member(*args, **kwargs):
        built.append(1)
        return real_member(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", slow_step)
    monkeypatch.setattr(recipe, "initial_member", member)
    # interrupt_main() does nothing while SIGINT is ignored (a suite started in the background
    # by a non-interactive shell): Python's own handler, as in a terminal, for this test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    made = recipe.Recipe(data, model_cfg, cfg)
    try:
        fitted = recipe.fit_recipe("SYN", synthetic_prices(400), made, device="cpu",
                                   callback=lambda r: after_epoch_one.append(r.epoch))  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, previous)
    assert after_epoch_one[:2] == [1, "interrupted"]
    assert fitted.interrupted and fitted.fits[0].epochs >= 1
    assert len(built) == 2  # the member left in its batch was rebuilt from its best epoch


def test_the_progress_bar_says_best_epoch_not_a_bare_number() -> None:
    from stockcast.cli.progress import EpochProgress
    from stockcast.training.loop import EpochReport

    report = EpochReport(3, 30, 0.5, 0.6, 0.55, 0, 1e-3, 2.0, False)
    progress = EpochProgress("MSFT", 30, silent=True)
    assert "best epoch 0" in progress.bar(report)["info"]
    assert progress.start().startswith("MSFT: training, at most 30 epochs")

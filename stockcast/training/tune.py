"""`stockcast tune`: a hyper-parameter search with Optuna, stored in a database so that it
resumes after a kill and several processes (or machines) can search one study at once.

The objective never sees the test split that `train` holds out: the prices are cut at the first
test session of `train`'s default split (``windows.fraction_bounds``), and the tail of what is
left is walked forward in ``folds`` blocks exactly as `backtest` does (``backtest.run_fold``:
each fold trains only on sessions before its origin). The value of a trial is the mean over
horizons of MAE / MAE of the best naive forecast on the folds seen so far (below 1 beats naive);
it is reported after every fold so that Optuna's median pruner stops poor trials early.

Storage: ``sqlite:///<data>/tune/<SYMBOL>.db`` unless a URL is given (any SQLAlchemy URL that
Optuna's RDB storage accepts, e.g. PostgreSQL, for several machines). The study is named
``<SYMBOL>-<arch>``; `--trials N` means N finished trials in the study, counting those of
earlier or concurrent runs, so the same command after a kill continues where it stopped.
Trials of a killed process are marked failed by the heartbeat and retried.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from stockcast import options
from stockcast.data.fsutil import check_stored
from stockcast.data.paths import normalize_symbol, symbol_file
from stockcast.data.store import PriceStore
from stockcast.errors import DataError, UsageError
from stockcast.forecasting import walkforward
from stockcast.prep import windows
from stockcast.training import backtest
from stockcast.training.job import configs_from_options

INNER_FOLDS = 2  # walk-forward folds of the objective
HEARTBEAT_S = 10  # a running trial's heartbeat; one silent for GRACE_S is failed and retried
GRACE_S = 30
CREATE_TRIES = 5  # attempts to open a storage that another process may be creating
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "default": options.DEFAULT_FEATURES,
    "returns": ("log_return",),
    "returns+range": ("log_return", "hl_pct"),
    "default+vol": (*options.DEFAULT_FEATURES, "volatility"),
    "default+rsi": (*options.DEFAULT_FEATURES, "rsi", "ma_distance"),
}


def space(trial: optuna.Trial, arch: str) -> dict[str, Any]:
    """The search space of ``arch`` as flat training options."""
    widths = [16, 32, 64] if arch == "transformer" else [16, 32, 64, 128]  # divisible by heads
    return {
        "hidden": trial.suggest_categorical("hidden", widths),
        "layers": trial.suggest_int("layers", 1, 2),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "weight_decay": trial.suggest_float("weight_decay", 1e-4, 0.2, log=True),
        "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
        "lookback": trial.suggest_categorical("lookback", [20, 40, 60, 120]),
        "features": FEATURE_SETS[trial.suggest_categorical("features", list(FEATURE_SETS))],
    }


def default_storage(root: Path, symbol: str) -> str:
    """``sqlite:///<root>/tune/<SYMBOL>.db`` (the folder is created); UnsafeFile when the
    database or its journal is not a regular file inside the data directory (SQLite would
    block on a FIFO there)."""
    path = symbol_file(Path(root), symbol, "tune", ".db")
    for part in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        check_stored(part, Path(root), "move it aside (a new study starts empty)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_study(storage: str, name: str, seed: int | None = None) -> optuna.Study:
    """The study ``name`` in ``storage``, created on first use (TPE sampler, median pruner)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(CREATE_TRIES):
        try:
            rdb = _rdb_storage(storage)
            break
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            # two processes creating a new storage at once race on its schema tables and version
            # row (an IntegrityError in the loser): the winner's schema is there a moment later
            if attempt == CREATE_TRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    return optuna.create_study(
        storage=rdb,
        study_name=name,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )


def _rdb_storage(storage: str) -> RDBStorage:
    """Optuna's RDB storage of ``storage`` with heartbeats (a killed run's trial is retried)."""
    engine = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else {}
    with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna 5; we rely on it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
        return RDBStorage(storage, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S,
                          grace_period=GRACE_S, heartbeat_stale_trial_callback=retry)  # fmt: skip


def finished(study: optuna.Study) -> int:
    """Trials of the study that finished (complete or pruned), whoever ran them."""
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def objective_value(report: Mapping[str, Any]) -> float:
    """Mean over horizons of MAE / MAE of the better of persistence and drift."""
    ratios = []
    for h in report["horizons"]:
        best = min(h["baselines"]["persistence"]["mae"], h["baselines"]["drift"]["mae"])
        ratios.append(h["mae"] / best if best > 0 else math.inf)
    return float(np.mean(ratios))


def tuning_prices(root: Path, symbol: str) -> Any:
    """The stored prices before the test split `train` would hold out by default."""
    prices = PriceStore(root).read(symbol)
    d = options.DataConfig()
    _, b2 = windows.fraction_bounds(len(prices), d.val_frac, d.test_frac)
    return prices.iloc[:b2]


def make_objective(symbol: str, prices: Any, fixed: Mapping[str, Any], folds: int,
                   device: str) -> Callable[[optuna.Trial], float]:  # fmt: skip
    """The trial function: options = the search space overridden by the ``fixed`` options."""
    blocks = walkforward.fold_blocks(len(prices), folds)

    def objective(trial: optuna.Trial) -> float:
        arch = str(fixed.get("arch", options.ModelOptions().arch))
        opts = {**space(trial, arch), **fixed, "ensemble": fixed.get("ensemble", 1)}
        data, model_cfg, cfg, _ = configs_from_options(opts)
        backtest.check_blocks(symbol, blocks, data)
        preds = []
        for k, (origin, end) in enumerate(blocks):
            fp = backtest.run_fold(symbol, prices.iloc[: end + 1], origin, data, model_cfg, cfg,
                                   cfg.ensemble, device, None)  # fmt: skip
            preds.append(fp)
            value = objective_value(walkforward.report(preds))
            trial.report(value, k)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    return objective


def tune_symbol(
    root: Path,
    symbol: str,
    *,
    fixed: Mapping[str, Any],
    trials: int,
    jobs: int = 1,
    timeout: float | None = None,
    storage: str | None = None,
    folds: int = INNER_FOLDS,
    device: str = "auto",
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> dict[str, Any]:
    """Run the search until the study holds ``trials`` finished trials (or ``timeout`` s);
    returns the `tune --json` object without the backtest of the best parameters."""
    sym = normalize_symbol(symbol)
    if trials < 1 or jobs < 1:
        raise UsageError("--trials and --jobs must be at least 1")
    fixed = {k: v for k, v in fixed.items() if v is not None}
    configs_from_options(fixed)  # bad fixed options fail before any trial runs
    arch = str(fixed.get("arch", options.ModelOptions().arch))
    url = storage or default_storage(root, sym)
    study = open_study(url, f"{sym}-{arch}")
    prices = tuning_prices(root, sym)
    callbacks: list[Any] = [MaxTrialsCallback(trials, states=(TrialState.COMPLETE,
                                                               TrialState.PRUNED))]  # fmt: skip
    if on_trial is not None:
        callbacks.append(on_trial)
    if finished(study) < trials:
        study.optimize(make_objective(sym, prices, fixed, folds, device), n_jobs=jobs,
                       timeout=timeout, callbacks=callbacks, gc_after_trial=True,
                       catch=(DataError,))  # fmt: skip
    return result(study, url, sym, arch, fixed)


def best_options(study: optuna.Study, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The best trial's parameters as flat training options (features as a tuple of names)."""
    params = dict(study.best_trial.params)
    if "features" in params:
        params["features"] = FEATURE_SETS[params["features"]]
    return {**params, **fixed}


def result(study: optuna.Study, url: str, sym: str, arch: str,
           fixed: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The `tune --json` object: storage, counts, best parameters and the command to train."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    out: dict[str, Any] = {
        "ticker": sym,
        "arch": arch,
        "study": {"name": study.study_name, "storage": url},
        "trials_completed": finished(study),
        "trials_pruned": len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
        "trials_failed": len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))),
        "best": None,
    }
    if complete:
        best = best_options(study, fixed)
        out["best"] = {
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in best.items()},
            "value": study.best_value,
            "trial": study.best_trial.number,
        }
        out["command"] = train_command(sym, best)
    return out


def train_command(symbol: str, opts: Mapping[str, Any]) -> str:
    """`stockcast train SYMBOL --flag value ...` for the given options (defaults left out)."""
    parts = ["stockcast", "train", symbol]
    for name, value in opts.items():
        spec = options.SPECS.get(name)
        if spec is None or value == spec.default:
            continue
        if isinstance(value, tuple | list):
            value = ",".join(value)
        if isinstance(value, bool):
            parts.append(spec.flag if value else "")
            continue
        parts += [spec.flag, f"{value:.3g}" if isinstance(value, float) else str(value)]
    return " ".join(p for p in parts if p)


def backtest_best(root: Path, symbol: str, best: Mapping[str, Any], device: str = "auto",
                  seeds: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The default `backtest` of the best parameters (same folds and seeds as `backtest`)."""
    data, model_cfg, cfg, _ = configs_from_options(dict(best))
    return backtest.backtest_symbol(root, symbol, data, model_cfg, cfg, seeds=seeds,
                                    device=device)  # fmt: skip

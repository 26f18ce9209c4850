"""`stockcast tune`: a hyper-parameter search with Optuna, stored in a database so that it
resumes after a kill and several processes (or machines) can search one study at once.

The objective never sees the test split that `train` holds out: the prices are cut at the first
test session of `train`'s default split (``windows.fraction_bounds``), and the tail of what is
left is walked forward in ``folds`` blocks exactly as `backtest` does (``backtest.run_fold``:
each fold trains only on sessions before its origin). The value of a trial is the mean over
horizons of MAE / MAE of the best naive forecast on the folds seen so far (below 1 beats naive);
it is reported after every fold so that Optuna's median pruner stops poor trials early.

The backtest reported for the winner (``backtest_best``) is out of sample for the search too:
its test blocks cover only the sessions after ``searched_through`` (the last session whose
target any trial saw), never the inner folds that chose the parameters; it trains on
everything before each block, as `backtest` does.

Storage: ``sqlite:///<data>/tune/<SYMBOL>.db`` unless a URL is given (any SQLAlchemy URL that
Optuna's RDB storage accepts, e.g. PostgreSQL, for several machines). The study is named
``<SYMBOL>-<arch>``; `--trials N` means N finished trials in the study, counting those of
earlier or concurrent runs, so the same command after a kill continues where it stopped.
Trials of a killed process are marked failed by the heartbeat and retried.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy.exc
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback, StudyDirection
from optuna.trial import TrialState

from stockcast import options
from stockcast.data.fsutil import check_stored
from stockcast.data.paths import normalize_symbol, symbol_file
from stockcast.data.store import PriceStore
from stockcast.errors import DataError, Interrupted, StockcastError, TrainingError, UsageError
from stockcast.forecasting import walkforward
from stockcast.prep import windows
from stockcast.training import backtest, preflight, recipe
from stockcast.training.job import recipe_from_options
from stockcast.training.results import BacktestResult, TuneBacktest, TuneBest, TuneResult

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


LOOKBACKS = [20, 40, 60, 120]


def distributions(arch: str) -> dict[str, BaseDistribution]:
    """The search space of ``arch``: option name -> Optuna distribution."""
    widths = [16, 32, 64] if arch == "transformer" else [16, 32, 64, 128]  # divisible by heads
    return {
        "hidden": CategoricalDistribution(widths),
        "layers": IntDistribution(1, 2),
        "dropout": FloatDistribution(0.0, 0.3),
        "weight_decay": FloatDistribution(1e-4, 0.2, log=True),
        "lr": FloatDistribution(3e-4, 1e-2, log=True),
        "lookback": CategoricalDistribution(LOOKBACKS),
        "features": CategoricalDistribution(list(FEATURE_SETS)),
    }


def space(trial: optuna.Trial, arch: str, fixed: Mapping[str, Any] = {}) -> dict[str, Any]:
    """The searched options of ``arch`` as flat training options: every name of
    ``distributions`` not ``fixed`` (a fixed option is not suggested, so a trial's parameters
    are what it ran)."""
    out: dict[str, Any] = {}
    for name, dist in distributions(arch).items():
        if name in fixed:
            continue
        if isinstance(dist, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, list(dist.choices))
        elif isinstance(dist, IntDistribution):
            out[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, FloatDistribution):
            out[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    if "features" in out:
        out["features"] = FEATURE_SETS[out["features"]]
    return out


def default_storage(root: Path, symbol: str) -> str:
    """``sqlite:///<root>/tune/<SYMBOL>.db`` (the folder is created); UnsafeFile when the
    database or its journal is not a regular file inside the data directory (SQLite would
    block on a FIFO there)."""
    path = symbol_file(Path(root), symbol, "tune", ".db")
    for part in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        check_stored(part, Path(root), "move it aside (a new study starts empty)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


SQLITE_HEADER = b"SQLite format 3\x00"


def check_storage(url: str) -> None:
    """UsageError (one line naming the fix) unless ``url`` is a database URL that Optuna can
    keep a study in: it parses, its kind and driver are installed, and an SQLite file is a
    regular, writable SQLite file or can be created (in-memory SQLite keeps nothing)."""
    fix = "give a URL such as sqlite:///PATH/tune.db or postgresql://USER@HOST/DB"
    try:
        parsed = sqlalchemy.engine.make_url(url)
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        kind = url.split(":", 1)[0]
        raise UsageError(f"--storage {url!r}: unknown database kind {kind!r}; {fix}") from None
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise UsageError(f"--storage {url!r} is not a database URL; {fix}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise UsageError(
            f"--storage {parsed.drivername}: its Python driver ({exc.name}) is not installed; "
            "install it, or use sqlite:///PATH/tune.db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(url, parsed.database, dict(parsed.query))


def _check_sqlite_file(url: str, database: str | None, query: dict) -> None:
    if not database or ":memory:" in database or query.get("mode") == "memory":
        raise UsageError(
            f"--storage {url!r} is an in-memory database, which keeps no trial after the "
            "command; give a file: sqlite:///PATH/tune.db"
        )
    if "\x00" in database:
        raise UsageError(f"--storage {url!r}: a path cannot hold a NUL (%00); give another path")
    path = Path(database)
    fix = "give another file (sqlite:///PATH/tune.db)"
    if not path.exists():
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise UsageError(f"--storage: cannot create {path}: its folder is missing or "
                             f"read-only; {fix}")  # fmt: skip
        return
    if path.is_dir():
        raise UsageError(f"--storage: {path} is a folder, not a database file; {fix}")
    if not path.is_file():
        raise UsageError(f"--storage: {path} is not a regular file; {fix}")
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK):
        raise UsageError(f"--storage: {path} or its folder is not writable; {fix}")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head and head != SQLITE_HEADER:
        raise UsageError(
            f"--storage: {path} is not an SQLite database (damaged, or another kind of file); "
            f"move it away or {fix.split('; ')[-1]}"
        )


def open_study(storage: str, name: str, seed: int | None = None) -> optuna.Study:
    """The study ``name`` in ``storage``, created on first use (TPE sampler, median pruner)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials: our own one line
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


def objective_value(report: walkforward.FoldsReport) -> float:
    """Mean over horizons of MAE / MAE of the better of persistence and drift."""
    ratios = []
    for h in report.horizons:
        best = min(h["baselines"]["persistence"]["mae"], h["baselines"]["drift"]["mae"])
        ratios.append(h["mae"] / best if best > 0 else math.inf)
    return float(np.mean(ratios))


def tuning_prices(root: Path, symbol: str) -> Any:
    """The stored prices before the test split `train` would hold out by default."""
    prices = PriceStore(root).read(symbol)
    d = options.DataConfig()
    _, b2 = windows.fraction_bounds(len(prices), d.val_frac, d.test_frac)
    return prices.iloc[:b2]


MAX_FAILED_IN_A_ROW = 5  # trials that fail one after another before the search stops


def make_objective(symbol: str, prices: Any, fixed: Mapping[str, Any], folds: int,
                   device: str, failures: list[str] | None = None,
                   ) -> Callable[[optuna.Trial], float]:  # fmt: skip
    """The trial function: options = the search space overridden by the ``fixed`` options.
    The options a trial ran are kept in its user attribute ``options``; why a trial failed is
    appended to ``failures``."""
    blocks = walkforward.fold_blocks(len(prices), folds)

    def objective(trial: optuna.Trial) -> float:
        arch = str(fixed.get("arch", options.ModelOptions().arch))
        opts = {**space(trial, arch, fixed), **fixed, "ensemble": fixed.get("ensemble", 1)}
        trial.set_user_attr("options", _plain(opts))
        try:
            made, _ = recipe_from_options(opts)
            backtest.check_blocks(symbol, blocks, made.data)
            preds = []
            for k, (origin, end) in enumerate(blocks):
                fp = backtest.run_fold(symbol, prices.iloc[: end + 1], origin, made,
                                       made.train.ensemble, device, None)  # fmt: skip
                preds.append(fp)
                value = objective_value(walkforward.report(preds))
                trial.report(value, k)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        except (DataError, TrainingError) as exc:
            if failures is not None:
                failures.append(str(exc))
            raise
        return value

    return objective


def _plain(opts: Mapping[str, Any]) -> dict[str, Any]:
    """Options as JSON values (a tuple of features as a list), without the device."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items() if k != "device"}


def check_tunable(sym: str, prices: Any, data: Any, fixed: Mapping[str, Any], folds: int) -> None:
    """UsageError before any trial when no trial could run: the history before the test split
    cannot hold the folds, or the first fold too few windows at the (shortest) lookback."""
    try:
        blocks = walkforward.fold_blocks(len(prices), folds)
        backtest.check_blocks(sym, blocks, data)
    except DataError as exc:
        raise UsageError(f"{sym} is too short to tune ({len(prices)} sessions before its "
                         f"test split): {exc}") from None  # fmt: skip
    lookback = data.lookback if "lookback" in fixed else min(LOOKBACKS)
    origin, end = blocks[0]
    preflight.fold_lookback(sym, end, origin, replace(data, lookback=lookback), "tune")


def check_study(study: optuna.Study, url: str, arch: str, fixed: Mapping[str, Any]) -> None:
    """UsageError unless ``study`` is one this search can continue: one objective, minimised,
    run with the same fixed options (kept in its user attribute ``fixed``) and searched over
    the same space; a new study records the fixed options."""
    where = f"the study {study.study_name} in {url}"
    fix = "give another --storage, or remove the study's database"
    if len(study.directions) != 1:
        raise UsageError(f"{where} has {len(study.directions)} objectives, tune keeps one; {fix}")
    if study.direction != StudyDirection.MINIMIZE:
        raise UsageError(f"{where} maximizes its objective, tune minimizes MAE ratios; {fix}")
    mine, kept = _plain(fixed), study.user_attrs.get("fixed")
    if kept is not None and kept != mine:
        raise UsageError(
            f"{where} was searched with fixed options {_flags(kept)}, not {_flags(mine)}; "
            f"give the same options, or another --storage"
        )
    expected = distributions(arch)
    for t in study.get_trials(deepcopy=False):
        for name, dist in t.distributions.items():
            if name in fixed and kept is None:  # an older stockcast searched fixed options too
                raise UsageError(
                    f"{where} comes from an older stockcast whose trials did not record the "
                    f"fixed option --{name.replace('_', '-')}; {fix}"
                )
            if name in fixed or expected.get(name) != dist:
                raise UsageError(
                    f"{where} searched another space (trial {t.number}: {name}); give the "
                    f"options it was searched with, or another --storage"
                )
    if kept is None:
        study.set_user_attr("fixed", mine)


def _flags(opts: Mapping[str, Any]) -> str:
    text = train_command("", opts).removeprefix("stockcast train").strip()
    return f"({text})" if text else "(none)"


class _FailureLimit:
    """Stops the study after MAX_FAILED_IN_A_ROW trials of this run failed one after another."""

    def __init__(self) -> None:
        self.in_a_row = 0
        self.hit = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.in_a_row >= MAX_FAILED_IN_A_ROW:
            self.hit = True
            study.stop()


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
) -> TuneResult:
    """Run the search until the study holds ``trials`` finished trials (or ``timeout`` s);
    returns the `tune --json` object without the backtest of the best parameters.

    Everything that can be checked is checked before the study is opened (options, ``jobs``,
    the storage URL, the history's length); a study of another shape or other fixed options is
    refused by name. The search stops after MAX_FAILED_IN_A_ROW failed trials in a row
    (DataError naming the last cause); Ctrl-C raises ``Interrupted`` and a storage failure
    ``StockcastError``, each saying what the study kept. A database this run created is
    removed again when it ends without a finished trial."""
    sym = normalize_symbol(symbol)
    if trials < 1 or jobs < 1:
        raise UsageError("--trials and --jobs must be at least 1")
    preflight.check_jobs(jobs)
    fixed = {k: v for k, v in fixed.items() if v is not None}
    # bad fixed options (or a model too large) fail before any trial runs; trials train one
    # member unless --ensemble is fixed
    made, _ = recipe_from_options({**fixed, "ensemble": fixed.get("ensemble", 1)})
    arch = str(fixed.get("arch", options.ModelOptions().arch))
    if storage is not None:
        check_storage(storage)
    prices = tuning_prices(root, sym)
    check_tunable(sym, prices, made.data, fixed, folds)
    url = storage or default_storage(root, sym)
    created = _new_sqlite_file(url)
    study = None
    try:
        study = _open(url, f"{sym}-{arch}")
        check_study(study, url, arch, fixed)
        limit, failures = _FailureLimit(), list[str]()
        objective = make_objective(sym, prices, fixed, folds, device, failures)
        callbacks = [limit] + ([on_trial] if on_trial else [])
        _optimize(study, objective, trials, jobs, timeout, callbacks, url)
        if limit.hit:
            raise DataError(
                f"{sym}: tune stopped after {MAX_FAILED_IN_A_ROW} failed trials in a row; the "
                f"last: {failures[-1] if failures else 'no reason given'}; {_kept(study, url)}"
            )
        through = prices.index[-1].date().isoformat()
        return result(study, url, sym, arch, fixed, through)
    finally:
        _remove_if_empty(created, study)


def _open(url: str, name: str) -> optuna.Study:
    """``open_study``; ``StockcastError`` in one line naming the fix when the database cannot
    be opened."""
    try:
        return open_study(url, name)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:120]
        raise StockcastError(
            f"the tune database {url} cannot be opened ({reason}); nothing was changed; "
            "release it (another process may hold it), move a damaged file away, or give "
            "another --storage"
        ) from None


def _optimize(study: optuna.Study, objective: Callable[[optuna.Trial], float], trials: int,
              jobs: int, timeout: float | None, callbacks: list[Any],
              url: str) -> None:  # fmt: skip
    """``study.optimize`` until it holds ``trials`` finished trials; Ctrl-C and storage
    failures become one line that says what the study kept."""
    if finished(study) >= trials:
        return
    done = MaxTrialsCallback(trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
    try:
        with recipe.stop_all_on_ctrl_c():  # trials in Optuna's threads stop too (--jobs N)
            study.optimize(objective, n_jobs=jobs, timeout=timeout,
                           callbacks=[done, *callbacks], gc_after_trial=True,
                           catch=(DataError, TrainingError))  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(f"{study.study_name}: interrupted; {_kept(study, url)}") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError,
            AssertionError) as exc:  # fmt: skip  # Optuna's "Should not reach." on a full disk
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:120]
        raise StockcastError(
            f"the tune database {url} failed ({reason}); {_kept(study, url)}; free space or "
            "release the database, then run the same command again"
        ) from None


def _kept(study: optuna.Study, url: str) -> str:
    """What the study holds, for a line that ends a search early."""
    try:
        n = finished(study)
    except Exception:  # the storage itself is what failed
        return f"the trials finished before are kept in {url}"
    if n == 0:
        return "no trial had finished, so nothing was kept"
    return f"{n} finished trial{'s' if n != 1 else ''} kept in {url}; the same command continues"


def _new_sqlite_file(url: str) -> Path | None:
    """The SQLite file of ``url`` when it does not exist yet (this run will create it)."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(sqlalchemy.engine.make_url(url).database or "")
    return None if path.exists() else path


def _remove_if_empty(created: Path | None, study: optuna.Study | None) -> None:
    """Remove a database this run created when it holds no finished trial (a failed or refused
    run leaves nothing behind)."""
    if created is None or not created.exists():
        return
    try:
        if study is not None and finished(study) > 0:
            return
    except Exception:
        pass  # unreadable: nothing finished is in it
    created.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        created.parent.rmdir()  # the tune/ folder, when nothing else is in it


def best_options(study: optuna.Study, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The options the best trial ran, as flat training options (features as a tuple of
    names): its ``options`` attribute, or for a trial of an older study its parameters with the
    fixed options."""
    best = study.best_trial
    ran = best.user_attrs.get("options")
    if ran is None:
        params = dict(best.params)
        if "features" in params:
            params["features"] = FEATURE_SETS[params["features"]]
        ran = {**params, **fixed}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in ran.items()}


def result(study: optuna.Study, url: str, sym: str, arch: str, fixed: Mapping[str, Any],
           searched_through: str | None = None) -> TuneResult:  # fmt: skip
    """The search's result (``to_dict``: the `tune --json` object): storage, counts, best
    parameters and the command to train."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    best, command = None, None
    if complete:
        ran = best_options(study, fixed)
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in ran.items()}
        best = TuneBest(params, study.best_value, study.best_trial.number)
        command = train_command(sym, ran)
    return TuneResult(
        ticker=sym,
        arch=arch,
        study={"name": study.study_name, "storage": url},
        trials_completed=finished(study),
        trials_pruned=len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
        trials_failed=len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))),
        best=best,
        command=command,
        searched_through=searched_through,
    )


def backtest_summary(bt: BacktestResult, searched_through: str) -> TuneBacktest:
    """What `tune` reports of the best parameters' backtest: the folds' spans and per horizon
    the skill against the best naive forecast, its verdict and DM p-value."""
    return TuneBacktest(
        searched_through=searched_through,
        folds=tuple({k: f[k] for k in ("origin", "end", "test_start", "test_end", "n")}
                    for f in bt.folds),
        horizons=tuple({"h": h["h"], "skill_vs_best": h["skill_vs_best"],
                        "verdict": h["verdict"], "dm_pvalue": h["dm_pvalue"]}
                       for h in bt.horizons),
    )  # fmt: skip


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


def after_search_share(sessions: int, searched: int) -> float:
    """The share of ``sessions`` stored sessions that test blocks may cover so that every
    block's first as-of session comes after the first ``searched`` sessions (the search's):
    the blocks of ``walkforward.fold_blocks(sessions, folds, share)`` then start at or after
    index ``searched + 1``. DataError when nothing is left after the search."""
    free = sessions - searched - 1
    if free < 1:
        raise DataError(
            f"no stored session after the {searched} the search saw; fetch newer prices "
            "before backtesting the best parameters"
        )
    return free / sessions


def check_after_search(folds: Sequence[Mapping[str, Any]], searched_through: str) -> None:
    """DataError unless every fold's first as-of session (``test_start``, ISO) lies after
    ``searched_through``: a backtest overlapping the search would be in-sample."""
    inside = [f["test_start"] for f in folds if f["test_start"] <= searched_through]
    if inside:
        raise DataError(
            f"backtest folds starting {', '.join(inside)} overlap the search (through "
            f"{searched_through}); backtest on sessions after it only"
        )


def backtest_best(root: Path, symbol: str, best: Mapping[str, Any], device: str = "auto",
                  ensemble: int | None = None,
                  folds: int = walkforward.DEFAULT_FOLDS) -> TuneBacktest:  # fmt: skip
    """The `backtest` of the best parameters (same seeds as `backtest`) on the sessions after
    every session the search saw: ``folds`` blocks over them, summed up with
    ``searched_through`` (``backtest_summary``)."""
    made, _ = recipe_from_options(dict(best))
    sym = normalize_symbol(symbol)
    searched = tuning_prices(root, sym)
    share = after_search_share(len(PriceStore(root).read(sym)), len(searched))
    out = backtest.backtest_symbol(root, sym, made, ensemble=ensemble, device=device,
                                   folds=folds, share=share)  # fmt: skip
    through = searched.index[-1].date().isoformat()
    check_after_search(out.folds, through)
    return backtest_summary(out, through)

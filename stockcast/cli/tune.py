"""`stockcast tune`: an Optuna search over one symbol's walk-forward folds, resumable."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockcast.cli.app import STATE, app, handles_errors, print_json, stderr, stdout
from stockcast.cli.flags import JsonOpt, QuietOpt, SymbolArg, training_options

TrialsOpt = Annotated[
    int, typer.Option("--trials", min=1, help="Finished trials the study should hold.")
]
JobsOpt = Annotated[int, typer.Option("--jobs", min=1, help="Trials run at once here.")]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", min=1, show_default=False, help="Stop after this many seconds."),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        show_default=False,
        help="Optuna storage URL to share with other machines (default: sqlite in <data>/tune/).",
    ),
]
InnerFoldsOpt = Annotated[int, typer.Option("--folds", min=1, max=10, help="Inner folds.")]
BacktestBestOpt = Annotated[
    bool,
    typer.Option(
        "--backtest/--no-backtest",
        help="Backtest the best parameters at the end (as `stockcast backtest`, on the "
        "sessions after those the search saw).",
    ),
]

if TYPE_CHECKING:
    from stockcast.training.results import TuneResult


@app.command()
@handles_errors
@training_options
def tune(
    symbol: SymbolArg,
    trials: TrialsOpt = 20,
    jobs: JobsOpt = 1,
    timeout: TimeoutOpt = None,
    storage: StorageOpt = None,
    folds: InnerFoldsOpt = 2,
    run_backtest: BacktestBestOpt = True,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    *,
    options: dict[str, Any],
) -> None:
    """Search hyper-parameters (size, layers, dropout, decay, learning rate, lookback,
    features) on walk-forward folds that never include the test split; training options given
    here are fixed, the others searched. The study lives in a database: the same command after
    a kill or a timeout continues it, and several processes can search it at once.

    Example: [bold]stockcast tune MSFT --arch gru --trials 20 --jobs 2[/]
    """
    from stockcast.data.paths import normalize_symbol
    from stockcast.training import tune as tuning

    sym = normalize_symbol(symbol)
    progress = None if (quiet or as_json) else _trial_line
    device = str(options.get("device") or "auto")  # the trials' and the backtest's
    res = tuning.tune_symbol(STATE.data_dir, sym, fixed=options, trials=trials, jobs=jobs,
                             timeout=timeout, storage=storage, folds=folds, device=device,
                             on_trial=progress)  # fmt: skip
    if run_backtest and res.best is not None:
        if progress is not None:
            stderr().print(f"{sym}: backtesting the best parameters ...", markup=False)
        best = {k: tuple(v) if isinstance(v, list) else v
                for k, v in res.best.params.items()}  # fmt: skip
        res = replace(res, backtest=tuning.backtest_best(STATE.data_dir, sym, best, device=device))
    if as_json:
        print_json(res.to_dict())
        return
    if not quiet:
        render(res)


def _trial_line(study: Any, trial: Any) -> None:
    state = {"FAIL": "failed"}.get(trial.state.name, trial.state.name.lower())
    value = state if trial.value is None else f"{trial.value:.4f}"
    best = study.best_value if any(t.value is not None for t in study.trials) else None
    best_text = "" if best is None else f"  best {best:.4f}"
    stderr().print(f"trial {trial.number}: {value}{best_text}", markup=False)


def render(res: TuneResult) -> None:
    con = stdout()
    con.print(
        f"{res.ticker} {res.arch}: {res.trials_completed} trials finished "
        f"({res.trials_pruned} pruned) in {res.study['storage']}",
        markup=False,
    )
    if res.best is None:
        con.print("no trial completed yet; run the same command again to continue", markup=False)
        return
    b = res.best
    con.print(
        f"best (trial {b.trial}): MAE / best naive MAE = {b.value:.4f} on the inner "
        "folds (below 1 beats naive)",
        markup=False,
    )
    for k, v in b.params.items():
        con.print(f"  {k} = {', '.join(v) if isinstance(v, list) else v}", markup=False)
    bt = res.backtest
    if bt is not None and bt.folds:
        con.print(
            f"  backtest on the sessions after the search (through {bt.searched_through}): "
            f"test windows from {bt.folds[0]['test_start']} to {bt.folds[-1]['test_end']}",
            markup=False,
        )
    for h in () if bt is None else bt.horizons:
        s = h["skill_vs_best"]
        skill = (
            f"{s['value']:+.2%} (95% CI {s['low']:+.2%}..{s['high']:+.2%})"
            if s
            else "undefined (the naive forecast made no error)"
        )
        con.print(f"  backtest h={h['h']}: skill vs best naive {skill}, {h['verdict']}",
                  markup=False)  # fmt: skip
    con.print(f"train them: {res.command}", markup=False)

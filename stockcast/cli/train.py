"""`stockcast train`, `stockcast evaluate` and `stockcast features` (tables: cli/report.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockcast.cli.app import (
    STATE,
    app,
    check_model_option,
    end_batch,
    error_line,
    error_object,
    handles_errors,
    print_json,
    stderr,
    stdout,
    where_hint,
)
from stockcast.cli.flags import (
    JsonOpt,
    ModelIdOpt,
    QuietOpt,
    SymbolsArg,
    training_options,
)
from stockcast.cli.progress import EpochProgress
from stockcast.cli.report import new_table, render_cross_section, render_evaluation
from stockcast.cli.tables import print_table
from stockcast.eachsymbol import Outcome, exit_code, for_each_symbol
from stockcast.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from stockcast.training.results import TrainResult


GlobalOpt = Annotated[
    bool,
    typer.Option(
        "--global", help="Train ONE model over all the symbols' windows (split at common dates)."
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Name of a --global model (default: global); use it with --model NAME.",
        show_default=False,
    ),
]


@app.command()
@handles_errors
@training_options
def train(
    symbols: SymbolsArg,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    global_: GlobalOpt = False,
    name: NameOpt = None,
    *,
    options: dict[str, Any],
) -> None:
    """Train one model per symbol on stored prices, evaluate it on its test split, save it;
    with --global, one model over all the symbols.

    Under torchrun (`torchrun --nproc-per-node N -m stockcast train ...`) a --global model
    trains with DistributedDataParallel and per-symbol models are shared out over the ranks;
    rank 0 alone prints and writes the global model.

    Examples: [bold]stockcast train MSFT --epochs 20 --seed 1[/],
    [bold]stockcast train AAPL AMD KO --global --name big3[/]
    """
    from stockcast.data.paths import normalize_symbol
    from stockcast.training.job import recipe_from_options

    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    recipe, dev = recipe_from_options(options)
    if name is not None and not global_:
        raise UsageError("--name names a --global model; add --global or leave --name out")
    if global_:
        _train_global(syms, name, recipe, dev, as_json, quiet)
    else:
        _train_each(syms, recipe, dev, as_json, quiet)


def _train_each(syms: list[str], recipe: Any, dev: str, as_json: bool, quiet: bool) -> None:
    """`train A B C`: one model per symbol, each through the one recipe; under torchrun the
    symbols are shared out over the ranks and rank 0 reports them all."""
    from stockcast.training import dist
    from stockcast.training.job import check_symbol, train_symbol

    me = dist.from_env()
    quiet = quiet or not me.main

    def one(sym: str) -> TrainResult:
        check_symbol(STATE.data_dir, sym, recipe.data)  # before the progress line: one line
        with EpochProgress(sym, recipe.train.epochs, quiet) as callback:
            return train_symbol(STATE.data_dir, sym, recipe, dev, callback)

    if me.world > 1:
        dist.start("cpu")  # gloo, only to gather every rank's results on rank 0
    batch = for_each_symbol(
        dist.share(syms, me),  # under torchrun: this rank's symbols; else all of them
        one,
        on_outcome=_said,
        keep_on_interrupt=True,
        stops_early=lambda r: r.interrupted,
    )
    gathered = [o for part in dist.gather(batch.outcomes, me) for o in part]
    outcomes = sorted(gathered, key=lambda o: syms.index(o.symbol))  # the order given
    dist.finish()
    if not me.main:
        raise typer.Exit(batch.exit_code)
    _end(syms, outcomes, as_json, quiet)


def _end(syms: list[str], outcomes: list[Outcome[TrainResult]], as_json: bool, quiet: bool) -> None:
    """Report every rank's outcomes (in the order of ``syms``) and exit with their code."""
    code = exit_code(
        len(syms),
        [o.error.exit_code for o in outcomes if o.error is not None],
        interrupted=any(o.interrupted for o in outcomes),
    )
    if len(syms) == 1 and code and not as_json:
        raise typer.Exit(code)
    results = [
        o.value if o.value is not None else error_object(o.symbol, o.error)
        for o in outcomes
        if o.value is not None or o.error is not None
    ]
    _report(results, as_json, quiet)
    if code:
        raise typer.Exit(code)


def _train_global(syms: list[str], name: str | None, recipe: Any, dev: str, as_json: bool,
                  quiet: bool) -> None:  # fmt: skip
    """`train --global`: one model over ``syms``; DDP over the ranks under torchrun."""
    from stockcast.data.paths import normalize_symbol
    from stockcast.models.store import check_name
    from stockcast.training import dist
    from stockcast.training.globaljob import GLOBAL_NAME, train_global

    label = name or GLOBAL_NAME
    check_name(STATE.data_dir, normalize_symbol(label), syms)  # before the progress line
    shard, device, me = None, dev, dist.from_env()
    if me.world > 1:
        me, torch_dev, shard = dist.start(dev)
        device = str(torch_dev)
    try:
        with EpochProgress(label, recipe.train.epochs, quiet or not me.main) as callback:
            result = train_global(STATE.data_dir, label, syms, recipe, device, callback, shard)
    finally:
        dist.finish()
    if result is None:  # not rank 0: rank 0 writes and prints
        return
    if as_json:
        print_json(result.to_dict())
        return
    con = stdout()
    con.print(
        f"[bold]{result.display_name or result.name}[/] model {result.model}: "
        f"{len(syms)} symbols, "
        f"{result.train_windows:,} training windows, {result.processes} process(es) on "
        f"{result.device}; best epoch {result.best_epoch} of {result.epochs}, "
        f"val loss {result.val_loss:.4f}, {result.windows_per_s:,.0f} windows/s"
    )
    if result.best_epoch == 0:
        con.print(f"No epoch beat the untrained model: it forecasts the naive start chosen on "
                  f"validation ({result.start})", markup=False)  # fmt: skip
    live = result.live
    con.print(
        f"Live weights (predict, run): refit on {live.windows or 0:,} windows through "
        f"{live.trained_through} in {result.live_seconds:.1f}s"
        if live
        else "No live refit: predict uses the evaluated weights",
        markup=False,
    )
    for ev in result.evaluation.values():
        con.print()
        render_evaluation(ev, con)
    con.print()
    render_cross_section(result.to_dict(), con)


def _said(o: Outcome[TrainResult]) -> None:
    """What `train` says on stderr as each symbol ends."""
    if o.error is not None:
        text = str(o.error) + where_hint(o.error)
        error_line(text if o.symbol in str(o.error) else f"{o.symbol}: {text}")
    elif o.interrupted and o.value is None:
        error_line(f"{o.symbol}: interrupted before a model was saved; nothing was kept")
    elif o.interrupted and o.value is not None:
        model = o.value.model
        stderr().print(f"{o.symbol}: interrupted; saved the best epoch so far as {model}")


def _report(results: list[TrainResult | dict[str, Any]], as_json: bool, quiet: bool) -> None:
    """--json: the array of per-symbol objects (a failed one is {"ticker", "error"}); else the
    tables, unless quiet (then errors and warnings only, on stderr)."""
    if as_json:
        print_json([r if isinstance(r, dict) else r.to_dict() for r in results])
        return
    done = [r for r in results if not isinstance(r, dict)]
    if not done or quiet:
        return
    con = stdout()
    print_table(con, training_table(done))
    for r in done:
        con.print()
        render_evaluation(r.evaluation, con)


def training_table(results: list[TrainResult]) -> Table:
    """The summary table printed at the end of `stockcast train`."""
    table = new_table("Training", "Symbol", "Model", "Epochs", "Best", "Val loss", "Secs",
                   "Win/s")  # fmt: skip
    for r in results:
        epochs = f"{r.epochs}" + ("!" if r.interrupted else "")
        best = str(r.best_epoch) + ("*" if r.best_epoch == 0 else "")  # H9a: epoch 0
        if r.ensemble > 1:  # H9a: ensembles list each member's best epoch
            best = ",".join(f"{m.best_epoch}" + ("*" if m.best_epoch == 0 else "")
                            for m in r.members)  # fmt: skip
        table.add_row(
            r.ticker, r.model, epochs, best, f"{r.val_loss:.4f}",
            f"{r.seconds:.1f}", f"{r.windows_per_s:,.0f}",
        )  # fmt: skip
    table.caption = f"on {results[0].device}" + (
        "; ! = interrupted, best epoch so far kept" if any(r.interrupted for r in results)
        else ""
    ) + _start_caption(results)  # fmt: skip
    return table


def _start_caption(results: list[TrainResult]) -> str:
    """The caption's "* = ..." part: the naive start of each model with a member kept at
    epoch 0 (H9a); empty when no member was."""
    kept = [r for r in results if any(m.best_epoch == 0 for m in r.members)
            or (not r.members and r.best_epoch == 0)]  # fmt: skip
    if not kept:
        return ""
    starts = {r.ticker: r.start or "half the drift" for r in kept}
    said = (next(iter(starts.values())) if len(set(starts.values())) == 1
            else "; ".join(f"{sym}: {s}" for sym, s in starts.items()))  # fmt: skip
    return f"; * = no epoch beat the untrained model: it forecasts the naive start ({said})"


EvalSymbolsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Stored symbols with a saved model; leave them out with --model NAME of a global "
        "model to evaluate all its symbols together (pooled and cross-sectional figures).",
        show_default=False,
    ),
]


@app.command()
@handles_errors
def evaluate(
    symbols: EvalSymbolsArg = None,
    model: ModelIdOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    recompute: Annotated[
        bool,
        typer.Option(
            "--recompute",
            help="Run the saved weights over the test split again instead of scoring the "
            "predictions `train` kept (the same numbers on the machine that trained; slower: "
            "torch is loaded).",
        ),
    ] = False,
) -> None:
    """Evaluate saved models on their test split against persistence, drift and SMA5.

    --json prints an array with one object per symbol (a failed one is {"ticker", "error"}).
    A model is scored from the test predictions `train` kept while the stored prices they came
    from are unchanged (sessions added since do not count), else, or with --recompute, by
    running its weights again.

    A global model with no symbols given (--model NAME, or NAME:ID) is evaluated over all its
    symbols: each symbol's tables, then the pooled figures (MAE of log returns in bps, MASE,
    skill against the best naive forecast with its 95% CI) and the cross-section (daily rank
    IC between predicted and realised returns, its HAC t, the top-minus-bottom-third spread).
    --json then prints ONE object with "model", "name", "symbols" (the per-symbol objects),
    "pooled" and "cross_section" (docs/models.md); naming symbols keeps the array.

    Examples: [bold]stockcast evaluate MSFT AAPL --json[/],
    [bold]stockcast evaluate --model big3[/]
    """
    from stockcast.data.paths import normalize_symbol
    from stockcast.forecasting.evaluation import EvaluateResult, evaluate_saved
    from stockcast.models.schema import is_model_id

    if not symbols:
        if not model:
            raise UsageError(
                "give one or more symbols, or --model NAME of a global model to evaluate all "
                "its symbols together"
            )
        _evaluate_global(model, as_json, quiet, recompute)
        return
    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    if model and len(syms) > 1 and is_model_id(model):  # an id
        raise UsageError("--model with an id names one model; give a single symbol with it")
    check_model_option(syms[0], model)

    def said(o: Outcome[EvaluateResult]) -> None:
        if o.error is not None and (len(syms) > 1 or as_json):
            error_line(f"{o.symbol}: {o.error}{where_hint(o.error)}")

    batch = for_each_symbol(
        syms,
        lambda s: evaluate_saved(STATE.data_dir, s, model, recompute),
        on_outcome=said,
    )
    if len(syms) == 1 and batch.errors and not as_json:
        raise batch.errors[0]  # one red line and its own exit code (handles_errors)
    end_batch(batch, as_json, quiet, render_evaluation, EvaluateResult.to_dict)


def _evaluate_global(ref: str, as_json: bool, quiet: bool = False, recompute: bool = False) -> None:
    """`evaluate --model NAME` of a global model: every symbol, then the pooled and
    cross-sectional figures over the symbols that could be evaluated."""
    from stockcast.data.store import PriceStore
    from stockcast.forecasting import evaluation

    manifest = evaluation.global_manifest(STATE.data_dir, ref)
    syms, model_id = manifest.symbols, str(manifest.id)
    store = PriceStore(STATE.data_dir)
    evaluator = evaluation.GlobalEvaluator(STATE.data_dir, manifest, recompute)

    def one(sym: str) -> evaluation.MemberEvaluation:
        return evaluator.member(sym, store.read(sym))

    def said(o: Outcome[evaluation.MemberEvaluation]) -> None:
        if o.error is not None:
            error_line(f"{o.symbol}: {o.error}{where_hint(o.error)}")

    batch = for_each_symbol(syms, one, on_outcome=said)
    members = {o.symbol: o.value for o in batch.outcomes if o.value is not None}
    done = {s: evaluation.EvaluateResult(s, model_id, m.report) for s, m in members.items()}
    result = {
        "model": model_id,
        "name": manifest.name,
        "symbols": [
            done[o.symbol].to_dict() if o.value is not None else error_object(o.symbol, o.error)
            for o in batch.outcomes
            if o.value is not None or o.error is not None
        ],
        **evaluation.cross_sectional(members),
    }
    if as_json:
        print_json(result)
    elif not quiet:
        con = stdout()
        for ev in done.values():
            render_evaluation(ev, con)
            con.print()
        render_cross_section(result, con)
    if batch.exit_code:
        raise typer.Exit(batch.exit_code)


@app.command("features")
@handles_errors
def features_(as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """List the features a model can use (default ones marked).

    Example: [bold]stockcast train MSFT --features log_return,hl_pct,rsi[/]
    """
    from rich.markup import escape
    from rich.table import Table

    from stockcast.prep.features import REGISTRY

    rows = [
        {"name": f.name, "formula": f.formula, "window": f.window, "default": f.default}
        for f in REGISTRY.values()
    ]
    if as_json:
        print_json(rows)
        return
    if quiet:
        return
    table = Table("Name", "Default", "Window")
    table.add_column("Formula", overflow="fold")  # free text: wraps between words
    for f in REGISTRY.values():
        table.add_row(f.name, "yes" if f.default else "", str(f.window), escape(f.formula))
    print_table(stdout(), table)

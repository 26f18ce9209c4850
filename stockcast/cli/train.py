"""`stockcast train`, `stockcast evaluate` and `stockcast features`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockcast.batch import Outcome, exit_code, run_batch
from stockcast.cli.app import (
    STATE,
    app,
    check_model_option,
    error_line,
    error_object,
    handles_errors,
    print_json,
    stderr,
    stdout,
    where_hint,
)
from stockcast.cli.options import (
    JsonOpt,
    ModelIdOpt,
    QuietOpt,
    SymbolsArg,
    training_options,
)
from stockcast.cli.tables import print_table
from stockcast.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from stockcast.training.loop import EpochReport


@app.command()
@handles_errors
@training_options
def train(
    symbols: SymbolsArg,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    global_: Annotated[
        bool,
        typer.Option(
            "--global",
            help="Train ONE model over all the symbols' windows (split at common dates).",
        ),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Name of a --global model (default: global); use it with --model NAME.",
            show_default=False,
        ),
    ] = None,
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
    from stockcast.training import dist
    from stockcast.training.job import configs_from_options, train_symbol

    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    data, model_cfg, cfg, dev = configs_from_options(options)
    if name is not None and not global_:
        raise UsageError("--name names a --global model; add --global or leave --name out")
    if global_:
        _train_global(syms, name, data, model_cfg, cfg, dev, as_json, quiet)
        return
    me = dist.from_env()
    quiet = quiet or not me.main

    def one(sym: str) -> dict[str, Any]:
        with _progress(sym, cfg.epochs, quiet) as callback:
            return train_symbol(STATE.data_dir, sym, data, model_cfg, cfg, dev, callback)

    if me.world > 1:
        dist.start("cpu")  # gloo, only to gather every rank's results on rank 0
    batch = run_batch(
        dist.share(syms, me),  # under torchrun: this rank's symbols; else all of them
        one,
        on_outcome=_said,
        keep_on_interrupt=True,
        stops_early=lambda r: r["interrupted"],
    )
    gathered = [o for part in dist.gather(batch.outcomes, me) for o in part]
    outcomes = sorted(gathered, key=lambda o: syms.index(o.symbol))  # the order given
    dist.finish()
    if not me.main:
        raise typer.Exit(batch.exit_code)
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


def _train_global(syms: list[str], name: str | None, data: Any, model_cfg: Any, cfg: Any,
                  dev: str, as_json: bool, quiet: bool) -> None:  # fmt: skip
    """`train --global`: one model over ``syms``; DDP over the ranks under torchrun."""
    from stockcast.training import dist
    from stockcast.training.globaljob import GLOBAL_NAME, train_global

    label = name or GLOBAL_NAME
    shard, device, me = None, dev, dist.from_env()
    if me.world > 1:
        me, torch_dev, shard = dist.start(dev)
        device = str(torch_dev)
    try:
        with _progress(label, cfg.epochs, quiet or not me.main) as callback:
            result = train_global(STATE.data_dir, label, syms, data, model_cfg, cfg, device,
                                  callback, shard)  # fmt: skip
    finally:
        dist.finish()
    if result is None:  # not rank 0: rank 0 writes and prints
        return
    if as_json:
        print_json(result)
        return
    con = stdout()
    con.print(
        f"[bold]{result['name']}[/] model {result['model']}: {len(syms)} symbols, "
        f"{result['train_windows']:,} training windows, {result['processes']} process(es) on "
        f"{result['device']}; best epoch {result['best_epoch']} of {result['epochs']}, "
        f"val loss {result['val_loss']:.4f}, {result['windows_per_s']:,.0f} windows/s"
    )
    live = result.get("live")
    con.print(
        f"Live weights (predict, run): refit on {live['windows']:,} windows through "
        f"{live['trained_through']} in {result['live_seconds']:.1f}s"
        if live
        else "No live refit: predict uses the evaluated weights",
        markup=False,
    )
    for ev in result["evaluation"].values():
        con.print()
        render_evaluation(ev, con)
    con.print()
    render_cross_section(result, con)


def _said(o: Outcome[dict[str, Any]]) -> None:
    """What `train` says on stderr as each symbol ends."""
    if o.error is not None:
        text = str(o.error) + where_hint(o.error)
        error_line(text if o.symbol in str(o.error) else f"{o.symbol}: {text}")
    elif o.interrupted and o.value is None:
        error_line(f"{o.symbol}: interrupted before a model was saved; nothing was kept")
    elif o.interrupted and o.value is not None:
        model = o.value["model"]
        stderr().print(f"{o.symbol}: interrupted; saved the best epoch so far as {model}")


def _report(results: list[dict[str, Any]], as_json: bool, quiet: bool) -> None:
    """--json: the array of per-symbol objects (a failed one is {"ticker", "error"}); else the
    tables, unless quiet (then errors and warnings only, on stderr)."""
    if as_json:
        print_json(results)
        return
    done = [r for r in results if "error" not in r]
    if not done or quiet:
        return
    con = stdout()
    print_table(con, training_table(done))
    for r in done:
        con.print()
        render_evaluation(r["evaluation"], con)


def training_table(results: list[dict[str, Any]]):
    """The summary table printed at the end of `stockcast train`."""
    table = _table("Training", "Symbol", "Model", "Epochs", "Best", "Val loss", "Secs",
                   "Win/s")  # fmt: skip
    for r in results:
        epochs = f"{r['epochs']}" + ("!" if r.get("interrupted") else "")
        best = str(r["best_epoch"]) + ("*" if r["best_epoch"] == 0 else "")  # H9a: epoch 0
        if r.get("ensemble", 1) > 1:  # H9a: ensembles list each member's best epoch
            best = ",".join(f"{m['best_epoch']}" + ("*" if m["best_epoch"] == 0 else "")
                            for m in r["members"])  # fmt: skip
        table.add_row(
            r["ticker"], r["model"], epochs, best, f"{r['val_loss']:.4f}",
            f"{r['seconds']:.1f}", f"{r['windows_per_s']:,.0f}",
        )  # fmt: skip
    table.caption = f"on {results[0]['device']}" + (
        "; ! = interrupted, best epoch so far kept" if any(r.get("interrupted") for r in results)
        else ""
    ) + (  # H9a: epoch 0 (the untrained model) won
        "; * = no epoch beat the untrained model: it forecasts the average of persistence "
        "and drift"
        if any(m["best_epoch"] == 0 for r in results for m in r.get("members") or [r]) else ""
    )  # fmt: skip
    return table


def render_evaluation(ev: dict[str, Any], console: Console) -> None:
    """The evaluation tables (shared by `train` and `evaluate`) and their plain sentences."""
    t = ev["test"]
    console.print(
        f"[bold]{ev['ticker']}[/] model {ev['model']}: test as-of {t['start']} to {t['end']} "
        f"({t['n']} windows); errors in prices of the adjusted close"
    )
    main = _table("Model", "h", "MAE", "RMSE", "MAPE %", "Direction", "Up share", "Skill",
                  "vs best (95% CI)", "Verdict")  # fmt: skip
    naive = _table("Naive forecasts: MAE / RMSE / MAPE %", "h", "Persistence", "Drift", "SMA5")
    for h in ev["horizons"]:
        skill = "n/a" if h["skill"] is None else f"{h['skill']:+.2%}"
        main.add_row(
            str(h["h"]), f"{h['mae']:.4f}", f"{h['rmse']:.4f}", f"{h['mape']:.3f}",
            f"{h['directional_accuracy']:.1%}", f"{h['up_share']:.1%}", skill,
            skill_ci_text(h.get("skill_vs_best")), verdict_text(h),
        )  # fmt: skip
        b = h["baselines"]
        naive.add_row(str(h["h"]), *(_errors(b[k]) for k in ("persistence", "drift", "sma")))
    print_table(console, main)
    print_table(console, naive)
    console.print(
        "Skill = 1 - MAE / persistence MAE; vs best: the same against the best naive forecast, "
        "with a 95% confidence interval. Verdict: better / worse only when that interval "
        "excludes 0. Direction: share of correct up / not-up calls; always-up scores the up "
        "share.",
        markup=False,
    )
    for note in ev["notes"]:
        console.print(note, markup=False)
    console.print(ev["summary"], markup=False)
    _render_intervals(ev["horizons"], console)


def skill_ci_text(ci: dict[str, float] | None) -> str:
    """E.g. "-0.2% (-0.9..+0.5)"; "n/a" without an interval."""
    if not ci:
        return "n/a"
    return f"{ci['value']:+.1%} ({ci['low'] * 100:+.1f}..{ci['high'] * 100:+.1f})"


def verdict_text(h: dict[str, Any]) -> str:
    """E.g. "better than drift", "≈ drift" or "worse than drift" (from the CI, not the point)."""
    best, verdict = h["best_baseline"], h.get("verdict")
    if verdict is None:  # a model saved before verdicts: the point comparison, said as such
        return f"MAE {'<' if h['beats_best_baseline'] else '>='} {best}"
    return {"better": f"better than {best}", "worse": f"worse than {best}"}.get(
        verdict, f"≈ {best}"
    )


def _render_intervals(horizons: list[dict[str, Any]], console: Console) -> None:
    """Coverage and mean width of the conformal bands next to the constant-width band."""
    if not horizons or not horizons[0].get("intervals"):
        return
    cols = ("h", "Level", "Coverage", "Width", "Width %", "Const. cov.", "Const. width", "Const. %")
    table = _table("Intervals on test: coverage / mean width (price, % of close)", *cols)
    for h in horizons:
        for b in h["intervals"]:
            table.add_row(
                str(h["h"]), level_text(b["level"]), f"{b['coverage']:.1%}",
                f"{b['mean_width']:.4f}", f"{b['mean_width_pct']:.2f}",
                f"{b['baseline_coverage']:.1%}", f"{b['baseline_mean_width']:.4f}",
                f"{b['baseline_mean_width_pct']:.2f}",
            )  # fmt: skip
    print_table(console, table, keys=2)
    console.print(
        "Bands: conformal, volatility-scaled, calibrated on validation; Const.: same centre and "
        "calibration without volatility scaling. A calibrated band covers about its level.",
        markup=False,
    )


def level_text(level: float) -> str:
    """0.9 -> "90%", 0.999 -> "99.9%" (never a rounded "100%")."""
    return f"{level * 100:g}%"


def _table(title: str, *headers: str):
    """A compact table whose cells never wrap (numbers stay whole at 80 columns)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for h in headers:
        table.add_column(h, no_wrap=True, justify="left" if h in ("Verdict", "Symbol") else "right")
    return table


def _errors(e: dict[str, float]) -> str:
    return f"{e['mae']:.4f}/{e['rmse']:.4f}/{e['mape']:.2f}"


class _progress:
    """Context manager yielding the epoch callback: a rich bar on a terminal, plain lines on
    stderr otherwise, nothing when quiet."""

    def __init__(self, symbol: str, epochs: int, quiet: bool) -> None:
        self.symbol, self.epochs, self.quiet = symbol, epochs, quiet
        self.bar: Any = None

    def __enter__(self):
        if self.quiet:
            return None
        con = stderr()
        if not con.is_terminal:
            return self._line
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=20),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=con,
        )  # fmt: skip
        self.bar.start()
        self.task = self.bar.add_task(f"{self.symbol} epoch 0/{self.epochs}", total=self.epochs,
                                      info="")  # fmt: skip
        return self._bar

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=self.epochs)  # early stopping ends the bar too
            self.bar.stop()

    def _text(self, r: EpochReport) -> str:
        return (
            f"train {r.train_loss:.4f}  val {r.val_loss:.4f}  "
            f"best {r.best_val_loss:.4f} (epoch {r.best_epoch})  lr {r.lr:.1e}  {r.seconds:.1f}s"
        )

    def _line(self, r: EpochReport) -> None:
        stderr().print(f"{self.symbol} epoch {r.epoch}/{r.max_epochs}  {self._text(r)}",
                       markup=False)  # fmt: skip

    def _bar(self, r: EpochReport) -> None:
        info = f"train {r.train_loss:.4f} val {r.val_loss:.4f} best {r.best_epoch}"
        self.bar.update(self.task, completed=r.epoch, info=info,
                        description=f"{self.symbol} epoch {r.epoch}/{r.max_epochs}")  # fmt: skip


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
) -> None:
    """Evaluate saved models on their test split against persistence, drift and SMA5.

    --json prints an array with one object per symbol (a failed one is {"ticker", "error"}).

    A global model with no symbols given (--model NAME, or NAME:ID) is evaluated over all its
    symbols: each symbol's tables, then the pooled figures (MAE of log returns in bps, MASE,
    skill against the best naive forecast with its 95% CI) and the cross-section (daily rank
    IC between predicted and realised returns, its HAC t, the top-minus-bottom-third spread).
    --json then prints ONE object with "model", "name", "symbols" (the per-symbol objects),
    "pooled" and "cross_section" (docs/models.md); naming symbols keeps the array.

    Examples: [bold]stockcast evaluate MSFT AAPL --json[/],
    [bold]stockcast evaluate --model big3[/]
    """
    import re

    from stockcast.data.paths import normalize_symbol
    from stockcast.forecasting.evaluation import evaluate_saved

    if not symbols:
        if not model:
            raise UsageError(
                "give one or more symbols, or --model NAME of a global model to evaluate all "
                "its symbols together"
            )
        _evaluate_global(model, as_json)
        return
    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    if model and len(syms) > 1 and re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{6}", model):  # an id
        raise UsageError("--model with an id names one model; give a single symbol with it")
    check_model_option(syms[0], model)

    def said(o: Outcome[dict[str, Any]]) -> None:
        if o.error is not None and (len(syms) > 1 or as_json):
            error_line(f"{o.symbol}: {o.error}{where_hint(o.error)}")

    batch = run_batch(syms, lambda s: evaluate_saved(STATE.data_dir, s, model), on_outcome=said)
    if len(syms) == 1 and batch.errors and not as_json:
        raise batch.errors[0]  # one red line and its own exit code (handles_errors)
    if as_json:
        done = [o for o in batch.outcomes if o.value is not None or o.error is not None]
        print_json([o.value or error_object(o.symbol, o.error) for o in done])
    else:
        con = stdout()
        for i, ev in enumerate(batch.values):
            if i:
                con.print()
            render_evaluation(ev, con)
    if batch.exit_code:
        raise typer.Exit(batch.exit_code)


def _evaluate_global(ref: str, as_json: bool) -> None:
    """`evaluate --model NAME` of a global model: every symbol, then the pooled and
    cross-sectional figures over the symbols that could be evaluated."""
    from stockcast.data.store import PriceStore
    from stockcast.forecasting import evaluation
    from stockcast.models.store import model_symbols

    manifest, net = evaluation.open_global(STATE.data_dir, ref)
    syms, model_id = model_symbols(manifest), manifest["id"]
    store = PriceStore(STATE.data_dir)

    def one(sym: str) -> evaluation.MemberEvaluation:
        return evaluation.evaluate_member(net, sym, store.read(sym), manifest)

    def said(o: Outcome[evaluation.MemberEvaluation]) -> None:
        if o.error is not None:
            error_line(f"{o.symbol}: {o.error}{where_hint(o.error)}")

    batch = run_batch(syms, one, on_outcome=said)
    members = {o.symbol: o.value for o in batch.outcomes if o.value is not None}
    result = {
        "model": model_id,
        "name": manifest.get("name"),
        "symbols": [
            {"ticker": o.symbol, "model": model_id, **o.value.report}
            if o.value is not None
            else error_object(o.symbol, o.error)
            for o in batch.outcomes
            if o.value is not None or o.error is not None
        ],
        **evaluation.cross_sectional(members),
    }
    if as_json:
        print_json(result)
    else:
        con = stdout()
        for ev in result["symbols"]:
            if "error" not in ev:
                render_evaluation(ev, con)
                con.print()
        render_cross_section(result, con)
    if batch.exit_code:
        raise typer.Exit(batch.exit_code)


def render_cross_section(
    result: dict[str, Any], console: Console, title: str | None = None
) -> None:
    """The "Pooled" and "Cross-section" tables of a global model (`train --global`,
    `evaluate --model NAME`, `backtest --model NAME` under ``title``) and what they mean."""
    pooled, cross = result["pooled"], result["cross_section"]
    console.print(
        title
        or f"[bold]{result['name']}[/] model {result['model']} over {pooled['series']} "
        "symbols' test windows"
    )
    table = _table("Pooled (log returns, scale-free)", "h", "Windows", "Days", "MAE bps",
                   "MASE", "Best naive", "Naive bps", "vs best (95% CI)", "Verdict")  # fmt: skip
    for h in pooled["horizons"]:
        best = h["best_baseline"]
        table.add_row(
            str(h["h"]), f"{h['n']:,}", f"{h['days']:,}", f"{h['mae_bps']:.1f}",
            _num(h["mase"], "{:.3f}"), best, f"{h['baselines'][best]['mae_bps']:.1f}",
            skill_ci_text(h["skill_vs_best"]), verdict_text(h),
        )  # fmt: skip
    print_table(console, table)
    cs = _table("Cross-section (per as-of date, across symbols)", "h", "Days", "Rank IC",
                "IC t (HAC)", "Spread bps", "Spread t")  # fmt: skip
    for h in cross["horizons"]:
        spread = None if h["spread"] is None else h["spread"] * 1e4
        cs.add_row(
            str(h["h"]), f"{h['days']:,}", _num(h["rank_ic"], "{:+.4f}"),
            _num(h["rank_ic_t"], "{:+.2f}"), _num(spread, "{:+.1f}"),
            _num(h["spread_t"], "{:+.2f}"),
        )  # fmt: skip
    print_table(console, cs)
    console.print(
        "Pooled: every symbol's test windows together; MAE of predicted vs realised log "
        "returns in basis points, MASE against each symbol's one-session naive error in "
        "training; skill = 1 - MAE / MAE of the best naive forecast, its 95% CI robust to "
        "symbols moving together on a day. Rank IC: Spearman correlation across symbols "
        f"(days with at least {cross['min_names']}) between predicted and realised h-session "
        "returns, averaged over days; |t| above about 2 is unlikely by chance. Spread: mean "
        "realised return of the top third by prediction minus the bottom third.",
        markup=False,
    )


def _num(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else fmt.format(x)


@app.command("features")
@handles_errors
def features_(as_json: JsonOpt = False) -> None:
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
    table = Table("Name", "Default", "Window", "Formula")
    for f in REGISTRY.values():
        table.add_row(f.name, "yes" if f.default else "", str(f.window), escape(f.formula))
    stdout().print(table)

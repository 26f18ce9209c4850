"""`stockcast backtest`: walk-forward evaluation over several origins, nothing saved; with
``--model``, of a saved model's recipe (a global model: one network per fold over all its
symbols, with the cross-section per fold)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from stockcast.cli.app import (
    STATE,
    app,
    end_batch,
    error_line,
    handles_errors,
    print_json,
    stdout,
    where_hint,
)
from stockcast.cli.flags import JsonOpt, QuietOpt, SymbolsArg, training_options_helping
from stockcast.cli.progress import FoldProgress
from stockcast.cli.report import (
    level_text,
    new_table,
    num_text,
    render_bands,
    render_cross_section,
    skill_ci_text,
    verdict_text,
)
from stockcast.cli.tables import print_table
from stockcast.eachsymbol import Outcome, for_each_symbol
from stockcast.errors import UsageError
from stockcast.options import ARCHS, SPECS, arch_list

if TYPE_CHECKING:
    from rich.console import Console

    from stockcast.training.results import BacktestResult

FoldsOpt = Annotated[
    int, typer.Option("--folds", min=1, max=50, help="Origins (equal blocks over the last 30%).")
]
SeedsOpt = Annotated[
    int | None,
    typer.Option("--seeds", min=1, max=64, show_default=False, hidden=True,
                 help="The old name of --ensemble (members per fold)."),
]  # fmt: skip

BacktestModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Backtest a saved model's recipe (its features, lookback, architecture and "
        "training options; no training flags then): a global model's name or NAME:ID (one "
        "network retrained per fold over all its symbols, with the cross-section per fold), "
        "or a model id of the symbol's own models.",
        show_default=False,
    ),
]

ForecastsOpt = Annotated[
    Path | None,
    typer.Option(
        "--forecasts",
        help="Write every test window's forecast and bands (model, EWMA, GARCH; prices) to "
        "this CSV file, one row per window and horizon.",
        show_default=False,
        dir_okay=False,
    ),
]


ARCH_HELP = (
    f"Model architecture: {' or '.join(ARCHS)}; or several, comma-separated (lstm,gru,"
    "transformer), for a leaderboard of the same backtest per architecture (default lstm)."
)


@app.command()
@handles_errors
@training_options_helping({"arch": ARCH_HELP})
def backtest(
    symbols: SymbolsArg,
    folds: FoldsOpt = 5,
    seeds: SeedsOpt = None,
    model: BacktestModelOpt = None,
    forecasts: ForecastsOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    *,
    options: dict[str, Any],
) -> None:
    """Walk-forward backtest: retrain at each origin with train's options, score the next block.

    The last 30% of the sessions is cut into --folds equal blocks; each fold trains on
    everything before its block (validation and scalers included) and forecasts inside it.
    Skill against persistence and drift comes with 95% confidence intervals. --json prints a
    list with one object per symbol (see docs/models.md). With several --arch names, the same
    backtest runs once per architecture and they are printed side by side with the naive
    forecasts, saying which, if any, beats the best of them (Holm-adjusted over all
    comparisons, 5%). With --model, the recipe of a saved model: a global model's folds are
    cut from its symbols' common calendar, each retrains one network over all its symbols, and
    the cross-section across them (rank IC, spread) is shown per fold.

    Example: [bold]stockcast backtest MSFT --folds 5 --ensemble 3[/] · [bold]stockcast
    backtest MSFT --arch lstm,gru,transformer --ensemble 1[/] · [bold]stockcast backtest AAPL
    KO --model big[/]
    """
    from stockcast.data.paths import normalize_symbol

    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    archs = arch_list(options.get("arch"))  # --arch lstm,gru: the leaderboard
    if forecasts is not None and (model is not None or (archs is not None and len(archs) > 1)):
        raise UsageError(
            "--forecasts writes one backtest's forecasts; leave out --model and a list of --arch"
        )
    if model is not None:
        _saved_recipe(syms, model.strip(), folds, seeds, as_json, quiet, options)
        return
    options = _seeds_as_ensemble(options, seeds)  # the members: options["ensemble"]
    if archs is not None and len(archs) > 1:
        _leaderboard(syms, list(archs), folds, as_json, quiet, options)
        return
    if archs is not None:
        options = {**options, "arch": archs[0]}
    _backtest_each(syms, folds, seeds, forecasts, as_json, quiet, options)


def _backtest_each(syms: list[str], folds: int, seeds: int | None, forecasts: Path | None,
                   as_json: bool, quiet: bool, options: dict[str, Any]) -> None:  # fmt: skip
    """`backtest A B C`: the walk-forward backtest of train's recipe on each symbol;
    ``forecasts``: the file every test window's forecast is written to."""
    from stockcast.training.backtest import backtest_symbol
    from stockcast.training.job import recipe_from_options

    recipe, dev = recipe_from_options(options)
    table: dict[str, list] = {}  # --forecasts: the rows of every symbol's folds

    def one(sym: str) -> BacktestResult:
        keep = None if forecasts is None else _keeper(table, sym)
        with FoldProgress(sym, folds, quiet or as_json) as on_fold:
            return backtest_symbol(STATE.data_dir, sym, recipe, folds=folds,
                                   device=dev, on_fold=on_fold, on_folds=keep)  # fmt: skip

    try:
        _report(syms, one, as_json, quiet, render_backtest, _as_json)
    finally:
        _write_forecasts(forecasts, table)


def _seeds_as_ensemble(options: dict[str, Any], seeds: int | None) -> dict[str, Any]:
    """``options`` with --seeds K, the old name of --ensemble K, as ``ensemble`` (one name
    for the members); UsageError when both are given and differ."""
    if seeds is None:
        return options
    if options.get("ensemble") not in (None, seeds):
        raise UsageError("--seeds is the old name of --ensemble; give --ensemble alone")
    return {**options, "ensemble": seeds}


def _keeper(table: dict[str, list], sym: str) -> Callable[[list[Any]], None]:
    """A callback that adds ``sym``'s folds' forecast rows to ``table`` (column -> values)."""
    from stockcast.forecasting.walkforward import forecast_rows

    def add(folds_: list[Any]) -> None:
        for k, v in forecast_rows(sym, folds_).items():
            table.setdefault(k, []).extend(v)

    return add


def _write_forecasts(path: Path | None, table: dict[str, list]) -> None:
    """The backtests' forecast rows as CSV (full float precision), replaced atomically;
    nothing without a path or without rows."""
    if path is None or not table:
        return
    import pandas as pd

    from stockcast.data.fsutil import write_output

    try:
        write_output(path, pd.DataFrame(table).to_csv(index=False, float_format="%.17g").encode())
    except OSError as exc:
        raise UsageError(
            f"cannot write --forecasts {path}: {exc.strerror}; give a writable path"
        ) from None


def _saved_recipe(syms: list[str], ref: str, folds: int, seeds: int | None, as_json: bool,
                  quiet: bool, options: dict[str, Any]) -> None:  # fmt: skip
    """`backtest SYM... --model REF`: the recipe of a saved model (see
    ``training.globalbacktest``); training flags and --seeds are refused (the model's apply)."""
    arch = options.get("arch")
    if arch is not None and "," in arch:
        raise UsageError(
            f"--model {ref} backtests one saved model; leave out --arch {arch} (the "
            "architectures' leaderboard runs without --model)"
        )
    given = [SPECS[k].flag for k, v in options.items() if v is not None and k != "device"]
    if seeds is not None:
        given.append("--seeds")
    if given:
        raise UsageError(
            f"--model {ref} backtests that model's own recipe (its options and members); leave "
            f"out {', '.join(given)}"
        )
    from stockcast.training import globalbacktest as gb

    dev = options.get("device") or "auto"
    silent = quiet or as_json
    if not gb.is_bare_id(ref):
        manifest = gb.read_saved(STATE.data_dir, ref)
        if gb.is_global(manifest):
            gb.check_symbols(manifest, syms)  # before any training
            n = len(manifest.symbols)
            label = f"{manifest.name} ({n} symbols)"
            with FoldProgress(label, folds, silent) as on_fold:
                results = gb.backtest_global(STATE.data_dir, ref, syms, folds=folds,
                                             device=dev, on_fold=on_fold)  # fmt: skip
            if as_json:
                print_json([r.to_dict() for r in results])
            elif not quiet:
                render_global_backtest(results, stdout())
            return

    def one(sym: str) -> BacktestResult:
        with FoldProgress(sym, folds, silent) as on_fold:
            return gb.backtest_recipe(STATE.data_dir, sym, ref, folds=folds, device=dev,
                                      on_fold=on_fold)  # fmt: skip

    _report(syms, one, as_json, quiet, render_backtest, _as_json)


def render_global_backtest(results: list[BacktestResult], console: Console) -> None:
    """Each symbol's backtest, then the cross-section of all the model's symbols per fold and
    pooled over the folds (the same in every symbol's object: printed once)."""
    for r in results:
        render_backtest(r, console)
        console.print()
    r = results[0]
    table = new_table("Cross-section per fold (per as-of date, across all the model's symbols)",
                   "Origin", "h", "Days", "Rank IC", "IC t (HAC)", "Spread bps",
                   "Spread t")  # fmt: skip
    for fold in r.cross_section_folds or ():
        rows = fold["cross_section"]["horizons"]
        for i, h in enumerate(rows):
            spread = None if h["spread"] is None else h["spread"] * 1e4
            table.add_row(
                fold["origin"], str(h["h"]), f"{h['days']:,}", num_text(h["rank_ic"], "{:+.4f}"),
                num_text(h["rank_ic_t"], "{:+.2f}"), num_text(spread, "{:+.1f}"),
                num_text(h["spread_t"], "{:+.2f}"), end_section=i == len(rows) - 1,
            )  # fmt: skip
    print_table(console, table, keys=2)
    console.print()
    s = r.settings
    name, _, model_id = (s.model or "").partition(":")
    render_cross_section(
        {"name": name, "model": model_id, "pooled": r.pooled_across_symbols,
         "cross_section": r.cross_section},
        console,
        title=f"[bold]{name}[/] model {model_id}'s recipe, {s.folds} walk-forward folds "
        f"over {len(s.symbols or ())} symbols: pooled over the folds' test windows",
    )  # fmt: skip


def _leaderboard(syms: list[str], archs: list[str], folds: int, as_json: bool, quiet: bool,
                 options: dict[str, Any]) -> None:  # fmt: skip
    """`backtest --arch a,b,...`: the same backtest per architecture, side by side."""
    from stockcast.training.job import configs_from_options
    from stockcast.training.leaderboard import backtest_archs

    configs = [configs_from_options({**options, "arch": a}) for a in archs]
    data, _, cfg, dev = configs[0]  # the same for every architecture: only `arch` differs
    silent = quiet or as_json

    def one(sym: str) -> dict[str, Any]:
        def progress(arch: str) -> FoldProgress:
            return FoldProgress(f"{sym} {arch}", folds, silent)

        return backtest_archs(STATE.data_dir, sym, data, [c[1] for c in configs], cfg,
                              folds=folds, device=dev, progress=progress)  # fmt: skip

    _report(syms, one, as_json, quiet, render_leaderboard)


T = TypeVar("T")


def _as_json(r: BacktestResult) -> dict[str, Any]:
    return r.to_dict()


def _report(
    syms: list[str],
    one: Callable[[str], T],
    as_json: bool,
    quiet: bool,
    render: Callable[[T, Console], None],
    to_json: Callable[[T], Any] | None = None,
) -> None:
    """Run ``one`` per symbol (errors said as they come), then print JSON (``to_json`` of each
    value) or the tables."""

    def said(o: Outcome[T]) -> None:
        if o.error is not None:
            text = str(o.error) + where_hint(o.error)
            error_line(text if o.symbol in str(o.error) else f"{o.symbol}: {text}")

    batch = for_each_symbol(syms, one, on_outcome=said)
    if len(syms) == 1 and batch.errors and not as_json:
        raise typer.Exit(batch.exit_code)
    end_batch(batch, as_json, quiet, render, to_json)  # --json: always an array


def render_backtest(r: BacktestResult, console: Console) -> None:
    """Folds, pooled point errors with verdicts, and intervals against the naive bands."""
    s = r.settings
    console.print(
        f"[bold]{r.ticker}[/] walk-forward backtest: {s.folds} folds over the last "
        f"{s.share:.0%} of {r.sessions} sessions, {s.seeds} seed(s) per fold, "
        f"{r.seconds:.0f}s" + (f"; the recipe of model {s.model}" if s.model else "")
    )
    folds = new_table("Folds", "Origin", "Test as-of", "n", "MAE / comparator (h=1..H)", "Shrink w")
    for f in r.folds:
        ratios = " ".join("n/a" if x is None else f"{x:.3f}" for x in f["mae_ratio"])
        folds.add_row(f["origin"], f"{f['test_start']}..{f['test_end']}", str(f["n"]), ratios,
                      f"{f['shrink']['weight']:.2f} to {f['shrink']['toward']}")  # fmt: skip
    print_table(console, folds)
    errors = new_table("Pooled over folds: errors (MAE in bps of log return, scale-free; "
                    "MASE on log prices; MAE and RMSE in prices)", "h", "n", "MAE bps",
                    "Persist. bps", "Drift bps", "MASE", "MAE", "RMSE", "Direction",
                    "Up share")  # fmt: skip
    skill = new_table("Skill = 1 - MAE bps / naive MAE bps, 95% CI; comparator: the naive "
                   "forecast best on validation", "h", "vs persistence", "vs drift", "DM p",
                   "Verdict", "Shrunk vs best")  # fmt: skip
    for h in r.horizons:
        best, b = h["best_baseline"], h["baselines"]
        verdict = {"better": f"better than {best}", "worse": f"worse than {best}"}.get(
            h["verdict"], f"≈ {best}"
        )
        errors.add_row(
            str(h["h"]), str(h["n"]), f"{h['mae_bps']:.1f}", f"{b['persistence']['mae_bps']:.1f}",
            f"{b['drift']['mae_bps']:.1f}", f"{h['mase']:.3f}", f"{h['mae']:.4f}",
            f"{h['rmse']:.4f}", f"{h['directional_accuracy']:.1%}", f"{h['up_share']:.1%}",
        )  # fmt: skip
        skill.add_row(
            str(h["h"]), skill_ci_text(h["skill_vs_persistence"]),
            skill_ci_text(h["skill_vs_drift"]), f"{h['dm_pvalue']:.2f}", verdict,
            skill_ci_text(h["shrunk"]["skill_vs_best"]),
        )  # fmt: skip
    print_table(console, errors)
    print_table(console, skill)
    for h in r.horizons:
        console.print(f"h={h['h']}: {h['summary']}", markup=False)
    _render_bands(r.horizons, console)


def _render_bands(horizons: Sequence[Mapping[str, Any]], console: Console) -> None:
    render_bands(horizons, console, "Bands pooled over folds: interval score in % of the as-of "
                 "close", "all calibrated on each fold's validation part")  # fmt: skip


def render_leaderboard(r: dict[str, Any], console: Console) -> None:
    """`backtest --arch a,b,...`: per architecture its size and time, per horizon the naive
    forecasts beside every architecture (skill with CI, DM p, verdict, interval score), and
    the verdict in words."""
    s, archs = r["settings"], r["archs"]
    console.print(
        f"[bold]{r['ticker']}[/] leaderboard: {len(archs)} architectures, each a walk-forward "
        f"backtest with {s['folds']} folds over the last {s['share']:.0%} of {r['sessions']} "
        f"sessions, {s['seeds']} seed(s) per fold, {r['seconds']:.0f}s"
    )
    better = _horizons_by_arch(r["edges"])
    worse = _horizons_by_arch(r["worse"])
    sizes = new_table("Architectures", "Arch", "Parameters", "MFLOPs/window", "Train s",
                   "Mean skill", "Better at h", "Worse at h")  # fmt: skip
    for a in archs:
        sizes.add_row(a["arch"], f"{a['parameters']:,}", f"{a['mflops_per_window']:.2f}",
                      f"{a['train_seconds']:.1f}", f"{a['mean_skill_vs_best']:+.2%}",
                      better.get(a["arch"], "-"), worse.get(a["arch"], "-"))  # fmt: skip
    sizes.columns[0].justify = "left"
    sizes.caption = (
        "Parameters and FLOPs (forward and backward) of one network; Train s: fitting and "
        "forecasting its folds; Mean skill: point skills averaged over horizons (not evidence)."
    )
    print_table(console, sizes)
    level = level_text(r["leaderboard"][0]["level"]) if r["leaderboard"] else "90%"
    board = new_table(f"Skill = 1 - MAE / MAE of the best naive forecast, 95% CI; {level} "
                   "interval score", "h", "Forecast", "MAE bps", "Skill vs best (95% CI)", "DM p",
                   "Holm p", "Verdict", "Score", "/ EWMA")  # fmt: skip
    board.columns[1].justify = "left"
    for h in r["leaderboard"]:
        best = h["best_baseline"]
        for name, n in h["naive"].items():
            ewma = name == "persistence"
            board.add_row(str(h["h"]), name, f"{n['mae_bps']:.1f}",
                          "best naive" if name == best else f"{n['skill_vs_best']:+.1%}", "",
                          "", "", f"{h['ewma_interval_score']:.4f}" if ewma else "",
                          "1.000" if ewma else "")  # fmt: skip
        for i, a in enumerate(h["archs"]):
            ratio = a["interval_score_vs_ewma"]
            board.add_row(
                str(h["h"]), a["arch"], f"{a['mae_bps']:.1f}", skill_ci_text(a["skill_vs_best"]),
                f"{a['dm_pvalue']:.2f}", f"{a['adjusted_pvalue']:.2f}",
                verdict_text({**a, "verdict": a["holm_verdict"], "best_baseline": best}),
                f"{a['interval_score']:.4f}", "n/a" if ratio is None else f"{ratio:.3f}",
                end_section=i == len(h["archs"]) - 1,
            )  # fmt: skip
    board.caption = (
        f"Score: the {level} interval score in prices (lower is better); on the persistence "
        "row, that of the EWMA-volatility band around persistence, which / EWMA compares "
        "against. Holm p: the DM p-value adjusted over all the board's architecture x horizon "
        "comparisons; Verdict: better (worse) when Holm p < 5% and the skill is positive "
        "(negative), so any false verdict on the board has at most a 5% chance."
    )
    print_table(console, board, keys=2)
    console.print(r["summary"], markup=False)


def _horizons_by_arch(said: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for e in said:
        out.setdefault(e["arch"], []).append(str(e["h"]))
    return {a: ",".join(hs) for a, hs in out.items()}

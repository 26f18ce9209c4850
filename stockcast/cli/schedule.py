"""Scheduled use: `stockcast init`, `stockcast run` (the cron job) and `stockcast score`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockcast.cli.app import STATE, app, handles_errors, print_json, stdout
from stockcast.cli.flags import QuietOpt
from stockcast.errors import UsageError

FEW = 30  # below this many realised forecasts, `score` says the figures are mostly luck

if TYPE_CHECKING:
    from stockcast.schedule.runner import RunReport, SymbolResult
    from stockcast.schedule.score import HorizonScore


@app.command()
@handles_errors
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a commented example stockcast.toml into the data directory.

    Edit its `symbols` line, then schedule `stockcast run` (see docs/scheduling.md).

    Example: [bold]stockcast init[/]
    """
    from stockcast.schedule.config import config_path, write_example

    path = write_example(config_path(STATE.data_dir), force=force)
    if quiet:
        return
    stdout().print(f"wrote {path}; edit `symbols`, then try `stockcast run`", markup=False)


@app.command()
@handles_errors
def run(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file (default: stockcast.toml in the data directory).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print nothing when all went well (for cron); problems still show.",
        ),
    ] = False,
) -> None:
    """The scheduled job: refresh every symbol of stockcast.toml, retrain when due, forecast, log.

    Each symbol is refreshed from its own source (Yahoo, or its CSV file read again); when that
    fails the forecast is made from stored prices and marked stale. A second run that overlaps
    exits at once with code 4. Exit codes: 0 all went well, 3 some symbols failed, 1 all failed,
    5 all were forecast but some from stale prices (stale_sessions in stockcast.toml).
    Everything is also logged to logs/stockcast.log in the data directory.

    Example (crontab): [bold]30 22 * * 1-5 stockcast run --quiet[/]
    """
    from stockcast.schedule.config import config_path, load
    from stockcast.schedule.logsetup import logging_to
    from stockcast.schedule.runlock import check_free

    cfg = load(config_path(STATE.data_dir, config))
    with logging_to(STATE.data_dir, quiet=quiet):
        check_free(STATE.data_dir)  # exit 4 at once, before the runner's heavy imports
        from stockcast.schedule.runner import run as run_all

        report = run_all(STATE.data_dir, cfg)
    if not (quiet and report.clean):
        if as_json:
            print_json(report.to_dict())
        else:
            _print_run(report)
    raise typer.Exit(report.exit_code)


def _print_run(report: RunReport) -> None:
    from rich import box
    from rich.table import Table

    from stockcast.cli.tables import print_table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("Symbol", "New", "Model", "As of", "Forecasts"):
        table.add_column(name, no_wrap=True)
    table.add_column("Status", overflow="fold")
    for r in report.results:
        new = f"+{r.added}" if r.fetched else "-"  # why not: the status and the warnings
        table.add_row(r.ticker, new, r.model or "-", r.as_of or "-", str(r.forecasts), _status(r))
    con = stdout()
    print_table(con, table)  # the symbol starts every part; the status wraps between words
    bad = len(report.failed)
    stale = sum(r.stale and r.ok for r in report.results)
    also = f" ({stale} stale: forecast from old or unrefreshed prices)" if stale else ""
    con.print(f"{len(report.results) - bad} ok{also}, {bad} failed in {report.seconds:.1f} s")


def _status(r: SymbolResult) -> str:
    retrained = ", retrained" if r.retrained else ""
    age = f", {r.age_sessions} sessions behind" if r.stale and r.age_sessions else ""
    if r.error:
        made = f" [yellow](forecast from stored prices{age})[/]" if r.forecasts else ""
        return f"[red]failed:[/] {_escape(r.error)}{made}"
    if r.stale:
        return f"[yellow]stale{age}[/]{retrained}"  # the warning on stderr says why
    if r.warnings:
        return f"[yellow]ok{retrained}, with a warning[/]"
    return f"[green]ok[/]{retrained}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command()
@handles_errors
def score(
    symbols: Annotated[
        list[str] | None,
        typer.Argument(help="Symbols to score (default: every symbol with logged forecasts)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """How past forecasts turned out: per horizon, MAE against "no change", and band coverage.

    Joins the forecast log (written by `predict` and `run`) with the closes stored since.
    A forecast counts once the close of its target session is stored.

    Example: [bold]stockcast score MSFT --json[/]
    """
    from stockcast.data.paths import normalize_symbol
    from stockcast.data.store import PriceStore
    from stockcast.schedule import forecastlog
    from stockcast.schedule.score import NO_OUTCOMES, realised_total
    from stockcast.schedule.score import score as score_log

    root = STATE.data_dir
    store = PriceStore(root)
    tickers = [normalize_symbol(s) for s in symbols] if symbols else forecastlog.symbols(root)
    _refuse_unknown(tickers, forecastlog.symbols(root), store.symbols())
    results = []
    for sym in tickers:
        log = forecastlog.read(root, sym)
        scores, note = [], None
        if not len(log):
            note = f"no forecasts logged for {sym}; `stockcast predict {sym}` or `run` logs them"
        elif not store.exists(sym):
            note = f"no prices stored for {sym} to score against; run `stockcast fetch {sym}`"
        else:
            scores = score_log(log, store.read(sym)["adj_close"])
            note = None if realised_total(scores) else NO_OUTCOMES
        results.append((sym, scores, note))
    if as_json:
        print_json([_score_json(sym, scores, note) for sym, scores, note in results])
        return
    if quiet:
        return
    if not results:
        stdout().print("no forecasts logged yet; `stockcast predict` and `stockcast run` log them")
    for sym, scores, note in results:
        _print_scores(sym, scores, note)


def _refuse_unknown(asked: list[str], logged: list[str], stored: list[str]) -> None:
    """UsageError (exit 2) for a symbol that was never stored nor logged: a typo, most likely."""
    import difflib

    unknown = [s for s in asked if s not in logged and s not in stored]
    if not unknown:
        return
    known = sorted(set(logged) | set(stored))
    close = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UsageError(
        f"nothing stored or logged for {', '.join(unknown)}; {hint}"
        "`stockcast list` shows the stored symbols"
    )


def _score_json(sym: str, scores: list[HorizonScore], note: str | None) -> dict:
    out: dict = {"ticker": sym, "horizons": [s.to_dict() for s in scores]}
    if note:
        out["note"] = note
    return out


def _print_scores(sym: str, scores: list[HorizonScore], note: str | None) -> None:
    from rich.table import Table

    from stockcast.cli.tables import print_table

    con = stdout()
    if note:
        con.print(f"{sym}: {note}", markup=False)
        return
    levels = sorted({k for s in scores for k in s.coverage}, key=float)
    table = Table(
        "h",
        "n",
        "pending",
        "MAE",
        "persistence MAE",
        "skill",
        *[f"{float(k) * 100:g}% coverage" for k in levels],
        title=f"{sym}: logged forecasts against stored closes",
    )
    for s in scores:
        skill = 1 - s.mae / s.persistence_mae if s.mae is not None and s.persistence_mae else None
        table.add_row(
            str(s.h),
            str(s.n),
            str(s.pending),
            _num(s.mae),
            _num(s.persistence_mae),
            "-" if skill is None else f"{skill:+.1%}",
            *[_pct(s.coverage.get(k)) for k in levels],
        )
    print_table(con, table)  # h starts every part
    _print_band_scores(con, sym, scores, levels)
    realised = [s.n for s in scores if s.n]
    if realised and min(realised) < FEW:
        con.print(
            f"Few outcomes (n < {FEW} at some horizon): differences from persistence and "
            "coverage this far are mostly luck; judge them after a few dozen.",
            markup=False,
        )


def _print_band_scores(con: Any, sym: str, scores: list[HorizonScore], levels: list[str]) -> None:
    """The model's band next to the EWMA band logged with each forecast: coverage and mean
    interval score (in % of the last close) per level; nothing before any was logged."""
    from stockcast.cli.report import new_table
    from stockcast.cli.tables import print_table

    if not any(s.ewma_coverage for s in scores):
        return
    cols = [f"{float(k) * 100:g}% {what}" for k in levels
            for what in ("score", "EWMA cov.", "EWMA score")]  # fmt: skip
    table = new_table(f"{sym}: band vs EWMA band", "h", *cols)  # scores in % of the last close
    for s in scores:
        cells = []
        for k in levels:
            cells += [_score(s.interval_score.get(k)), _pct(s.ewma_coverage.get(k)),
                      _score(s.ewma_interval_score.get(k))]  # fmt: skip
        table.add_row(str(s.h), *cells)
    print_table(con, table, keys=1)
    con.print("Score: interval score, % of last close.", markup=False)  # lower is better


def _score(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.3f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"

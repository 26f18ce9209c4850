"""Scheduled use: `stockcast init`, `stockcast run` (the cron job) and `stockcast score`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from stockcast.cli.app import STATE, app, handles_errors, print_json, stdout

if TYPE_CHECKING:
    from stockcast.score import HorizonScore


@app.command()
@handles_errors
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example stockcast.toml into the data directory.

    Edit its `symbols` line, then schedule `stockcast run` (see docs/scheduling.md).

    Example: [bold]stockcast init[/]
    """
    from stockcast.config import config_path, write_example

    path = write_example(config_path(STATE.data_dir), force=force)
    stdout().print(f"wrote {path}; edit `symbols`, then try `stockcast run`", markup=False)


@app.command()
@handles_errors
def score(
    symbols: Annotated[
        list[str] | None,
        typer.Argument(help="Symbols to score (default: every symbol with logged forecasts)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """How past forecasts turned out: per horizon, MAE against "no change", and band coverage.

    Joins the forecast log (written by `predict` and `run`) with the closes stored since.
    A forecast counts once the close of its target session is stored.

    Example: [bold]stockcast score MSFT --json[/]
    """
    from stockcast import forecastlog
    from stockcast.paths import normalize_symbol
    from stockcast.score import NO_OUTCOMES, realised_total
    from stockcast.score import score as score_log
    from stockcast.store import PriceStore

    root = STATE.data_dir
    store = PriceStore(root)
    tickers = [normalize_symbol(s) for s in symbols] if symbols else forecastlog.symbols(root)
    results = []
    for sym in tickers:
        log = forecastlog.read(root, sym)
        scores = score_log(log, store.read(sym)["adj_close"]) if len(log) else []
        if not len(log):
            note = f"no forecasts logged for {sym}; `stockcast predict {sym}` or `run` logs them"
        else:
            note = None if realised_total(scores) else NO_OUTCOMES
        results.append((sym, scores, note))
    if as_json:
        print_json([_score_json(sym, scores, note) for sym, scores, note in results])
        return
    if not results:
        stdout().print("no forecasts logged yet; `stockcast predict` and `stockcast run` log them")
    for sym, scores, note in results:
        _print_scores(sym, scores, note)


def _score_json(sym: str, scores: list[HorizonScore], note: str | None) -> dict:
    out: dict = {"ticker": sym, "horizons": [s.to_dict() for s in scores]}
    if note:
        out["note"] = note
    return out


def _print_scores(sym: str, scores: list[HorizonScore], note: str | None) -> None:
    from rich.table import Table

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
        *[f"{float(k):.0%} coverage" for k in levels],
        title=f"{sym}: logged forecasts against stored closes",
    )
    for s in scores:
        skill = 1 - s.mae / s.persistence_mae if s.n and s.persistence_mae else None
        table.add_row(
            str(s.h),
            str(s.n),
            str(s.pending),
            _num(s.mae),
            _num(s.persistence_mae),
            "-" if skill is None else f"{skill:+.1%}",
            *[_pct(s.coverage.get(k)) for k in levels],
        )
    con.print(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"

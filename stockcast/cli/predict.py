"""`stockcast predict`: dated forecasts of the next sessions with calibrated intervals."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockcast.cli.app import (
    STATE,
    app,
    check_model_option,
    end_batch,
    error_line,
    handles_errors,
    warn,
    where_hint,
    wrote,
)
from stockcast.eachsymbol import Outcome, for_each_symbol
from stockcast.errors import NoPrices, StockcastError, UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from stockcast.forecasting.forecast import Forecast


PredictSymbolsArg = Annotated[
    list[str], typer.Argument(help="One or more symbols with a saved model.")
]
HorizonOpt = Annotated[
    int | None,
    typer.Option("--horizon", "-n", help="Sessions to forecast, 1..H (default: the model's H)."),
]
PredictModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Model id (one symbol), a model name such as global (its newest model, for "
        "each symbol), or NAME:ID; default: each symbol's own newest.",
    ),
]
LevelOpt = Annotated[
    str, typer.Option("--level", help="Interval levels, comma-separated, e.g. 0.8,0.9.")
]
CalendarOpt = Annotated[
    str | None,
    typer.Option(
        "--calendar",
        help="Exchange calendar code for the dates (default: from the symbol's suffix, "
        "else XNYS), e.g. XLON.",
    ),
]
PredictJsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print a JSON array, one object per symbol (README: JSON output)."),
]
CsvOutOpt = Annotated[
    Path | None,
    typer.Option("--csv", help="Write the rows to this CSV file; - writes them to stdout."),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Write a chart here, as PNG, SVG or PDF by the extension; with several "
        "symbols the symbol is added to the name (chart.png -> chart-MSFT.png).",
    ),
]
PredictQuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No table on stdout; warnings and errors only.")
]


@app.command()
@handles_errors
def predict(
    symbols: PredictSymbolsArg,
    horizon: HorizonOpt = None,
    model: PredictModelOpt = None,
    level: LevelOpt = "0.9",
    calendar: CalendarOpt = None,
    as_json: PredictJsonOpt = False,
    csv_path: CsvOutOpt = None,
    plot_path: PlotOpt = None,
    quiet: PredictQuietOpt = False,
) -> None:
    """Forecast the next trading sessions from the saved model and the stored prices.

    Dates skip weekends and holidays; bounds are conformal intervals calibrated on the most
    recent out-of-sample residuals (the evaluated weights' test split; see docs/forecasts.md).
    Nothing is retrained.

    Example: [bold]stockcast predict MSFT --horizon 5 --level 0.8,0.9 --plot msft.png[/]
    """
    from stockcast.data.paths import normalize_symbol
    from stockcast.forecasting.forecast import forecast_symbol
    from stockcast.forecasting.intervals import parse_levels

    levels = parse_levels(level)
    _check_horizon(horizon)
    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    _check_request(syms, model, calendar)
    csv_stdout = csv_path is not None and str(csv_path) == "-"
    if csv_stdout and as_json:
        raise UsageError("--csv - and --json both print to stdout; choose one")
    outputs = _output_paths(csv_path, plot_path, syms, csv_stdout)
    _check_outputs(outputs)
    _refuse_inputs(STATE.data_dir, outputs)

    def one(sym: str) -> Forecast:
        return forecast_symbol(
            STATE.data_dir, sym, horizon=horizon, model_id=model, levels=levels, calendar=calendar
        )

    batch = for_each_symbol(
        syms, one, on_outcome=functools.partial(_said, errors=len(syms) > 1 or as_json)
    )
    if len(syms) == 1 and batch.errors and not as_json:
        raise batch.errors[0]  # one red line and its own exit code (handles_errors)
    results = batch.values
    _write_outputs(results, None if csv_stdout else csv_path, plot_path, several=len(syms) > 1)
    for fc in results:  # logged only once the outputs asked for are written
        record(STATE.data_dir, fc)
    if csv_stdout and results:
        sys.stdout.write(to_csv(results))
        sys.stdout.flush()
    # --json: always an array; a failed symbol is {"ticker", "error"}
    end_batch(batch, as_json, quiet or csv_stdout, render, to_json=lambda fc: fc.to_dict())


def _check_horizon(horizon: int | None) -> None:
    if horizon is not None and horizon < 1:
        raise UsageError(
            f"--horizon {horizon} is not a number of sessions; give 1 up to the model's "
            "horizon H (`stockcast models` shows it), or leave it out for all H"
        )


def _check_request(syms: list[str], model: str | None, calendar: str | None) -> None:
    """UsageError (or NoPrices) before any symbol is read: an id with several symbols, a data
    directory that does not exist, a --model that names nothing, an unknown calendar."""
    from stockcast.models.schema import is_model_id

    if model and len(syms) > 1 and is_model_id(model):  # an id
        raise UsageError("--model names one model; give a single symbol with it")
    if not STATE.data_dir.is_dir():  # a mistyped STOCKCAST_HOME: say so, create nothing there
        raise NoPrices(
            f"no prices stored for {syms[0]}; run `stockcast fetch {syms[0]}`, then "
            f"`stockcast train {syms[0]}`"
        )
    check_model_option(syms[0], model)
    if calendar:  # a bad code is one usage error, not one failure per symbol
        from stockcast.data.calendar import check_calendar

        check_calendar(calendar, STATE.data_dir)  # the cached session table: no build


def _said(o: Outcome[Forecast], errors: bool) -> None:
    """What `predict` says on stderr as each symbol ends (its error when ``errors``: with one
    symbol and no --json the error is raised instead)."""
    if o.error is not None and errors:
        error_line(f"{o.symbol}: {o.error}{where_hint(o.error)}")
    if o.value is not None and o.value.interrupted:  # never the default unless the only one
        warn(f"{o.symbol}: model {o.value.model} is from an interrupted training run")
    if o.value is not None and o.value.stale:
        fix = _refresh(STATE.data_dir, o.symbol)
        warn(
            f"{o.symbol}: the last stored session is {o.value.as_of}, older than the last "
            f"completed session {o.value.last_completed}; run `{fix}`"
        )


def record(root: Path, fc: Forecast) -> None:
    """Append a forecast that `predict` made to the forecast log (read by `stockcast score`).

    A log that cannot be read or written costs a warning, not the forecast.
    """
    import pandas as pd

    from stockcast.schedule import forecastlog

    try:
        forecastlog.append(root, fc.ticker, pd.DataFrame(fc.log_rows("predict")))
    except (StockcastError, OSError) as exc:
        warn(f"{fc.ticker}: the forecast was not logged ({_why(exc)})")


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc.__class__.__name__}: {exc.filename or ''}".rstrip(": ")
    return str(exc)


def _refresh(root: Path, sym: str) -> str:
    """The command that brings a symbol's stored prices up to date from its own source (its
    CSV file read again for an imported symbol: asking Yahoo would replace it)."""
    from stockcast.data.sources.base import fetch_command
    from stockcast.data.store import PriceStore

    try:
        info = PriceStore(root).info(sym)
    except Exception:  # unreadable: `list` says so; Yahoo is the default source
        return f"stockcast fetch {sym}"
    return fetch_command(info.source, sym, info.source_ref)


PLOT_FORMATS = ("png", "svg", "pdf")  # --plot formats, chosen by the file's extension


def _check_outputs(outputs: list[tuple[str, Path]]) -> None:
    """UsageError for a chart format stockcast does not write, or a folder that does not exist
    (it is not created: a typo would scatter files)."""
    for flag, path in outputs:
        ext = path.suffix.lower().lstrip(".")
        if flag == "--plot" and ext not in PLOT_FORMATS:
            raise UsageError(
                f"--plot {path}: charts are PNG, SVG or PDF, chosen by the extension; end the "
                "name in .png, .svg or .pdf"
            )
        parent = path.parent
        if not parent.is_dir():
            raise UsageError(f"{flag} {path}: the folder {parent} does not exist; create it first")


# folders of the data directory that no output may be written into
_STORE_FOLDERS = ("prices", "models", "forecasts", "locks", "logs", "cache")


def _output_paths(
    csv_path: Path | None, plot_path: Path | None, syms: list[str], csv_stdout: bool
) -> list[tuple[str, Path]]:
    """(flag, file) of every file the outputs will write."""
    out = [] if csv_path is None or csv_stdout else [("--csv", csv_path)]
    if plot_path is not None:
        several = len(syms) > 1
        out += [
            ("--plot", plot_path.with_stem(f"{plot_path.stem}-{s}") if several else plot_path)
            for s in syms
        ]
    return out


def _refuse_inputs(root: Path, outputs: list[tuple[str, Path]]) -> None:
    """UsageError when an output would overwrite a stored symbol's source file (the CSV file
    that `run` reads again), the config, or anything inside the data directory's stores."""
    import os

    from stockcast.data.store import PriceStore

    if not outputs:
        return
    store = PriceStore(root)
    sources: dict[str, str] = {}
    for sym in store.symbols():
        try:
            ref = store.info(sym).source_ref
        except Exception:  # a damaged file: `list` says so; it records no source to protect
            continue
        if ref:
            sources[os.path.realpath(ref)] = f"the source file of {sym} (stockcast list --json)"
    sources[os.path.realpath(root / "stockcast.toml")] = "the config of `stockcast run`"
    folders = [os.path.realpath(root / name) for name in _STORE_FOLDERS]
    for flag, path in outputs:
        real = os.path.realpath(path)
        what = sources.get(real) or next(
            (what for src, what in sources.items() if _same_file(src, real)), None
        )
        if what is None and any(os.path.commonpath([real, f]) == f for f in folders):
            what = f"inside the stores of the data directory {root}"
        if what:
            raise UsageError(
                f"{flag} {path} is {what}; writing there would destroy it; choose another file"
            )


def _same_file(a: str, b: str) -> bool:
    """Whether two existing paths are one file (a hard link); False when either is missing."""
    import os

    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _write_outputs(
    results: list[Forecast], csv_path: Path | None, plot_path: Path | None, several: bool
) -> None:
    from stockcast.data.fsutil import write_output

    if csv_path is not None and results:
        write_output(csv_path, to_csv(results).encode())
        wrote(csv_path)
    if plot_path is not None:
        from stockcast.cli.plot import Band, render_chart

        for fc in results:
            path = plot_path.with_stem(f"{plot_path.stem}-{fc.ticker}") if several else plot_path
            chart = render_chart(
                fmt=path.suffix.lower().lstrip("."),
                symbol=fc.ticker,
                model_id=fc.model,
                title_note=_chart_note(fc),
                stale_since=fc.as_of if fc.stale else None,
                history_dates=[d for d, _ in fc.history],
                history_close=[c for _, c in fc.history],
                dates=[s.date for s in fc.steps],
                close=[s.close for s in fc.steps],
                bands=[
                    Band(
                        lvl,
                        [s.bounds[j].lower for s in fc.steps],
                        [s.bounds[j].upper for s in fc.steps],
                    )
                    for j, lvl in enumerate(fc.levels)
                ],
            )
            write_output(path, chart)
            wrote(path)


def _chart_note(fc: Forecast) -> str:
    """The verdict and skill of the chart's title, e.g. "h=1: indistinguishable from drift
    (skill -0.2%, 95% CI -0.9..+0.5)"."""
    sk = fc.skill
    if sk.headline:
        return f"h=1: {sk.headline}"
    if sk.h1 is not None:
        return f"h=1 test skill vs persistence {_pct(sk.h1)}"
    return "no test skill recorded"


def to_csv(results: list[Forecast]) -> str:
    """The rows of every forecast as CSV text (one row per symbol and date)."""
    import csv
    import io

    rows = [row for fc in results for row in fc.csv_rows()]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _price(x: float) -> str:
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.4g}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.2f}%"


def render(fc: Forecast, con: Console) -> None:
    """The human view: context lines, then one row per forecast session."""
    from stockcast.cli.tables import print_table

    con.print(
        f"[bold]{fc.ticker}[/]  last close {_price(fc.last_close)} on {fc.as_of}  ·  "
        f"model {fc.model}, trained through {fc.trained_through or 'unknown'}"
    )
    _skill_lines(fc, con)
    _band_lines(fc, con)
    print_table(con, _steps_table(fc), keys=2, groups=[2] * (1 + len(fc.levels)))  # no cuts
    con.print(
        f"[dim]{len(fc.steps)} sessions on calendar {fc.calendar}; intervals are conformal, "
        "calibrated on the latest out-of-sample residuals (coverage measured by `stockcast "
        "backtest`).[/]"
    )


def _skill_lines(fc: Forecast, con: Console) -> None:
    """The test skill, the verdict and what to read the forecast as when it is not better."""
    from stockcast.forecasting.naivestart import describe

    sk = fc.skill
    con.print(
        f"Test skill vs persistence (1 - MAE/MAE of last close): {_pct(sk.h1)} at h=1, "
        f"{_pct(sk.overall)} over all horizons."
    )
    if sk.headline:
        con.print(f"At h=1 the model is {sk.headline} (against the naive forecast best on "
                  "validation; test split).", markup=False)  # fmt: skip
    if fc.untrained:
        con.print("No training epoch beat the untrained model on validation: these forecasts are "
                  f"its naive start ({describe(fc.start_drift)}).",
                  markup=False)  # fmt: skip
    if sk.verdict_h1 is not None and sk.verdict_h1 != "better":
        con.print(
            f"[yellow]At h=1 the model is not better than {sk.best_baseline} on its test split: "
            "read the next session as that naive forecast with a calibrated band.[/]"
        )
    elif sk.verdict_h1 is None and sk.h1 is not None and sk.h1 <= 0:
        con.print(
            "[yellow]At h=1 the model does not beat the naive forecast (tomorrow = today) on its "
            "test split: read the next session as the last close with a calibrated band.[/]"
        )
    if sk.beats_baselines is False and sk.summary:
        con.print(f"[yellow]{sk.summary}[/]")


def _band_lines(fc: Forecast, con: Console) -> None:
    """The expected move of the next session and which band the intervals come from."""
    from stockcast.forecasting.forecast import level_tag

    moves = ", ".join(f"{level_tag(lvl)}% of days within ±{pct:.1f}%"
                      for lvl, pct in fc.expected_move())  # fmt: skip
    if moves:
        con.print(f"Expected move next session: {moves}.", markup=False)
    if fc.band is not None:
        con.print(f"Band: {fc.band.scale}.", markup=False)
        if fc.band.headline:
            con.print(fc.band.headline.replace("At h=1 the", "On the test split, at h=1 the"),
                      markup=False)  # fmt: skip


def _steps_table(fc: Forecast) -> Table:
    """One row per forecast session: date, h, close, change, and each level's bounds."""
    from rich.table import Table

    from stockcast.forecasting.forecast import level_tag

    table = Table(title=None, show_edge=False, pad_edge=False)
    table.add_column("Date")
    table.add_column("h", justify="right")
    table.add_column("Close", justify="right")
    table.add_column("Change", justify="right")
    for lvl in fc.levels:
        tag = level_tag(lvl)
        table.add_column(f"{tag}% low", justify="right")
        table.add_column(f"{tag}% high", justify="right")
    for s in fc.steps:
        cells = [s.date.isoformat(), str(s.h), _price(s.close), f"{s.change_pct:+.2f}%"]
        for b in s.bounds:
            cells += [_price(b.lower), _price(b.upper)]
        table.add_row(*cells)
    return table

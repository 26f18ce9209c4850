"""`stockcast fetch` and `stockcast list`."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockcast.cli.app import STATE, app, error_line, handles_errors, print_json, stdout, warn
from stockcast.cli.flags import QuietOpt
from stockcast.eachsymbol import exit_code
from stockcast.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from stockcast.data.ingest import FetchResult
    from stockcast.data.store import SymbolInfo

_STATUS_STYLE = {
    "new": "green",
    "updated": "green",
    "unchanged": "dim",
    "rewritten": "yellow",
    "failed": "bold red",
}
_DATE = ["%Y-%m-%d"]


def _date_option(help_: str) -> Any:
    """A YYYY-MM-DD option."""
    return typer.Option(formats=_DATE, help=help_, show_default=False)


FetchSymbolsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Ticker symbols as Yahoo spells them (AAPL, BRK-B, ^GSPC, SHEL.L).",
        show_default=False,
    ),
]
StartOpt = Annotated[
    dt.datetime | None, _date_option("First session to fetch (YYYY-MM-DD); default: all.")
]
EndOpt = Annotated[
    dt.datetime | None,
    _date_option("Last session to fetch, inclusive; default: the last completed session."),
]
FullOpt = Annotated[
    bool, typer.Option("--full", help="Re-fetch the whole range and replace what is stored.")
]
ReplaceOpt = Annotated[
    bool,
    typer.Option(
        "--replace",
        help="Accept new data that removes stored sessions or changes stored closes "
        "(refused otherwise: a cut or shortened file must not shrink the history).",
    ),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source",
        help="Where the prices come from: yahoo (the default), csv (with --csv FILE), "
        "sample, or a source an installed plugin registers (see `stockcast info`).",
        show_default=False,
    ),
]
CsvInOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        help="Import this CSV file instead of asking Yahoo (--source csv); it replaces the "
        "symbol's stored history. A wide table (Date, then one close column per "
        "ticker) or a long one (Date, Symbol, prices) imports every symbol in it "
        "(or those given).",
        show_default=False,
    ),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="Date format of the CSV file, e.g. %d/%m/%Y, or unix; default: found from the file.",
        show_default=False,
    ),
]
SampleOpt = Annotated[
    bool,
    typer.Option("--sample", help="Store the bundled MSFT sample (no network; --source sample)."),
]
FetchJsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON array for machines.")]
FetchQuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing on success; errors still show.")
]


@app.command()
@handles_errors
def fetch(
    symbols: FetchSymbolsArg = None,
    start: StartOpt = None,
    end: EndOpt = None,
    full: FullOpt = False,
    replace: ReplaceOpt = False,
    source: SourceOpt = None,
    csv: CsvInOpt = None,
    date_format: DateFormatOpt = None,
    sample: SampleOpt = False,
    as_json: FetchJsonOpt = False,
    quiet: FetchQuietOpt = False,
) -> None:
    """Fetch daily prices into the local store: from Yahoo, a CSV file, the bundled sample, or
    a source an installed plugin adds (--source NAME).

    A repeat fetch asks Yahoo only for the latest sessions (and re-fetches everything when a
    dividend or split has rewritten the adjusted history). New data that would remove stored
    sessions or change stored closes is refused unless given --replace. Exit codes: 0 ok,
    1 failed, 2 bad usage, 3 some symbols failed.

    Examples: [bold]stockcast fetch --sample[/], [bold]stockcast fetch AAPL MSFT[/],
    [bold]stockcast fetch AAPL --csv ~/Downloads/AAPL.csv[/], [bold]stockcast fetch --csv
    closes.csv[/] (a table of many symbols)
    """
    name = _source_name(source, csv, sample)
    sample = name == "sample"
    syms = _symbols(symbols or [], csv, sample)
    d0, d1 = _date_range(start, end)
    if (d0 or d1 or full) and not _incremental(name):
        flag = {"csv": "--csv", "sample": "--sample"}.get(name, f"--source {name}")
        raise UsageError(
            f"--start, --end and --full apply to sources read by date such as Yahoo, not {flag}"
        )
    if date_format and not csv:
        raise UsageError("--date-format applies to --csv imports only")
    results = _run(
        syms,
        name,
        csv,
        date_format,
        (d0, d1),
        full,
        replace,
        show_progress=not (quiet or as_json),
    )
    _report(results, as_json=as_json, quiet=quiet)
    raise typer.Exit(_exit_code(results))


def _source_name(source: str | None, csv: Path | None, sample: bool) -> str:
    """The registry name of the source asked for; --csv and --sample name theirs."""
    from stockcast.data.sources.base import DEFAULT_SOURCE, source_class

    implied = [n for n, given in (("csv", csv is not None), ("sample", sample)) if given]
    if len(implied) > 1:
        raise UsageError("--sample stores MSFT only; give no symbols and no --csv with it")
    if source is not None:
        source_class(source)  # UsageError naming the installed sources
        if implied and implied[0] != source:
            flag = "--csv" if implied[0] == "csv" else "--sample"
            raise UsageError(f"{flag} reads the {implied[0]} source, not {source}; give one")
        if source == "csv" and csv is None:
            raise UsageError("--source csv reads a file; give it with --csv FILE")
        return source
    return implied[0] if implied else DEFAULT_SOURCE


def _incremental(name: str) -> bool:
    """Whether the ``name`` source is asked for a range of dates (--start, --end, --full)."""
    from stockcast.data.sources.base import source_class

    return bool(source_class(name).incremental)


def _symbols(raw: list[str], csv: Path | None, sample: bool) -> list[str]:
    """Validated, upper-cased, de-duplicated symbols; checked before anything touches disk."""
    from stockcast.data.paths import normalize_symbol
    from stockcast.data.sources.sample import SAMPLE_SYMBOL

    syms = list(dict.fromkeys(normalize_symbol(s) for s in raw))
    if sample:
        if csv or syms not in ([], [SAMPLE_SYMBOL]):
            raise UsageError("--sample stores MSFT only; give no symbols and no --csv with it")
        return [SAMPLE_SYMBOL]
    if csv:
        table = _csv_table(csv)
        if table is not None:
            missing = [s for s in syms if s not in table]
            if missing:
                raise UsageError(
                    f"{csv} has no {', '.join(missing)} (it holds {', '.join(table)}); "
                    "leave the symbols out to import them all"
                )
            return syms or list(table)
        if len(syms) > 1:
            raise UsageError(
                "--csv of one symbol's prices imports one symbol; give one, e.g. "
                "stockcast fetch AAPL --csv FILE (a wide or long table imports many)"
            )
        if not syms:
            try:
                syms = [normalize_symbol(csv.stem)]
            except UsageError:
                raise UsageError(
                    f"cannot tell the symbol from the file name {csv.name!r}; "
                    "give it: stockcast fetch AAPL --csv FILE"
                ) from None
        return syms
    if not syms:
        raise UsageError("give at least one symbol, e.g. stockcast fetch AAPL, or use --sample")
    return syms


def _csv_table(csv: Path) -> dict[str, str] | None:
    """Symbol -> column (or key) of a wide or long table; None for one symbol's prices."""
    from stockcast.data.ingest import csv_symbols

    return csv_symbols(csv)


def _date_range(
    start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.date | None, dt.date | None]:
    d0 = start.date() if start else None
    d1 = end.date() if end else None
    if d0 and d1 and d0 > d1:
        raise UsageError(f"bad date range: --start {d0} is after --end {d1}")
    today = dt.date.today()
    if d0 and d0 > today:
        raise UsageError(f"bad date range: --start {d0} is in the future")
    if d1 and d1 > today:
        raise UsageError(
            f"bad date range: --end {d1} is in the future; leave --end out to fetch "
            "up to the last completed session"
        )
    return d0, d1


def _run(
    syms: list[str],
    name: str,
    csv: Path | None,
    date_format: str | None,
    dates: tuple[dt.date | None, dt.date | None],
    full: bool,
    replace: bool,
    show_progress: bool,
) -> list[FetchResult]:
    from stockcast.data import ingest
    from stockcast.data.sources.base import pace_of, source_class
    from stockcast.data.store import PriceStore

    store = PriceStore(STATE.data_dir)
    start, end = dates
    if name == "sample":
        return ingest.run_all(
            syms, lambda s: ingest.ingest_sample(store, replace=replace), source="sample"
        )
    if csv:
        table = _csv_table(csv) or {}
        return ingest.run_all(
            syms,
            lambda s: ingest.ingest_csv(
                store, s, csv, date_format, column=table.get(s), replace=replace
            ),
            source="csv",
        )
    con = stdout()
    where = "Yahoo" if name == "yahoo" else name

    def one(sym: str) -> FetchResult:
        spinner = con.status(f"Fetching {sym} from {where}...") if show_progress else None
        with spinner if spinner and con.is_terminal else contextlib.nullcontext():
            source = ingest.open_named(store, sym, name)
            return ingest.refresh(store, sym, source, start, end, full=full, replace=replace)

    return ingest.run_all(syms, one, source=name, pace=pace_of(source_class(name)))


def _report(results: list[FetchResult], *, as_json: bool, quiet: bool) -> None:
    for r in results:
        if r.error:
            several = len(results) > 1 and r.ticker not in r.error
            error_line(f"{r.ticker}: {r.error}" if several else r.error)
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    if quiet or all(r.error for r in results):
        return
    from stockcast.cli.tables import print_table

    con = stdout()
    print_table(con, fetch_table(results))
    for r in results:
        for note in r.notes:
            con.print(f"{r.ticker}: {note}", markup=False, soft_wrap=True)


def fetch_table(results: list[FetchResult]) -> Table:
    """The summary table: one row per symbol."""
    from rich.table import Table

    table = Table("Symbol", "Status", "Rows", "Added", "First", "Last", "Source")
    for r in results:
        style = _STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.ticker,
            f"[{style}]{r.status}[/]" if style else r.status,
            str(r.rows) if r.rows else "-",
            str(r.rows_added) if r.status != "failed" else "-",
            r.first or "-",
            r.last or "-",
            r.source,
        )
    return table


def _exit_code(results: list[FetchResult]) -> int:
    return exit_code(len(results), [r.exit_code for r in results if r.status == "failed"])


@app.command("list")
@handles_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """List stored symbols: rows, first and last session, source, last update, default model.

    Example: [bold]stockcast list --json[/]
    """
    from stockcast.data.store import PriceStore
    from stockcast.models.store import default_model_id

    store = PriceStore(STATE.data_dir)
    infos = []
    for sym in store.symbols():
        try:
            infos.append(store.info(sym))
        except Exception:  # a foreign or damaged file: say so, keep listing the others
            warn(f"{sym}: the stored file is unreadable; run `stockcast fetch {sym} --full`")
    models = {i.ticker: default_model_id(STATE.data_dir, i.ticker) for i in infos}
    if as_json:
        print_json([{**i.to_dict(), "default_model": models[i.ticker]} for i in infos])
        return
    if quiet:  # warnings about unreadable files (above) still show
        return
    if not infos:
        stdout().print(
            f"No prices stored in {store.root} yet. Try [bold]stockcast fetch --sample[/] "
            "(no network needed) or [bold]stockcast fetch AAPL[/].",
            soft_wrap=True,
        )
        return
    from stockcast.cli.tables import print_table

    print_table(stdout(), list_table(infos, models))


def list_table(infos: list[SymbolInfo], models: dict[str, str | None] | None = None) -> Table:
    """The table of stored symbols, with each one's default model (the one `predict` uses)."""
    from rich.table import Table

    models = models or {}
    table = Table("Symbol", "Rows", "First", "Last", "Source", "Updated (UTC)", "Default model")
    for i in infos:
        updated = i.updated.replace("T", " ")[:16] if i.updated else "-"
        table.add_row(i.ticker, str(i.rows), i.first or "-", i.last or "-", i.source, updated,
                      models.get(i.ticker) or "-")  # fmt: skip
    return table

"""`stockcast fetch` and `stockcast list`."""

from __future__ import annotations

from typing import Annotated

import typer

from stockcast.cli.app import STATE, app, handles_errors, print_json, stdout


@app.command()
@handles_errors
def fetch(
    sample: Annotated[
        bool, typer.Option("--sample", help="Store the bundled MSFT sample (no network).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Fetch daily prices into the local store.

    Example: [bold]stockcast fetch --sample[/]
    """
    from stockcast.sources.sample import SAMPLE_SYMBOL, load_sample
    from stockcast.store import PriceStore

    store = PriceStore(STATE.data_dir)
    df = load_sample()
    with store.lock(SAMPLE_SYMBOL):
        store.write(SAMPLE_SYMBOL, df, source="sample")
    info = store.info(SAMPLE_SYMBOL)
    if as_json:
        print_json([info.to_dict()])
    else:
        stdout().print(f"{info.ticker}: {info.rows} rows, {info.first} to {info.last}")


@app.command("list")
@handles_errors
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List stored symbols: rows, first and last session, source, last update.

    Example: [bold]stockcast list --json[/]
    """
    from rich.table import Table

    from stockcast.store import PriceStore

    store = PriceStore(STATE.data_dir)
    infos = [store.info(s) for s in store.symbols()]
    if as_json:
        print_json([i.to_dict() for i in infos])
        return
    table = Table("Symbol", "Rows", "First", "Last", "Source", "Updated")
    for i in infos:
        table.add_row(i.ticker, str(i.rows), i.first, i.last, i.source, i.updated)
    stdout().print(table)

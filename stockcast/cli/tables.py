"""Tables that never cut an id, a date or a number: a table too wide for the console is printed
as several narrower ones, each repeating the key columns (the date, the horizon, the model id),
instead of letting rich shrink cells to ``…``; when even one column beside the keys does not fit,
the table is stacked: one block of "header  value" lines per row.

Every column keeps its cells on one line, except free text: a column made with
``overflow="fold"`` (and ``no_wrap=False``), such as a status or a list of symbols, wraps
between words and is counted as at most ``PROSE_WIDTH`` columns wide when parts are packed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Column, Table

PROSE_WIDTH = 20  # a free-text column is given at least this many columns (or its longest word)


def print_table(
    con: Console, table: Table, keys: int = 1, groups: Sequence[int] | None = None
) -> None:
    """Print ``table`` whole when it fits ``con``; else as parts that each fit; else stacked.

    The first ``keys`` columns start every part; the other columns are packed in order, in
    ``groups`` of that many columns kept together (a level's low and high; default: one
    column each). Only the first part keeps the title, only the last the caption. When the
    keys and one group are already wider than the console, every row is printed as a block of
    lines instead (``stack_table``): nothing is ever cut.
    """
    for part in split_table(con, table, keys, groups):
        con.print(part)


def split_table(
    con: Console, table: Table, keys: int = 1, groups: Sequence[int] | None = None
) -> list[Table]:
    """The parts ``print_table`` prints (one table when it fits, or when it is stacked)."""
    whole = _part(table, list(range(len(table.columns))))
    if _width(con, whole) <= con.width:
        return [whole]
    cols = list(range(len(table.columns)))
    head, rest = cols[:keys], cols[keys:]
    sizes = list(groups) if groups else [1] * len(rest)
    chunks, i = [], 0
    for n in sizes:
        chunks.append(rest[i : i + n])
        i += n
    if i < len(rest):
        chunks.append(rest[i:])
    parts: list[list[int]] = []
    for chunk in chunks:
        if _width(con, _part(table, head + chunk)) > con.width:
            return [stack_table(table)]
        if parts and _width(con, _part(table, head + parts[-1] + chunk)) <= con.width:
            parts[-1] += chunk
        else:
            parts.append(list(chunk))
    out = [_part(table, head + p) for p in parts]
    for k, part in enumerate(out):
        part.title = table.title if k == 0 else None
        part.caption = table.caption if k == len(out) - 1 else None
    return out


def stack_table(table: Table) -> Table:
    """``table`` as one block per row: each column's header, then the row's cell (wrapping
    between words only when the cell itself is wider than the console); a blank line between
    rows; the title and the caption kept."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.title, grid.caption = table.title, table.caption
    grid.title_justify, grid.caption_justify = "left", "left"
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    cells = [list(col.cells) for col in table.columns]
    for r in range(table.row_count):
        if r:
            grid.add_row("", "")
        for col, column_cells in zip(table.columns, cells, strict=True):
            grid.add_row(col.header, column_cells[r])
    return grid


def _prose(col: Column) -> bool:
    """Free text, allowed to wrap between words."""
    return col.overflow == "fold" and not col.no_wrap


def _part(table: Table, columns: list[int]) -> Table:
    """A copy of ``table`` with only these columns (rows and styles kept), every column but
    free text on one line."""
    part = copy.copy(table)
    part.columns = [copy.copy(table.columns[i]) for i in columns]
    for j, col in enumerate(part.columns):
        col._index = j
        if not _prose(col):
            col.no_wrap = True
    return part


def _width(con: Console, table: Table) -> int:
    """The width the table needs: every cell on one line, free text at its narrowest
    readable width (``PROSE_WIDTH``, or its longest word when that is longer)."""
    from rich.measure import Measurement

    wide = con.options.update_width(10_000)
    measured = copy.copy(table)
    measured.columns = [copy.copy(col) for col in table.columns]
    for col in measured.columns:
        if _prose(col) and col.width is None:
            sizes = [Measurement.get(con, wide, cell) for cell in [col.header, *col.cells]]
            longest = max(m.minimum for m in sizes)
            col.width = max(longest, min(max(m.maximum for m in sizes), PROSE_WIDTH))
    return Measurement.get(con, wide, measured).maximum

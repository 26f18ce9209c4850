"""Tables that never cut an id, a date or a number: a table too wide for the console is printed
as several narrower ones, each repeating the key columns (the date, the horizon, the model id),
instead of letting rich shrink cells to ``…``; when even one column beside the keys does not fit,
the table is stacked: one block of "header  value" lines per row.

Every column keeps its cells on one line, except free text: a column made with
``overflow="fold"`` (and ``no_wrap=False``), such as a status or a list of symbols, wraps
between words and is counted as at most ``PROSE_WIDTH`` columns wide (a word of it longer than
the room left folds: free text is never an id, a date or a number).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Column, Table

PROSE_WIDTH = 20  # the most columns a free-text column counts for when a table is fitted


def print_table(
    con: Console, table: Table, keys: int = 1, groups: Sequence[int] | None = None
) -> None:
    """Print ``table`` whole when it fits ``con``; else as parts that each fit; else stacked.

    The first ``keys`` columns start every part; the other columns are packed in order, in
    ``groups`` of that many columns kept together (a level's low and high; default: one
    column each). Only the first part keeps the title, only the last the caption. When the
    keys and one group are already wider than the console, every row is printed as a block of
    lines instead (``stack_table``): no id, date or number is ever cut.
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
        if _width(con, _part(table, head + chunk), narrowest=True) > con.width:
            return [stack_table(con, table)]
        if parts and _width(con, _part(table, head + parts[-1] + chunk)) <= con.width:
            parts[-1] += chunk
        else:
            parts.append(list(chunk))
    out = [_part(table, head + p) for p in parts]
    for k, part in enumerate(out):
        part.title = table.title if k == 0 else None
        part.caption = table.caption if k == len(out) - 1 else None
    return out


def stack_table(con: Console, table: Table) -> Table:
    """``table`` as one block per row, a blank line between rows, the title and the caption
    kept: each column's header, then the row's cell beside it, or under it (indented) when a
    header and a cell side by side would not fit ``con``."""
    from rich.measure import Measurement
    from rich.padding import Padding
    from rich.table import Table

    wide = con.options.update_width(10_000)
    cells = [list(col.cells) for col in table.columns]
    heads = [Measurement.get(con, wide, col.header).maximum for col in table.columns]
    label = max(heads, default=0)
    rigid = [cs for col, cs in zip(table.columns, cells, strict=True) if not _prose(col)]
    value = max((Measurement.get(con, wide, c).maximum for cs in rigid for c in cs), default=0)
    beside = label + 2 + value <= con.width
    grid = Table.grid(padding=(0, 2))
    grid.title, grid.caption = table.title, table.caption
    grid.title_justify, grid.caption_justify = "left", "left"
    grid.add_column(no_wrap=beside, style="bold")
    if beside:
        grid.add_column(overflow="fold")
    for r in range(table.row_count):
        if r:
            grid.add_row(*[""] * len(grid.columns))
        for col, column_cells in zip(table.columns, cells, strict=True):
            if beside:
                grid.add_row(col.header, column_cells[r])
            else:
                grid.add_row(col.header)
                grid.add_row(Padding(column_cells[r], (0, 0, 0, 2), style="not bold"))
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


def _width(con: Console, table: Table, narrowest: bool = False) -> int:
    """The width the table needs: every cell on one line, free text at ``PROSE_WIDTH`` columns
    at most (``narrowest``: at its longest word, when that is shorter)."""
    from rich.measure import Measurement

    wide = con.options.update_width(10_000)
    measured = copy.copy(table)
    measured.columns = [copy.copy(col) for col in table.columns]
    for col in measured.columns:
        if _prose(col) and col.width is None:
            sizes = [Measurement.get(con, wide, cell) for cell in [col.header, *col.cells]]
            col.width = min(max(m.maximum for m in sizes), PROSE_WIDTH)
            if narrowest:
                col.width = min(col.width, max(m.minimum for m in sizes))
    return Measurement.get(con, wide, measured).maximum

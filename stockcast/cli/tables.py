"""Tables that never cut a number: a table too wide for the console is printed as several
narrower ones, each repeating the key columns (the date, the horizon), instead of letting rich
shrink cells to ``…``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def print_table(
    con: Console, table: Table, keys: int = 1, groups: Sequence[int] | None = None
) -> None:
    """Print ``table`` whole when it fits ``con``; else as parts that each fit.

    The first ``keys`` columns start every part; the other columns are packed in order, in
    ``groups`` of that many columns kept together (a level's low and high; default: one
    column each). Only the first part keeps the title, only the last the caption. A part that
    still does not fit (one group wider than the console) folds its cells onto more lines
    rather than cutting them.
    """
    for part in split_table(con, table, keys, groups):
        con.print(part)


def split_table(
    con: Console, table: Table, keys: int = 1, groups: Sequence[int] | None = None
) -> list[Table]:
    """The parts ``print_table`` prints (``[table]`` when it fits)."""
    if _width(con, table) <= con.width:
        return [table]
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
        if parts and _width(con, _part(table, head + parts[-1] + chunk)) <= con.width:
            parts[-1] += chunk
        else:
            parts.append(list(chunk))
    out = [_part(table, head + p) for p in parts]
    for k, part in enumerate(out):
        part.title = table.title if k == 0 else None
        part.caption = table.caption if k == len(out) - 1 else None
        if _width(con, part) > con.width:
            for col in part.columns:
                col.no_wrap, col.overflow = False, "fold"
    return out


def _part(table: Table, columns: list[int]) -> Table:
    """A copy of ``table`` with only these columns (rows and styles kept)."""
    part = copy.copy(table)
    part.columns = [copy.copy(table.columns[i]) for i in columns]
    for j, col in enumerate(part.columns):
        col._index = j
    return part


def _width(con: Console, table: Table) -> int:
    """The width the table needs to show every cell on one line."""
    from rich.measure import Measurement

    return Measurement.get(con, con.options.update_width(10_000), table).maximum

"""Get prices from a source, validate them, merge them with what is stored, and store the result.

Shared by ``stockcast fetch`` and the cron runner. ``refresh`` is the one procedure for every
source (``stockcast.data.sources.base.Source``): an incremental source is asked only for the
latest sessions, merged over the stored rows; any other answer replaces them. Sources are read
outside the symbol's lock; the read-merge-write step runs under it, so a second process waits
instead of losing rows, and a failure anywhere leaves the stored file as it was. Nothing here
prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stockcast.eachsymbol import Outcome, for_each_symbol
from stockcast.data.calendar import calendar_code_for, last_completed_session
from stockcast.data.paths import normalize_symbol
from stockcast.data.sources.base import (
    DEFAULT_SOURCE,
    Source,
    fetch_command,
    open_source,
    registry,
    source_names,
)
from stockcast.data.sources.csvfile import CsvSource, table_shape
from stockcast.data.sources.sample import SAMPLE_SYMBOL, SampleSource
from stockcast.data.store import COLUMNS, PriceStore, SymbolInfo
from stockcast.data.validate import ValidationReport, validate
from stockcast.errors import DataError, HistoryRefused, StoreUnwritable, UnknownSource, UsageError

OVERLAP_SESSIONS = 5  # an incremental fetch re-asks this many stored sessions
RTOL = 1e-4  # relative tolerance when comparing stored and fetched prices
CLOSE_RTOL = 1e-6  # a stored raw close differing by more than this is "changed" by a re-read
CHANGED_CLOSES = (3, 0.001)  # a replacement may change at most max(3, 0.1% of overlap) closes


@dataclass
class FetchResult:
    """The outcome for one symbol: a row of the fetch table and an object of ``fetch --json``."""

    ticker: str
    status: str  # new, updated, unchanged, rewritten or failed
    source: str  # the source's registry name: yahoo, csv, sample or a plugin's
    rows: int = 0  # rows stored after the fetch
    rows_added: int = 0  # sessions that were not stored before
    rows_removed: int = 0  # stored sessions that the new data no longer has (rewrites only)
    first: str | None = None
    last: str | None = None
    issues: dict[str, int] = field(default_factory=dict)  # validation counts, by kind
    notes: list[str] = field(default_factory=list)  # one human sentence per issue or event
    error: str | None = None
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("exit_code")
        return d


# pure helpers ------------------------------------------------------------------------------
def overlap_start(index: pd.DatetimeIndex, sessions: int = OVERLAP_SESSIONS) -> dt.date:
    """The stored session ``sessions`` before the last one (the first one if fewer)."""
    return index[max(0, len(index) - 1 - sessions)].date()


def overlap_agrees(old: pd.DataFrame, new: pd.DataFrame, rtol: float = RTOL) -> bool:
    """Whether close and adjusted close agree on the sessions both frames hold."""
    common = old.index.intersection(new.index)
    a = old.loc[common, ["close", "adj_close"]].to_numpy()
    b = new.loc[common, ["close", "adj_close"]].to_numpy()
    return bool(np.isclose(a, b, rtol=rtol, atol=0, equal_nan=True).all())


def merge(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Stored rows plus fetched rows; a fetched row replaces the stored row of its session."""
    if old is None or old.empty:
        return new
    kept = old.loc[old.index.difference(new.index)]
    return pd.concat([kept, new]).sort_index()


def classify(old: pd.DataFrame | None, new: pd.DataFrame) -> tuple[str, int, int]:
    """(status, rows added, rows removed) of replacing ``old`` by ``new``."""
    if old is None or old.empty:
        return "new", len(new), 0
    added = len(new.index.difference(old.index))
    removed = len(old.index.difference(new.index))
    if removed or not overlap_agrees(old, new):
        return "rewritten", added, removed
    common = old.index.intersection(new.index)
    same = np.isclose(
        old.loc[common, COLUMNS].to_numpy(),
        new.loc[common, COLUMNS].to_numpy(),
        rtol=RTOL,
        atol=0,
        equal_nan=True,
    ).all()
    return ("unchanged" if same and not added else "updated"), added, removed


def unsplit_close(df: pd.DataFrame) -> pd.Series:
    """Raw closes with every split recorded after each session undone.

    Yahoo's ``close`` is split-adjusted: a new split divides every earlier close by its ratio
    and records the ratio on the split's session. Multiplying each close by the ratios of the
    splits after it gives the same figure before and after such a rewrite.
    """
    factor = df["splits"].where(df["splits"] > 0, 1.0)
    after = factor[::-1].cumprod()[::-1].shift(-1, fill_value=1.0)
    return df["close"] * after


def history_losses(old: pd.DataFrame, new: pd.DataFrame) -> tuple[int, int, int]:
    """(stored sessions ``new`` lacks, stored raw closes it changes, sessions both hold)."""
    removed = len(old.index.difference(new.index))
    common = old.index.intersection(new.index)
    a = unsplit_close(old).loc[common].to_numpy()
    b = unsplit_close(new).loc[common].to_numpy()
    changed = int((~np.isclose(b, a, rtol=CLOSE_RTOL, atol=0, equal_nan=True)).sum())
    return removed, changed, len(common)


def refuse_losses(
    old: pd.DataFrame | None, new: pd.DataFrame, sym: str, where: str, accept: str
) -> None:
    """Raise HistoryRefused when replacing ``old`` by ``new`` would remove stored sessions or
    change more than a few stored closes (a cut, shortened or foreign file); else nothing."""
    if old is None or old.empty:
        return
    removed, changed, overlap = history_losses(old, new)
    allowed = max(CHANGED_CLOSES[0], int(CHANGED_CLOSES[1] * overlap))
    if not removed and changed <= allowed:
        return
    raise HistoryRefused(
        f"refusing to replace the {len(old)} stored sessions of {sym} with {len(new)} from "
        f"{where}: {removed} stored session{'' if removed == 1 else 's'} would be removed and "
        f"{changed} stored close{'' if changed == 1 else 's'} changed; nothing was stored; "
        f"if the new data is right, accept it with `{accept}`"
    )


def accept_command(sym: str, source: Source) -> str:
    """The command that accepts a refused replacement from ``source``."""
    again = fetch_command(source.name, sym, source.ref)
    return f"{again}{' --full' if source.incremental else ''} --replace"


# storing -----------------------------------------------------------------------------------
Stored = tuple[pd.DataFrame | None, SymbolInfo | None]  # what ``_current`` returns


def _current(store: PriceStore, sym: str, replacing: bool = False) -> Stored:
    """The stored frame and its metadata; ``replacing`` treats an unreadable file as absent."""
    if not store.exists(sym):
        return None, None
    try:
        return store.read_with_info(sym)
    except Exception:
        if replacing:  # a damaged file is what --full and a new import are there to repair
            return None, None
        raise


def _commit(
    store: PriceStore,
    sym: str,
    new: pd.DataFrame,
    source: Source,
    old: Stored,
    report: ValidationReport,
    guard: bool = False,
) -> FetchResult:
    """Write ``new`` over ``old`` (``_current``) unless nothing changed (call under the lock);
    describe what happened. With ``guard``, refuse a replacement that loses stored history."""
    old_frame, old_info = old
    if guard:
        where = source.describe(None, None)
        refuse_losses(old_frame, new, sym, where, accept_command(sym, source))
    status, added, removed = classify(old_frame, new)
    recorded = (source.name, source.ref, source.options or None)
    changed = (
        old_info is None
        or status != "unchanged"
        or (old_info.source, old_info.source_ref, old_info.source_options) != recorded
    )
    if changed:
        store.write(
            sym, new, source=source.name, source_ref=source.ref, source_options=source.options
        )
    return FetchResult(
        ticker=sym,
        status=status,
        source=source.name,
        rows=len(new),
        rows_added=added,
        rows_removed=removed,
        first=new.index[0].date().isoformat(),
        last=new.index[-1].date().isoformat(),
        issues=report.counts(),
        notes=report.lines(),
    )


def _read(
    source: Source,
    sym: str,
    last_closed: dt.date,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Ask ``source`` for ``sym`` and validate the answer; DataError when no row is usable.

    Rows dated after ``last_closed`` (a session still trading, or a wrong date) are dropped
    and counted, whatever the source.
    """
    raw = source.history(sym, start, end)
    clean, report = validate(raw)
    report.incomplete_rows = int(raw.attrs.get("incomplete_rows", 0))
    late = clean.index > pd.Timestamp(last_closed)
    if late.any():
        report.future_sessions = int(late.sum())
        report.future_dates = [d.date().isoformat() for d in clean.index[late][:5]]
        clean = clean[~late]
    if clean.empty:
        raise DataError(
            f"no usable prices for {sym} in {source.describe(start, end)}; nothing was stored"
        )
    return clean, report


# the one refresh ---------------------------------------------------------------------------
def refresh(
    store: PriceStore,
    symbol: str,
    source: Source,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    full: bool = False,
    replace: bool = False,
    now: dt.datetime | None = None,
) -> FetchResult:
    """Refresh the stored history of ``symbol`` from ``source``; the one path for every source.

    An incremental source whose rows are stored is asked from ``OVERLAP_SESSIONS`` before the
    last stored session, and its answer is merged over the stored rows. When the overlap
    disagrees (a dividend or split rewrote the adjusted history) the whole stored range is
    asked again and replaces what is stored; ``full`` skips straight to that. Any other source
    (a CSV file, the sample) replaces what is stored with all it has.

    Only completed sessions are stored (those up to the last session of the symbol's exchange
    that has closed at ``now``). A replacement that would remove stored sessions or change
    more than a few stored closes raises ``HistoryRefused`` unless ``replace``.
    """
    last_closed = last_completed_session(now, calendar_code_for(symbol))
    old, old_info = _current(store, symbol, replacing=full) if source.incremental else (None, None)
    rewrite = False
    same_source = old_info is not None and old_info.source == source.name
    if old is not None and not old.empty and not full and same_source:
        result = _update(store, symbol, source, old, last_closed, start, end)
        if result is not None:
            return result
        rewrite = True  # the adjusted history changed: ask again for all that is stored
    if old is not None and not old.empty:
        # a rewrite, --full, or a symbol stored from another source: the answer replaces
        # what is stored, so never ask for less than that (--start/--end only widen)
        first, last = old.index[0].date(), old.index[-1].date()
        if start is not None or rewrite:
            start = min(start, first) if start else first
        end = max(end, last) if end else None
    clean, report = _read(source, symbol, last_closed, start, end)
    with store.lock(symbol):
        current = _current(store, symbol, replacing=True)
        return _commit(store, symbol, clean, source, current, report, guard=not replace)


def _update(
    store: PriceStore,
    symbol: str,
    source: Source,
    old: pd.DataFrame,
    last_closed: dt.date,
    start: dt.date | None,
    end: dt.date | None,
) -> FetchResult | None:
    """Merge the latest sessions over the stored ones; None when the overlap disagrees."""
    a = overlap_start(old.index)
    a = min(a, start) if start else a
    if end is not None and end < a:
        raise UsageError(
            f"--end {end} is before the sessions to update ({a}); "
            "use --full with --start/--end to re-fetch a past range"
        )
    clean, report = _read(source, symbol, last_closed, a, end)
    with store.lock(symbol):
        now_stored = _current(store, symbol)
        current, current_info = now_stored
        # recheck under the lock: a CSV import may have replaced the history meanwhile
        same_source = current_info is not None and current_info.source == source.name
        if current is not None and same_source and overlap_agrees(current, clean):
            return _commit(store, symbol, merge(current, clean), source, now_stored, report)
    return None


# sources -----------------------------------------------------------------------------------
def cache_folder(store: PriceStore) -> Path:
    """The data directory's cache folder, given to every source it opens."""
    return store.root / "cache"


def open_stored(store: PriceStore, symbol: str) -> Source:
    """The source ``symbol`` was stored from, opened as recorded (its file, its options), to
    read it again; ``DEFAULT_SOURCE`` when nothing is stored. UnknownSource when that source
    is not installed: the symbol is never read from another source in its place."""
    if not store.exists(symbol):
        return open_source(DEFAULT_SOURCE, symbol, cache=cache_folder(store))
    info = store.info(symbol)
    if info.source not in registry():
        raise UnknownSource(
            f"{symbol} was stored from the price source {info.source!r}, which is not "
            f"installed (installed: {', '.join(source_names())}); install the package that "
            f"provides it, or store {symbol} from another source with `stockcast fetch "
            f"{symbol} --source NAME --replace`"
        )
    return open_source(
        info.source, symbol, info.source_ref, info.source_options, cache=cache_folder(store)
    )


def open_named(store: PriceStore, symbol: str, name: str) -> Source:
    """The source registered as ``name``, ready to read ``symbol`` (`fetch --source NAME`);
    what the store recorded for the symbol from the same source (a reference, options) is
    reused. ``refresh`` with it fetches the symbol."""
    ref, options = None, None
    if store.exists(symbol):
        with contextlib.suppress(Exception):  # unreadable: the fetch replaces it
            info = store.info(symbol)
            if info.source == name:
                ref, options = info.source_ref, info.source_options
    return open_source(name, symbol, ref, options, cache=cache_folder(store))


def ingest_csv(
    store: PriceStore,
    symbol: str,
    path: str | Path,
    date_format: str | None = None,
    *,
    column: str | None = None,
    replace: bool = False,
    now: dt.datetime | None = None,
) -> FetchResult:
    """Replace the stored history of ``symbol`` with the rows of a CSV file (the file wins).

    ``column`` names the symbol's part of a wide or long table (``csv_symbols``). A
    ``date_format`` or ``column`` given once is recorded, and reused when the same file is
    read again (by `stockcast run`) without one. A file that would lose stored history is
    refused unless ``replace`` (see ``refresh``).
    """
    symbol = normalize_symbol(symbol)
    ref = CsvSource(path).ref
    recorded = _recorded_csv_options(store, symbol, ref)
    source = CsvSource(
        path,
        date_format if date_format is not None else recorded.get("date_format"),
        column if column is not None else recorded.get("column"),
    )
    return refresh(store, symbol, source, replace=replace, now=now)


def csv_symbols(path: str | Path) -> dict[str, str] | None:
    """Symbol -> its spelling in the file for a wide or long table (``csvfile.table_shape``);
    None for one symbol's prices. UsageError when a name is not a valid symbol or two names
    are the same symbol."""
    shape, names = table_shape(path)
    if shape == "single":
        return None
    out: dict[str, str] = {}
    for name in names:
        try:
            sym = normalize_symbol(name)
        except UsageError:
            raise UsageError(
                f"{path}: {name!r} is not a ticker symbol; rename that column (a {shape} table "
                "holds one symbol per " + ("column" if shape == "wide" else "row key") + ")"
            ) from None
        if sym in out:
            raise UsageError(f"{path} names {sym} twice ({out[sym]!r}, {name!r}); keep one")
        out[sym] = name
    return out


def _recorded_csv_options(store: PriceStore, symbol: str, ref: str) -> dict:
    """The options (``date_format``, ``column``) recorded when ``ref`` was last imported as
    ``symbol``, if any."""
    try:
        info = store.info(symbol)
    except Exception:
        return {}
    if info.source != "csv" or info.source_ref != ref:
        return {}
    return dict(info.source_options or {})


def ingest_sample(store: PriceStore, *, replace: bool = False) -> FetchResult:
    """Store the bundled MSFT sample (no network)."""
    return refresh(store, SAMPLE_SYMBOL, SampleSource(), replace=replace)


# several symbols ---------------------------------------------------------------------------
def run_all(
    symbols: Iterable[str],
    one: Callable[[str], FetchResult],
    *,
    source: str,
    pace: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[FetchResult]:
    """Attempt every symbol; a failure becomes a ``failed`` result instead of stopping the run.

    After an error that would repeat for every symbol (``SourceDown``, an unwritable data
    directory) the rest are marked failed with the same message, without asking again.
    """
    batch = for_each_symbol(list(symbols), _disk_errors_stop(one), pace=pace, sleep=sleep)
    return [_fetch_result(o, source) for o in batch.outcomes]


def _disk_errors_stop(one: Callable[[str], FetchResult]) -> Callable[[str], FetchResult]:
    """``one``, with a local disk error (the sources map network errors) as StoreUnwritable."""

    def guarded(sym: str) -> FetchResult:
        try:
            return one(sym)
        except OSError as exc:
            raise StoreUnwritable(
                f"cannot write to the data directory ({exc.strerror or exc}: {exc.filename}); "
                "check its permissions and free space, or choose another with --data-dir"
            ) from None

    return guarded


def _fetch_result(outcome: Outcome[FetchResult], source: str) -> FetchResult:
    if outcome.error is None:
        assert outcome.value is not None
        return outcome.value
    err = outcome.error
    return FetchResult(outcome.symbol, "failed", source, error=str(err), exit_code=err.exit_code)

"""Get prices from a source, validate them, merge them with what is stored, and store the result.

Shared by ``stockcast fetch`` and the cron runner. Sources are read outside the symbol's lock;
the read-merge-write step runs under it, so a second process waits instead of losing rows, and
a failure anywhere leaves the stored file as it was. Nothing here prints.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockcast.errors import DataError, StockcastError, UsageError
from stockcast.data.paths import normalize_symbol
from stockcast.data.store import COLUMNS, PriceStore, SymbolInfo
from stockcast.data.validate import ValidationReport, validate

if TYPE_CHECKING:
    import pandas as pd

    from stockcast.data.sources.yahoo import Backoff

OVERLAP_SESSIONS = 5  # an incremental fetch re-asks this many stored sessions
RTOL = 1e-4  # relative tolerance when comparing stored and fetched prices


@dataclass
class FetchResult:
    """The outcome for one symbol: a row of the fetch table and an object of ``fetch --json``."""

    ticker: str
    status: str  # new, updated, unchanged, rewritten or failed
    source: str  # yahoo, csv or sample
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
    import numpy as np

    common = old.index.intersection(new.index)
    a = old.loc[common, ["close", "adj_close"]].to_numpy()
    b = new.loc[common, ["close", "adj_close"]].to_numpy()
    return bool(np.isclose(a, b, rtol=rtol, atol=0, equal_nan=True).all())


def merge(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Stored rows plus fetched rows; a fetched row replaces the stored row of its session."""
    import pandas as pd

    if old is None or old.empty:
        return new
    kept = old.loc[old.index.difference(new.index)]
    return pd.concat([kept, new]).sort_index()


def classify(old: pd.DataFrame | None, new: pd.DataFrame) -> tuple[str, int, int]:
    """(status, rows added, rows removed) of replacing ``old`` by ``new``."""
    import numpy as np

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


def drop_unfinished(df: pd.DataFrame, last_closed: dt.date) -> tuple[pd.DataFrame, list[str]]:
    """Drop bars after ``last_closed`` (a session still trading); also return their dates."""
    import pandas as pd

    late = df.index > pd.Timestamp(last_closed)
    return df[~late], [d.date().isoformat() for d in df.index[late]]


# storing -----------------------------------------------------------------------------------
def _current(
    store: PriceStore, sym: str, replacing: bool = False
) -> tuple[pd.DataFrame | None, SymbolInfo | None]:
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
    source: str,
    source_ref: str | None,
    old: tuple[pd.DataFrame | None, SymbolInfo | None],
    report: ValidationReport,
    source_options: dict | None = None,
) -> FetchResult:
    """Write ``new`` over ``old`` (``_current``) unless nothing changed (call under the lock);
    describe what happened."""
    old_frame, old_info = old
    status, added, removed = classify(old_frame, new)
    changed = status != "unchanged" or old_info is None
    if not changed:
        changed = (old_info.source, old_info.source_ref, old_info.source_options) != (
            source,
            source_ref,
            source_options or None,
        )
    if changed:
        store.write(sym, new, source=source, source_ref=source_ref, source_options=source_options)
    return FetchResult(
        ticker=sym,
        status=status,
        source=source,
        rows=len(new),
        rows_added=added,
        rows_removed=removed,
        first=new.index[0].date().isoformat(),
        last=new.index[-1].date().isoformat(),
        issues=report.counts(),
        notes=report.lines(),
    )


def _clean(df: pd.DataFrame, sym: str, where: str) -> tuple[pd.DataFrame, ValidationReport]:
    clean, report = validate(df)
    if clean.empty:
        raise DataError(f"no usable prices for {sym} in {where}; nothing was stored")
    return clean, report


# sources -----------------------------------------------------------------------------------
def ingest_csv(
    store: PriceStore, symbol: str, path: str | Path, date_format: str | None = None
) -> FetchResult:
    """Replace the stored history of ``symbol`` with the rows of a CSV file (the file wins).

    A ``date_format`` given once is recorded, and reused when the same file is read again
    (by `stockcast run`) without one.
    """
    from stockcast.data.sources.csvfile import read_csv_prices

    symbol = normalize_symbol(symbol)
    ref = str(Path(path).expanduser().resolve())
    if date_format is None:
        date_format = _recorded_date_format(store, symbol, ref)
    clean, report = _clean(read_csv_prices(ref, date_format), symbol, ref)
    options = {"date_format": date_format} if date_format else None
    with store.lock(symbol):
        old = _current(store, symbol, replacing=True)
        return _commit(store, symbol, clean, "csv", ref, old, report, options)


def _recorded_date_format(store: PriceStore, symbol: str, ref: str) -> str | None:
    """The ``--date-format`` recorded when ``ref`` was last imported as ``symbol``, if any."""
    try:
        info = store.info(symbol)
    except Exception:
        return None
    if info.source != "csv" or info.source_ref != ref:
        return None
    return (info.source_options or {}).get("date_format")


def ingest_sample(store: PriceStore) -> FetchResult:
    """Store the bundled MSFT sample (no network)."""
    from stockcast.data.sources.sample import SAMPLE_SYMBOL, load_sample

    clean, report = _clean(load_sample(), SAMPLE_SYMBOL, "the bundled sample")
    with store.lock(SAMPLE_SYMBOL):
        old = _current(store, SAMPLE_SYMBOL, replacing=True)
        return _commit(store, SAMPLE_SYMBOL, clean, "sample", None, old, report)


def ingest_yahoo(
    store: PriceStore,
    symbol: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    full: bool = False,
    now: dt.datetime | None = None,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    backoff: Backoff | None = None,
) -> FetchResult:
    """Fetch ``symbol`` from Yahoo: incrementally when it is stored, else its whole history.

    The incremental request starts ``OVERLAP_SESSIONS`` before the last stored session; if the
    overlap disagrees (a dividend or split rewrote the adjusted history) the whole range is
    fetched again and replaces what is stored. ``full`` skips straight to that.
    """
    from stockcast.data.calendar import calendar_code_for, last_completed_session
    from stockcast.data.sources import yahoo

    backoff = backoff or yahoo.Backoff()
    symbol = normalize_symbol(symbol)
    yahoo.configure(store.root / "cache" / "yfinance")
    last_closed = last_completed_session(now, calendar_code_for(symbol))
    waits = backoff.delays()  # one rate-limit budget for the symbol, rewrite re-fetch included

    def get(a: dt.date | None, b: dt.date | None) -> tuple[pd.DataFrame, ValidationReport, list]:
        raw = yahoo.fetch_history(symbol, a, b, session=session, sleep=sleep, waits=waits)
        raw, unfinished = drop_unfinished(raw, last_closed)
        clean, report = _clean(raw, symbol, f"Yahoo's answer ({a or 'start'} to {b or 'today'})")
        return clean, report, unfinished

    old, old_info = _current(store, symbol, replacing=full)
    rewrite = False
    if old is not None and not old.empty and not full and old_info.source == "yahoo":
        a = overlap_start(old.index)
        a = min(a, start) if start else a
        if end is not None and end < a:
            raise UsageError(
                f"--end {end} is before the sessions to update ({a}); "
                "use --full with --start/--end to re-fetch a past range"
            )
        clean, report, unfinished = get(a, end)
        with store.lock(symbol):
            now_stored = _current(store, symbol)
            current, current_info = now_stored
            # recheck under the lock: a CSV import may have replaced the history meanwhile
            still_yahoo = current_info is not None and current_info.source == "yahoo"
            if current is not None and still_yahoo and overlap_agrees(current, clean):
                merged = merge(current, clean)
                result = _commit(store, symbol, merged, "yahoo", None, now_stored, report)
                return _note_unfinished(result, unfinished)
        rewrite = True  # the adjusted history changed: fetch again all that is stored
    if old is not None and not old.empty:
        # a rewrite, --full, or a symbol stored from a CSV file or the sample: the answer
        # replaces what is stored, so never ask for less than that (--start/--end only widen)
        first, last = old.index[0].date(), old.index[-1].date()
        if start is not None or rewrite:
            start = min(start, first) if start else first
        end = max(end, last) if end else None
    clean, report, unfinished = get(start, end)
    with store.lock(symbol):
        current = _current(store, symbol, replacing=True)
        result = _commit(store, symbol, clean, "yahoo", None, current, report)
    return _note_unfinished(result, unfinished)


def _note_unfinished(result: FetchResult, unfinished: list[str]) -> FetchResult:
    if unfinished:
        result.notes.append(
            f"left out the bar of {', '.join(unfinished)}: that session has not closed yet"
        )
    return result


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

    After an error that would repeat for every symbol (network down, rate limited) the rest are
    marked failed with the same message, without asking again.
    """
    results: list[FetchResult] = []
    stop: StockcastError | None = None
    for i, sym in enumerate(symbols):
        if stop is None and i and pace:
            sleep(pace)
        try:
            if stop is not None:
                raise stop
            results.append(one(sym))
        except StockcastError as exc:
            results.append(
                FetchResult(sym, "failed", source, error=str(exc), exit_code=exc.exit_code)
            )
            if getattr(exc, "stops_run", False):
                stop = exc
        except OSError as exc:  # the sources map network errors; this is the local disk
            stop = DataError(
                f"cannot write to the data directory ({exc.strerror or exc}: {exc.filename}); "
                "check its permissions and free space, or choose another with --data-dir"
            )
            stop.stops_run = True  # type: ignore[attr-defined]
            results.append(FetchResult(sym, "failed", source, error=str(stop), exit_code=1))
    return results

"""Daily prices from a local CSV file, taken as it comes from common tools.

Handles Yahoo exports (ISO or m/d/Y dates, ``Adj Close``), Stooq, TradingView (``time`` in unix
seconds; ``unix_session_dates`` says which session each stamp is), MetaTrader
(``<DATE>,<TIME>,<OPEN>,...`` with ``,`` ``;`` or tab, YYYYMMDD dates), pandas ``to_csv`` output
(unnamed first date column) and Nasdaq.com (``Close/Last``, ``$``, newest first). A BOM, blank
or separator-only lines, a trailing separator on each row, quoted thousands (``"1,234,567"``),
decimal commas (``1,25`` in a ``;`` file) and Excel's ``sep=;`` first line are taken as they
come. When no date format reads every row, up to ``MAX_BAD_DATES`` stray rows (at most a tenth
of the file; a footer note) are left without a date for validation to drop and count.

Date and close are required. Missing open/high/low are left missing (validation sets them to the
close and counts the rows), a missing volume is unknown (NaN), a missing adjusted close equals
the close, dividends and splits are 0.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.data.store import COLUMNS
from stockcast.errors import DataError, UsageError

# store column -> accepted headers, best first (compared lower-case, letters and digits only)
ALIASES: dict[str, list[str]] = {
    "date": ["date", "datetime", "timestamp", "tradedate", "day", "data"],
    "open": ["open", "openprice", "o", "otwarcie"],
    "high": ["high", "highprice", "h", "max", "najwyzszy"],
    "low": ["low", "lowprice", "l", "min", "najnizszy"],
    "close": ["close", "closelast", "closeprice", "last", "price", "c", "zamkniecie"],
    "adj_close": ["adjclose", "adjustedclose", "adjclosed", "adjustedcloseprice"],
    "volume": ["volume", "vol", "v", "wolumen"],
    "dividends": ["dividends", "dividend"],
    "splits": ["stocksplits", "splits", "split"],
}
# a date column without a date-like name: TradingView's "time" anywhere, or an unnamed first
# column (pandas to_csv), or yfinance's "Price" first column above its Ticker/Date header rows
_FIRST_COLUMN_DATES = ("unnamed0", "index", "price", "")
DATE_FORMATS = [
    "%Y-%m-%d",
    "%Y%m%d",
    "%Y.%m.%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
]
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$")
# an ISO date and time stated in UTC ("2024-01-04T23:00:00Z"): the session date may be the next day
_UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|[+-]00:?00)")
_NULLS = {"", "null", "nan", "n/a", "na", "-", "none"}
MAX_BAD_DATES = 5  # rows without a readable date that an import drops (and reports)
_DELIMITERS = [",", ";", "\t", "|"]
_NAN = float("nan")
# the value of a column the file does not have (adj_close: the close)
_ABSENT = {"open": _NAN, "high": _NAN, "low": _NAN, "volume": _NAN, "dividends": 0.0, "splits": 0.0}
_SEP_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}


def read_csv_prices(path: str | Path, date_format: str | None = None) -> pd.DataFrame:
    """Read a price CSV into the store schema, indexed by session date (not yet validated).

    ``date_format`` is a strptime format such as ``%d/%m/%Y``, or ``unix`` for unix seconds;
    by default the one format that reads every row is found by trying common ones.

    >>> read_csv_prices("AAPL.csv").columns.tolist()  # doctest: +SKIP
    ['open', 'high', 'low', 'close', 'adj_close', 'volume', 'dividends', 'splits']
    """
    path = Path(path).expanduser()
    try:
        raw, incomplete = _read_raw(path)
        mapping = map_columns([str(c) for c in raw.columns])
        _require(mapping, raw, path)
        return _frame(raw, mapping, date_format, path, incomplete)
    except _UNREADABLE as exc:
        raise _unreadable(path, exc) from None


# a field over csv's 128 KiB limit, a date outside pandas' 1677..2262, a number too large
_UNREADABLE = (csv.Error, pd.errors.OutOfBoundsDatetime, OverflowError, RecursionError)


def _unreadable(path: Path, exc: Exception) -> DataError:
    return DataError(
        f"{path} cannot be read as daily prices ({str(exc)[:80]}); check the file "
        "(dates must lie in 1678..2261)"
    )


def table_shape(path: str | Path) -> tuple[str, list[str]]:
    """("single", []) for one symbol's prices, ("wide", columns) for a date column and one
    close column per ticker, ("long", symbols) for date, symbol and price columns; the second
    item names the file's symbols as it spells them, in file order."""
    path = Path(path).expanduser()
    raw, _ = _read_raw(path)
    columns = [str(c) for c in raw.columns]
    norm = [normalize_header(c) for c in columns]
    sym_col = next((columns[norm.index(n)] for n in SYMBOL_HEADERS if n in norm), None)
    if sym_col is not None:
        names = raw[sym_col].astype(str).str.strip()
        return "long", list(dict.fromkeys(n for n in names if n))
    mapping = map_columns(columns)
    if "date" in mapping and _is_wide(columns, norm, mapping):
        return "wide", [c for c in columns if c != mapping["date"] and c.strip()]
    return "single", []


def read_csv_table(path: str | Path, date_format: str | None = None) -> dict[str, pd.DataFrame]:
    """Every symbol of a wide or long file -> its frame in the store schema (not validated),
    keyed by the file's own spelling of the symbol (see ``table_shape``); cached by the file's
    path, size and modification time, so importing S symbols reads the file once."""
    path = Path(path).expanduser().resolve()
    st = _stat(path)
    key = (str(path), st.st_mtime_ns, st.st_size, date_format)
    if _TABLE_CACHE.get("key") != key:
        _TABLE_CACHE.clear()
        try:
            table = _read_table(path, date_format)
        except _UNREADABLE as exc:
            raise _unreadable(path, exc) from None
        _TABLE_CACHE.update(key=key, value=table)
    return _TABLE_CACHE["value"]


SYMBOL_HEADERS = ("symbol", "ticker", "tickersymbol", "ric", "secid")  # a long table's key
_TABLE_CACHE: dict = {}


def _stat(path: Path) -> os.stat_result:
    if not path.is_file():
        raise DataError(f"no file at {path}; check the path given to --csv")
    return path.stat()


def _is_wide(columns: list[str], norm: list[str], mapping: dict[str, str]) -> bool:
    """No column reads as a price field by a name longer than one letter (``Close``, ``Adj
    Close``): the columns are tickers (single letters such as C or V are tickers unless the
    file has o, h, l and c together)."""
    fields = {n for key, names in ALIASES.items() if key != "date" for n in names if len(n) > 1}
    if any(n in fields for n in norm):
        return False
    if {"o", "h", "l", "c"} <= set(norm):
        return False
    return len(columns) >= 2


def _read_table(path: Path, date_format: str | None) -> dict[str, pd.DataFrame]:
    shape, names = table_shape(path)
    raw, incomplete = _read_raw(path)
    columns = [str(c) for c in raw.columns]
    if shape == "single":
        raise DataError(
            f"{path} holds one symbol's prices, not a table of symbols; give the symbol: "
            "stockcast fetch AAPL --csv FILE"
        )
    if shape == "wide":
        date_col = map_columns(columns)["date"]
        out = {}
        for name in names:
            part = raw[[date_col, name]].rename(columns={name: "Close"})
            frame = _frame(part, {"date": date_col, "close": "Close"}, date_format, path, 0)
            out[name] = _trim_unlisted(frame)
        return out
    norm = [normalize_header(c) for c in columns]
    sym_col = next(columns[norm.index(n)] for n in SYMBOL_HEADERS if n in norm)
    keys = raw[sym_col].astype(str).str.strip()
    body = raw.drop(columns=[sym_col])
    mapping = map_columns([str(c) for c in body.columns])
    _require(mapping, body, path)
    return {
        name: _frame(body[keys == name], mapping, date_format, path, incomplete) for name in names
    }


def _trim_unlisted(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the leading and trailing sessions where a wide table has no price for this
    ticker (before its listing, after its delisting); gaps inside stay for validation."""
    have = frame["close"].notna().to_numpy()
    if not have.any():
        return frame.iloc[:0]
    first, last = int(have.argmax()), len(have) - int(have[::-1].argmax())
    return frame.iloc[first:last]


def _read_raw(path: Path) -> tuple[pd.DataFrame, int]:
    """The file as a table of strings (all rows, header names as written) and 1 when an
    unterminated last line was dropped."""
    try:
        return _read_raw_unchecked(path)
    except csv.Error as exc:  # e.g. a field past the csv module's size limit
        raise DataError(f"cannot read {path} as a table ({exc}); check that it is a CSV") from None


def _read_raw_unchecked(path: Path) -> tuple[pd.DataFrame, int]:
    text, incomplete = drop_unterminated(_read_text(path))
    hint = re.match(r"\s*\"?sep=(.)\"?[ \t]*\r?\n", text)  # Excel's "sep=;" first line
    if hint:
        sep, text = hint.group(1), text[hint.end() :]
    else:
        sep = sniff_delimiter(text)
    # index_col=False: rows with a trailing separator must not shift the columns right;
    # pandas warns that it drops the fields beyond the header, which have no name anyway
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            raw = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                index_col=False,
            )
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise DataError(
            f"cannot read {path} as a table ({detail}); every row needs the same columns "
            f"as the header, separated by {_SEP_NAMES.get(sep, repr(sep))}"
        ) from None
    _refuse_duplicate_headers(text, sep, path)
    return raw.dropna(how="all"), incomplete


def _require(mapping: dict[str, str], raw: pd.DataFrame, path: Path) -> None:
    """DataError naming the fix when the file has no date or no close column."""
    if "date" not in mapping:
        raise DataError(
            f"no date column in {path} (columns: {', '.join(map(str, raw.columns))}); "
            "name the date column Date"
        )
    if "close" not in mapping:
        raise DataError(
            f"no close column in {path} (columns: {', '.join(map(str, raw.columns))}); "
            "name the closing price column Close"
        )


def _frame(
    raw: pd.DataFrame, mapping: dict[str, str], date_format: str | None, path: Path,
    incomplete: int,
) -> pd.DataFrame:  # fmt: skip
    """One symbol's rows of strings -> the store schema (``read_csv_prices``' rules)."""
    dates = raw[mapping["date"]].astype(str).str.strip()
    keep = ~dates.str.lower().isin({"ticker", "date", ""})  # yfinance multi-row headers
    raw, dates = raw[keep], dates[keep]
    if raw.empty:
        raise DataError(f"{path} has a header but no rows of prices")
    index = parse_dates(dates.tolist(), date_format, path)
    out = pd.DataFrame(index=index)
    numeric = [raw[mapping[col]] for col in COLUMNS if col in mapping]
    comma = uses_decimal_comma(numeric)
    for col in COLUMNS:
        if col in mapping:
            units = col == "volume"  # 19.40M
            out[col] = to_numbers(raw[mapping[col]], decimal_comma=comma, units=units).to_numpy()
    if out["close"].isna().all():
        raise DataError(f"no numeric close prices in {path}; check the file's close column")
    if "adj_close" not in out.columns:
        out["adj_close"] = out["close"]
    # an open, high or low the file lacks stays missing: validation sets it to the close, counted
    for col, default in _ABSENT.items():
        if col not in out.columns:
            out[col] = default
    out = out[COLUMNS].astype("float64")
    out.attrs["incomplete_rows"] = incomplete  # counted by validation's report
    return out


def drop_unterminated(text: str) -> tuple[str, int]:
    """``text`` without a last line that has no line end, and 1 when one was dropped.

    A file cut mid-write (a copy or an export still running) ends inside a row, which could
    read as a plausible but wrong price (a close of 1 for 1,228). Only the header line of a
    file may lack its line end.
    """
    if not text or text.endswith(("\n", "\r")):
        return text, 0
    cut = max(text.rfind("\n"), text.rfind("\r"))
    if cut < 0 or not text[:cut].strip():  # the header is the only line
        return text, 0
    return text[: cut + 1], 1


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"no file at {path}; check the path given to --csv")
    data = path.read_bytes()
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if not text.strip():
        raise DataError(
            f"{path} is empty; export daily prices with a header row such as "
            "Date,Open,High,Low,Close,Volume"
        )
    return text


def sniff_delimiter(text: str) -> str:
    """The separator that splits the header and the first rows into the same number of fields."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:20]
    best, best_fields = ",", 1
    for delim in _DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=delim)}
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = delim, n
    if best_fields == 1:  # ragged rows: fall back to the most frequent separator in the header
        best = max(_DELIMITERS, key=lambda d: lines[0].count(d))
    return best


def normalize_header(name: str) -> str:
    """``'<Adj Close>'`` -> ``'adjclose'``; pandas' ``'Unnamed: 0'`` -> ``'unnamed0'``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _refuse_duplicate_headers(text: str, sep: str, path: Path) -> None:
    """Two columns with the same name (``Close`` and `` close``): which one is meant is unclear."""
    first = next(ln for ln in text.splitlines() if ln.strip())
    header = next(csv.reader([first], delimiter=sep))
    seen: dict[str, str] = {}
    known = {name for names in ALIASES.values() for name in names} | {"time"}
    for name in header:
        norm = normalize_header(name)
        if norm in known and norm in seen:
            raise DataError(
                f"{path} has two columns that both read as {name.strip()!r}; "
                "remove or rename one of them"
            )
        seen[norm] = name


def map_columns(columns: list[str]) -> dict[str, str]:
    """Store column -> the file's column, by alias (case and punctuation ignored)."""
    norm = [normalize_header(c) for c in columns]
    mapping: dict[str, str] = {}
    for key, names in ALIASES.items():
        for name in names:
            if name in norm and columns[norm.index(name)] not in mapping.values():
                mapping[key] = columns[norm.index(name)]
                break
        if key == "date" and "date" not in mapping:
            if "time" in norm:
                mapping["date"] = columns[norm.index("time")]
            elif norm and norm[0] in _FIRST_COLUMN_DATES:
                mapping["date"] = columns[0]
    return mapping


def uses_decimal_comma(columns: list[pd.Series]) -> bool:
    """Whether the file writes ``1,25`` for 1.25 (European locales), judged on all its numbers.

    A comma is a thousands separator only when groups of exactly three digits follow it
    (``1,234,567`` or ``1,234.50``). If any number has a comma anywhere else (``1,25``,
    ``1.234,5``), every comma in the file is the decimal mark and dots group thousands.
    """
    for col in columns:
        s = col.astype(str).str.replace(r"[$\s]", "", regex=True)
        has_comma = s.str.contains(",", regex=False)
        thousands = s.str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")
        decimal = s.str.fullmatch(r"[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+")
        if (has_comma & ~thousands & decimal).any():
            return True
    return False


# volume suffixes as Investing.com writes them: 19.40M = 19,400,000 shares
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9}


def to_numbers(col: pd.Series, decimal_comma: bool = False, units: bool = False) -> pd.Series:
    """Strings such as ``$1,234.50`` or ``null`` -> floats (NaN where not a number).

    With ``decimal_comma``, ``1.234,50`` reads as 1234.5. With ``units`` (volumes), a K, M or B
    suffix multiplies by a thousand, a million or a billion, rounded to a whole number:
    ``19.40M`` reads as 19400000.
    """

    s = col.astype(str).str.strip()
    s = s.where(~s.str.lower().isin(_NULLS), None)
    s = s.str.replace(r"[$\s]", "", regex=True)
    if decimal_comma:
        s = s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        s = s.str.replace(",", "", regex=False)
    if not units:
        return pd.to_numeric(s, errors="coerce")
    parts = s.str.extract(r"^([-+]?\d*\.?\d+)([KMBkmb])$")
    scale = parts[1].str.upper().map(_UNITS)
    suffixed = scale.notna()
    numbers = pd.to_numeric(s.where(~suffixed, parts[0]), errors="coerce")
    return numbers.where(~suffixed, (numbers * scale).round())


def parse_dates(values: list[str], date_format: str | None, path: Path) -> pd.DatetimeIndex:
    """Session dates from strings: ``date_format`` if given, else the format that fits all."""

    stripped = [_TIME_SUFFIX.sub("", v.strip()) for v in values]
    if date_format:
        idx = _try_format(values, date_format)
        if idx is None:
            idx = _try_format(stripped, date_format)
        if idx is None:
            bad = _first_unparsed(values, stripped, date_format)
            raise UsageError(
                f"--date-format {date_format} does not read {bad!r} in {path}; "
                "give the format of the file's dates, e.g. %d/%m/%Y"
            )
        return idx
    if all(re.fullmatch(r"\d{9,13}(\.0+)?", v.strip()) for v in values):
        return _try_format(values, "unix")
    if all(_UTC_STAMP.fullmatch(v.strip()) for v in values):  # a time in UTC, as unix seconds
        stamps = _utc_stamps(values)
        if stamps is not None:
            return unix_session_dates(stamps).astype("datetime64[ns]").rename("date")
    fits = {}
    for fmt in DATE_FORMATS:
        idx = _try_format(stripped, fmt)
        if idx is not None:
            fits[fmt] = idx
    if not fits:
        return _mostly_dates(values, stripped, path)
    return _pick(fits, path)


def _mostly_dates(values: list[str], stripped: list[str], path: Path) -> pd.DatetimeIndex:
    """No format reads every row: allow a few stray rows (a footer such as "* Close price
    adjusted for splits"), left as NaT for validation to drop and count (``bad_dates``)."""

    readings = {}
    for fmt in DATE_FORMATS:
        idx = pd.DatetimeIndex(pd.to_datetime(pd.Series(stripped), format=fmt, errors="coerce"))
        readings[fmt] = idx.normalize().astype("datetime64[ns]").rename("date")
    best = max(int(idx.notna().sum()) for idx in readings.values())
    unread = len(values) - best
    if best == 0 or unread > MAX_BAD_DATES or unread * 10 >= len(values):
        top = next(idx for idx in readings.values() if int(idx.notna().sum()) == best)
        first_bad = values[int(top.isna().nonzero()[0][0])]
        raise DataError(
            f"cannot read the dates in {path} (e.g. {first_bad!r}); "
            "pass --date-format, e.g. --date-format %d/%m/%Y"
        )
    fits = {fmt: idx for fmt, idx in readings.items() if int(idx.notna().sum()) == best}
    return _pick(fits, path)


def _pick(fits: dict[str, pd.DatetimeIndex], path: Path) -> pd.DatetimeIndex:
    """One reading of the dates: distinct readings are narrowed to those in date order
    (unread rows, NaT, aside)."""
    distinct: dict[tuple, tuple[str, pd.DatetimeIndex]] = {}
    for fmt, idx in fits.items():
        distinct.setdefault(tuple(idx.asi8), (fmt, idx))
    choices = list(distinct.values())
    if len(choices) > 1:
        ordered = [c for c in choices if _in_date_order(c[1].dropna())]
        choices = ordered or choices
    if len(choices) > 1:
        formats = " or ".join(f for f, _ in choices)
        raise DataError(
            f"the dates in {path} can be read as {formats}; pass --date-format to choose"
        )
    return choices[0][1]


def _in_date_order(idx: pd.DatetimeIndex) -> bool:
    return idx.is_monotonic_increasing or idx.is_monotonic_decreasing


def _try_format(values: list[str], fmt: str) -> pd.DatetimeIndex | None:
    if fmt.lower() == "unix":
        nums = pd.to_numeric(pd.Series(values).str.strip(), errors="coerce")
        if nums.isna().any():
            return None
        unit = "ms" if nums.abs().max() > 1e11 else "s"
        stamps = pd.DatetimeIndex(pd.to_datetime(nums, unit=unit, utc=True).dt.tz_localize(None))
        return unix_session_dates(stamps).astype("datetime64[ns]").rename("date")
    try:
        idx = pd.to_datetime(pd.Series(values).str.strip(), format=fmt, errors="coerce")
    except (ValueError, re.error):  # not a valid format string (%Y%Y: a regex error)
        raise UsageError(f"--date-format {fmt!r} is not a valid strptime format") from None
    if idx.isna().any():
        return None
    return pd.DatetimeIndex(idx).normalize().astype("datetime64[ns]").rename("date")


def _utc_stamps(values: list[str]) -> pd.DatetimeIndex | None:
    text = pd.Series(values).str.strip().str.replace(r"\s*UTC$", "Z", regex=True)
    stamps = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    if stamps.isna().any():
        return None
    return pd.DatetimeIndex(stamps).tz_localize(None)


def unix_session_dates(stamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Session dates of daily bars stamped in unix time or ISO times in UTC (given as naive UTC).

    A daily bar is stamped at 00:00 UTC (TradingView for crypto and some feeds), at the
    session's open (TradingView for stocks: 14:30 UTC for New York) or at the exchange's local
    midnight. The UTC date is the session date except east of UTC, where the open or midnight
    falls on the previous UTC day (Sydney opens at 23:00 UTC, Tokyo's midnight is 15:00 UTC).
    The file does not say its exchange, so: bars stamped at 12:00 UTC or later are moved to
    the next day when that puts fewer sessions on a Saturday or Sunday than the UTC dates do
    (New York's 14:30 UTC opens stay; a Sydney or Tokyo file lands on Monday to Friday).
    """

    utc_dates = stamps.normalize()
    late = np.asarray(stamps.hour >= 12)
    if not late.any():
        return utc_dates
    next_day = utc_dates + pd.to_timedelta(late.astype("int64"), unit="D")

    def weekend(idx: pd.DatetimeIndex) -> int:
        return int((idx.day_of_week >= 5).sum())

    return next_day if weekend(next_day) < weekend(utc_dates) else utc_dates


def _first_unparsed(values: list[str], stripped: list[str], fmt: str) -> str:
    """The first of ``values`` that ``fmt`` reads neither as it is nor without its time of day."""

    def unread(texts: list[str]) -> np.ndarray:
        s = pd.Series(texts).str.strip()
        if fmt.lower() == "unix":
            return pd.to_numeric(s, errors="coerce").isna().to_numpy()
        return pd.to_datetime(s, format=fmt, errors="coerce").isna().to_numpy()

    bad = (unread(values) & unread(stripped)).nonzero()[0]
    return values[bad[0]] if len(bad) else values[unread(stripped).nonzero()[0][0]]


class CsvSource:
    """A CSV file as a ``Source``: the whole file every time, and it replaces what is stored.

    ``column`` picks one symbol of a wide or long table (its spelling in the file: a column
    name, or a value of the symbol column); it is recorded, so `run` reads the same part."""

    name = "csv"
    incremental = False

    def __init__(
        self, path: str | Path, date_format: str | None = None, column: str | None = None
    ) -> None:
        self.ref = str(Path(path).expanduser().resolve())  # absolute path, read again by `run`
        self.date_format = date_format  # strptime format or "unix"; None: found from the file
        self.column = column  # the symbol's column (wide) or key (long); None: a one-symbol file
        recorded = {"date_format": date_format, "column": column}
        self.options = {k: v for k, v in recorded.items() if v} or None  # recorded

    @classmethod
    def from_record(
        cls, symbol: str, ref: str | None, options: dict | None, cache: object = None
    ) -> CsvSource:
        """The recorded file with its recorded options, as `run` reads it again; DataError
        in `run`'s words (it has no --csv option) when the file was not recorded or is gone."""
        if not ref:
            raise DataError(
                f"{symbol} was imported from a CSV file that was not recorded; "
                f"import it again with `stockcast fetch {symbol} --csv FILE`"
            )
        if not Path(ref).is_file():
            raise DataError(
                f"{symbol} was imported from {ref}, which is no longer there; put the file "
                f"back, or import it again with `stockcast fetch {symbol} --csv FILE`"
            )
        recorded = options or {}
        return cls(ref, recorded.get("date_format"), recorded.get("column"))

    @classmethod
    def fetch_command(cls, symbol: str, ref: str | None) -> str:
        return f"stockcast fetch {symbol} --csv {ref or 'FILE'}"

    def history(self, symbol: str, start: object = None, end: object = None) -> pd.DataFrame:
        """Every row of the file, or of its ``column`` (a CSV import has no date range)."""
        if self.column is None:
            return read_csv_prices(self.ref, self.date_format)
        table = read_csv_table(self.ref, self.date_format)
        if self.column not in table:
            raise DataError(
                f"{self.ref} no longer has {self.column!r}; import the file again with "
                "`stockcast fetch --csv FILE`"
            )
        return table[self.column]

    def describe(self, start: object, end: object) -> str:
        return self.ref if self.column is None else f"{self.ref} ({self.column})"

"""CSV import of each common format: every row read, dates right, columns mapped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stockcast.data.sources.csvfile import map_columns, read_csv_prices, sniff_delimiter
from stockcast.data.store import COLUMNS
from stockcast.data.validate import validate
from stockcast.errors import DataError, UsageError

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
FIRST, LAST = dt.date(2024, 1, 2), dt.date(2024, 1, 18)


@pytest.mark.parametrize(
    ("name", "has_adj", "has_volume"),
    [
        ("yahoo_iso.csv", True, True),
        ("yahoo_mdy.csv", True, True),
        ("stooq.csv", False, True),
        ("tradingview.csv", False, True),
        ("metatrader_comma.csv", False, True),
        ("metatrader_semicolon.csv", False, True),
        ("metatrader_tab.csv", False, True),
        ("pandas_unnamed.csv", True, True),
        ("nasdaq.csv", False, True),
        ("yfinance_download.csv", True, True),
        ("dmy_slash.csv", False, True),
        ("close_only.csv", False, False),
    ],
)
def test_every_format_imports_every_row(name: str, has_adj: bool, has_volume: bool) -> None:
    df = read_csv_prices(FIXTURES / name).sort_index()
    assert list(df.columns) == COLUMNS
    assert len(df) == 12
    assert (df.index[0].date(), df.index[-1].date()) == (FIRST, LAST)
    assert df.index.is_unique and df.index.dtype == "datetime64[ns]"
    row = df.loc["2024-01-02"]
    assert row["close"] == pytest.approx(185.0)
    assert row["adj_close"] == pytest.approx(184.7 if has_adj else 185.0)
    if name != "close_only.csv":
        assert (row["open"], row["high"], row["low"]) == pytest.approx((184.6, 186.2, 183.9))
    if has_volume:
        assert row["volume"] == 50_000_000
    assert (df["dividends"] == 0).all() and (df["splits"] == 0).all()


def test_missing_open_high_low_come_from_close_and_volume_is_unknown() -> None:
    """The reader leaves them missing; validation sets them to the close and counts the rows."""
    df = read_csv_prices(FIXTURES / "close_only.csv")
    assert df[["open", "high", "low", "volume"]].isna().all().all()
    clean, report = validate(df)
    assert (clean["open"] == clean["close"]).all() and (clean["high"] == clean["close"]).all()
    assert report.filled_prices == len(clean) and report.filled_columns == ["open", "high", "low"]
    assert clean["volume"].isna().all()


def test_metatrader_uses_real_volume_not_tick_volume() -> None:
    df = read_csv_prices(FIXTURES / "metatrader_semicolon.csv")
    assert df["volume"].iloc[0] == 50_000_000


def test_ambiguous_day_month_asks_for_date_format() -> None:
    with pytest.raises(DataError, match="--date-format"):
        read_csv_prices(FIXTURES / "ambiguous_dmy.csv")
    df = read_csv_prices(FIXTURES / "ambiguous_dmy.csv", date_format="%d/%m/%Y")
    assert [d.date() for d in df.index] == [dt.date(2024, 1, d) for d in (2, 3, 4)]


def test_date_format_that_does_not_fit_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="does not read"):
        read_csv_prices(FIXTURES / "stooq.csv", date_format="%d/%m/%Y")


def test_date_format_error_names_the_row_it_cannot_read(tmp_path: Path) -> None:
    # the format reads the first rows once their time of day is set aside: the third is named
    text = "Date,Close\n2020-01-02 00:00,1\n2020-01-03 00:00,2\n2020-13-06 00:00,3\n"
    with pytest.raises(UsageError, match="does not read '2020-13-06 00:00'"):
        read_csv_prices(_write(tmp_path, text), date_format="%Y-%m-%d")


def test_unix_date_format_override() -> None:
    df = read_csv_prices(FIXTURES / "tradingview.csv", date_format="unix")
    assert df.index[0].date() == FIRST


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "is empty"),
        ("no_close.csv", "no close column"),
        ("does_not_exist.csv", "no file at"),
    ],
)
def test_clear_errors(name: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_csv_prices(FIXTURES / name)


def test_unreadable_dates(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Date,Close\nsoon,1\nlater,2\n")
    with pytest.raises(DataError, match="cannot read the dates"):
        read_csv_prices(path)


def test_no_date_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Symbol,Close\nA,1\n")
    with pytest.raises(DataError, match="no date column"):
        read_csv_prices(path)


def test_header_aliases_prefer_the_exact_name() -> None:
    cols = ["Price", "Adj Close", "Close", "High", "Low", "Open", "Volume"]
    m = map_columns(cols)
    assert m["close"] == "Close" and m["date"] == "Price" and m["adj_close"] == "Adj Close"
    assert map_columns(["Date", "Price", "Open"])["close"] == "Price"
    assert map_columns(["<DATE>", "<TIME>", "<CLOSE>", "<TICKVOL>"]) == {
        "date": "<DATE>",
        "close": "<CLOSE>",
    }


def test_delimiter_sniffing() -> None:
    assert sniff_delimiter("a;b;c\n1;2,5;3\n") == ";"
    assert sniff_delimiter("a\tb\n1\t2\n") == "\t"
    assert sniff_delimiter('Date,Volume\n2024-01-02,"1,000"\n') == ","


def test_nulls_become_nan_and_are_left_to_validation(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Date,Open,Close\n2024-01-02,null,10\n2024-01-03,1,null\n")
    df = read_csv_prices(path)
    assert df["close"].isna().sum() == 1 and len(df) == 2


def test_date_format_is_recorded_and_reused_when_the_file_is_read_again(
    stockcast_home: Path, tmp_path: Path
) -> None:
    """A cron re-read of an ambiguous file needs the --date-format given at import."""
    import shutil

    from stockcast.data.ingest import ingest_csv
    from stockcast.data.store import PriceStore

    src = tmp_path / "prices.csv"
    shutil.copy(FIXTURES / "ambiguous_dmy.csv", src)
    store = PriceStore(stockcast_home)
    ingest_csv(store, "ABC", src, date_format="%d/%m/%Y")
    assert store.info("ABC").source_options == {"date_format": "%d/%m/%Y"}
    src.write_text(src.read_text() + "05/01/2024,187.0\n")
    result = ingest_csv(store, "ABC", src)  # what `stockcast run` does: no format given
    assert result.rows_added == 1
    assert store.read("ABC").index[-1].date() == dt.date(2024, 1, 5)


# real-world shapes ---------------------------------------------------------------------------
def _write(tmp_path: Path, text: str, name: str = "x.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    "text",
    [
        # BOM, trailing blank and separator-only lines, quoted thousands in volume
        '\ufeffDate,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,"1,234,567"\n'
        '2024-01-03,1,2,0.5,1.6,"2,000,000"\n,,,,,\n\n\n',
        # a time and UTC offset after the date (pandas to_csv of a tz-aware index)
        "Date,Open,High,Low,Close,Volume\n2024-01-02 00:00:00-05:00,1,2,0.5,1.5,1234567\n"
        "2024-01-03 00:00:00-05:00,1,2,0.5,1.6,2000000\n",
        # newest first (Nasdaq.com), with padded and doubled spaces in the header
        " Date ,  Open,High , Low,  Close  ,  Volume \n2024-01-03,1,2,0.5,1.6,2000000\n"
        "2024-01-02,1,2,0.5,1.5,1234567\n",
        # a trailing separator on every row but not on the header
        "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,1234567,\n"
        "2024-01-03,1,2,0.5,1.6,2000000,\n",
        # European locale: ';' separator, decimal commas, dots grouping thousands
        "Date;Open;High;Low;Close;Volume\n2024-01-02;1,0;2,0;0,5;1,5;1.234.567\n"
        "2024-01-03;1;2;0,5;1,6;2.000.000\n",
        # Excel's separator hint on the first line
        "sep=;\nDate;Open;High;Low;Close;Volume\n2024-01-02;1;2;0,5;1,5;1234567\n"
        "2024-01-03;1;2;0,5;1,6;2000000\n",
    ],
    ids=[
        "bom-blank-thousands",
        "tz-offset",
        "descending-spaces",
        "trailing-sep",
        "decimal-comma",
        "excel-sep-hint",
    ],
)
def test_real_world_shapes(tmp_path: Path, text: str) -> None:
    df = read_csv_prices(_write(tmp_path, text)).sort_index()
    assert list(df.index.date) == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert df["close"].tolist() == [1.5, 1.6]
    assert df["low"].tolist() == [0.5, 0.5] and df["high"].tolist() == [2.0, 2.0]
    assert df["volume"].tolist() == [1_234_567, 2_000_000]


def test_utf16_file_from_excel(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffDate\tClose\n2024-01-02\t1.5\n", encoding="utf-16-le")
    assert read_csv_prices(path)["close"].tolist() == [1.5]


def test_thousands_commas_are_not_decimal_commas(tmp_path: Path) -> None:
    text = 'Date,Close,Volume\n2024-01-02,"1,234.50","1,000"\n2024-01-03,"1,240","2,000"\n'
    df = read_csv_prices(_write(tmp_path, text))
    assert df["close"].tolist() == [1234.5, 1240.0] and df["volume"].tolist() == [1000, 2000]


def test_investing_com_volumes_with_k_m_b_suffixes_are_read(tmp_path: Path) -> None:
    """Investing.com writes volumes as 19.40M (they were dropped without a note, issue 23);
    a K, M or B suffix is read in the volume column only."""
    text = (
        '"Date","Price","Open","High","Low","Vol.","Change %"\n'
        '"01/04/2024","370.87","373.42","373.76","368.84","19.40M","-0.72%"\n'
        '"01/03/2024","373.55","378.58","379.90","372.87","950.5K","-0.01%"\n'
        '"01/02/2024","374.58","376.18","378.07","371.63","1.2B","-1.37%"\n'
    )
    df = read_csv_prices(_write(tmp_path, text), date_format="%m/%d/%Y").sort_index()
    assert df["volume"].tolist() == [1_200_000_000, 950_500, 19_400_000]
    assert df["close"].tolist() == [374.58, 373.55, 370.87]
    bad = "Date,Close,Volume\n2024-01-02,1.5M,10\n"  # a suffix on a price is not a price
    with pytest.raises(DataError, match="no numeric close"):
        read_csv_prices(_write(tmp_path, bad, name="bad.csv"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date,Close\n2024-01-02,1\n2024-01-03,2,3,4\n", "cannot read .* as a table"),
        ("Date,Close, Close\n2024-01-02,1,2\n", "two columns that both read as 'Close'"),
    ],
)
def test_malformed_tables_fail_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        read_csv_prices(_write(tmp_path, text))
    assert "\n" not in str(info.value)


# unix timestamps: the session date, not always the UTC date --------------------------------
def _stamps(*utc: str) -> str:
    rows = [
        f"{int(dt.datetime.fromisoformat(t + '+00:00').timestamp())},{i + 1}"
        for i, t in enumerate(utc)
    ]
    return "time,close\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    ("utc", "sessions"),
    [
        # New York, stamped at the open (14:30 UTC): the UTC date, Friday stays Friday
        (["2024-01-05 14:30", "2024-01-08 14:30"], ["2024-01-05", "2024-01-08"]),
        # Sydney, stamped at the 10:00 open: 23:00 UTC the day before in summer (AEDT),
        # 00:00 UTC in winter (AEST); Monday's bar is stamped on Sunday in UTC
        (["2024-01-04 23:00", "2024-01-07 23:00"], ["2024-01-05", "2024-01-08"]),
        (["2024-07-05 00:00", "2024-07-08 00:00"], ["2024-07-05", "2024-07-08"]),
        # Tokyo, stamped at local midnight (15:00 UTC the day before)
        (["2024-01-04 15:00", "2024-01-07 15:00"], ["2024-01-05", "2024-01-08"]),
        # crypto, 00:00 UTC every day including weekends
        (["2024-01-06 00:00", "2024-01-07 00:00"], ["2024-01-06", "2024-01-07"]),
    ],
    ids=["new-york-open", "sydney-summer", "sydney-winter", "tokyo-midnight", "crypto-utc"],
)
def test_unix_seconds_become_the_exchange_session_date(
    tmp_path: Path, utc: list[str], sessions: list[str]
) -> None:
    path = _write(tmp_path, _stamps(*utc))
    for fmt in (None, "unix"):
        df = read_csv_prices(path, fmt)
        assert [d.isoformat() for d in df.index.date] == sessions


@pytest.mark.parametrize(
    ("stamps", "sessions"),
    [
        (["2024-01-04T23:00:00Z", "2024-01-07T23:00:00Z"], ["2024-01-05", "2024-01-08"]),
        (["2024-01-05 14:30:00+00:00", "2024-01-08 14:30:00 UTC"], ["2024-01-05", "2024-01-08"]),
        (["2024-01-06 00:00:00+00:00", "2024-01-07 00:00:00+00:00"], ["2024-01-06", "2024-01-07"]),
        # a local offset: the date as written is the session date
        (["2024-01-05 10:00:00+11:00", "2024-01-08 10:00:00+11:00"], ["2024-01-05", "2024-01-08"]),
    ],
    ids=["sydney-iso-z", "new-york-utc", "crypto-midnight", "local-offset"],
)
def test_iso_times_in_utc_follow_the_unix_rule(
    tmp_path: Path, stamps: list[str], sessions: list[str]
) -> None:
    text = "time,close\n" + "".join(f"{s},{i + 1}\n" for i, s in enumerate(stamps))
    df = read_csv_prices(_write(tmp_path, text))
    assert [d.isoformat() for d in df.index.date] == sessions


def test_a_stray_footer_row_is_dropped_and_counted(tmp_path: Path) -> None:
    from stockcast.data.validate import validate

    src = (FIXTURES / "yahoo_iso.csv").read_text().rstrip("\n")
    path = _write(tmp_path, src + "\n* Close price adjusted for splits.,,,,,,\n")
    clean, report = validate(read_csv_prices(path))
    assert len(clean) == 12 and report.bad_dates == 1


def test_many_unreadable_dates_name_one_of_them(tmp_path: Path) -> None:
    text = "Date,Close\n2024-01-02,1\n2024-01-03,2\nsoon,3\nlater,4\n"
    with pytest.raises(DataError, match=r"cannot read the dates .*'soon'.*--date-format"):
        read_csv_prices(_write(tmp_path, text))

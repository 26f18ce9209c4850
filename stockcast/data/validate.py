"""Checks and repairs applied to every ingested price frame. Pure: no disk, no network, no printing.

``validate(df)`` returns the cleaned frame and a ``ValidationReport`` that counts every row
dropped or repaired, so that the CLI can tell the user; nothing is changed silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockcast.data.store import COLUMNS

ABSURD_MOVE = math.log(3.0)  # |log return| above this in one session is flagged
_PRICES = ["open", "high", "low", "close"]


@dataclass
class ValidationReport:
    """Counts of what ``validate`` dropped, repaired or flagged."""

    bad_dates: int = 0  # rows without a parseable session date: dropped
    duplicates: int = 0  # repeated sessions: dropped, the last of each kept
    bad_close: int = 0  # close missing, zero or negative: dropped
    filled_prices: int = 0  # rows with open/high/low missing or non-positive: set to the close
    filled_adj_close: int = 0  # adj_close missing or non-positive: rebuilt from the nearby ratio
    high_low_repaired: int = 0  # high below max(open, close) or low above min(open, close): widened
    negative_volume: int = 0  # negative volume: set to unknown (NaN)
    infinite_volume: int = 0  # infinite volume ("inf" in a file): set to unknown (NaN)
    absurd_moves: int = 0  # |log return| > log(3) not explained by a split: kept, flagged
    absurd_dates: list[str] = field(default_factory=list)  # the first few flagged sessions
    incomplete_rows: int = 0  # a last line without its line end (a file cut mid-write): dropped
    future_sessions: int = 0  # dated after the last completed session (unfinished): dropped
    future_dates: list[str] = field(default_factory=list)  # the first few of them
    # open/high/low without a value in any row (a source without those columns): all from the close
    filled_columns: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The non-zero counts, by kind (the ``issues`` object of ``fetch --json``)."""
        d = {k: v for k, v in self.__dict__.items() if isinstance(v, int) and v}
        return d

    def lines(self) -> list[str]:
        """One human sentence per non-zero kind."""
        out = []
        for key, value in self.counts().items():
            text = _MESSAGES[key].format(n=value, s="" if value == 1 else "s")
            dates = {"absurd_moves": self.absurd_dates, "future_sessions": self.future_dates}
            if dates.get(key):
                text += f" ({', '.join(dates[key])}{', ...' if value > 5 else ''})"
            if key == "filled_prices" and self.filled_columns:
                text += f" ({_no_columns(self.filled_columns)}; range features read zero)"
            out.append(text)
        return out


_MESSAGES = {
    "bad_dates": "{n} row{s} without a valid date dropped",
    "duplicates": "{n} duplicate session{s} dropped (kept the last of each)",
    "bad_close": "{n} row{s} with a missing, zero or negative close dropped",
    "filled_prices": "{n} row{s} with a missing or non-positive open/high/low set to the close",
    "filled_adj_close": "{n} missing adjusted close{s} rebuilt from the neighbouring adjustment",
    "high_low_repaired": "{n} row{s} with high/low not enclosing open and close widened",
    "negative_volume": "{n} negative volume{s} set to unknown",
    "infinite_volume": "{n} infinite volume{s} set to unknown",
    "absurd_moves": "{n} one-day move{s} above 3x not explained by a split (kept, check them)",
    "incomplete_rows": "{n} last line without a line end dropped (the file may be cut mid-write)",
    "future_sessions": "{n} row{s} dated after the last completed session dropped "
    "(a session not closed yet, or a wrong date)",
}


def _no_columns(cols: list[str]) -> str:
    """``["open", "high", "low"]`` -> ``"no open, high or low in the source"``."""
    names = ", ".join(cols[:-1]) + " or " + cols[-1] if len(cols) > 1 else cols[0]
    return f"no {names} in the source"


def validate(df: pd.DataFrame) -> tuple[pd.DataFrame, ValidationReport]:
    """Clean a frame in the store schema; return it with the report of every change.

    >>> clean, report = validate(frame)   # doctest: +SKIP
    >>> report.counts()                   # doctest: +SKIP
    {'duplicates': 1}
    """

    rep = ValidationReport()
    out = df.reindex(columns=COLUMNS).astype("float64")
    out.index = pd.DatetimeIndex(out.index).astype("datetime64[ns]").normalize()
    out.index.name = "date"

    nat = out.index.isna()
    rep.bad_dates = int(nat.sum())
    out = out[~nat]
    out = out.sort_index(kind="stable")
    dup = out.index.duplicated(keep="last")
    rep.duplicates = int(dup.sum())
    out = out[~dup]

    prices = [*_PRICES, "adj_close"]
    out[prices] = out[prices].replace([np.inf, -np.inf], np.nan)  # "inf" in a CSV file
    bad_close = ~(out["close"] > 0)  # catches NaN (and so infinity) too
    rep.bad_close = int(bad_close.sum())
    out = out[~bad_close].copy()

    ohl = ["open", "high", "low"]
    bad_ohl = ~(out[ohl] > 0)  # catches NaN (a column the source does not have) too
    rep.filled_prices = int(bad_ohl.any(axis=1).sum())
    rep.filled_columns = [c for c in ohl if len(out) and bool(bad_ohl[c].all())]
    for col in ohl:
        out.loc[bad_ohl[col], col] = out.loc[bad_ohl[col], "close"]

    ratio = out["adj_close"] / out["close"]
    bad_adj = ~(ratio > 0) | ~np.isfinite(ratio)
    rep.filled_adj_close = int(bad_adj.sum())
    if rep.filled_adj_close:
        ratio = ratio.where(~bad_adj).ffill().bfill().fillna(1.0)
        out["adj_close"] = out["close"] * ratio

    top = out[["open", "close"]].max(axis=1)
    bottom = out[["open", "close"]].min(axis=1)
    fix = (out["high"] < top) | (out["low"] > bottom)
    rep.high_low_repaired = int(fix.sum())
    out["high"] = np.maximum(out["high"], top)
    out["low"] = np.minimum(out["low"], bottom)

    neg = out["volume"] < 0
    rep.negative_volume = int(neg.sum())
    out.loc[neg, "volume"] = np.nan
    inf = np.isinf(out["volume"].to_numpy(dtype=float))
    rep.infinite_volume = int(inf.sum())
    out.loc[inf, "volume"] = np.nan

    out[["dividends", "splits"]] = out[["dividends", "splits"]].fillna(0.0)
    flagged = absurd_moves(out)
    rep.absurd_moves = len(flagged)
    rep.absurd_dates = [d.date().isoformat() for d in flagged[:5]]
    return out, rep


def absurd_moves(df: pd.DataFrame) -> pd.DatetimeIndex:
    """Sessions whose close moved more than 3x (up or down) with no split that day."""

    logret = np.log(df["close"]).diff().abs()
    mask = (logret > ABSURD_MOVE) & ~(df["splits"] > 0)
    return df.index[mask.to_numpy()]

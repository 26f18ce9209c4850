"""A price source as a third-party package would ship it: no stockcast import, no opener (the
registry calls the class with no arguments). The dist-info beside it registers the class under
the ``stockcast.sources`` entry point as "feed" (tests/test_source_plugins.py puts this folder
on sys.path)."""

from __future__ import annotations

import pandas as pd

LAST = "2024-02-01"  # the last session it serves; tests move it on
ASKED: list[tuple[str, object, object]] = []  # (symbol, start, end) of each request


class FeedSource:
    """Closes rising by 1 a session from 100, on weekdays from 2024-01-02 to ``LAST``."""

    name = "feed"
    incremental = True
    ref = None
    options = None

    def history(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        ASKED.append((symbol, start, end))
        days = pd.bdate_range("2024-01-02", LAST, name="date")
        close = 100.0 + pd.Series(range(len(days)), index=days, dtype=float)
        frame = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1,
                              "close": close, "adj_close": close, "volume": 1e6,
                              "dividends": 0.0, "splits": 0.0})  # fmt: skip
        if start is not None:
            frame = frame[frame.index >= pd.Timestamp(start)]
        if end is not None:
            frame = frame[frame.index <= pd.Timestamp(end)]
        return frame

    def describe(self, start, end) -> str:
        return "the test feed"

"""The bundled offline sample: real MSFT daily prices, 1986-2017 (see sample/README.md)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from stockcast.errors import UsageError

SAMPLE_SYMBOL = "MSFT"


def load_sample() -> pd.DataFrame:
    """The sample in the store's schema. Its prices are already split- and dividend-adjusted."""
    with resources.files("stockcast.sample").joinpath("MSFT.csv").open("rb") as fh:
        raw = pd.read_csv(fh, parse_dates=["Date"])
    df = pd.DataFrame(
        {
            "open": raw["Open"].astype(float),
            "high": raw["High"].astype(float),
            "low": raw["Low"].astype(float),
            "close": raw["Close"].astype(float),
            "adj_close": raw["Close"].astype(float),
            "volume": raw["Volume"].astype(float),
            "dividends": 0.0,
            "splits": 0.0,
        }
    )
    df.index = pd.DatetimeIndex(raw["Date"], name="date").astype("datetime64[ns]")
    return df


class SampleSource:
    """The bundled sample as a ``Source``: MSFT only, always the same rows."""

    name = "sample"
    incremental = False
    static = True  # always the same rows: `run` has nothing to refresh
    ref = None
    options = None

    @classmethod
    def fetch_command(cls, symbol: str, ref: str | None) -> str:
        return "stockcast fetch --sample"

    def history(self, symbol: str, start: object = None, end: object = None) -> pd.DataFrame:
        """The whole sample; it holds ``SAMPLE_SYMBOL`` only."""
        if symbol != SAMPLE_SYMBOL:
            raise UsageError(f"the bundled sample holds {SAMPLE_SYMBOL} only, not {symbol}")
        return load_sample()

    def describe(self, start: object, end: object) -> str:
        return "the bundled sample"

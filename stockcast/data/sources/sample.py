"""The bundled offline sample: real MSFT daily prices, 1986-2017 (see sample/README.md)."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SYMBOL = "MSFT"


def load_sample() -> pd.DataFrame:
    """The sample in the store's schema. Its prices are already split- and dividend-adjusted."""
    import pandas as pd

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

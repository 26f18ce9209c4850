"""Does a saved model still describe the stored history? The split it was evaluated on must
still be there, session for session: a history rewritten since (a re-import, `fetch --replace`)
makes its test metrics, calibration and bands describe other data. `evaluate` and `predict`
refuse such a model alike. Torch-free (`predict` runs without torch).
"""

from __future__ import annotations

import pandas as pd

from stockcast.errors import ModelError
from stockcast.models.manifest import Manifest
from stockcast.prep import features
from stockcast.prep.windows import PARTS


def parts_from_split(
    symbol: str, dates: pd.DatetimeIndex, split: dict, horizon: int
) -> dict[str, range]:
    """As-of index ranges of the stored split, located in the current session dates."""
    parts = {}
    for name in PARTS:
        info = split.get(name, {"n": 0})
        if not info.get("n"):
            parts[name] = range(0)
            continue
        lo, hi = (dates.searchsorted(pd.Timestamp(info[k])) for k in ("start", "end"))
        if (
            hi >= len(dates)
            or dates[lo] != pd.Timestamp(info["start"])
            or dates[hi] != pd.Timestamp(info["end"])
            or hi - lo + 1 != info["n"]
            or hi + horizon >= len(dates)
        ):
            raise ModelError(
                f"the stored prices of {symbol} no longer match the {name} period the model was "
                f"trained with ({info['start']} to {info['end']}); run `stockcast train {symbol}`"
            )
        parts[name] = range(lo, hi + 1)
    return parts


def check_split_stored(symbol: str, prices: pd.DataFrame, manifest: Manifest) -> None:
    """ModelError naming `stockcast train` when the stored sessions no longer hold the model's
    evaluated split (``parts_from_split``: the same check as `evaluate`)."""
    cfg = manifest.data
    dates = prices.index[features.warmup(cfg.features) :]
    split = manifest.series_of(symbol).split_json()
    parts_from_split(symbol, dates, split, cfg.horizon)

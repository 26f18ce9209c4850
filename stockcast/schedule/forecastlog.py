"""The forecast log: every forecast that `predict` and `run` made, one Parquet file per symbol.

``<data>/forecasts/<SYMBOL>.parquet``, long format: one row per (forecast, level), so that any
set of levels fits (a forecast without intervals has one row with ``level`` NaN):

    made_at     timestamp (UTC)  when the forecast was made
    model       string   the model id
    as_of       date     the last stored session the forecast was made from
    target      date     the session forecast
    h           int      sessions from as_of to target (1 = the next session)
    close       float    predicted close, in the prices of as_of
    last_close  float    the close at as_of that the forecast started from
    level       float    interval level (0.9 = 90%), NaN when none
    lower       float    lower bound at that level
    upper       float    upper bound at that level
    stale       bool     prices could not be refreshed; made from older stored data
    origin      string   "predict" or "run"

Appending reads the log, adds the new rows, de-duplicates on (model, as_of, target, level)
keeping the latest row (a later forecast at other levels keeps the earlier rows of the levels it
lacks), and atomically rewrites the file, under a per-symbol lock: two processes appending at
once both land, and a process killed mid-write leaves the previous log.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.data.fsutil import (
    DEFAULT_LOCK_TIMEOUT,
    FORECAST_LOG_LIMIT,
    atomic_write,
    locked,
    open_stored,
)
from stockcast.data.paths import normalize_symbol, symbol_file, symbols_in
from stockcast.errors import DataError

COLUMNS = [
    "made_at",
    "model",
    "as_of",
    "target",
    "h",
    "close",
    "last_close",
    "level",
    "lower",
    "upper",
    "stale",
    "origin",
    "ewma_lower",
    "ewma_upper",
]
# the EWMA band of the same forecast and level (the baseline `score` compares the band with);
# logs written before it existed read as NaN
OPTIONAL = ("ewma_lower", "ewma_upper")
KEY = ["model", "as_of", "target"]  # one forecast of one session
ROW_KEY = [*KEY, "level"]  # one row of the log: a forecast at one interval level
_DTYPES = {
    "model": "string",
    "h": "int64",
    "close": "float64",
    "last_close": "float64",
    "level": "float64",
    "lower": "float64",
    "upper": "float64",
    "stale": "bool",
    "origin": "string",
    "ewma_lower": "float64",
    "ewma_upper": "float64",
}


def log_path(root: Path, symbol: str) -> Path:
    """``<data>/forecasts/<SYMBOL>.parquet``."""
    return symbol_file(Path(root), symbol, "forecasts", ".parquet")


def symbols(root: Path) -> list[str]:
    """Symbols that have a forecast log."""
    return symbols_in(root, "forecasts")


def empty() -> pd.DataFrame:
    """A log with no rows, in the log's schema."""

    return normalize(pd.DataFrame({c: [] for c in COLUMNS}))


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly the log's columns and dtypes (dates as tz-naive midnight)."""

    frame = frame.assign(**{c: np.nan for c in OPTIONAL if c not in frame.columns})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"forecast rows lack columns {missing}")
    out = frame[COLUMNS].copy()
    out["made_at"] = pd.to_datetime(out["made_at"], utc=True).astype("datetime64[us, UTC]")
    for col in ("as_of", "target"):
        out[col] = pd.to_datetime(out[col]).dt.normalize().astype("datetime64[ns]")
    return out.astype(_DTYPES).reset_index(drop=True)


def read(root: Path, symbol: str) -> pd.DataFrame:
    """The log of ``symbol`` (empty when nothing was logged yet)."""

    path = log_path(root, symbol)
    fix = "move it aside (new forecasts start a fresh log)"
    try:
        with open_stored(path, root, FORECAST_LOG_LIMIT, fix) as fh:
            log = normalize(pd.read_parquet(fh))
    except FileNotFoundError:
        return empty()
    except DataError:
        raise
    except Exception as exc:  # damaged, foreign or unreadable: never expected, writes are atomic
        raise DataError(
            f"forecast log {path} is unreadable ({exc.__class__.__name__}); "
            "move it aside (new forecasts start a fresh log)"
        ) from None
    problem = damage(log)
    if problem:
        raise DataError(
            f"forecast log {path} is damaged ({problem}); "
            "move it aside (new forecasts start a fresh log)"
        )
    return log


def damage(log: pd.DataFrame) -> str | None:
    """What no writer of the log produces (pure), or None: closes that are not finite and
    positive, a horizon below 1, a target not after its as-of session, a level outside (0, 1),
    bounds that are not finite or reversed."""
    checks = {
        "closes that are not finite and positive": ~(
            np.isfinite(log["close"])
            & (log["close"] > 0)
            & np.isfinite(log["last_close"])
            & (log["last_close"] > 0)
        ),
        "a horizon below 1": log["h"] < 1,
        "a target session not after its as-of session": ~(log["target"] > log["as_of"]),
        "a level outside (0, 1)": log["level"].notna() & ~log["level"].between(0, 1, "neither"),
        "bounds that are not finite or reversed": log["level"].notna()
        & ~(np.isfinite(log["lower"]) & np.isfinite(log["upper"]) & (log["lower"] <= log["upper"])),
    }
    for what, bad in checks.items():
        if bool(bad.fillna(True).any()):
            return what
    return None


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` plus ``new``; per (model, as_of, target, level) only the latest row stays (pure).

    The latest is the one with the largest ``made_at``; on a tie, the one from ``new``. Levels
    that only ``old`` has for a forecast are kept.
    """

    both = pd.concat([normalize(old).assign(_new=0), normalize(new).assign(_new=1)])
    both["_rank"] = list(zip(both["made_at"], both["_new"], strict=True))
    best = both.groupby(ROW_KEY, dropna=False)["_rank"].transform("max")
    kept = both[both["_rank"] == best].drop(columns=["_rank", "_new"])
    kept = kept.sort_values(["as_of", "target", "made_at", "level"], kind="stable")
    return kept.reset_index(drop=True)


def append(
    root: Path, symbol: str, rows: pd.DataFrame, timeout: float = DEFAULT_LOCK_TIMEOUT
) -> int:
    """Add forecast ``rows`` to the log of ``symbol``; returns the number of rows in the log.

    Safe against concurrent appenders (a per-symbol lock) and against a kill mid-write (the
    file is replaced atomically). A log that cannot be read or written raises DataError and
    leaves the file as it was.
    """
    sym = normalize_symbol(symbol)
    root = Path(root)
    lock = symbol_file(root, sym, "locks", ".forecasts.lock")
    path = log_path(root, sym)
    try:
        with locked(lock, f"the forecast log of {sym}", timeout):
            merged = merge(read(root, sym), rows)
            atomic_write(path, lambda fh: merged.to_parquet(fh, index=False))
    except OSError as exc:  # read-only, full disk, a folder in the way
        raise DataError(
            f"cannot write the forecast log {path} ({exc.strerror or exc.__class__.__name__}); "
            "check the permissions and free space of the data directory"
        ) from None
    return len(merged)

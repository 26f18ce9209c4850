"""Feature registry: pure pandas functions of adjusted OHLCV, causal by construction.

Every feature at session t uses data up to and including t only (a property test truncates the
series and checks that earlier values never change). Rows before a feature has enough history
are NaN; ``warmup(names)`` says how many leading rows that is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockcast.errors import DataError, UsageError

VOL_WINDOW = 20  # sessions in the rolling volatility
MA_WINDOW = 20  # sessions in the moving average of ma_distance
RSI_WINDOW = 14  # Wilder's smoothing length of rsi
VOLUME_CLIP = 5.0  # |log volume change| is clipped here (a zero-volume day is not infinite news)
HAR_WINDOWS = (5, 22)  # sessions in the weekly and monthly HAR averages (Corsi 2009)
_PARKINSON = 1.0 / (4.0 * np.log(2.0))  # E[ln(H/L)^2] = 4 ln 2 sigma^2 for a Brownian path


@dataclass(frozen=True)
class Feature:
    """One entry of the registry, as `stockcast features` lists it."""

    name: str  # the name used in --features and in manifests
    formula: str  # human-readable definition on adjusted prices
    window: int  # sessions of history one value needs (1 = the session alone)
    default: bool  # on when --features is not given
    fn: Callable[[pd.DataFrame], pd.Series]  # adjusted OHLCV frame -> feature series


def adjusted(prices: pd.DataFrame) -> pd.DataFrame:
    """Adjusted OHLC (raw x adj_close / close) and volume, same index."""

    ratio = prices["adj_close"] / prices["close"]
    return pd.DataFrame(
        {
            "open": prices["open"] * ratio,
            "high": prices["high"] * ratio,
            "low": prices["low"] * ratio,
            "close": prices["adj_close"],
            "volume": prices["volume"],
        },
        index=prices.index,
    )


def _log_return(a: pd.DataFrame) -> pd.Series:
    return np.log(a["close"]).diff()


def _hl_pct(a: pd.DataFrame) -> pd.Series:
    return (a["high"] - a["low"]) / a["close"] * 100.0


def _pct_change(a: pd.DataFrame) -> pd.Series:
    return (a["close"] - a["open"]) / a["open"] * 100.0


def _log_volume_change(a: pd.DataFrame) -> pd.Series:
    logv = np.log1p(a["volume"].clip(lower=0.0))
    change = logv.diff().fillna(0.0).clip(-VOLUME_CLIP, VOLUME_CLIP)
    change.iloc[:1] = np.nan  # the first session has no previous one
    return change


def _volatility(a: pd.DataFrame) -> pd.Series:
    return _log_return(a).rolling(VOL_WINDOW, min_periods=VOL_WINDOW).std()


def _ma_distance(a: pd.DataFrame) -> pd.Series:
    return a["close"] / a["close"].rolling(MA_WINDOW, min_periods=MA_WINDOW).mean() - 1.0


def _rsi(a: pd.DataFrame) -> pd.Series:
    delta = a["close"].diff()
    alpha = 1.0 / RSI_WINDOW
    gain = delta.clip(lower=0.0).ewm(alpha=alpha, adjust=False, min_periods=RSI_WINDOW).mean()
    loss = (-delta).clip(lower=0.0).ewm(alpha=alpha, adjust=False, min_periods=RSI_WINDOW).mean()
    total = gain + loss
    return (100.0 * gain / total.where(total > 0)).fillna(50.0).where(gain.notna())


# Volatility features, in daily log-return units (the std of a day's log return, comparable with
# ewma_volatility). The range estimators see the day's bar only: Parkinson (1980) from high and
# low; Garman-Klass (1980) and Rogers-Satchell (1991) add open and close; none counts the
# overnight gap, which is a feature of its own.


def _parkinson_var(a: pd.DataFrame) -> pd.Series:
    return _PARKINSON * np.log(a["high"] / a["low"]) ** 2


def _parkinson_vol(a: pd.DataFrame) -> pd.Series:
    return np.sqrt(_parkinson_var(a))


def _garman_klass_vol(a: pd.DataFrame) -> pd.Series:
    hl, co = np.log(a["high"] / a["low"]), np.log(a["close"] / a["open"])
    var = 0.5 * hl**2 - (2.0 * np.log(2.0) - 1.0) * co**2
    return np.sqrt(var.clip(lower=0.0))  # a bar with close-open beyond the range reads zero


def _rogers_satchell_vol(a: pd.DataFrame) -> pd.Series:
    h, lo, o, c = (np.log(a[k]) for k in ("high", "low", "open", "close"))
    var = (h - c) * (h - o) + (lo - c) * (lo - o)  # >= 0 when high/low enclose open and close
    return np.sqrt(var.clip(lower=0.0))


def _parkinson_har(n: int) -> Callable[[pd.DataFrame], pd.Series]:
    def fn(a: pd.DataFrame) -> pd.Series:
        return np.sqrt(_parkinson_var(a).rolling(n, min_periods=n).mean())

    return fn


def _abs_return(a: pd.DataFrame) -> pd.Series:
    return _log_return(a).abs()


def _abs_return_har(n: int) -> Callable[[pd.DataFrame], pd.Series]:
    def fn(a: pd.DataFrame) -> pd.Series:
        return _abs_return(a).rolling(n, min_periods=n).mean()

    return fn


def _overnight_gap(a: pd.DataFrame) -> pd.Series:
    return np.log(a["open"] / a["close"].shift(1))


_W, _M = HAR_WINDOWS
_VOLATILITY = [
    Feature(
        "parkinson_vol", "Parkinson range vol: sqrt(ln(H/L)^2 / (4 ln 2))", 1, False, _parkinson_vol
    ),
    Feature(
        "garman_klass_vol",
        "Garman-Klass vol: sqrt(ln(H/L)^2 / 2 - (2 ln 2 - 1) ln(C/O)^2)",
        1,
        False,
        _garman_klass_vol,
    ),
    Feature(
        "rogers_satchell_vol",
        "Rogers-Satchell vol: sqrt(ln(H/C) ln(H/O) + ln(L/C) ln(L/O))",
        1,
        False,
        _rogers_satchell_vol,
    ),
    Feature(
        f"parkinson_vol_{_W}",
        f"sqrt of the mean Parkinson variance over {_W} sessions",
        _W,
        False,
        _parkinson_har(_W),
    ),
    Feature(
        f"parkinson_vol_{_M}",
        f"sqrt of the mean Parkinson variance over {_M} sessions",
        _M,
        False,
        _parkinson_har(_M),
    ),
    Feature("abs_return", "|log(C[t] / C[t-1])|", 2, False, _abs_return),
    Feature(
        f"abs_return_{_W}",
        f"mean |log return| over {_W} sessions",
        _W + 1,
        False,
        _abs_return_har(_W),
    ),
    Feature(
        f"abs_return_{_M}",
        f"mean |log return| over {_M} sessions",
        _M + 1,
        False,
        _abs_return_har(_M),
    ),
    Feature("overnight_gap", "log(O[t] / C[t-1])", 2, False, _overnight_gap),
]

REGISTRY: dict[str, Feature] = {
    f.name: f
    for f in [
        Feature("log_return", "log(C[t] / C[t-1])", 2, True, _log_return),
        Feature("hl_pct", "(H - L) / C x 100", 1, True, _hl_pct),
        Feature("pct_change", "(C - O) / O x 100", 1, True, _pct_change),
        Feature(
            "log_volume_change",
            f"log1p(V[t]) - log1p(V[t-1]), clipped to +-{VOLUME_CLIP:g}",
            2,
            True,
            _log_volume_change,
        ),
        Feature(
            "volatility",
            f"std of log returns over {VOL_WINDOW} sessions",
            VOL_WINDOW + 1,
            False,
            _volatility,
        ),
        Feature("ma_distance", f"C / SMA{MA_WINDOW}(C) - 1", MA_WINDOW, False, _ma_distance),
        Feature("rsi", f"RSI({RSI_WINDOW}), Wilder smoothing, 0..100", RSI_WINDOW + 1, False, _rsi),
        *_VOLATILITY,
    ]
}
DEFAULT_FEATURES: tuple[str, ...] = tuple(n for n, f in REGISTRY.items() if f.default)
VOLATILITY_FEATURES: tuple[str, ...] = tuple(f.name for f in _VOLATILITY)
# the volatility features a close-only series can feed (the others need open, high and low)
RETURN_VOLATILITY_FEATURES: tuple[str, ...] = ("abs_return", f"abs_return_{_W}", f"abs_return_{_M}")


def parse_names(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """Feature names from ``"a,b"`` (or a list); the defaults for None; UsageError if unknown."""
    if text is None:
        return DEFAULT_FEATURES
    raw = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(n.strip() for n in raw if n.strip()))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise UsageError(
            f"unknown feature {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(REGISTRY)} (see `stockcast features`)"
        )
    return names


# Stored columns a feature reads besides the adjusted close.
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "hl_pct": ("high", "low"),
    "pct_change": ("open",),
    "log_volume_change": ("volume",),
    "parkinson_vol": ("high", "low"),
    "garman_klass_vol": ("open", "high", "low"),
    "rogers_satchell_vol": ("open", "high", "low"),
    f"parkinson_vol_{_W}": ("high", "low"),
    f"parkinson_vol_{_M}": ("high", "low"),
    "overnight_gap": ("open",),
}
# The volatility features that need real OHLC bars: for them an open, high or low that equals
# the close in every session (what validation stores for a source without that column) is absent,
# so a close-only series is refused them (overnight_gap would otherwise read the log return).
RANGE_VOLATILITY_FEATURES: tuple[str, ...] = tuple(
    n for n in VOLATILITY_FEATURES if n not in RETURN_VOLATILITY_FEATURES
)
_BAR = ("open", "high", "low")


def missing_inputs(prices: pd.DataFrame, names: Iterable[str]) -> dict[str, list[str]]:
    """Features among ``names`` whose stored input columns hold no value at all in ``prices``
    (a CSV without volume, say), each with the columns it lacks; for a range volatility
    feature an open/high/low filled from the close counts as lacking too."""
    missing = {
        n: [c for c in ("adj_close", *INPUT_COLUMNS.get(n, ())) if _absent(prices, c, n)]
        for n in names
    }
    return {n: cols for n, cols in missing.items() if cols}


def _absent(prices: pd.DataFrame, column: str, name: str) -> bool:
    values = prices[column]
    if not values.notna().any():
        return True
    if name not in RANGE_VOLATILITY_FEATURES or column not in _BAR or "close" not in prices:
        return False
    return bool((values.isna() | (values == prices["close"])).all())


def require_inputs(
    prices: pd.DataFrame,
    names: Iterable[str],
    symbol: str,
    who: str,
    last: int | None = None,
    command: str = "train",
) -> None:
    """DataError (one line naming the `--features` fix) when a feature among ``names`` reads a
    column that ``prices`` (its ``last`` rows, when given) lacks entirely; ``who`` starts the
    message, e.g. "model X uses"; ``command`` is the one to run again ("backtest"). The fix
    offers no feature that is zero on every stored session (``flat_features``), so following it
    does not meet a second refusal."""
    names = list(names)
    rows = prices if last is None else prices.iloc[-last:]
    missing = missing_inputs(rows, names)
    if not missing:
        return
    cols = " or ".join(sorted({c for m in missing.values() for c in m}))
    where = "" if last is None else f" in the last {last} sessions"
    rest = [n for n in names if n not in missing]
    flat = flat_features(build(prices, rest)) if rest else []
    verb = "reads" if len(flat) == 1 else "read"
    also = f", and {', '.join(flat)} {verb} zero ({_why_zero(flat)})" if flat else ""
    keep = [n for n in rest if n not in flat] or ["log_return"]
    them = "them" if len(missing) + len(flat) > 1 else "it"
    raise DataError(
        f"{who} {', '.join(missing)}, but the stored prices of {symbol} have no {cols}{where}"
        f"{_needs_ohlc(missing)}{also}; {command} without {them}: "
        f"`stockcast {command} {symbol} --features {','.join(keep)}`"
    )


def _needs_ohlc(missing: dict[str, list[str]]) -> str:
    """ " (range features need OHLC bars; ...)" when a range volatility feature lacks a column."""
    if not any(n in RANGE_VOLATILITY_FEATURES for n in missing):
        return ""
    return (
        " (range features need OHLC bars; the volatility features "
        f"{', '.join(RETURN_VOLATILITY_FEATURES)} need closes only)"
    )


def flat_features(table: pd.DataFrame) -> list[str]:
    """Columns of a feature table (``build``'s, or rows as ``windows.prepare`` returns them)
    that are zero, or have no value, in every row: ``hl_pct`` and ``pct_change`` of prices whose
    open, high and low were filled from the close, ``log_volume_change`` of a constant volume."""
    values = table.to_numpy(dtype=np.float64)
    silent = (values == 0) | ~np.isfinite(values)
    return [str(c) for c, flat in zip(table.columns, silent.all(axis=0), strict=True) if flat]


def usable_features(prices: pd.DataFrame, names: Iterable[str]) -> tuple[str, ...]:
    """``names`` without those ``prices`` cannot feed: an input column without any value
    (``missing_inputs``) or a value of zero in every session (``flat_features``)."""
    names = list(names)
    missing = missing_inputs(prices, names)
    rest = [n for n in names if n not in missing]
    flat = flat_features(build(prices, rest)) if rest else []
    return tuple(n for n in rest if n not in flat)


_ZERO_BECAUSE = {
    "hl_pct": "high = low",
    "pct_change": "open = close",
    **{n: "high = low" for n in ("parkinson_vol", "garman_klass_vol", "rogers_satchell_vol")},
    **{f"parkinson_vol_{w}": "high = low" for w in HAR_WINDOWS},
}


def _why_zero(flat: list[str]) -> str:
    """Why the features ``flat`` read zero, e.g. "high = low and open = close in the stored
    prices, as when an import without open/high/low filled them from the close"."""
    equal = list(dict.fromkeys(_ZERO_BECAUSE[n] for n in flat if n in _ZERO_BECAUSE))
    other = [n for n in flat if n not in _ZERO_BECAUSE]
    parts = []
    if equal:
        parts.append(
            f"{' and '.join(equal)} in the stored prices, as when an import without "
            "open/high/low filled them from the close"
        )
    if other:
        parts.append(f"the inputs of {', '.join(other)} never change")
    return "; ".join(parts)


def require_signal(rows: np.ndarray, names: Iterable[str], symbol: str) -> None:
    """DataError (one line naming the `--features` fix) when a chosen feature is zero in every
    row of ``rows`` (n, F), the feature rows a model's scaler is fitted on: a model learns
    nothing from an input that never changes (the range features of prices whose open, high
    and low an import filled from the close)."""
    names = list(names)
    flat = flat_features(pd.DataFrame(rows, columns=names))
    if not flat:
        return
    keep = [n for n in names if n not in flat] or ["log_return"]
    one = len(flat) == 1
    raise DataError(
        f"the chosen feature{'' if one else 's'} {', '.join(flat)} read{'s' if one else ''} zero "
        f"in every training session of {symbol} ({_why_zero(flat)}); leave "
        f"{'it' if one else 'them'} out: `--features {','.join(keep)}`"
    )


def warmup(names: Iterable[str]) -> int:
    """Leading rows that are NaN for at least one of ``names``."""
    return max(REGISTRY[n].window for n in names) - 1


def build(prices: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """One column per feature name, same index as ``prices``; NaN during warm-up."""

    names = parse_names(list(names))
    adj = adjusted(prices)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = {n: REGISTRY[n].fn(adj) for n in names}
    return pd.DataFrame(cols, index=prices.index).astype("float64")


def ewma_volatility(adj_close: pd.Series, halflife: float = 20) -> pd.Series:
    """EWMA standard deviation of daily log returns up to and including t (the interval scale)."""
    r = np.log(adj_close.astype("float64")).diff()
    return np.sqrt((r**2).ewm(halflife=halflife, adjust=True, min_periods=1).mean())


def check_closes(symbol: str, adj_close: pd.Series) -> None:
    """DataError when an adjusted close is missing or not positive (log returns need them)."""
    bad = ~(adj_close > 0)
    if bad.any():
        first = adj_close.index[bad.to_numpy()][0]
        raise DataError(
            f"{symbol} has {int(bad.sum())} sessions without a positive adjusted close "
            f"(first {first:%Y-%m-%d}); run `stockcast fetch {symbol} --full` to repair them"
        )

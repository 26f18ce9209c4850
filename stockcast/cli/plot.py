"""Forecast chart as PNG bytes: recent closes, the forecast path, one shaded band per level.

Headless (matplotlib's Agg canvas, no pyplot, no display needed); the caller writes the bytes.
Import this module only when a chart is asked for: matplotlib takes a while to import.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from stockcast.forecasting.forecast import HISTORY_SESSIONS  # closes shown before the forecast

_BAND_COLOR = "tab:orange"
_HISTORY_COLOR = "tab:blue"


@dataclass(frozen=True)
class Band:
    """One interval level along the forecast dates."""

    level: float  # e.g. 0.9
    lower: Sequence[float]  # one per forecast date
    upper: Sequence[float]


def render_png(
    *,
    symbol: str,
    model_id: str,
    history_dates: Sequence[dt.date],
    history_close: Sequence[float],
    dates: Sequence[dt.date],
    close: Sequence[float],
    bands: Sequence[Band],
    dpi: int = 110,
) -> bytes:
    """The chart as PNG bytes. The path and bands start at the last historical close.

    ``history_*`` are the stored sessions up to the as-of date (the last ``HISTORY_SESSIONS``
    are drawn); ``dates``/``close`` the forecast; ``bands`` are drawn widest (highest level)
    first so that narrower ones stay visible on top.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    hd = list(history_dates)[-HISTORY_SESSIONS:]
    hc = list(history_close)[-HISTORY_SESSIONS:]
    as_of, last = hd[-1], hc[-1]
    fx, fy = [as_of, *dates], [last, *close]

    fig = Figure(figsize=(9, 4.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(hd, hc, color=_HISTORY_COLOR, lw=1.4, label="close")
    ordered = sorted(bands, key=lambda b: -b.level)
    for i, band in enumerate(ordered):
        alpha = 0.15 + 0.2 * i / max(1, len(ordered) - 1) if len(ordered) > 1 else 0.25
        ax.fill_between(
            fx,
            [last, *band.lower],
            [last, *band.upper],
            color=_BAND_COLOR,
            alpha=alpha,
            lw=0,
            label=f"{band.level:.0%} interval",
        )
    ax.plot(fx, fy, color=_BAND_COLOR, lw=1.8, marker="o", ms=3, label="forecast")
    ax.axvline(as_of, color="0.4", ls="--", lw=1, label=f"as of {as_of}")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("session")
    ax.set_ylabel("adjusted close")
    ax.set_title(f"{symbol}: forecast of {len(dates)} sessions as of {as_of}  (model {model_id})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small", frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

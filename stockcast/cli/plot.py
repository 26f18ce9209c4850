"""Forecast chart as PNG, SVG or PDF bytes: recent closes, the forecast path, one shaded band
per level, the persistence line (the last close carried forward) to compare the path with, the
model's verdict in the title, and a mark when the data is stale.

Headless (matplotlib's Agg canvas, no pyplot, no display needed); the caller writes the bytes.
Import this module only when a chart is asked for: matplotlib takes a while to import.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stockcast.forecasting.forecast import HISTORY_SESSIONS  # closes shown before the forecast

_BAND_COLOR = "tab:orange"
_HISTORY_COLOR = "tab:blue"
FORMATS = ("png", "svg", "pdf")


@dataclass(frozen=True)
class Band:
    """One interval level along the forecast dates."""

    level: float  # e.g. 0.9
    lower: Sequence[float]  # one per forecast date
    upper: Sequence[float]


def render_png(**chart: Any) -> bytes:
    """``render_chart`` as PNG."""
    return render_chart(fmt="png", **chart)


def render_chart(
    *,
    fmt: str,
    symbol: str,
    model_id: str,
    history_dates: Sequence[dt.date],
    history_close: Sequence[float],
    dates: Sequence[dt.date],
    close: Sequence[float],
    bands: Sequence[Band],
    title_note: str = "",
    stale_since: dt.date | None = None,
    dpi: int = 110,
) -> bytes:
    """The chart as bytes in ``fmt`` (one of ``FORMATS``). The path and bands start at the
    last historical close.

    ``history_*`` are the stored sessions up to the as-of date (the last ``HISTORY_SESSIONS``
    are drawn); ``dates``/``close`` the forecast; ``bands`` are drawn widest (highest level)
    first so that narrower ones stay visible on top. ``title_note`` (the verdict and skill)
    is the title's second line; ``stale_since`` (the last stored session, when newer ones are
    missing) puts a "stale data" mark on the chart.
    """
    if fmt not in FORMATS:
        raise ValueError(f"chart format must be one of {FORMATS}, not {fmt!r}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    hd: list[Any] = list(history_dates)[-HISTORY_SESSIONS:]  # matplotlib takes dates as x
    hc = list(history_close)[-HISTORY_SESSIONS:]
    as_of, last = hd[-1], hc[-1]
    fx: list[Any] = [as_of, *dates]

    fig = Figure(figsize=(9, 4.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(hd, hc, color=_HISTORY_COLOR, lw=1.4, label="close")
    _draw_bands(ax, fx, last, bands)
    ax.plot(fx, [last] * len(fx), color="0.35", ls=":", lw=1.4,
            label="persistence (last close)")  # fmt: skip
    ax.plot(fx, [last, *close], color=_BAND_COLOR, lw=1.8, marker="o", ms=3, label="forecast")
    ax.axvline(as_of, color="0.4", ls="--", lw=1, label=f"as of {as_of}")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("session")
    ax.set_ylabel("adjusted close")
    title = f"{symbol}: forecast of {len(dates)} sessions as of {as_of}  (model {model_id})"
    ax.set_title(f"{title}\n{title_note}" if title_note else title, fontsize="medium")
    if stale_since is not None:
        ax.text(0.01, 0.97, f"stale data: last session {stale_since.isoformat()}",
                transform=ax.transAxes, ha="left", va="top", color="tab:red",
                fontweight="bold", bbox={"facecolor": "white", "edgecolor": "tab:red"})  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small", frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()


def _draw_bands(ax: Any, fx: list[Any], last: float, bands: Sequence[Band]) -> None:
    """The bands from the last close, widest (highest level) first so that narrower ones stay
    visible on top, more opaque as they narrow."""
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
            label=f"{band.level * 100:g}% interval",
        )

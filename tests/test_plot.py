"""The chart is a valid PNG of a sensible size, drawn without a display."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np

from stockcast.cli.plot import Band, render_png


def test_png_is_a_valid_image() -> None:
    start = dt.date(2019, 1, 1)
    hist_dates = [start + dt.timedelta(days=i) for i in range(200)]
    hist_close = list(100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 200))))
    dates = [hist_dates[-1] + dt.timedelta(days=i) for i in range(1, 6)]
    last = hist_close[-1]
    close = [last * (1 + 0.001 * i) for i in range(1, 6)]
    bands = [
        Band(0.8, [c * (1 - 0.01 * i) for i, c in enumerate(close, 1)], [c * 1.02 for c in close]),
        Band(0.9, [c * (1 - 0.02 * i) for i, c in enumerate(close, 1)], [c * 1.03 for c in close]),
    ]
    png = render_png(
        symbol="TEST",
        model_id="20190101-000000",
        history_dates=hist_dates,
        history_close=hist_close,
        dates=dates,
        close=close,
        bands=bands,
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000

    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(png), format="png")
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600
    assert img[..., :3].std() > 0.05  # not a blank canvas

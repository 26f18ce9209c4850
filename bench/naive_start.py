"""Why the untrained model starts halfway between persistence and drift (``recipe.naive_start``).

    python bench/naive_start.py [--csv stockcast/sample/sp500_10.csv]

For the bundled MSFT sample and the ten tickers of the wide CSV, on the default chronological
split (train's validation and test shares), the skill against the best naive forecast of three
possible starting forecasts: persistence (0), the average (h * m / 2) and the training drift
(h * m), m being the mean daily log return of the training part, on the validation part and on
the test part. Early stopping keeps the start whenever no epoch beats it on validation, so the
start is what a model that learned nothing forecasts. Pure numpy on the closes; deterministic.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast import options
from stockcast.data.sources.sample import load_sample
from stockcast.forecasting import metrics

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "stockcast" / "sample" / "sp500_10.csv"  # a copy of shared/data/sp500_10.csv
H = 5
STARTS = {"persistence": 0.0, "average": 0.5, "drift": 1.0}


def series(csv: Path) -> Iterator[tuple[str, np.ndarray]]:
    yield "MSFT", load_sample()["adj_close"].to_numpy(float)
    wide = pd.read_csv(csv, index_col=0)
    for col in wide:
        yield col, wide[col].dropna().to_numpy(float)


def skills(close: np.ndarray, asof: np.ndarray, m: float) -> dict[str, list[float]]:
    """Per start, per horizon: 1 - MAE / MAE of the best of persistence and drift."""
    actual = metrics.actuals(close, asof, H)
    naive = [metrics.persistence(close, asof, H), metrics.drift(close, asof, H)]
    best = np.minimum(*(np.mean(np.abs(p - actual), axis=0) for p in naive))  # (H,)
    steps = np.arange(1, H + 1)
    out = {}
    for name, w in STARTS.items():
        pred = metrics.model_prices(close, asof, np.tile(w * m * steps, (len(asof), 1)))
        out[name] = list(1 - np.mean(np.abs(pred - actual), axis=0) / best)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = ap.parse_args()
    vf, tf = options.SPECS["val_frac"].default, options.SPECS["test_frac"].default
    print("| series | part | " + " | ".join(f"{s} (min over h)" for s in STARTS) + " |")
    print("|---|---|" + "---|" * len(STARTS))
    worst = dict.fromkeys(STARTS, 0.0)
    for name, close in series(args.csv):
        n = len(close)
        val0, test0 = int(n * (1 - vf - tf)), int(n * (1 - tf))
        m = float(np.mean(np.diff(np.log(close[:val0]))))
        for part, lo, hi in (("val", val0, test0), ("test", test0, n)):
            s = skills(close, np.arange(lo - 1, hi - H), m)
            cells = " | ".join(f"{min(v):+.2%}" for v in s.values())
            print(f"| {name} | {part} | {cells} |")
            if part == "test":
                worst = {k: min(worst[k], min(v)) for k, v in s.items()}
    print("\nWorst test skill: " + ", ".join(f"{k} {v:+.2%}" for k, v in worst.items()))


if __name__ == "__main__":
    main()

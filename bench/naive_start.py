"""Which naive start the untrained model should have (``forecasting/choosestart.py``).

    python bench/naive_start.py [--csv stockcast/sample/sp500_10.csv] [--out bench/naive_start.md]

For the bundled MSFT sample and the ten tickers of the wide CSV, on the default chronological
split (train's validation and test shares) and on the 5 walk-forward folds of `backtest` (each
fold: the history up to its block end, the test part from its origin, validation the val share
before it), the test skill against the best naive forecast of each rule for the start. A start
forecasts ``s[h] * h * m`` at horizon h, m the mean daily log return of the training part:
s = 0 is persistence, 0.5 half the drift, 1 drift. Rules: the three fixed ones; ``val-best``,
per horizon the one of {0, 0.5, 1} with the lowest validation MAE; ``val-fitted``, per horizon
s on a grid of 0.05 with the lowest validation MAE; ``chosen``, what `train` does
(``choosestart.choose``: drift unless persistence or half the drift is better on validation by
a Diebold-Mariano test at 5%). Early stopping keeps the start whenever no epoch beats it on
validation, so the start is what a model that learned nothing forecasts. Pure numpy on the
closes (no feature warm-up or lookback: the parts start a few sessions apart from train's);
deterministic.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast import options
from stockcast.data.sources.sample import load_sample
from stockcast.forecasting import choosestart, metrics, walkforward

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "stockcast" / "sample" / "sp500_10.csv"  # a copy of shared/data/sp500_10.csv
H = 5
STEPS = np.arange(1, H + 1)
Rule = Callable[[np.ndarray, np.ndarray, float], np.ndarray]  # (close, val as-of, m) -> (H,)


def series(csv: Path) -> Iterator[tuple[str, np.ndarray]]:
    yield "MSFT", load_sample()["adj_close"].to_numpy(float)
    wide = pd.read_csv(csv, index_col=0)
    for col in wide:
        yield col, wide[col].dropna().to_numpy(float)


def mae(close: np.ndarray, asof: np.ndarray, m: float, share: np.ndarray) -> np.ndarray:
    """(H,) MAE of the start ``share * h * m`` in prices."""
    actual = metrics.actuals(close, asof, H)
    pred = metrics.model_prices(close, asof, np.tile(share * m * STEPS, (len(asof), 1)))
    return np.mean(np.abs(pred - actual), axis=0)


def val_argmin(grid: np.ndarray) -> Rule:
    def rule(close: np.ndarray, asof: np.ndarray, m: float) -> np.ndarray:
        maes = np.stack([mae(close, asof, m, np.full(H, g)) for g in grid])  # (G, H)
        return grid[np.argmin(maes, axis=0)]

    return rule


def chosen(close: np.ndarray, asof: np.ndarray, m: float) -> np.ndarray:
    y = np.log(metrics.actuals(close, asof, H) / close[asof][:, None])  # (N, H)
    return choosestart.choose(y, close[asof], m * STEPS)


RULES: dict[str, Rule] = {
    "persistence": lambda c, a, m: np.zeros(H),
    "half drift": lambda c, a, m: np.full(H, 0.5),
    "drift": lambda c, a, m: np.ones(H),
    "val-best": val_argmin(np.array([0.5, 0.0, 1.0])),  # ties keep the midpoint
    "val-fitted": val_argmin(np.linspace(0.0, 1.0, 21)),
    "chosen": chosen,
}


def cases(close: np.ndarray, vf: float, tf: float) -> Iterator[tuple[str, np.ndarray, int, int]]:
    """(label, closes up to the part's end, validation start, test start)."""
    n = len(close)
    yield "split", close, int(n * (1 - vf - tf)), int(n * (1 - tf))
    for k, (origin, end) in enumerate(walkforward.fold_blocks(n)):
        yield f"fold {k + 1}", close[: end + 1], origin - int(np.floor(vf * (end + 1))), origin


def errors(close: np.ndarray, val0: int, test0: int) -> dict[str, np.ndarray]:
    """(H,) test sums of absolute price errors: per rule, and of persistence ("p") and drift
    ("d")."""
    m = float(np.mean(np.diff(np.log(close[:val0]))))
    val = np.arange(val0 - 1, test0 - H)
    test = np.arange(test0 - 1, len(close) - H)
    out = {r: len(test) * mae(close, test, m, f(close, val, m)) for r, f in RULES.items()}
    return out | {"p": len(test) * mae(close, test, m, np.zeros(H)),
                  "d": len(test) * mae(close, test, m, np.ones(H))}  # fmt: skip


def skills(err: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per rule: (H,) test skill against the best of persistence and drift."""
    best = np.minimum(err["p"], err["d"])
    return {r: 1 - err[r] / best for r in RULES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = ap.parse_args()
    vf, tf = options.SPECS["val_frac"].default, options.SPECS["test_frac"].default
    lines = ["| series | test part | " + " | ".join(RULES) + " |",
             "|---|---|" + "---:|" * len(RULES)]  # fmt: skip
    got: dict[str, dict[str, list[np.ndarray]]] = {"split": {}, "folds": {}, "pooled": {}}
    for name, close in series(args.csv):
        pooled: dict[str, np.ndarray] = {}  # sums over the folds, as `backtest` pools them
        for label, c, val0, test0 in cases(close, vf, tf):
            err = errors(c, val0, test0)
            if label != "split":
                pooled = {k: pooled.get(k, 0.0) + v for k, v in err.items()}
            s = skills(err)
            lines.append(f"| {name} | {label} | "
                         + " | ".join(f"{min(v):+.2%}" for v in s.values()) + " |")  # fmt: skip
            for r, v in s.items():
                got["split" if label == "split" else "folds"].setdefault(r, []).append(v)
        s = skills(pooled)
        lines.append(f"| {name} | folds pooled | "
                     + " | ".join(f"{min(v):+.2%}" for v in s.values()) + " |")  # fmt: skip
        for r, v in s.items():
            got["pooled"].setdefault(r, []).append(v)
    lines += ["", "| rule | " + " | ".join(RULES) + " |", "|---|" + "---:|" * len(RULES)]
    for part, per in got.items():
        arrays = {r: np.stack(v) for r, v in per.items()}  # (cases, H)
        lines.append(
            f"| worst, {part} | " + " | ".join(f"{a.min():+.2%}" for a in arrays.values()) + " |"
        )
        lines.append(
            f"| mean, {part} | " + " | ".join(f"{a.mean():+.3%}" for a in arrays.values()) + " |"
        )
        low = " | ".join(str(int((a < -0.01).sum())) for a in arrays.values())
        lines.append(f"| below -1%, {part} | {low} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        cmd = "Command: `python bench/naive_start.py --out bench/naive_start.md`\n\n"
        head = ("Test skill against the best naive forecast, the worst horizon of each series "
                "and part (folds pooled: the sums of errors over the 5 folds, as `backtest` "
                "pools them); then the worst, mean and count below -1% over all series-horizons "
                f"(split: 11 x {H}; folds: 55 x {H}; pooled: 11 x {H}).\n\n")  # fmt: skip
        args.out.write_text(cmd + head + text)


if __name__ == "__main__":
    main()

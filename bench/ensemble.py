"""Does an ensemble remove the seed lottery, and what does it cost?

Default `stockcast train` (every option at its default but ``seed`` and ``ensemble``) on the
bundled sample, for each ensemble size K and seed: skill against the best naive forecast per
horizon (1 - model MAE / lowest baseline MAE on the test split, from the `train --json`
evaluation), the fitting time (wall and CPU), the live refit's time and the whole command's.

    python bench/ensemble.py                       # K = 1 and 5, seeds 0 1 2
    python bench/ensemble.py --k 1 3 5 --seeds 0 1 2 3 --sessions 5000

``--sessions N`` keeps the last N stored sessions (the 60-second bar is set on ~5,000).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from stockcast.data.sources.sample import load_sample
from stockcast.data.store import PriceStore
from stockcast.training.job import recipe_from_options, train_symbol


def skills(ev: dict) -> list[float]:
    """Per horizon: 1 - MAE / the lowest naive MAE."""
    out = []
    for h in ev["horizons"]:
        best = min(b["mae"] for b in h["baselines"].values())
        out.append(1.0 - h["mae"] / best)
    return out


def one_run(prices, k: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        PriceStore(root).write("MSFT", prices, source="sample")
        recipe, device = recipe_from_options({"seed": seed, "ensemble": k})
        return train_symbol(root, "MSFT", recipe, device).to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sessions", type=int, default=0, help="keep the last N sessions (0: all)")
    args = ap.parse_args()
    prices = load_sample()
    if args.sessions:
        prices = prices.iloc[-args.sessions :]
    print(f"sample MSFT, {len(prices)} sessions; seeds {args.seeds}; K {args.k}")
    head = f"{'K':>3} {'seed':>4} {'best ep':>12} " + " ".join(f"{'h=' + str(h):>7}" for h in
                                                                 range(1, 6))  # fmt: skip
    print(head + f" {'fit s':>6} {'cpu s':>6} {'ratio':>5} {'live s':>6} {'total s':>7}")
    for k in args.k:
        rows = []
        for seed in args.seeds:
            r = one_run(prices, k, seed)
            sk = skills(r["evaluation"])
            rows.append((sk, r))
            best = ",".join(str(m["best_epoch"]) for m in r["members"])
            print(f"{k:>3} {seed:>4} {best:>12} " + " ".join(f"{s:+7.2%}" for s in sk)
                  + f" {r['seconds']:6.1f} {r['cpu_seconds']:6.1f} "
                  f"{r['ensemble_seconds_ratio']:5.2f} {r['live_seconds']:6.1f} "
                  f"{r['total_seconds']:7.1f}", flush=True)  # fmt: skip
        spread = [max(s[0][c] for s in rows) - min(s[0][c] for s in rows) for c in range(5)]
        mean_total = statistics.mean(r["total_seconds"] for _, r in rows)
        print(f"{k:>3} {'range':>4} {'':>12} " + " ".join(f"{s:7.2%}" for s in spread)
              + f"   mean total {mean_total:.1f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

"""Issue 9's "no lottery" check: default `train` with seeds 0, 1, 2 on every bundled series.

    nice python bench/seed_check.py [--seeds 0,1,2] [--only MSFT,AAPL] [--out bench/seed_check.md]

Each series (the bundled MSFT sample and the ten tickers of ``stockcast/sample/sp500_10.csv``,
imported as in ``bench/backtest_all.py``: close-only, default features their data allow) is
fitted with train's default recipe (its default ensemble, early stopping with epoch 0 as a
candidate) for each seed and scored on the held-out test split exactly as `stockcast train`
and `stockcast evaluate` score it (``evaluation.evaluate_dataset``). The live refit on all data
is left out: it does not change the test figures. The bar: no horizon's skill against the best
naive forecast below -1% for any seed. Writes a markdown table and the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from backtest_all import DEFAULT_CSV, allowed_features, import_series  # type: ignore[import-not-found]

from stockcast.data.store import PriceStore
from stockcast.forecasting import evaluation, naivestart
from stockcast.training.job import recipe_from_options
from stockcast.training.recipe import fit_recipe

ROOT = Path(__file__).resolve().parent.parent
BAR = -0.01


def run_one(root: Path, sym: str, seed: int) -> dict:
    """Default recipe with ``seed`` on ``sym``: per-horizon skill vs the best naive with CI."""
    opts = {"features": ",".join(allowed_features(root, sym)), "seed": seed}
    recipe, dev = recipe_from_options(opts)
    t0 = time.perf_counter()
    fitted = fit_recipe(sym, PriceStore(root).read(sym), recipe, device=dev)
    ev = evaluation.evaluate_dataset(fitted.model, fitted.dataset, val=fitted.val)
    return {
        "ticker": sym,
        "seed": seed,
        "members_best_epoch": [f.best_epoch for f in fitted.fits],
        "start_drift": [float(v) for v in fitted.start_drift],
        "seconds": round(time.perf_counter() - t0, 1),
        "horizons": [
            {"h": h["h"], "best": h["best_baseline"], "verdict": h["verdict"],
             **{k: h["skill_vs_best"][k] for k in ("value", "low", "high")}}
            for h in ev.horizons
        ],
    }  # fmt: skip


def table(results: list[dict]) -> str:
    rows = [
        "| series | seed | start | best epochs | skill vs best naive per h (95% CI) | min "
        "| seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = "; ".join(
            f"h{h['h']} {h['value']:+.1%} ({h['low'] * 100:+.1f}..{h['high'] * 100:+.1f})"
            for h in r["horizons"]
        )
        low = min(h["value"] for h in r["horizons"])
        epochs = ",".join(map(str, r["members_best_epoch"]))
        start = naivestart.describe(r["start_drift"])
        rows.append(f"| {r['ticker']} | {r['seed']} | {start} | {epochs} | {cells} | {low:+.2%} "
                    f"| {r['seconds']:.0f} |")  # fmt: skip
    worst = min((h["value"] for r in results for h in r["horizons"]), default=0.0)
    verdict = "holds" if worst >= BAR else "FAILS"
    return "\n".join(rows) + f"\n\nWorst skill {worst:+.2%}: the -1% bar {verdict}.\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--only", default="", help="comma-separated symbols (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "seed_check.md")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        symbols = import_series(root, args.csv)
        if args.only:
            symbols = [s for s in symbols if s in args.only.split(",")]
        order = {sym: i for i, sym in enumerate(symbols)}
        for seed in seeds:  # every series at one seed before the next seed
            for sym in symbols:
                results.append(run_one(root, sym, seed))
                results.sort(key=lambda r: (order[r["ticker"]], r["seed"]))
                r = next(r for r in results if r["ticker"] == sym and r["seed"] == seed)
                low = min(h["value"] for h in r["horizons"])
                print(f"{sym} seed {seed}: {r['seconds']:.0f}s, min skill {low:+.2%}",
                      file=sys.stderr, flush=True)  # fmt: skip
                head = f"Command: `nice python bench/seed_check.py --seeds {args.seeds}`"
                args.out.write_text(f"{head}\n\n{table(results)}")
                args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

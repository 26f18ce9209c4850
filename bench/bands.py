"""The model's band against the EWMA and GARCH(1,1)-t bands in default walk-forward backtests.

    nice python bench/bands.py [--symbols MSFT] [--seed 0] [--band model] [--out bench/bands.md]
    python bench/bands.py --from-json backtest.json [--out ...]   # render a `backtest --json`

Each symbol runs `stockcast backtest`'s defaults (5 folds over the last 30% of the sessions,
train's default options: an ensemble of 4 point members and 4 scale members per fold) on the
bundled sample (MSFT, OHLC) or the ten close-only tickers of the bundled wide file (their
default features reduce to log_return). Per horizon and level the table gives the model band's
coverage with its 95% CI, its mean width, the interval scores (in % of the as-of close) of the
model, EWMA and GARCH bands, and the model's skill in interval score against each with its 95%
HAC CI and DM p-value. The JSON objects go next to the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from backtest_all import allowed_features, import_series  # noqa: E402

from stockcast.training.backtest import backtest_symbol  # noqa: E402
from stockcast.training.job import recipe_from_options  # noqa: E402


def _ci(s: dict) -> str:
    ci = f"({s['low'] * 100:+.1f}..{s['high'] * 100:+.1f})"
    return f"{s['value'] * 100:+.1f}% {ci} p={s['dm_pvalue']:.3f}"


def render(results: list[dict], note: str) -> str:
    lines = ["# The model's band against the EWMA and GARCH(1,1)-t bands", "", note, ""]
    for r in results:
        s = r["settings"]
        g = r.get("garch", {})
        lines += [
            f"## {r['ticker']}: {s['folds']} folds, {s['seeds']} members per fold, "
            f"band {s['train_config'].get('band', 'model')}, seed {s['train_config']['seed']}, "
            f"{r['seconds']:.0f} s; GARCH fallbacks {g.get('fallbacks', 'n/a')} of "
            f"{g.get('folds', 'n/a')} folds",
            "",
            "| h | level | coverage (95% CI) | width % | score model | EWMA | GARCH "
            "| skill vs EWMA (95% CI), DM p | skill vs GARCH (95% CI), DM p |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for h in r["horizons"]:
            for b in h["intervals"]:
                lines.append(
                    f"| {h['h']} | {b['level']:.0%} | {b['coverage']:.1%} "
                    f"({b['coverage_low']:.1%}..{b['coverage_high']:.1%}) "
                    f"| {b['mean_width_pct']:.2f} | {100 * b['interval_score']:.3f} "
                    f"| {100 * b['bands']['ewma']['interval_score']:.3f} "
                    f"| {100 * b['bands']['garch']['interval_score']:.3f} "
                    f"| {_ci(b['skill_vs_ewma'])} | {_ci(b['skill_vs_garch'])} |"
                )
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", default="MSFT", help="comma-separated; ALL: the 11 bundled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--band", default="model", help="model, model-t or ewma")
    ap.add_argument("--from-json", type=Path, help="render an existing `backtest --json` file")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "bands.md")
    args = ap.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        note = f"Rendered from `{args.from_json.name}` (a `stockcast backtest --json` run)."
    else:
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            stored = import_series(root, ROOT / "stockcast" / "sample" / "sp500_10.csv")
            symbols = stored if args.symbols == "ALL" else args.symbols.split(",")
            for sym in symbols:
                opts = {"features": ",".join(allowed_features(root, sym)), "seed": args.seed,
                        "band": args.band}  # fmt: skip
                recipe, dev = recipe_from_options(opts)
                t0 = time.perf_counter()
                results.append(backtest_symbol(root, sym, recipe, device=dev).to_dict())
                print(f"{sym}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        note = (
            f"`python bench/bands.py --symbols {args.symbols} --seed {args.seed} --band "
            f"{args.band}`; scores are interval scores in % of the as-of close (lower is better)."
        )
    args.out.write_text(render(results, note))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(args.out)


if __name__ == "__main__":
    main()

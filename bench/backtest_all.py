"""Default walk-forward backtest of the bundled sample and ten S&P 500 stocks -> a markdown table.

    nice python bench/backtest_all.py [--csv CSV] [--out bench/backtest_all.md] [--only MSFT]

The wide CSV (date + one close column per ticker) is split into one close-only CSV per ticker
and imported into a temporary data directory with ``stockcast.data.ingest.ingest_csv`` (OHLC
filled from the close, no volume), so those series train on the default features their data
allow (``features.usable_features``: log_return alone; the volume feature has no input and the
range features read zero). Tables written before that change trained those series with the
range features as constant zero inputs. Every series runs ``stockcast backtest``'s defaults
(5 folds over the last 30% of sessions, train's default options). The table (per series and
horizon: scale-free skill against the naive forecast best on validation with its 95% CI and
verdict, 90% coverage with its CI and the independence p-value of its misses, interval score
(units of the as-of close) against the EWMA-volatility band) is rewritten after each series,
and the full JSON objects go next to it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from stockcast import options
from stockcast.data.ingest import ingest_csv, ingest_sample
from stockcast.data.store import PriceStore
from stockcast.prep import features
from stockcast.training.backtest import backtest_symbol
from stockcast.training.job import recipe_from_options

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "stockcast" / "sample" / "sp500_10.csv"  # a copy of shared/data/sp500_10.csv


def import_series(root: Path, wide_csv: Path) -> list[str]:
    """Store the sample and every ticker column of ``wide_csv``; the symbols, sample first."""
    store = PriceStore(root)
    ingest_sample(store)
    wide = pd.read_csv(wide_csv)
    date = wide.columns[0]
    symbols = ["MSFT"]
    for ticker in wide.columns[1:]:
        one = wide[[date, ticker]].dropna().rename(columns={ticker: "close"})
        path = root / f"{ticker}.csv"
        one.to_csv(path, index=False)
        ingest_csv(store, ticker, path)
        symbols.append(ticker)
    return symbols


def allowed_features(root: Path, symbol: str) -> tuple[str, ...]:
    """The default features minus those the stored data cannot feed: an input column without
    any value (volume) or zero in every session (the range features of OHLC filled from the
    close), which `train` refuses."""
    return features.usable_features(PriceStore(root).read(symbol), options.DEFAULT_FEATURES)


def table(results: list[dict]) -> str:
    """The markdown table of every finished series."""
    head = (
        "| series | h | n | skill vs best naive (95% CI) | verdict | 90% coverage (95% CI) "
        "| independence p | interval score / EWMA band's | shrunk skill |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        for h in r["horizons"]:
            s = h["skill_vs_best"]
            b = next(x for x in h["intervals"] if x["level"] == 0.9)
            ratio = b["interval_score_rel"] / b["ewma_interval_score_rel"]
            shrunk = h["shrunk"]["skill_vs_best"]["value"]
            rows.append(
                f"| {r['ticker']} | {h['h']} | {h['n']} | {s['value']:+.1%} "
                f"({s['low'] * 100:+.1f}..{s['high'] * 100:+.1f}) vs {h['best_baseline']} "
                f"| {h['verdict']} | {b['coverage']:.1%} ({b['coverage_low']:.1%}.."
                f"{b['coverage_high']:.1%}) | {b['independence_pvalue']:.2f} | {ratio:.3f} "
                f"| {shrunk:+.1%} |"
            )
    return head + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "backtest_all.md")
    ap.add_argument("--only", default="", help="comma-separated symbols (default: all)")
    ap.add_argument("--set", action="append", default=[], help="option=value, e.g. epochs=2")
    args = ap.parse_args()
    given = {k: v for k, v in (s.split("=", 1) for s in args.set)}
    given = {k: type(options.SPECS[k].default)(v) for k, v in given.items()}
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        symbols = import_series(root, args.csv)
        if args.only:
            symbols = [s for s in symbols if s in args.only.split(",")]
        for sym in symbols:
            opts = {"features": ",".join(allowed_features(root, sym)), **given}
            recipe, dev = recipe_from_options(opts)
            t0 = time.perf_counter()
            results.append(backtest_symbol(root, sym, recipe, device=dev).to_dict())
            print(f"{sym}: {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
            results[-1]["bench_seconds"] = round(time.perf_counter() - t0, 1)
            args.out.write_text(f"Command: `nice python bench/backtest_all.py`\n\n{table(results)}")
            args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

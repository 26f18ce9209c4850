"""The honest leaderboard: every architecture's walk-forward backtest on the bundled data sets,
side by side with the naive forecasts -> a markdown table and the JSON objects.

    nice python bench/leaderboard.py [--only MSFT,KO] [--archs lstm,gru] [--folds 5] [--seeds 1]
                                     [--set epochs=20] [--out bench/leaderboard.md] [--resume]

The data go into a temporary data directory the way a user would put them there:
``stockcast fetch --sample`` (MSFT, OHLCV) and ``stockcast fetch --csv CSV`` of the wide table
``stockcast/sample/sp500_10.csv`` (ten tickers, closes only: OHLC filled from the close, no
volume). Each series trains on the default features its data can feed
(``features.usable_features``: the close-only tickers keep log_return, as their volume is
missing and their range features read zero), with train's default options unless ``--set``
says otherwise. For each series, ``stockcast.training.leaderboard.backtest_archs`` runs the
same backtest (``stockcast backtest SYMBOL --arch a,b,...``: same folds, seeds, options) once
per architecture. The markdown (the verdict in words, sizes and times per architecture, per
horizon each architecture's skill against the best naive forecast with its 95% CI, DM p-value,
verdict and 90% interval score against the EWMA band's) and the JSON (the per-symbol objects of
`backtest --arch ... --json`) are rewritten after each series, so an interrupted run keeps what
it finished; ``--resume`` skips the series already in the JSON (same archs, folds and seeds).

Time, measured on 2026-12-02 on the 2-core build machine under load 2-5 (other jobs running):
MSFT with the default ensemble of 4 members per fold, all five architectures x 5 folds: 1,152 s
(`bench/leaderboard.md`); the ten tickers with ``--seeds 1``: 3,307 s of series wall time
(`bench/leaderboard_sp500.md`); one ticker with ``--archs transformer`` and the default
ensemble: about 350 s. ``--jobs 2`` helps only on an idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stockcast import models, options
from stockcast.data.store import PriceStore
from stockcast.prep import features
from stockcast.training.backtest import FoldCallback
from stockcast.training.job import configs_from_options
from stockcast.training.leaderboard import backtest_archs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "stockcast" / "sample" / "sp500_10.csv"  # a copy of shared/data/sp500_10.csv
ARCHS = "lstm,gru,lstm-attn,cnn-lstm,transformer"


def stockcast(root: Path, *args: str) -> None:
    """``stockcast --data-dir ROOT ARGS`` in a child process; its tables go to stderr."""
    cmd = [sys.executable, "-m", "stockcast", "--data-dir", str(root), *args]
    subprocess.run(cmd, check=True, stdout=sys.stderr, cwd=ROOT)


def import_series(root: Path, wide_csv: Path) -> list[str]:
    """The sample and every ticker of ``wide_csv`` stored in ``root``; the symbols, MSFT first."""
    stockcast(root, "fetch", "--sample", "--quiet")
    stockcast(root, "fetch", "--csv", str(wide_csv), "--quiet")
    stored = PriceStore(root).symbols()
    return ["MSFT", *sorted(s for s in stored if s != "MSFT")]


def allowed_features(root: Path, symbol: str) -> tuple[str, ...]:
    """The default features minus those the stored data cannot feed: no input column (volume
    of a close-only table) or zero in every session (the range features of OHLC filled from the
    close). The ten close-only tickers keep log_return only."""
    prices = PriceStore(root).read(symbol)
    return features.usable_features(prices, options.DEFAULT_FEATURES)


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["epochs=2", "lr=0.001"]`` -> typed options (as their defaults' types)."""
    given: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in options.SPECS or key == "arch":
            sys.exit(f"--set {pair}: not a training option (architectures go in --archs)")
        default = options.SPECS[key].default
        if isinstance(default, bool):
            given[key] = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int | float):
            given[key] = type(default)(value)
        else:
            given[key] = value
    return given


@contextmanager
def fold_lines(symbol: str, arch: str) -> Iterator[FoldCallback]:
    """One stderr line per finished fold of ``symbol``'s ``arch`` backtest."""
    t0 = time.perf_counter()

    def said(k: int, n: int, origin: str, row: dict | None) -> None:
        if row is not None:
            ratio = row["mae_ratio"][0]
            r = "n/a" if ratio is None else f"{ratio:.3f}"
            print(f"{symbol} {arch} fold {k + 1}/{n} ({origin}): h=1 MAE/best {r}, "
                  f"{row['seconds']:.0f}s", file=sys.stderr, flush=True)  # fmt: skip

    yield said
    print(f"{symbol} {arch}: {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3f}"


def _pct(ci: dict) -> str:
    return f"{ci['value']:+.1%} ({ci['low'] * 100:+.1f}..{ci['high'] * 100:+.1f})"


def markdown(results: list[dict], command: str, header: str) -> str:
    """The whole report: the verdicts in words, then the tables."""
    done = [r for r in results if "error" not in r]
    edges = sum(len(r["edges"]) for r in done)
    worse = sum(len(r["worse"]) for r in done)
    n = sum(r["comparisons"] for r in done)
    lines = [
        "# Leaderboard: architectures against the naive forecasts (walk-forward backtests)",
        "",
        f"Command: `{command}`",
        "",
        header,
        "",
        "Skill = 1 - MAE / MAE of the best naive forecast (persistence or drift, chosen per "
        "horizon on the folds' validation windows, never on the test outcomes; errors as "
        "|log(forecast / outcome)|, scale-free) with a 95% CI that accounts for overlapping "
        "windows; verdict: `better` (`worse`) when the Diebold-Mariano p-value, Holm-adjusted "
        "over the series' architecture x horizon comparisons, lies below 5% with a positive "
        "(negative) skill, so each series' board has at most a 5% chance of any false verdict "
        "(the per-horizon table gives the DM p-value and its Holm-adjusted one; the JSON's "
        "`verdict` is the unadjusted one of the 95% CI alone). "
        "Interval "
        "score: the 90% band's, as a ratio to a plain EWMA-volatility band around persistence "
        "calibrated on the same validation part (below 1 is better).",
        "",
        "## In words",
        "",
        f"Over {len(done)} series: {edges} of {n} (series, architecture, horizon) comparisons "
        f"are `better` than the best naive forecast and {worse} {'is' if worse == 1 else 'are'} "
        "`worse` (Holm within each "
        "series: a false verdict anywhere on a series' board has at most a 5% chance).",
        "",
        *[
            f"- {r['summary']}" if "error" not in r else f"- {r['ticker']}: failed: {r['error']}"
            for r in results
        ],
        "",
        "## Architectures",
        "",
        "| series | arch | parameters | MFLOPs / window | train s | mean skill | better at h "
        "| worse at h |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in done:
        for a in r["archs"]:
            better = ",".join(str(e["h"]) for e in r["edges"] if e["arch"] == a["arch"]) or "-"
            bad = ",".join(str(e["h"]) for e in r["worse"] if e["arch"] == a["arch"]) or "-"
            lines.append(
                f"| {r['ticker']} | {a['arch']} | {a['parameters']:,} | "
                f"{a['mflops_per_window']:.2f} | {a['train_seconds']:.0f} | "
                f"{a['mean_skill_vs_best']:+.2%} | {better} | {bad} |"
            )
    lines += [
        "",
        "## Per horizon",
        "",
        "| series | h | n | best naive | arch | skill vs best naive (95% CI) | DM p | Holm p "
        "| verdict (Holm) | 90% coverage | interval score / EWMA band's |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in done:
        for h in r["leaderboard"]:
            for a in h["archs"]:
                ratio = a["interval_score_vs_ewma"]
                lines.append(
                    f"| {r['ticker']} | {h['h']} | {h['n']} | {h['best_baseline']} | "
                    f"{a['arch']} | {_pct(a['skill_vs_best'])} | {_p(a['dm_pvalue'])} | "
                    f"{_p(a.get('adjusted_pvalue'))} | {a.get('holm_verdict', 'n/a')} | "
                    f"{a['coverage']:.1%} | {'n/a' if ratio is None else f'{ratio:.3f}'} |"
                )
    return "\n".join(lines) + "\n"


def _same_run(r: dict, archs: list[str], folds: int, seeds: int) -> bool:
    s = r.get("settings", {})
    return ("error" not in r and [a["arch"] for a in r["archs"]] == archs
            and s.get("folds") == folds and s.get("seeds") == seeds)  # fmt: skip


def run_series(root: Path, sym: str, archs: list[str], given: dict[str, Any], folds: int,
               seeds: int | None) -> dict:  # fmt: skip
    """The leaderboard object of one series (``{"ticker", "error"}`` when it fails), with
    ``bench_seconds``; runs in a worker process under ``--jobs``."""
    t0 = time.perf_counter()
    try:
        opts = {"features": ",".join(allowed_features(root, sym)), **given}
        configs = [configs_from_options({**opts, "arch": a}) for a in archs]
        data, _, cfg, dev = configs[0]
        r = backtest_archs(root, sym, data, [c[1] for c in configs], cfg, folds=folds,
                           ensemble=seeds, device=dev,
                           progress=lambda arch: fold_lines(sym, arch))  # fmt: skip
    except Exception as exc:  # one failed series must not lose the hours of the others
        traceback.print_exc()
        r = {"ticker": sym, "error": f"{type(exc).__name__}: {exc}"}
    r["bench_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"{sym}: {r['bench_seconds']:.0f}s; {r.get('summary', r.get('error'))}",
          file=sys.stderr, flush=True)  # fmt: skip
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="wide table of closes")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "leaderboard.md",
                    help="markdown; the JSON goes next to it (bench/leaderboard.md)")  # fmt: skip
    ap.add_argument("--only", default="", help="comma-separated symbols (default: all)")
    ap.add_argument("--archs", default=ARCHS, help=f"comma-separated (default {ARCHS})")
    ap.add_argument("--folds", type=int, default=5, help="walk-forward folds (default 5)")
    ap.add_argument("--seeds", type=int, default=None,
                    help="members per fold (default: train's --ensemble)")  # fmt: skip
    ap.add_argument("--set", action="append", default=[], help="option=value, e.g. epochs=2")
    ap.add_argument("--jobs", type=int, default=1,
                    help="series at once, a process each (a core each with --seeds 1)")  # fmt: skip
    ap.add_argument("--resume", action="store_true",
                    help="keep the series in the JSON (same archs, folds, seeds)")  # fmt: skip
    args = ap.parse_args()
    names = [a.strip().lower() for a in args.archs.split(",") if a.strip()]
    archs = list(dict.fromkeys(names))
    if not archs or any(a not in models.names() for a in archs):
        sys.exit(f"--archs: give names from {', '.join(models.names())} (got {args.archs!r})")
    given = parse_sets(args.set)
    command = shlex.join(["nice", "python", "bench/leaderboard.py", *sys.argv[1:]])
    cpu = platform.processor() or platform.machine()
    header = (
        f"Produced on {dt.date.today().isoformat()} on {platform.node() or 'a machine'} "
        f"({os.cpu_count()} CPUs, {cpu}; `STOCKCAST_THREADS` "
        f"{os.environ.get('STOCKCAST_THREADS', 'unset')}; {args.jobs} series at once): "
        f"{args.folds} folds over the last 30% of the sessions, "
        f"{args.seeds or options.SPECS['ensemble'].default} member(s) per fold"
        + ("" if args.seeds else " (train's default ensemble)")
        + ", train's default options"
        + (f" except {', '.join(args.set)}" if args.set else "")
        + f"; architectures {', '.join(archs)}. `bench_seconds` in the JSON: wall time per "
        "series."
    )
    out_json = args.out.with_suffix(".json")
    members = args.seeds or given.get("ensemble", options.SPECS["ensemble"].default)
    results: list[dict] = []
    if args.resume and out_json.exists():
        results = [r for r in json.loads(out_json.read_text())
                   if _same_run(r, archs, args.folds, members)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        symbols = import_series(root, args.csv)
        if args.only:
            wanted = [s.strip().upper() for s in args.only.split(",")]
            if missing := [s for s in wanted if s not in symbols]:
                sys.exit(f"--only: no series {', '.join(missing)}; there are {', '.join(symbols)}")
            symbols = [s for s in symbols if s in wanted]
        done = {r["ticker"] for r in results}
        todo = [s for s in symbols if s not in done]

        def keep(r: dict) -> None:  # rewrite both files after each series, in symbol order
            results.append(r)
            results.sort(key=lambda x: symbols.index(x["ticker"]) if x["ticker"] in symbols
                         else -1)  # fmt: skip
            args.out.write_text(markdown(results, command, header))
            out_json.write_text(json.dumps(results, indent=1))

        work = (root, archs, given, args.folds, args.seeds)
        if args.jobs <= 1:
            for sym in todo:
                keep(run_series(root, sym, *work[1:]))
        else:
            spawn = multiprocessing.get_context("spawn")  # torch's threads die in a fork
            with ProcessPoolExecutor(args.jobs, mp_context=spawn) as pool:
                futures = [pool.submit(run_series, root, sym, *work[1:]) for sym in todo]
                for future in as_completed(futures):
                    keep(future.result())
    if results and not todo:  # --resume with every series done: render the markdown again
        args.out.write_text(markdown(results, command, header))


if __name__ == "__main__":
    main()

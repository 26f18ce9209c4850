"""Global-model training speed and memory: windows/s and peak RSS, 1 vs N processes.

Cases: ``sp500`` (the ten tickers of ``stockcast/sample/sp500_10.csv``) and ``synthetic`` (S random
walks x T sessions, default 500 x 5,000). The data are packed with ``build_multi`` (common-date
split) and trained for one epoch through ``loop.fit`` on gathered windows; ``--windows`` caps
the training windows (a random subset) so a run stays short. Peak memory is the process's
maximum RSS (rank 0's under torchrun); the bar is 4 GiB.

    python bench/global_model.py --case sp500
    python bench/global_model.py --case synthetic --procs 2   # re-launches under torchrun

Prints one JSON object (rank 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stockcast.data.sources.csvfile import read_csv_table
from stockcast.data.validate import validate
from stockcast.prep.dataset import build_multi
from stockcast.training import dist
from stockcast.training.globaljob import common_split
from stockcast.training.job import configs_from_options
from stockcast.training.loop import Gathered, build_model, fit

SP500 = Path(__file__).resolve().parents[1] / "stockcast" / "sample" / "sp500_10.csv"
BAR_GIB = 4.0


def synthetic(symbols: int, sessions: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2000-01-03", periods=sessions, name="date").astype("datetime64[ns]")
    out = {}
    for i in range(symbols):
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, sessions)))
        out[f"S{i:03d}"] = pd.DataFrame(
            {"open": close, "high": close * 1.005, "low": close * 0.995, "close": close,
             "adj_close": close, "volume": np.nan, "dividends": 0.0, "splits": 0.0},
            index=dates,
        )  # fmt: skip
    return out


def sp500() -> dict[str, pd.DataFrame]:
    return {sym: validate(frame)[0] for sym, frame in read_csv_table(SP500).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=("sp500", "synthetic"), default="sp500")
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--sessions", type=int, default=5000)
    ap.add_argument("--windows", type=int, default=30000, help="training windows (0: all)")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=32)
    args = ap.parse_args()
    if args.procs > 1 and not dist.launched():
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={args.procs}", __file__, *sys.argv[1:]]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        raise SystemExit(subprocess.run(cmd, env=env).returncode)
    shard, me = None, dist.from_env()
    if me.world > 1:
        me, _, shard = dist.start("cpu")
    torch.set_num_threads(1)  # what `train` uses for a small LSTM on the CPU (device.threads_for)
    t0 = time.perf_counter()
    prices = sp500() if args.case == "sp500" else synthetic(args.symbols, args.sessions)
    data, model_cfg, cfg, _ = configs_from_options(
        {"epochs": 1, "hidden": args.hidden, "features": "log_return,hl_pct", "batch_size": 256}
    )
    ds = build_multi(prices, data, common_split(prices, data))
    load_s = time.perf_counter() - t0
    rows = ds.index("train")
    if args.windows and len(rows) > args.windows:
        rows = np.sort(np.random.default_rng(0).choice(rows, args.windows, replace=False))
    val = ds.index("val")[: max(1000, args.windows // 5)]
    net = build_model(model_cfg, cfg.seed)
    cfg = dataclasses.replace(cfg, ensemble=1)
    result = fit(net, Gathered(ds.gather, rows), Gathered(ds.gather, val), cfg,
                 torch.device("cpu"), None, shard)  # fmt: skip
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    dist.finish()
    if me.main:
        print(json.dumps({
            "case": args.case, "series": len(ds.series), "rows": int(ds.indptr[-1]),
            "packed_mib": round(ds.nbytes / 2**20, 1), "train_windows": len(rows),
            "processes": me.world, "windows_per_s": round(result.windows_per_s * me.world, 1),
            "load_seconds": round(load_s, 1), "peak_rss_gib": round(peak_gib, 2),
            "under_bar": peak_gib < BAR_GIB, "val_loss": result.best_val_loss,
        }))  # fmt: skip


if __name__ == "__main__":
    main()

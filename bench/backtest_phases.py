"""Where the time of a default `stockcast backtest SYMBOL` goes, phase by phase, and how much a
core idles while an ensemble's last members finish.

Runs ``training.backtest.backtest_symbol`` (every option at train's default: 5 folds, an
ensemble of 4 point members and 4 scale networks per fold, the GARCH baseline) on a copy of the
bundled sample, with timers wrapped around the phases (the wrappers only time: results are
those of the command). Per ``run_members`` call it records the members' epochs; the idle share
of the cores is ``1 - sum(member epochs) / (workers x the most epochs one worker ran)`` under
the greedy order ``run_members`` uses (job 0 first, the next job to the first free worker), the
members' epochs being of equal cost.

    python bench/backtest_phases.py [--symbol MSFT] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from stockcast.data.sources.sample import load_sample
from stockcast.data.store import PriceStore
from stockcast.forecasting import evaluation, garch
from stockcast.training import backtest, recipe
from stockcast.training.job import recipe_from_options

TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
PHASES: list[dict] = []


def timed(owner: object, name: str, label: str) -> None:
    fn = getattr(owner, name)

    def wrapper(*a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            TIMES[label] += time.perf_counter() - t0
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def greedy_makespan(epochs: list[int], workers: int) -> int:
    free = [0] * workers
    for e in epochs:
        i = free.index(min(free))
        free[i] += e
    return max(free)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbol", default="MSFT")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    from stockcast import allocator

    allocator.tune()
    run = recipe.run_members

    def run_members(jobs, workers, callback, in_turn=False):
        t0 = time.perf_counter()
        out = run(jobs, workers, callback, in_turn)
        epochs = [getattr(r, "epochs", None) for r in out]
        PHASES.append({"jobs": len(jobs), "workers": workers, "epochs": epochs,
                       "seconds": round(time.perf_counter() - t0, 2)})  # fmt: skip
        return out

    recipe.run_members = run_members
    timed(recipe.ScaleJobs, "fitted", "scale networks: averaging and head choice")
    timed(backtest, "fit_recipe", "fit_recipe (point members + scale networks + val predictions)")
    timed(recipe, "build_dataset", "build_dataset (features, windows, scalers)")
    timed(recipe, "choose_start", "choose_start")
    timed(garch, "for_dataset", "GARCH fits")
    timed(evaluation, "part_predictions", "part_predictions (test forward passes)")
    timed(recipe, "part_predictions", "part_predictions (val forward passes)")
    timed(backtest, "fold_predictions", "fold_predictions (test preds, shrink, GARCH)")
    timed(backtest.walkforward, "report", "walkforward.report (pooled statistics)")
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        PriceStore(root).write(args.symbol, load_sample(), source="sample")
        made, device = recipe_from_options({})
        t0, c0 = time.perf_counter(), time.process_time()
        backtest.backtest_symbol(root, args.symbol, made, device=device)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    point = PHASES
    sum_ep = sum(sum(e for e in p["epochs"] if e) for p in point)
    span = sum(greedy_makespan([e or 0 for e in p["epochs"]], p["workers"]) for p in point)
    workers = max(p["workers"] for p in point)
    out = {
        "symbol": args.symbol,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": [round(v, 2) for v in load0],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "phases_s": {k: round(v, 2) for k, v in TIMES.items()},
        "calls": dict(CALLS),
        "member_training_s": round(sum(p["seconds"] for p in PHASES), 1),
        "run_members": PHASES,
        "member_epochs": sum_ep,
        "worker_epochs_makespan": span,
        "idle_core_share": round(1 - sum_ep / (workers * span), 3) if span else 0.0,
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

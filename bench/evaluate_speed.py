"""`stockcast evaluate MSFT` against `stockcast predict MSFT` on the same saved model (issue 23:
evaluate within 3x predict's time).

    python bench/evaluate_speed.py [--data-dir DIR] [--runs 5] [--out bench/evaluate_speed.json]

Without --data-dir it stores the bundled MSFT sample in a temporary folder and trains a default
model there first (`stockcast train MSFT`, about a minute idle). Each command runs as a whole
process, in turn (predict, evaluate, predict, ...), after one warm-up each; wall and CPU
(user + system) seconds per run, their medians and the ratio evaluate / predict of the medians.
CPU time is the steadier figure on a busy machine. `evaluate` scores the test predictions
`train` kept in the model file (no torch, no arch); `evaluate --recompute` (timed beside it) runs
the saved weights again as `evaluate` did before. Also timed: the bare interpreter and the
imports of the evaluation module (scipy.stats; torch and arch only when recomputing).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import ROOT, machine

PY = sys.executable


def stockcast(data: Path, *args: str) -> list[str]:
    return [PY, "-m", "stockcast", "--data-dir", str(data), *args]


def run_once(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``argv`` to completion (output discarded)."""

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0, cpu() - c0


def alternate(commands: dict[str, list[str]], runs: int) -> dict[str, dict]:
    """Each command once as a warm-up, then ``runs`` rounds of all of them in turn."""
    for argv in commands.values():
        run_once(argv)
    seen: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            seen[name].append(run_once(argv))
    return {
        name: {
            "wall_s": [round(w, 3) for w, _ in times],
            "cpu_s": [round(c, 3) for _, c in times],
            "wall_median_s": statistics.median(w for w, _ in times),
            "cpu_median_s": statistics.median(c for _, c in times),
        }
        for name, times in seen.items()
    }


IMPORTS = {  # the bare interpreter, and the modules evaluate imports (scipy.stats)
    "python_start": "pass",
    "imports_of_evaluate": "import stockcast.forecasting.evaluation",
}


def trained_sample(work: Path) -> Path:
    data = work / "data"
    subprocess.run(stockcast(data, "fetch", "--sample"), check=True, capture_output=True)
    subprocess.run(stockcast(data, "train", "MSFT", "--quiet"), check=True, capture_output=True)
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, help="a data directory with MSFT and its model")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evaluate-speed-"))
    try:
        data = args.data_dir or trained_sample(work)
        figures = alternate(
            {"predict": stockcast(data, "predict", "MSFT", "--json"),
             "evaluate": stockcast(data, "evaluate", "MSFT", "--json"),
             "evaluate_recompute": stockcast(data, "evaluate", "MSFT", "--json", "--recompute")},
            args.runs,
        )  # fmt: skip
        imports = alternate({k: [PY, "-c", v] for k, v in IMPORTS.items()}, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p, e = figures["predict"], figures["evaluate"]
    out = {
        "machine": machine(),
        **figures,
        **imports,
        "ratio_wall": e["wall_median_s"] / p["wall_median_s"],
        "ratio_cpu": e["cpu_median_s"] / p["cpu_median_s"],
    }
    for name in ("predict", "evaluate", "evaluate_recompute", *IMPORTS):
        f = out[name]
        print(f"{name:>20}: wall {f['wall_median_s']:6.2f} s  CPU {f['cpu_median_s']:6.2f} s "
              f"(medians of {args.runs})")  # fmt: skip
    print(
        f"evaluate / predict: wall {out['ratio_wall']:.2f}x, CPU {out['ratio_cpu']:.2f}x; "
        f"load average {out['machine']['load_avg']}"
    )
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

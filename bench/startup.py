"""Start-up and ``predict`` latency against bare imports, and reading many stored symbols."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import command_time, median_time

PY = sys.executable


def _stockcast() -> list[str]:
    exe = shutil.which("stockcast", path=str(Path(PY).parent))
    return [exe] if exe else [PY, "-m", "stockcast"]


BARE_TYPER = """\
import typer
app = typer.Typer()
@app.command()
def first(x: str) -> None:
    "One."
@app.command()
def second(x: str) -> None:
    "Two."
app()
"""


def help_vs_import(runs: int) -> dict:
    """``stockcast --help`` against ``python -c "import torch"`` and against a bare Typer app with
    two commands (medians, same run; the bar is 1.5x the bare app)."""
    ref = command_time([PY, "-c", "import torch"], runs)
    cli = command_time([*_stockcast(), "--help"], runs)
    bare = command_time([PY, "-c", BARE_TYPER, "--help"], runs)
    return {"help_s": cli, "import_torch_s": ref, "ratio": cli / ref, "bare_typer_s": bare,
            "ratio_bare_typer": cli / bare}  # fmt: skip


_PEAK = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_mb(argv: list[str], env: dict) -> float:
    """Peak RSS of one run of a command, in MiB: measured from a fresh parent process, whose
    only child it is (Linux reports KiB)."""
    out = subprocess.run([PY, "-c", _PEAK, *argv], env=env, check=True, capture_output=True)
    return int(out.stdout.decode().split()[-1]) / 1024


def command_cpu_time(argv: list[str], runs: int, env: dict | None = None) -> float:
    """Median CPU time (user + system, seconds) of a command's runs after one warm-up: a
    figure that a busy shared machine disturbs less than wall time."""

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    subprocess.run(argv, env=env, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        before = cpu()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(cpu() - before)
    return statistics.median(times)


HEAVY = ("torch", "scipy", "matplotlib", "yfinance", "exchange_calendars")
_IMPORTED = (
    "import sys\n"
    "from stockcast.cli import main\n"
    "sys.argv = ['stockcast', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def heavy_imports(args: list[str], env: dict) -> list[str]:
    """Which of ``HEAVY`` a ``stockcast ARGS`` run imported (the numpy route imports none)."""
    out = subprocess.run([PY, "-c", _IMPORTED, *args], env=env, check=True, capture_output=True)
    last = out.stdout.decode().strip().splitlines()[-1]
    return [m for m in last.removeprefix("HEAVY=").split(",") if m]


def predict_vs_import(runs: int, workdir: Path) -> dict:
    """``stockcast predict MSFT`` against ``python -c "import torch, pandas"``, in wall and in
    CPU seconds, and what predict imported (torch-free: ``models/numpy_infer.py``).

    Trains a tiny model first (``fetch --sample``, ``train MSFT --epochs 1``) in ``workdir``;
    the first predict (the warm-up) writes the calendar cache the timed runs read.
    """
    env = {**os.environ, "STOCKCAST_HOME": str(workdir)}
    sc = _stockcast()
    out: dict = {}
    try:
        subprocess.run([*sc, "fetch", "--sample"], env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        out["train_peak_rss_mb"] = peak_rss_mb([*sc, "train", "MSFT", "--epochs", "1"], env)
        out["train_1_epoch_s"] = time.perf_counter() - t0
    except subprocess.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        return {"skipped": f"{' '.join(e.cmd[-3:])} failed: {err[-1] if err else e.returncode}"}
    ref_argv, pred_argv = [PY, "-c", "import torch, pandas"], [*sc, "predict", "MSFT", "--quiet"]
    ref = command_time(ref_argv, runs)
    try:
        pred = command_time(pred_argv, runs, env=env)
    except subprocess.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        return {**out, "skipped": f"predict failed: {err[-1] if err else e.returncode}"}
    ref_cpu, pred_cpu = command_cpu_time(ref_argv, runs), command_cpu_time(pred_argv, runs, env)
    return {
        **out,
        "predict_s": pred,
        "import_torch_pandas_s": ref,
        "ratio": pred / ref,
        "predict_cpu_s": pred_cpu,
        "import_torch_pandas_cpu_s": ref_cpu,
        "ratio_cpu": pred_cpu / ref_cpu,
        "predict_heavy_imports": heavy_imports(["predict", "MSFT", "--quiet"], env),
        "predict_peak_rss_mb": peak_rss_mb([*sc, "predict", "MSFT", "--quiet"], env),
    }


def store_read(symbols: int, sessions: int, runs: int) -> dict:
    """Write ``symbols`` symbols of ``sessions`` rows with PriceStore, then time reading all."""
    import numpy as np
    import pandas as pd

    from stockcast.data.store import PriceStore

    with tempfile.TemporaryDirectory(prefix="stockcast-bench-store-") as tmp:
        store = PriceStore(Path(tmp))
        dates = pd.bdate_range("2000-01-03", periods=sessions, name="date")
        rng = np.random.default_rng(0)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, sessions)))
        frame = pd.DataFrame(
            {
                "open": close,
                "high": close * 1.01,
                "low": close * 0.99,
                "close": close,
                "adj_close": close,
                "volume": rng.integers(1e5, 1e7, sessions).astype(float),
                "dividends": 0.0,
                "splits": 0.0,
            },
            index=dates,
        )
        names = [f"S{i:04d}" for i in range(symbols)]
        t0 = time.perf_counter()
        for name in names:
            store.write(name, frame, "csv")
        write_s = time.perf_counter() - t0

        def read_all() -> None:
            for name in names:
                store.read(name)

        read_s = median_time(read_all, runs)
    return {
        "symbols": symbols,
        "sessions": sessions,
        "write_s": write_s,
        "read_s": read_s,
        "read_ms_per_symbol": read_s / symbols * 1e3,
        "rows_per_s": symbols * sessions / read_s,
    }

"""stockcast benchmark: ``python bench/run.py [--quick] [--json PATH]`` from the repo root.

Prints a table and writes JSON (default ``bench/results/latest.json``): training throughput
(windows/s and share of the FP32 peak) for the default and a larger model, with glibc's
allocator and the tuned one, on the CPU and on CUDA when present; Darts' per-epoch time on the
same work;
``predict`` and ``--help`` latency against bare imports; reading 500 stored symbols; memory.
See BENCHMARKS.md for what each figure means and the figures measured so far.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import peak
import startup
import torch
import train_speed as ts
from timing import ROOT, machine, peak_rss_mb

from stockcast import allocator
from stockcast.device import cpu_threads

DEFAULT = {"hidden": 64, "layers": 1}  # stockcast's ModelConfig defaults
LARGER = {"hidden": 128, "layers": 2}
BENCH_VENV_PY = ROOT / ".venv-bench" / "bin" / "python"


def training_cpu(quick: bool, default_threads: int) -> list[dict]:
    """nn.LSTM on the CPU with glibc's default allocator and with the tuned one (stockcast's
    default), for both models; the full run also sweeps threads. Each allocator setting runs in
    its own process (``allocator.tune()`` holds for the rest of a process)."""
    threads = [default_threads] if quick else sorted({1, 2, os.cpu_count() or 1})
    rows = []
    for setting in ("glibc", "tuned"):
        for model_name, arch in (("default", DEFAULT), ("larger", LARGER)):
            batches = [32, 256] if model_name == "default" else [256]
            epochs = (2 if model_name == "default" else 1) if quick else (3 if
                      model_name == "default" else 2)  # fmt: skip
            cases = [ts.Case(model_name, arch["hidden"], arch["layers"], batch, th).__dict__
                     for th in threads for batch in batches]  # fmt: skip
            env = {**os.environ, allocator.ENV: "0" if setting == "glibc" else "1"}
            argv = [sys.executable, str(Path(__file__).parent / "train_speed.py"),
                    json.dumps(cases), str(epochs)]  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode != 0:
                raise RuntimeError(f"train_speed failed: {proc.stderr.strip()[-2000:]}")
            rows += json.loads(proc.stdout.strip().splitlines()[-1])
    return rows


def training_cuda(x, y, quick: bool, default_threads: int, tuned: str) -> list[dict]:
    """CUDA as stockcast trains there (cuDNN, train_step's amp_context: bf16 head, fp32 LSTM;
    data resident on the GPU) over batch sizes and data sizes, with CPU rows at the same sizes
    for the --device auto crossover."""
    rows = []
    big_x, big_y = np.concatenate([x] * 10), np.concatenate([y] * 10)  # a 10x larger data set
    datasets = [("sample", x, y)] + ([] if quick else [("10x", big_x, big_y)])
    for model_name, arch in (("default", DEFAULT), ("larger", LARGER)):
        for data_name, xx, yy in datasets:
            for batch in (256, 1024, 4096):
                for device in ("cuda", "cpu"):
                    if device == "cpu" and (model_name == "larger" or batch == 256):
                        continue  # in the CPU rows already, or minutes on a CPU
                    case = ts.Case(model_name, arch["hidden"], arch["layers"], batch,
                                   default_threads, device, amp=device == "cuda")  # fmt: skip
                    epochs = 1 if device == "cpu" else 2 if quick else 3
                    row = ts.windows_per_s(case, xx, yy, epochs)
                    rows.append({**row, "data": data_name, "allocator": tuned})
    return rows


def setup_darts_venv() -> str | None:
    """Create ``.venv-bench`` with this torch release and ``darts[torch]`` (about a minute with
    a warm pip cache); returns the error line, or None when it worked."""
    torch_pin = f"torch=={torch.__version__.split('+')[0]}"  # the same build; never a CUDA one
    print(f"setting up {BENCH_VENV_PY.parent.parent.name} for the Darts comparison "
          f"({torch_pin}, darts[torch]; once; --no-darts skips it)", flush=True)  # fmt: skip
    steps = [
        [sys.executable, "-m", "venv", str(BENCH_VENV_PY.parent.parent)],
        [str(BENCH_VENV_PY), "-m", "pip", "install", "-q", torch_pin],
        [str(BENCH_VENV_PY), "-m", "pip", "install", "-q", "darts[torch]>=0.30", "-e", str(ROOT)],
    ]
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return f"setting up .venv-bench failed at `{' '.join(argv[2:5])}`: {tail}"
    return None


def darts(x_rows: np.ndarray, windows: int, quick: bool, threads: list[int]) -> dict:
    """Darts BlockRNNModel per-epoch time on the same rows, in a subprocess (see darts_epoch)."""
    py = _darts_python()
    if py is None and not BENCH_VENV_PY.exists():
        failed = setup_darts_venv()
        if failed:
            return {"skipped": failed}
        py = _darts_python()
    if py is None:
        return {"skipped": "no darts here or in .venv-bench (see BENCHMARKS.md, Darts)"}
    out: dict = {"python": py, "runs": []}
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-darts-") as tmp:
        data = Path(tmp) / "rows.npy"
        np.save(data, x_rows.astype(np.float32))
        cases = [("default", DEFAULT, th, "glibc") for th in threads]
        cases.append(("default", DEFAULT, threads[0], "tuned"))
        if not quick:
            cases.append(("larger", LARGER, threads[0], "glibc"))
        for model_name, arch, th, setting in cases:
            env = dict(os.environ)
            if setting == "tuned":  # what allocator.tune() sets, through glibc's variables
                env |= {
                    "MALLOC_MMAP_THRESHOLD_": str(allocator.MMAP_THRESHOLD),
                    "MALLOC_TRIM_THRESHOLD_": str(allocator.TRIM_THRESHOLD),
                }
            argv = [py, str(Path(__file__).parent / "darts_epoch.py"), "--data", str(data),
                    "--windows", str(windows), "--hidden", str(arch["hidden"]),
                    "--layers", str(arch["layers"]), "--batch", "256", "--threads", str(th),
                    "--epochs", "3" if quick else "4"]  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
                out["runs"].append({"model": model_name, "threads": th, "error": tail[0]})
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            epochs = res["epoch_s"][1:] or res["epoch_s"]  # the first epoch warms up
            res["epoch_s_median"] = float(np.median(epochs))
            out["runs"].append({"model": model_name, "allocator": setting, **res})
    return out


def _darts_python() -> str | None:
    try:
        import darts  # noqa: F401

        return sys.executable
    except ImportError:
        pass
    if BENCH_VENV_PY.exists():
        ok = subprocess.run([str(BENCH_VENV_PY), "-c", "import darts, pytorch_lightning"],
                            capture_output=True).returncode == 0  # fmt: skip
        if ok:
            return str(BENCH_VENV_PY)
    return None


def _rows_for_darts(windows: np.ndarray, horizon: int) -> np.ndarray:
    """Feature rows behind consecutive windows (row i = first row of window i), plus enough
    following rows for the last window's targets."""
    rows = np.concatenate([windows[:, 0, :], windows[-1, 1:, :]])
    return np.concatenate([rows, rows[-horizon:]])


def compare_darts(train_rows: list[dict], darts_res: dict) -> list[dict]:
    """Per-epoch time ratios Darts / stockcast (same model, batch 256, same threads), for
    each stockcast allocator setting measured."""
    out = []
    for run in darts_res.get("runs", []):
        if "epoch_s_median" not in run:
            continue
        ours = [r for r in train_rows if r["name"] == run["model"] and r["batch"] == 256
                and r["threads"] == run["threads"] and r["device"] == "cpu"]  # fmt: skip
        for r in ours:
            out.append({"model": run["model"], "threads": run["threads"],
                        "darts_allocator": run["allocator"], "allocator": r["allocator"],
                        "darts_epoch_s": run["epoch_s_median"], "stockcast_epoch_s": r["epoch_s"],
                        "darts_over_stockcast": run["epoch_s_median"] / r["epoch_s"],
                        "stockcast_default": r["allocator"] == "tuned"})  # fmt: skip
    return out


def print_report(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(130, Console().width))
    m, pk = res["machine"], res["peak"]
    con.print(f"[bold]stockcast benchmark[/] {res['mode']}  {m.get('cpu')} family "
              f"{m.get('cpu_family')}, {m['nproc']} cores, torch {m['torch']}, "
              f"load {m.get('load_avg')}")  # fmt: skip
    con.print(f"FP32 peak measured (GEMM, {pk['threads']} threads): oneDNN "
              f"{pk.get('onednn_gflops') or 0:.0f} GFLOP/s, MKL {pk['mkl_gflops']:.0f}; nominal "
              f"{pk.get('nominal_gflops') or 0:.0f} at {pk.get('mhz')} MHz")  # fmt: skip
    t = Table(title="Training throughput (one epoch of train_step over the sample's windows)")
    for col in ("model", "device", "thr", "batch", "precision", "allocator", "epoch s",
                "windows/s", "GFLOP/s", "% peak", "GPU MB"):  # fmt: skip
        left = col in ("model", "precision", "device", "allocator")
        t.add_column(col, justify="left" if left else "right")
    for r in res["training"]:
        precision = "amp (bf16 head)" if r.get("amp") else "fp32"
        t.add_row(r["name"] + (f" {r['data']}" if "data" in r else ""), r["device"],
                  str(r["threads"]), str(r["batch"]), precision,
                  r.get("allocator", "") if r["device"] == "cpu" else "", f"{r['epoch_s']:.3f}",
                  f"{r['windows_per_s']:.0f}", f"{r['gflops_per_s']:.1f}",
                  f"{r['peak_share'] * 100:.1f}" if r.get("peak_share") else "",
                  f"{r['gpu_peak_mem_mb']:.0f}" if "gpu_peak_mem_mb" in r else "")  # fmt: skip
    con.print(t)
    d = Table(title="Darts BlockRNNModel(LSTM) vs stockcast, per epoch, same work (batch 256)")
    for col in ("model", "thr", "Darts allocator", "stockcast allocator", "Darts s",
                "stockcast s", "Darts/stockcast"):  # fmt: skip
        d.add_column(col)
    for r in res["darts_ratio"]:
        mark = " (default)" if r["stockcast_default"] else ""
        d.add_row(r["model"], str(r["threads"]), r["darts_allocator"], r["allocator"] + mark,
                  f"{r['darts_epoch_s']:.3f}", f"{r['stockcast_epoch_s']:.3f}",
                  f"{r['darts_over_stockcast']:.2f}x")  # fmt: skip
    con.print(d if res["darts_ratio"] else f"Darts: {res['darts'].get('skipped', res['darts'])}")
    o = Table(title="Latency, store, memory")
    o.add_column("figure")
    o.add_column("value", justify="right")
    o.add_column("reference", justify="right")
    o.add_column("ratio", justify="right")
    h, p, s = res["help"], res["predict"], res["store"]
    o.add_row("stockcast --help", f"{h['help_s']:.2f} s",
              f"import torch {h['import_torch_s']:.2f} s", f"{h['ratio']:.2f}x")  # fmt: skip
    o.add_row("stockcast --help", f"{h['help_s']:.2f} s",
              f"bare Typer app {h['bare_typer_s']:.2f} s",
              f"{h['ratio_bare_typer']:.2f}x")  # fmt: skip
    if "predict_s" in p:
        o.add_row(
            "stockcast predict MSFT",
            f"{p['predict_s']:.2f} s",
            f"import torch, pandas {p['import_torch_pandas_s']:.2f} s",
            f"{p['ratio']:.2f}x",
        )
    else:
        o.add_row("stockcast predict MSFT", "skipped", p.get("skipped", ""), "")
    o.add_row(f"read {s['symbols']} symbols x {s['sessions']} sessions", f"{s['read_s']:.2f} s",
              f"{s['read_ms_per_symbol']:.2f} ms/symbol", "")  # fmt: skip
    o.add_row("peak RSS, this process", f"{res['memory']['bench_peak_rss_mb']:.0f} MiB", "", "")
    for key, what in (("train_peak_rss_mb", "train MSFT --epochs 1"), ("predict_peak_rss_mb",
                      "predict MSFT")):  # fmt: skip
        if p.get(key):
            o.add_row(f"peak RSS, stockcast {what}", f"{p[key]:.0f} MiB", "", "")
    con.print(o)
    for note in res["notes"]:
        con.print(f"note: {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a run of a minute or two")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    ap.add_argument("--no-darts", action="store_true", help="skip the Darts comparison")
    args = ap.parse_args()
    t_start = time.perf_counter()
    quick = args.quick
    info = machine()
    default_threads = cpu_threads()
    tuned = "tuned" if allocator.tune() else "glibc"  # as `stockcast` does; CUDA-section CPU rows
    notes = []
    pk = {**peak.measured_cpu(runs=3 if quick else 5), **peak.nominal_cpu(info)}
    x, y = ts.sample_windows()
    train = training_cpu(quick, default_threads)
    if torch.cuda.is_available():
        pk["cuda"] = peak.measured_cuda()
        train += training_cuda(x, y, quick, default_threads, tuned)
    else:
        notes.append("no CUDA device: GPU rows and the --device auto crossover are pending")
    for r in train:
        # on CUDA the LSTM, nearly all the FLOPs, runs in fp32 under amp_context
        ref = pk["cuda"]["fp32_gflops"] if r["device"].startswith("cuda") else pk["peak_gflops"]
        r["peak_share"] = r["gflops_per_s"] / ref if ref else None
    threads = [default_threads] if quick else sorted({1, 2, os.cpu_count() or 1})
    if args.no_darts:
        dres = {"skipped": "--no-darts"}
    else:
        dres = darts(_rows_for_darts(x, y.shape[1]), len(x), quick, threads)
    runs = 3 if quick else 5
    work = Path(tempfile.mkdtemp(prefix="stockcast-bench-home-"))
    try:
        pred = startup.predict_vs_import(runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = {
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": info,
        "peak": pk,
        "stockcast_default_threads": default_threads,
        "training": train,
        "darts": dres,
        "darts_ratio": compare_darts(train, dres),
        "help": startup.help_vs_import(runs),
        "predict": pred,
        "store": startup.store_read(500, 5000, 2 if quick else 3),
        "memory": {"bench_peak_rss_mb": peak_rss_mb()},
        "notes": notes,
    }
    if info.get("load_avg") and info["load_avg"][0] > 0.5:
        notes.append(f"load average {info['load_avg'][0]:.1f} at the start: other work was "
                     "running, timings are noisy")  # fmt: skip
    res["seconds"] = time.perf_counter() - t_start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1, default=str))
    print_report(res)
    print(f"wrote {args.json} ({res['seconds']:.0f} s)")


if __name__ == "__main__":
    main()

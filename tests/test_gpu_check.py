"""bench/gpu_check.py, the one-shot GPU check: its dry run on the CPU, its answer without CUDA."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_check.py"


def _run(*args: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_dry_run_on_the_cpu_reports_every_check():
    proc, res = _run("--cpu", "--quick")
    assert proc.returncode == 0, proc.stderr
    assert {
        "cuda",
        "device",
        "dtypes",
        "grad_underflow",
        "throughput",
        "fit",
        "checks",
        "ok",
    } <= set(res)
    assert res["cuda"] is False and res["device"].startswith("cpu")
    assert res["ok"] is True and all(res["checks"].values())
    # no autocast on the CPU: everything stays float32
    assert set(res["dtypes"]["recurrent"].values()) == {"torch.float32"}
    assert res["dtypes"]["head"] == "torch.float32"
    shares = res["grad_underflow"]["all"]
    assert shares["n"] > 0
    assert 0.0 <= shares["below_fp16_subnormal"] <= shares["below_fp16_normal"] <= 1.0
    assert [r["batch"] for r in res["throughput"]] == [256, 1024]
    assert all(r["windows_per_s"] > 0 for r in res["throughput"])
    assert res["fit"]["finite"] and math.isfinite(res["fit"]["best_val_loss"])
    assert "all checks passed" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_exits_0():
    proc, res = _run()
    assert proc.returncode == 0, proc.stderr
    assert res == {"cuda": False}

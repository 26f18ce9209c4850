"""The machine's FP32 peak: measured with a large GEMM, and nominal from the CPU model."""

from __future__ import annotations

import os
import time

import torch


def _gflops(fn, flops: float, runs: int) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def measured_cpu(size: int = 2048, runs: int = 5) -> dict:
    """Best-of-``runs`` GFLOP/s of a float32 (size x size) GEMM with all threads: through
    ``torch.mm`` (MKL) and through oneDNN (the library behind nn.LSTM on the CPU), which can
    differ a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        flops = 2.0 * size**3
        out = {"threads": torch.get_num_threads()}
        out["mkl_gflops"] = _gflops(lambda: a @ b, flops, runs)
        try:
            op = torch.ops.mkldnn._linear_pointwise
            bt = b.t().contiguous()
            out["onednn_gflops"] = _gflops(lambda: op(a, bt, None, "none", [], ""), flops, runs)
        except (AttributeError, RuntimeError):
            out["onednn_gflops"] = None
    finally:
        torch.set_num_threads(before)
    out["peak_gflops"] = max(v for k, v in out.items() if k.endswith("gflops") and v)
    return out


def nominal_cpu(info: dict) -> dict:
    """FP32 FLOPs per cycle per core from the ISA and CPU family, times cores and the clock
    /proc/cpuinfo reports (often the base clock; boost runs higher). None when unknown."""
    isa, family = set(info.get("isa", [])), str(info.get("cpu_family", ""))
    vendor_amd = "AMD" in str(info.get("cpu", ""))
    if vendor_amd and family == "26" and "avx512f" in isa:
        per_cycle, why = 64, "Zen 5: two 512-bit FMA pipes = 2 x 16 x 2"
    elif vendor_amd and family == "25" and "avx512f" in isa:
        per_cycle, why = 32, "Zen 4: 512-bit ops on 256-bit pipes = 2 x 8 x 2"
    elif "avx512f" in isa:
        per_cycle, why = 64, "AVX-512 with two FMA units (assumed)"
    elif "fma" in isa:
        per_cycle, why = 32, "AVX2: two 256-bit FMA units = 2 x 8 x 2"
    else:
        return {"nominal_gflops": None}
    try:
        mhz = float(info.get("cpu_mhz") or 0)
    except ValueError:
        mhz = 0.0
    cores = info.get("nproc") or 1
    return {
        "flops_per_cycle_per_core": per_cycle,
        "basis": why,
        "mhz": mhz,
        "nominal_gflops": per_cycle * cores * mhz / 1e3 if mhz else None,
    }


def measured_cuda(size: int = 8192, runs: int = 5) -> dict:
    """Best GFLOP/s of a large float32 (TF32 off) and bf16 GEMM on the current GPU."""
    dev = torch.device("cuda")
    out = {}
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            a = torch.randn(size, size, device=dev, dtype=dtype)
            b = torch.randn(size, size, device=dev, dtype=dtype)

            def mm(a=a, b=b) -> None:
                a @ b
                torch.cuda.synchronize()

            out[f"{name}_gflops"] = _gflops(mm, 2.0 * size**3, runs)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return out

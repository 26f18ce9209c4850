"""Training throughput of the real model and training step (nn.LSTM: cuDNN or oneDNN).

Windows come from the bundled MSFT sample (default features, lookback and horizon), so the
values, and hence any denormal slow-downs, are those of real training. One epoch = one pass
of ``stockcast.training.loop.train_step`` over the windows in a seeded random order, as ``fit``
does (AdamW, Huber loss, gradient clipping; no validation).

``python bench/train_speed.py CASES_JSON [EPOCHS]`` times the cases in this process after
``stockcast.allocator.tune()``, as the `stockcast` command does; ``STOCKCAST_MALLOC_TUNE=0``
keeps glibc's default allocator instead (the setting is per process: one process per setting).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from stockcast import allocator, models
from stockcast.device import threads_for
from stockcast.training.loop import TrainConfig, make_loss, train_step


@dataclass(frozen=True)
class Case:
    """One training configuration to time."""

    name: str
    hidden: int
    layers: int
    batch: int
    threads: int  # intra-op threads (CPU rows)
    device: str = "cpu"
    amp: bool = False  # label: on CUDA, train_step runs under amp_context (bf16 head, fp32 LSTM)


def build_model(n_features: int, horizon: int, hidden: int, layers: int, seed: int = 0):
    """The registry's default architecture (stockcast's LSTM) at this size, seeded."""
    config_cls, _ = models.lookup(models.DEFAULT_ARCH)
    cfg = config_cls(n_features=n_features, horizon=horizon, hidden=hidden, layers=layers)
    torch.manual_seed(seed)
    return models.build(cfg)


def sample_windows(n_max: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scaled training windows (N, L, F) and targets (N, H) of the bundled sample."""
    from stockcast.data.sources.sample import SAMPLE_SYMBOL, load_sample
    from stockcast.prep.windows import DataConfig, build_dataset

    ds = build_dataset(SAMPLE_SYMBOL, load_sample(), DataConfig())
    x, y = ds.arrays("train")
    if n_max is not None:
        x, y = x[:n_max], y[:n_max]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def flops_per_window(n_features: int, hidden: int, layers: int, lookback: int, horizon: int):
    """Forward + backward FLOPs of one window: forward 2 L 4H (In+H) per layer plus the head,
    backward counted as twice the forward."""
    fwd, n_in = 0.0, n_features
    for _ in range(layers):
        fwd += 2 * lookback * 4 * hidden * (n_in + hidden)
        n_in = hidden
    fwd += 2 * hidden * horizon
    return 3 * fwd


def epoch_seconds(
    case: Case, x: np.ndarray, y: np.ndarray, epochs: int
) -> tuple[list[float], list[float]]:
    """Wall time and process CPU time of each of ``epochs`` timed epochs (after one warm-up
    epoch). On a busy machine the CPU time of a one-thread case is the steadier figure."""
    device = torch.device(case.device)
    tcfg = TrainConfig(batch_size=case.batch)
    model = build_model(x.shape[2], y.shape[1], case.hidden, case.layers).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    loss_fn = make_loss(tcfg.loss, tcfg.huber_delta)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    gen = torch.Generator().manual_seed(0)
    times, cpu = [], []
    with threads_for(device, case.threads):
        for _ in range(epochs + 1):
            perm = torch.randperm(len(xt), generator=gen).to(device)
            t0, c0 = time.perf_counter(), time.process_time()
            total = torch.zeros((), device=device)
            for i in range(0, len(xt), case.batch):
                idx = perm[i : i + case.batch]
                total += train_step(model, opt, loss_fn, xt[idx], yt[idx], tcfg.clip_norm)
            if not math.isfinite(float(total)):  # also syncs the device
                raise RuntimeError(f"{case.name}: loss is not finite")
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return times[1:], cpu[1:]


def windows_per_s(case: Case, x: np.ndarray, y: np.ndarray, epochs: int) -> dict:
    """Median epoch time, windows/s and GFLOP/s of one case."""
    times, cpu = epoch_seconds(case, x, y, epochs)
    med = float(np.median(times))
    fl = flops_per_window(x.shape[2], case.hidden, case.layers, x.shape[1], y.shape[1])
    extra = {}
    if case.device.startswith("cuda"):
        extra["gpu_peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    return {
        **extra,
        **case.__dict__,
        "windows": len(x),
        "epoch_s": med,
        "epoch_s_all": times,
        "epoch_cpu_s": float(np.median(cpu)),  # process CPU time: all threads, user + sys
        "windows_per_s": len(x) / med,
        "gflops_per_s": len(x) * fl / med / 1e9,
        "flops_per_window": fl,
    }


def main() -> None:
    """Time the cases of ``argv[1]`` (a JSON list of Case fields) and print a JSON list of
    results, each with the allocator setting in effect (``tuned`` or ``glibc``)."""
    import json
    import resource
    import sys

    setting = "tuned" if allocator.tune() else "glibc"
    cases = [Case(**c) for c in json.loads(sys.argv[1])]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    x, y = sample_windows()
    rows = []
    for c in cases:
        row = {**windows_per_s(c, x, y, epochs), "allocator": setting}
        row["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(row)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

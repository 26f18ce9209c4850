"""Where one training epoch of the default model goes: torch.profiler over one epoch of
``loop.train_step`` (default lstm, batch 256, AdamW, Huber, clipping) on the bundled MSFT
sample's training windows, after one warm-up epoch, with the allocator tuned as the CLI does.

    python bench/epoch_profile.py [--threads 1] [--rows 12]

Prints the profiler's table (self CPU time per op) and a JSON line with the epoch's wall and CPU
seconds, the thread count and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch.profiler import profile
from train_speed import build_model, sample_windows

from stockcast import allocator
from stockcast.training.loop import TrainConfig, make_loss, train_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=12)
    args = ap.parse_args()
    tuned = allocator.tune()
    torch.set_num_threads(args.threads)
    x, y = (torch.from_numpy(a) for a in sample_windows())
    cfg = TrainConfig()
    model = build_model(x.shape[2], y.shape[1], 64, 1).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = make_loss(cfg.loss, cfg.huber_delta)
    gen = torch.Generator().manual_seed(0)

    def epoch() -> None:
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            train_step(model, opt, loss_fn, x[idx], y[idx], cfg.clip_norm)

    epoch()  # warm-up
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    with profile() as prof:
        epoch()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(json.dumps({"threads": args.threads, "allocator_tuned": tuned, "windows": len(x),
                      "epoch_wall_s": round(wall, 3), "epoch_cpu_s": round(cpu, 3),
                      "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}))  # fmt: skip


if __name__ == "__main__":
    main()

"""Can the K members of an ensemble train as one batched computation faster than in threads?

Per epoch of the default model (lstm, hidden 64, one layer, lookback 60, batch 256, AdamW,
Huber loss, gradient clipping per member) on the bundled MSFT sample's 5,523 training windows,
each member its own seed, initialisation and permutation. Variants, timed side by side in one
process (interleaved repetitions after one warm-up epoch each, min and median of the wall time):

- ``one``: one member, ``nn.LSTM`` (oneDNN), one intra-op thread: what `train --ensemble 1` does.
- ``threads``: K ``nn.LSTM`` members on min(K, cores) Python threads, one intra-op thread each:
  what ``recipe.run_members`` does today.
- ``vmap``: ``torch.func.stack_module_state`` + ``vmap(functional_call)`` of the ``nn.LSTM``
  model, one AdamW over the stacked (K, ...) weights, clipping per member; all cores.
  (aten::mkldnn_rnn_layer has no batching rule: vmap falls back to a loop over K, and says so.)
- ``grouped``: an LSTM written over stacked (K, ...) weights, the input projection of all steps
  as one ``bmm``, then a Python loop over time with one ``baddbmm`` per step, autograd backward;
  all cores.
- ``grouped1``: the same with K = 1 (its overhead against oneDNN at equal work).

    python bench/batched_ensemble.py [--k 4] [--reps 3] [--variants one,threads,vmap,grouped]

Prints one JSON object (per variant: epoch seconds of each repetition, min, median, and the
ratio of the median to ``one``'s) with the load average before and after.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import threading
import time
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from stockcast import allocator, models
from stockcast.training.loop import TrainConfig, make_loss, train_step

THREADS = [os.cpu_count() or 1]  # intra-op threads of the batched variants (--threads)


def windows() -> tuple[torch.Tensor, torch.Tensor]:
    from stockcast.data.sources.sample import SAMPLE_SYMBOL, load_sample
    from stockcast.prep.windows import DataConfig, build_dataset

    x, y = build_dataset(SAMPLE_SYMBOL, load_sample(), DataConfig()).arrays("train")
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


def member(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return models.build(models.lookup("lstm")[0]()).train()


def perms(n: int, k: int, epoch: int) -> list[torch.Tensor]:
    return [torch.randperm(n, generator=torch.Generator().manual_seed(1000 * epoch + i))
            for i in range(k)]  # fmt: skip


class Single:
    """K members trained as separate models, on ``workers`` threads (``one``/``threads``)."""

    def __init__(self, k: int, workers: int) -> None:
        self.cfg = TrainConfig()
        self.nets = [member(i) for i in range(k)]
        lr, wd = self.cfg.lr, self.cfg.weight_decay
        self.opts = [torch.optim.AdamW(n.parameters(), lr=lr, weight_decay=wd) for n in self.nets]
        self.loss = make_loss("huber")
        self.workers = workers

    def epoch(self, x: torch.Tensor, y: torch.Tensor, ps: list[torch.Tensor]) -> None:
        def run(i: int) -> None:
            for s in range(0, len(x), self.cfg.batch_size):
                idx = ps[i][s : s + self.cfg.batch_size]
                train_step(self.nets[i], self.opts[i], self.loss, x[idx], y[idx], 1.0)

        torch.set_num_threads(1)
        if self.workers == 1:
            for i in range(len(self.nets)):
                run(i)
            return
        pending = list(range(len(self.nets)))[::-1]
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    i = pending.pop()
                run(i)

        ts = [threading.Thread(target=worker) for _ in range(self.workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def stacked_batches(ps: list[torch.Tensor], bs: int) -> Iterator[torch.Tensor]:
    """The minibatches of K members at once: (K, B) window indices, each member in its own
    permutation ``ps[k]``."""
    for s in range(0, len(ps[0]), bs):
        yield torch.stack([p[s : s + bs] for p in ps])


def clip_stacked(params: list[torch.Tensor], clip: float) -> None:
    """``clip_grad_norm_`` per member of stacked (K, ...) gradients."""
    sq = sum(p.grad.pow(2).flatten(1).sum(1) for p in params)  # (K,)
    coef = torch.clamp(clip / (sq.sqrt() + 1e-6), max=1.0)
    for p in params:
        p.grad.mul_(coef.view(-1, *([1] * (p.dim() - 1))))


class Vmapped:
    """torch.func: the K ``nn.LSTM`` members' weights stacked, the forward vmapped."""

    def __init__(self, k: int) -> None:
        from torch.func import functional_call, grad, stack_module_state, vmap

        self.cfg = TrainConfig()
        nets = [member(i) for i in range(k)]
        params, bufs = stack_module_state(nets)
        self.params = {n: p.detach().clone().requires_grad_() for n, p in params.items()}
        base = copy.deepcopy(nets[0]).to("meta")

        def loss(p: dict, b: dict, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.huber_loss(functional_call(base, (p, b), (xb,)), yb)

        # vmap of autograd through aten::lstm has no fallback; vmap of torch.func.grad does
        self.grads = vmap(grad(loss))
        self.bufs = bufs
        decay = [p for p in self.params.values() if p.dim() >= 3]
        rest = [p for p in self.params.values() if p.dim() < 3]
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay},
                  {"params": rest, "weight_decay": 0.0}]  # fmt: skip
        self.opt = torch.optim.AdamW(groups, lr=self.cfg.lr)

    def epoch(self, x: torch.Tensor, y: torch.Tensor, ps: list[torch.Tensor]) -> None:
        torch.set_num_threads(THREADS[0])
        for idx in stacked_batches(ps, self.cfg.batch_size):
            self.opt.zero_grad(set_to_none=True)
            gs = self.grads(self.params, self.bufs, x[idx], y[idx])  # name -> (K, ...)
            for name, p in self.params.items():
                p.grad = gs[name]
            clip_stacked(list(self.params.values()), 1.0)
            self.opt.step()


class GroupedLSTM(nn.Module):
    """K one-layer LSTMs with heads, weights stacked on a leading K axis, copied from K
    ``lstm.Model`` members: x (K, B, L, F) -> (K, B, H)."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        st = lambda f: nn.Parameter(torch.stack([f(n).detach().clone() for n in nets]))  # noqa: E731
        self.w_ih = st(lambda n: n.lstm.weight_ih_l0.t())  # (K, F, 4D)
        self.w_hh = st(lambda n: n.lstm.weight_hh_l0.t())  # (K, D, 4D)
        self.b = st(lambda n: (n.lstm.bias_ih_l0 + n.lstm.bias_hh_l0).unsqueeze(0))  # (K,1,4D)
        self.w_out = st(lambda n: n.head.weight.t())  # (K, D, H)
        self.b_out = st(lambda n: n.head.bias.unsqueeze(0))  # (K, 1, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b, steps, f = x.shape
        d = self.w_hh.shape[1]
        xp = torch.baddbmm(self.b, x.reshape(k, b * steps, f), self.w_ih)  # (K, B*L, 4D)
        # unbind, not xp[:, :, t]: each select's backward would fill a zero tensor of xp's size
        xs = xp.view(k, b, steps, 4 * d).unbind(2)  # L x (K, B, 4D)
        h = x.new_zeros(k, b, d)
        c = x.new_zeros(k, b, d)
        for t in range(steps):
            g = torch.baddbmm(xs[t], h, self.w_hh)  # (K, B, 4D): i, f, g, o
            i, fg, gg, o = g.chunk(4, dim=-1)
            c = torch.sigmoid(fg) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
        return torch.baddbmm(self.b_out, h, self.w_out)  # (K, B, H)


class Grouped:
    def __init__(self, k: int) -> None:
        self.cfg = TrainConfig()
        self.net = GroupedLSTM([member(i) for i in range(k)])
        p = self.net
        self.opt = torch.optim.AdamW(
            [{"params": [p.w_ih, p.w_hh, p.w_out], "weight_decay": self.cfg.weight_decay},
             {"params": [p.b, p.b_out], "weight_decay": 0.0}], lr=self.cfg.lr)  # fmt: skip

    def epoch(self, x: torch.Tensor, y: torch.Tensor, ps: list[torch.Tensor]) -> None:
        torch.set_num_threads(THREADS[0])
        for idx in stacked_batches(ps, self.cfg.batch_size):
            self.opt.zero_grad(set_to_none=True)
            out = self.net(x[idx])
            loss = torch.nn.functional.huber_loss(out, y[idx], reduction="none")
            loss.mean(dim=(1, 2)).sum().backward()
            clip_stacked(list(self.net.parameters()), 1.0)
            self.opt.step()


def build(name: str, k: int):
    if name == "one":
        return Single(1, 1), 1
    if name == "threads":
        return Single(k, min(k, os.cpu_count() or 1)), k
    if name == "vmap":
        return Vmapped(k), k
    if name == "grouped":
        return Grouped(k), k
    if name == "grouped1":
        return Grouped(1), 1
    raise SystemExit(f"unknown variant {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", default="one,threads,vmap,grouped,grouped1")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads of vmap/grouped (0: all cores); 1 on a busy machine, "
        "where OpenMP barriers of many small ops stall (compare CPU seconds)",
    )
    ap.add_argument("--windows", type=int, default=0, help="the first N windows (0: all)")
    args = ap.parse_args()
    allocator.tune()
    if args.threads:
        THREADS[0] = args.threads
    warnings.simplefilter("ignore")
    x, y = windows()
    if args.windows:
        x, y = x[: args.windows], y[: args.windows]
    names = args.variants.split(",")
    runs = {n: build(n, args.k) for n in names}
    load0 = os.getloadavg()
    times: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(args.reps + 1):  # rep 0: warm-up, not counted
        for n in names:
            obj, k = runs[n]
            ps = perms(len(x), k, rep)
            t0, c0 = time.perf_counter(), time.process_time()
            obj.epoch(x, y, ps)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"# rep {rep} {n}: wall {wall:.3f} s, cpu {cpu:.3f} s, load "
                f"{os.getloadavg()[0]:.2f}",
                file=sys.stderr,
                flush=True,
            )
            if rep:
                times[n].append(wall)
                cpus[n].append(cpu)
    base = float(np.median(times[names[0]]))
    out = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "windows": len(x),
        "k": args.k,
        "batched_threads": THREADS[0],
        "load_before": [round(v, 2) for v in load0],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "variants": {
            n: {
                "epoch_s": [round(t, 3) for t in ts],
                "min": round(min(ts), 3),
                "median": round(float(np.median(ts)), 3),
                "vs_" + names[0]: round(float(np.median(ts)) / base, 2),
                "cpu_s": [round(t, 3) for t in cpus[n]],
                "cpu_vs_" + names[0]: round(
                    float(np.median(cpus[n])) / float(np.median(cpus[names[0]])), 2
                ),
            }
            for n, ts in times.items()
        },
    }
    print(json.dumps(out, indent=1))
    if any(not math.isfinite(t) for ts in times.values() for t in ts):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

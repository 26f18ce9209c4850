"""Training across processes with torchrun and DistributedDataParallel (nanoGPT's recipe).

``torchrun --nproc-per-node N -m stockcast train ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in their environment. ``start`` joins them in one
process group (nccl on CUDA, gloo on the CPU) and gives each its device (``cuda:LOCAL_RANK`` on
a GPU machine) and its ``loop.Shard``: every rank draws the same seeded permutation each epoch,
trains on its slice of every global batch through ``DDP(model)`` (which averages gradients),
and validation sums are all-reduced, so every rank takes the same early-stopping decisions and
N processes follow the one-process run. Only rank 0 writes models and prints.

The same launcher fans per-symbol training out: each rank trains ``share(symbols)``, and rank 0
gathers everyone's results (``gather``) to print them. Without torchrun (no ``WORLD_SIZE``, or
1) nothing here starts a process group.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as tdist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from stockcast.device import resolve_device
from stockcast.training.loop import Shard

T = TypeVar("T")


@dataclass(frozen=True)
class Rank:
    """This process in a torchrun launch (world 1: a plain run)."""

    rank: int  # RANK: 0 .. world-1 over all nodes
    world: int  # WORLD_SIZE
    local: int  # LOCAL_RANK: the GPU index on this node

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes models and prints."""
        return self.rank == 0


def from_env(env: dict[str, str] | None = None) -> Rank:
    """The launch torchrun described in the environment; world 1 when not under torchrun."""
    env = dict(os.environ) if env is None else env
    world = int(env.get("WORLD_SIZE", "1"))
    return Rank(int(env.get("RANK", "0")), world, int(env.get("LOCAL_RANK", "0")))


def launched(env: dict[str, str] | None = None) -> bool:
    """Whether this process is one of several started by torchrun."""
    return from_env(env).world > 1


def start(device: str = "auto") -> tuple[Rank, torch.device, Shard]:
    """Join the process group (once per process) and return this rank, its device and its
    ``Shard`` for ``loop.fit``. On CUDA each rank takes ``cuda:LOCAL_RANK``."""
    me = from_env()
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", me.local)
        torch.cuda.set_device(dev)
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")

    def wrap(model: nn.Module) -> nn.Module:
        return DDP(model, device_ids=[me.local] if dev.type == "cuda" else None)

    def reduce(t: torch.Tensor) -> None:
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)

    return me, dev, Shard(me.rank, me.world, wrap, reduce)


def share(items: Sequence[T], me: Rank) -> list[T]:
    """Rank ``me``'s share of ``items``: items r, r+N, r+2N, ..."""
    return list(items[me.rank :: me.world])


def gather(value: Any, me: Rank) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank (rank 0 prints them)."""
    if me.world <= 1:
        return [value]
    out: list[Any] = [None] * me.world
    tdist.all_gather_object(out, value)
    return out


def finish() -> None:
    """Leave the process group (a no-op without one)."""
    if tdist.is_initialized():
        tdist.destroy_process_group()

"""The training loop: silent, seeded, in-memory, reporting through a callback.

No DataLoader: one epoch loop (``_train_epoch``) and one validation loop (``_val_loss``) draw
batches from a batch source, either ``Placed`` (one series' windows in one tensor, on the GPU
when they fit) or ``Gathered`` (many series' windows built by index at batch time, each global
batch split over torchrun ranks by a ``Shard``); each epoch draws a permutation from a seeded
generator and takes batches from it. ``train_step`` is the only code that runs per batch, so a
faster kernel can replace it without touching the rest. The two sources sum validation losses
at different precisions (float32 on the device, float64 on the host), as the per-symbol and the
global loops did before they were one: kept so that every trained model stays bit for bit.

Epoch 0 is the untrained model (its output bias set by the caller to a naive forecast, see
``recipe.naive_start``): its validation loss is the first best, so early stopping never returns
weights that are worse on validation than that naive forecast.
A non-finite loss stops training with ``TrainingError``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from stockcast import models
from stockcast.device import amp_context
from stockcast.errors import TrainingError, UsageError
from stockcast.models.base import EVAL_BATCH
from stockcast.options import TrainConfig

GPU_RESIDENT_SHARE = 0.5  # keep training tensors on the GPU when they use at most this share


@dataclass(frozen=True)
class EpochReport:
    """What the callback receives after each epoch."""

    epoch: int  # 1-based (epoch 0, the untrained model, is not reported)
    max_epochs: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    best_epoch: int
    lr: float  # learning rate at the end of the epoch
    seconds: float  # since training began
    improved: bool


Callback = Callable[[EpochReport], None]
Stop = Callable[[], bool]  # asked between batches: True ends training as Ctrl-C does


def _check(stop: Stop | None) -> None:
    """KeyboardInterrupt when ``stop`` says so: a member in a worker thread sees Ctrl-C
    between two batches instead of at the end of its epoch."""
    if stop is not None and stop():
        raise KeyboardInterrupt


@dataclass(frozen=True)
class Gathered:
    """Windows built by index at batch time (``MultiDataset.gather``) instead of materialised
    arrays: the batch source of a global model, whose windows would not fit in memory. Its
    validation losses are summed in float64 on the host (all-reduced over ranks)."""

    gather: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # rows -> x (B,L,F), y (B,H)
    rows: np.ndarray  # (N,) int64 as-of rows of the windows, in a fixed order
    sum_dtype = torch.float64  # the validation loss sum's precision

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def perm_device(self) -> torch.device:
        """Where the epoch's permutation lives: the host, where the windows are gathered."""
        return torch.device("cpu")

    def batch(
        self, idx: np.ndarray | torch.Tensor, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of windows ``rows[idx]`` as float32 tensors on ``device``."""
        idx = idx.numpy() if isinstance(idx, torch.Tensor) else idx
        x, y = self.gather(self.rows[idx])  # (B, L, F), (B, H)
        return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


@dataclass(frozen=True)
class Placed:
    """Materialised windows (x (N, L, F), scaled y (N, H)) placed once where training runs
    (``_place``): the batch source of arrays. Validation losses are summed in float32 on the
    device (no host sync per batch)."""

    x: torch.Tensor
    y: torch.Tensor
    sum_dtype = torch.float32  # the validation loss sum's precision

    @classmethod
    def of(cls, arrays: tuple[np.ndarray, np.ndarray], device: torch.device) -> Placed:
        return cls(_place(arrays[0], device), _place(arrays[1], device))

    def __len__(self) -> int:
        return len(self.x)

    @property
    def perm_device(self) -> torch.device:
        """Where the epoch's permutation lives: with the windows."""
        return self.x.device

    def batch(self, idx: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of windows ``idx`` on ``device``."""
        idx = idx.to(self.x.device)
        return self.x[idx].to(device, non_blocking=True), self.y[idx].to(device, non_blocking=True)


Windows = Gathered | Placed  # what the epoch and validation loops draw batches from
TrainWindows = tuple[np.ndarray, np.ndarray] | Gathered  # what ``fit`` takes: arrays or gathered


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel run (``training.dist``): every global batch is
    split into ``world`` slices and rank r trains on slice r, through ``wrap(model)`` (DDP,
    which averages the gradients); ``reduce(t)`` sums a tensor over all ranks in place."""

    rank: int
    world: int
    wrap: Callable[[nn.Module], nn.Module]
    reduce: Callable[[torch.Tensor], None]


SINGLE = Shard(0, 1, lambda m: m, lambda t: None)  # one process: no splitting, no reduction


@dataclass
class FitResult:
    """Outcome of ``fit``; ``state`` is None when Ctrl-C came before epoch 1 finished."""

    state: dict[str, torch.Tensor] | None  # best weights, on the CPU (epoch 0's if none beat it)
    best_val_loss: float  # never above initial_val_loss
    best_epoch: int  # 0: no epoch beat the untrained model (the naive start)
    epochs: int  # epochs that finished
    interrupted: bool  # Ctrl-C stopped training
    seconds: float
    windows_per_s: float  # training windows per second of optimiser steps
    history: list[EpochReport] = field(default_factory=list)
    initial_val_loss: float = math.inf  # validation loss of the untrained model (epoch 0)
    seed: int = 0  # cfg.seed of this fit


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def build_model(cfg: Any, seed: int) -> Any:
    """A freshly initialised model of ``cfg``'s architecture (any registered ``Config``): an
    ``nn.Module`` meeting ``models.base.Forecaster``. The same seed gives the same weights."""
    seed_everything(seed)
    return models.build(cfg)


def make_loss(name: str, delta: float = 1.0) -> nn.Module:
    if name == "huber":
        return nn.HuberLoss(delta=delta)
    if name == "l1":
        return nn.L1Loss()
    raise UsageError(f"unknown loss {name!r}; use huber or l1")


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    xb: torch.Tensor,
    yb: torch.Tensor,
    clip_norm: float,
    net: nn.Module | None = None,
    weight: float = 1.0,
) -> torch.Tensor:
    """One forward/backward/update on a batch; returns the loss (detached, on the device).
    ``net``: the module that runs the forward pass (DDP's wrapper of ``model`` under torchrun);
    ``weight`` scales the loss before the backward pass (a rank's share of a global batch)."""
    optimizer.zero_grad(set_to_none=True)
    with amp_context(xb.device):
        loss = loss_fn((net or model)(xb).float(), yb)  # (B, L, F) -> (B, H) -> scalar
    (loss if weight == 1.0 else loss * weight).backward()  # DDP averages the gradients here
    nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.detach()


def _place(arr: np.ndarray, device: torch.device) -> torch.Tensor:
    """The whole array on ``device`` when it fits comfortably, else pinned host memory."""
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if t.nbytes > GPU_RESIDENT_SHARE * free:
            return t.pin_memory()
    return t.to(device)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def _schedule(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    total = max(warm + 1, cfg.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / (total - warm))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return cfg.final_lr_share + (1.0 - cfg.final_lr_share) * cosine

    return factor


def _train_epoch(model: nn.Module, net: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                 loss_fn: nn.Module, train: Windows, perm: torch.Tensor, cfg: TrainConfig,
                 shard: Shard, stop: Stop | None = None) -> float:  # fmt: skip
    """One pass over the training windows in ``perm`` order, each batch split over the ranks
    of ``shard`` (one process: the whole batch); the mean loss over all ranks' windows (one
    device sync)."""
    model.train()
    device = next(model.parameters()).device
    total = torch.zeros((), device=device)
    for i in range(0, len(perm), cfg.batch_size):
        _check(stop)
        idx, weight = _shard_rows(perm[i : i + cfg.batch_size], shard)
        xb, yb = train.batch(idx, device)  # (b, L, F), (b, H)
        loss = train_step(model, opt, loss_fn, xb, yb, cfg.clip_norm, net, weight)
        total += loss * (len(idx) if weight else 0)
        sched.step()
    shard.reduce(total)
    return float(total) / len(perm)


def _shard_rows(batch: torch.Tensor, shard: Shard) -> tuple[torch.Tensor, float]:
    """Rank ``shard.rank``'s slice of a global batch and the weight that makes the mean of the
    ranks' weighted slice losses the global batch's mean loss (DDP averages gradients). A rank
    whose slice is empty (a last batch smaller than the world) runs one window at weight 0."""
    parts = torch.tensor_split(batch, shard.world)
    mine = parts[shard.rank]
    if len(mine) == 0:
        return batch[:1], 0.0
    return mine, len(mine) * shard.world / len(batch)


@torch.inference_mode()
def _val_loss(model: nn.Module, loss_fn: nn.Module, val: Windows, shard: Shard,
              stop: Stop | None = None) -> float:  # fmt: skip
    """Mean loss over the validation windows: each rank its contiguous share, the sums (in
    ``val.sum_dtype``) all-reduced."""
    model.eval()
    device = next(model.parameters()).device
    mine = torch.tensor_split(torch.arange(len(val)), shard.world)[shard.rank]
    total = torch.zeros(2, dtype=val.sum_dtype, device=device)  # (loss sum, windows)
    for i in range(0, len(mine), EVAL_BATCH):
        _check(stop)
        x, y = val.batch(mine[i : i + EVAL_BATCH], device)
        with amp_context(device):
            pred = model(x).float()
        total[0] += loss_fn(pred, y).to(val.sum_dtype) * len(pred)
        total[1] += len(pred)
    shard.reduce(total)
    return float(total[0]) / max(1.0, float(total[1]))


def _windows(source: TrainWindows, device: torch.device) -> Windows:
    """Arrays placed on ``device`` (``Placed``), or the gathered windows as they are."""
    return source if isinstance(source, Gathered) else Placed.of(source, device)


@dataclass
class _Run:
    """What one training run steps: the model, the module running its forward pass, the
    optimiser and its schedule, the loss, and the seeded generator of the epochs' orders."""

    model: nn.Module
    net: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    loss_fn: nn.Module
    gen: torch.Generator
    cfg: TrainConfig
    shard: Shard
    stop: Stop | None

    def epoch(self, train: Windows) -> float:
        """One epoch over ``train`` in a fresh seeded order; its mean training loss."""
        perm = torch.randperm(len(train), generator=self.gen).to(train.perm_device)
        return _train_epoch(self.model, self.net, self.opt, self.sched, self.loss_fn, train,
                            perm, self.cfg, self.shard, self.stop)  # fmt: skip

    def val_loss(self, val: Windows) -> float:
        return _val_loss(self.model, self.loss_fn, val, self.shard, self.stop)


def _start_run(model: nn.Module, n: int, cfg: TrainConfig, device: torch.device,
               shard: Shard, stop: Stop | None, loss_fn: nn.Module | None) -> _Run:  # fmt: skip
    """Seed, move ``model`` to ``device``, wrap it for ``shard`` and build the optimiser and
    the learning-rate schedule of ``n`` training windows per epoch."""
    seed_everything(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device)
    loss_fn = make_loss(cfg.loss, cfg.huber_delta) if loss_fn is None else loss_fn.to(device)
    net = shard.wrap(model)  # DDP under torchrun; the model itself in one process
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, _schedule(cfg, max(1, math.ceil(n / cfg.batch_size)))
    )
    return _Run(model, net, opt, sched, loss_fn, gen, cfg, shard, stop)


def fit(
    model: nn.Module,
    train: TrainWindows,
    val: TrainWindows,
    cfg: TrainConfig,
    device: torch.device,
    callback: Callback | None = None,
    shard: Shard | None = None,
    stop: Stop | None = None,
    loss_fn: nn.Module | None = None,
    started: Callable[[FitResult], None] | None = None,
) -> FitResult:
    """Train on scaled (x, y) with early stopping on ``val``; returns the best weights, where
    the untrained model (epoch 0) is a candidate too.

    ``train`` and ``val`` are arrays, or ``Gathered`` windows built at batch time (a global
    model); ``shard`` (gathered windows only) splits every global batch over data-parallel
    ranks, so N processes follow the one-process run (same permutation, steps and schedule).
    ``loss_fn`` replaces ``cfg.loss`` (the scale network's likelihood, ``training/scale.py``).

    Ctrl-C ends training at once and returns the best finished epoch (``interrupted=True``;
    ``state`` None when no epoch finished); so does ``stop()`` turning true, which is asked
    before every batch (how a member in a worker thread hears of Ctrl-C). ``started`` receives
    the result as it is being filled (its ``state`` is always a finished epoch's copy), for a
    caller that cannot wait for the end. A non-finite
    training or validation loss raises ``TrainingError`` naming the learning rate.
    """
    if isinstance(train, Gathered) != isinstance(val, Gathered) or (
        shard is not None and not isinstance(train, Gathered)
    ):
        raise TypeError("train and val must both be arrays or both Gathered (shard needs them)")
    tw, vw = _windows(train, device), _windows(val, device)
    run = _start_run(model, len(tw), cfg, device, shard or SINGLE, stop, loss_fn)
    result = FitResult(None, math.inf, 0, 0, False, 0.0, 0.0, seed=cfg.seed)
    if started is not None:
        started(result)
    start = time.perf_counter()
    try:
        _early_stopping(run, tw, vw, result, callback)
    except KeyboardInterrupt:
        result.interrupted = True
        if result.epochs == 0:
            result.state = None  # Ctrl-C before epoch 1: nothing worth keeping
    result.seconds = time.perf_counter() - start
    if result.state is not None:
        model.load_state_dict(result.state)
    model.eval()
    return result


def _early_stopping(run: _Run, train: Windows, val: Windows, result: FitResult,
                    callback: Callback | None) -> None:  # fmt: skip
    """Epoch 0 (the untrained model) and then epochs until ``cfg.patience`` epochs without a
    better validation loss, filling ``result`` as they finish (the best weights in ``state``)."""
    cfg, start, step_time, stale = run.cfg, time.perf_counter(), 0.0, 0
    initial = run.val_loss(val)  # epoch 0: the untrained model
    check_finite(initial, 0, "validation", cfg)
    result.initial_val_loss = result.best_val_loss = initial
    result.state = _cpu_state(run.model)
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss = run.epoch(train)
        check_finite(train_loss, epoch, "training", cfg)
        step_time += time.perf_counter() - t0
        result.windows_per_s = epoch * len(train) / step_time if step_time > 0 else 0.0
        val_loss = run.val_loss(val)
        check_finite(val_loss, epoch, "validation", cfg)
        improved = val_loss < result.best_val_loss
        if improved:
            result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
            result.state = _cpu_state(run.model)
        else:
            stale += 1
        result.epochs = epoch
        report = EpochReport(epoch, cfg.epochs, train_loss, val_loss, result.best_val_loss,
                             result.best_epoch, run.opt.param_groups[0]["lr"],
                             time.perf_counter() - start, improved)  # fmt: skip
        result.history.append(report)
        if callback is not None:
            callback(report)
        if stale >= cfg.patience:
            break


def fit_epochs(
    model: nn.Module,
    train: TrainWindows,
    cfg: TrainConfig,
    epochs: int,
    device: torch.device,
    callback: Callable[[int], None] | None = None,
    stop: Stop | None = None,
    loss_fn: nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Train exactly ``epochs`` epochs (no validation, no early stopping) with ``cfg``'s seed,
    optimiser and learning-rate schedule, and return the final weights on the CPU: the refit of
    an evaluated recipe on more windows. ``train``: scaled (x, y) arrays, or ``Gathered``
    windows (a global model's, in one process). ``epochs`` 0 returns the weights as given.
    ``callback(epoch)`` runs after each epoch (it may raise KeyboardInterrupt to stop);
    ``stop()`` is asked before every batch (True raises KeyboardInterrupt).

    Ctrl-C propagates; a non-finite loss raises ``TrainingError``.
    """
    tw = _windows(train, device)
    run = _start_run(model, len(tw), cfg, device, SINGLE, stop, loss_fn)
    for epoch in range(1, epochs + 1):
        check_finite(run.epoch(tw), epoch, "training", cfg)
        if callback is not None:
            callback(epoch)
    model.eval()
    return _cpu_state(model)


def check_finite(loss: float, epoch: int, what: str, cfg: TrainConfig) -> None:
    """``TrainingError`` naming the fix when a ``what`` ("training"/"validation") loss is not a
    finite number."""
    if math.isfinite(loss):
        return
    if epoch == 0:
        raise TrainingError(
            f"the untrained model's validation loss is {loss}; the stored prices give non-finite "
            "features or targets: fetch them again (`stockcast fetch SYMBOL`)"
        )
    raise TrainingError(
        f"training diverged ({what} loss {loss} at epoch {epoch}); lower --lr (now {cfg.lr:g})"
    )


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the model's weights."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

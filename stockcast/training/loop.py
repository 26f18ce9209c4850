"""The training loop: silent, seeded, in-memory, reporting through a callback.

No DataLoader: the windows live in one tensor (on the GPU when they fit), each epoch draws a
permutation from a seeded generator and slices batches from it. ``train_step`` is the only code
that runs per batch, so a faster kernel can replace it without touching the rest.

Epoch 0 is the untrained model (persistence-initialised by the caller): its validation loss is
the first best, so early stopping never returns weights that are worse on validation than
forecasting a zero log return. A non-finite loss stops training with ``TrainingError``.
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


@dataclass
class FitResult:
    """Outcome of ``fit``; ``state`` is None when Ctrl-C came before epoch 1 finished."""

    state: dict[str, torch.Tensor] | None  # best weights, on the CPU (epoch 0's if none beat it)
    best_val_loss: float  # never above initial_val_loss
    best_epoch: int  # 0: no epoch beat the untrained, persistence-initialised model
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
) -> torch.Tensor:
    """One forward/backward/update on a batch; returns the loss (detached, on the device)."""
    optimizer.zero_grad(set_to_none=True)
    with amp_context(xb.device):
        loss = loss_fn(model(xb).float(), yb)  # (B, L, F) -> (B, H) -> scalar
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.detach()


@torch.inference_mode()
def _val_loss(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    total = torch.zeros((), device=x.device)
    for i in range(0, len(x), EVAL_BATCH):
        with amp_context(x.device):
            pred = model(x[i : i + EVAL_BATCH]).float()
        total += loss_fn(pred, y[i : i + EVAL_BATCH]) * len(pred)
    return float(total) / max(1, len(x))


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


def _train_epoch(model, opt, sched, loss_fn, xt, yt, perm, cfg: TrainConfig) -> float:
    """One pass over the training windows in ``perm`` order; the mean loss (one device sync)."""
    model.train()
    n, bs = len(perm), cfg.batch_size
    device = next(model.parameters()).device
    total = torch.zeros((), device=device)
    for i in range(0, n, bs):
        idx = perm[i : i + bs]
        xb, yb = xt[idx].to(device, non_blocking=True), yt[idx].to(device, non_blocking=True)
        total += train_step(model, opt, loss_fn, xb, yb, cfg.clip_norm) * len(idx)
        sched.step()
    return float(total) / n


def fit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: TrainConfig,
    device: torch.device,
    callback: Callback | None = None,
) -> FitResult:
    """Train on scaled (x, y) with early stopping on ``val``; returns the best weights, where
    the untrained model (epoch 0) is a candidate too.

    Ctrl-C ends training at once and returns the best finished epoch (``interrupted=True``;
    ``state`` None when no epoch finished). A non-finite training or validation loss raises
    ``TrainingError`` naming the learning rate.
    """
    seed_everything(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device)
    xt, yt = _place(train[0], device), _place(train[1], device)
    xv, yv = _place(val[0], device), _place(val[1], device)
    loss_fn = make_loss(cfg.loss, cfg.huber_delta)
    n = len(xt)
    steps = max(1, math.ceil(n / cfg.batch_size))
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, steps))
    result = FitResult(None, math.inf, 0, 0, False, 0.0, 0.0, seed=cfg.seed)
    start, step_time, seen, stale = time.perf_counter(), 0.0, 0, 0
    try:
        initial = _val_loss(model, loss_fn, xv, yv)  # epoch 0: the untrained model
        check_finite(initial, 0, "validation", cfg)
        result.initial_val_loss = result.best_val_loss = initial
        result.state = _cpu_state(model)
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=gen).to(xt.device)
            train_loss = _train_epoch(model, opt, sched, loss_fn, xt, yt, perm, cfg)
            check_finite(train_loss, epoch, "training", cfg)
            step_time, seen = step_time + time.perf_counter() - t0, seen + n
            val_loss = _val_loss(model, loss_fn, xv, yv)
            check_finite(val_loss, epoch, "validation", cfg)
            improved = val_loss < result.best_val_loss
            if improved:
                result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
                result.state = _cpu_state(model)
            else:
                stale += 1
            result.epochs = epoch
            report = EpochReport(epoch, cfg.epochs, train_loss, val_loss, result.best_val_loss,
                                 result.best_epoch, opt.param_groups[0]["lr"],
                                 time.perf_counter() - start, improved)  # fmt: skip
            result.history.append(report)
            if callback is not None:
                callback(report)
            if stale >= cfg.patience:
                break
    except KeyboardInterrupt:
        result.interrupted = True
        if result.epochs == 0:
            result.state = None  # Ctrl-C before epoch 1: nothing worth keeping
    result.seconds = time.perf_counter() - start
    result.windows_per_s = seen / step_time if step_time > 0 else 0.0
    if result.state is not None:
        model.load_state_dict(result.state)
    model.eval()
    return result


def fit_epochs(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    cfg: TrainConfig,
    epochs: int,
    device: torch.device,
    callback: Callable[[int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Train exactly ``epochs`` epochs (no validation, no early stopping) with ``cfg``'s seed,
    optimiser and learning-rate schedule, and return the final weights on the CPU: the refit of
    an evaluated recipe on more windows. ``epochs`` 0 returns the weights as given.
    ``callback(epoch)`` runs after each epoch (it may raise KeyboardInterrupt to stop).

    Ctrl-C propagates; a non-finite loss raises ``TrainingError``.
    """
    seed_everything(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device)
    xt, yt = _place(train[0], device), _place(train[1], device)
    loss_fn = make_loss(cfg.loss, cfg.huber_delta)
    n = len(xt)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, _schedule(cfg, max(1, math.ceil(n / cfg.batch_size)))
    )
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=gen).to(xt.device)
        loss = _train_epoch(model, opt, sched, loss_fn, xt, yt, perm, cfg)
        check_finite(loss, epoch, "training", cfg)
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

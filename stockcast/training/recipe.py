"""Fit a recipe (data, model and training configs, ensemble size) on any prices frame, and refit
it on every stored window for the live model.

An ensemble's K members have seeds seed, seed+1, ..., train on the same windows with the same
scalers, and are averaged on their scaled outputs (``models.ensemble.Ensemble``). On the CPU the
members train concurrently in threads, one torch intra-op thread each, ``min(K, cpu count)`` at a
time: torch releases the GIL inside its kernels, the windows are shared without copies, and
progress and Ctrl-C reach every member (spawned processes paid seconds of imports per worker).
The band's scale networks (one per member) train in the same pool as the point members, which
they need nothing from, so no core idles while the last point members finish.
Every member's initial weights are drawn in the calling thread before any starts; the only other
random draws are each member's own seeded permutations, so the same seed and K give the same
weights. Dropout draws from torch's global generator, so a recipe with dropout trains its members
one at a time.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from stockcast.data.paths import normalize_symbol
from stockcast.device import describe, resolve_device, threads_for
from stockcast.forecasting import choosestart, intervals, shrink
from stockcast.forecasting.evaluation import (
    PartPredictions,
    ScaleNet,
    band_scales,
    part_predictions,
)
from stockcast.models.base import predict_scaled
from stockcast.models.ensemble import Ensemble
from stockcast.models.scale import KINDS, ScaleHead
from stockcast.options import DataConfig, TrainConfig
from stockcast.prep import features
from stockcast.prep.windows import Dataset, build_dataset
from stockcast.training import scale as scalenet
from stockcast.training.loop import (
    Callback,
    FitResult,
    Gathered,
    Shard,
    TrainWindows,
    build_model,
    fit,
    fit_epochs,
)


@dataclass(frozen=True)
class Recipe:
    """What a model is made from, in one object: the data options (features, lookback, horizon,
    split), the members' architecture ``Config`` and the training options (seed, ensemble
    size, band, optimiser). `train` builds one from its options, a saved model's manifest
    gives back the one it was made with (``globalbacktest.recipe``)."""

    data: DataConfig
    model: Any  # a registered architecture's Config (``models.REGISTRY``)
    train: TrainConfig

    def with_data(self, **changes: Any) -> Recipe:
        """The same recipe with some data options changed (a fold's ``test_start``)."""
        return dataclasses.replace(self, data=dataclasses.replace(self.data, **changes))

    def with_train(self, **changes: Any) -> Recipe:
        """The same recipe with some training options changed (a trial's ensemble size)."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))


@dataclass
class ScaleFit:
    """The scale networks of a recipe (one per member, their log scales averaged) and how the
    band uses them (``ScaleHead``: per horizon the network's scale or the EWMA one)."""

    model: nn.Module  # eval mode, on the CPU; windows (B, L, F) -> log scales (B, H)
    head: ScaleHead
    fits: list[FitResult]  # one per member, in seed order
    seconds: float

    @property
    def net(self) -> ScaleNet:
        model = self.model
        return (lambda x: predict_scaled(model, x, torch.device("cpu")), self.head)


@dataclass
class Fitted:
    """A recipe fitted on one prices frame (what `train` evaluates and `backtest` reuses)."""

    model: (
        nn.Module
    )  # eval mode, on the CPU; scaled outputs (B, L, F) -> (B, H); an ensemble averages
    dataset: Dataset  # the windows, split and scalers it was trained on
    val: PartPredictions  # predictions of `model` on the validation part
    fits: list[
        FitResult
    ]  # one per member, in seed order (members interrupted before epoch 1 left out)
    seconds: float  # wall time of fitting
    device: str = ""  # what training used, e.g. "cpu (1 thread)"
    cpu_seconds: float = 0.0  # CPU time of the process while fitting (all threads)
    workers: int = 1  # members trained at the same time
    model_cfg: Any = None  # the members' architecture Config
    cfg: TrainConfig | None = None  # the recipe's TrainConfig (member i used seed cfg.seed + i)
    start_drift: np.ndarray | None = None  # (H,) drift share of the start (choosestart.choose)
    scale: ScaleFit | None = None  # the band's scale networks (None: `--band ewma`)

    @property
    def interrupted(self) -> bool:
        """Ctrl-C stopped some member before its patience ran out."""
        return any(f.interrupted for f in self.fits)

    @property
    def seconds_ratio(self) -> float:
        """Wall time of the members over the mean member's own wall time: 1 when they all ran
        at once at full speed, K when one after another."""
        mean = sum(f.seconds for f in self.fits) / max(1, len(self.fits))
        return self.seconds / mean if mean > 0 else 1.0


def fit_recipe(
    symbol: str,
    prices: pd.DataFrame,
    recipe: Recipe,
    *,
    ensemble: int | None = None,
    device: str = "auto",
    callback: Callback | None = None,
) -> Fitted:
    """Build the windows of ``prices``, train ``ensemble`` members (default the recipe's)
    with early stopping on validation (``fit_members``), and return the averaged model with
    its validation predictions. ``callback`` receives the first member's epochs.

    Raises KeyboardInterrupt when Ctrl-C came before any member finished an epoch;
    ``TrainingError`` when a loss is not finite; DataError when the prices are too short.
    """
    sym, data, cfg = normalize_symbol(symbol), recipe.data, recipe.train
    # predict would refuse a model whose feature reads an absent column: refuse it first
    features.require_inputs(prices, data.features, sym, "the chosen features include")
    ds = build_dataset(sym, prices, data)
    dev = resolve_device(device)
    start = choose_start(ds)  # (H,) per horizon: persistence, half the drift or drift
    bias = naive_start(ds, start)  # epoch 0 forecasts the naive start validation prefers
    k = cfg.ensemble if ensemble is None else ensemble
    # the scale networks need nothing of the point members: one pool for both keeps every core
    # busy while an ensemble's last members finish (each job's result is unchanged)
    beside = None
    if cfg.band != "ewma":
        beside = scale_jobs(ds, recipe.model, member_configs(cfg, k), KINDS[cfg.band], dev)
    workers = member_workers(k * (1 if beside is None else 2), dev, recipe.model)
    wall, cpu = time.perf_counter(), time.process_time()
    members = fit_members(recipe, k, bias, ds.arrays("train"), ds.arrays("val"), dev, workers,
                          callback, beside=[] if beside is None else beside.jobs)  # fmt: skip
    val_pred = part_predictions(members.model, ds, "val")
    scale = None
    if beside is not None and not members.interrupted:  # a scale network per member, its seed
        scale = beside.fitted(list(members.beside), [(ds, val_pred)])
        sigma = band_scales(ds, ds.window_slice("val"), scale.net)
        val_pred = dataclasses.replace(val_pred, sigma=sigma)
    return Fitted(
        model=members.model,
        dataset=ds,
        val=val_pred,
        scale=scale,
        fits=members.fits,
        seconds=time.perf_counter() - wall,
        device=members.device,
        cpu_seconds=time.process_time() - cpu,
        workers=workers,
        model_cfg=recipe.model,
        cfg=cfg,
        start_drift=start,
    )


@dataclass(frozen=True)
class Members:
    """The members an early-stopping fit kept (those Ctrl-C stopped before epoch 1 left out),
    in seed order."""

    model: nn.Module  # eval mode, on the CPU; one member as itself, several as their Ensemble
    fits: list[FitResult]
    cfgs: list[TrainConfig]  # each kept member's config (its seed)
    device: str  # what training used, e.g. "cpu (1 thread)"
    beside: tuple[Any, ...] = ()  # the results of the jobs run beside the members (``beside``)

    @property
    def interrupted(self) -> bool:
        """Ctrl-C stopped some member before its patience ran out."""
        return any(f.interrupted for f in self.fits)


def fit_members(
    recipe: Recipe,
    k: int,
    bias: np.ndarray,
    train: TrainWindows,
    val: TrainWindows,
    dev: torch.device,
    workers: int,
    callback: Callback | None,
    shard: Shard | None = None,
    beside: Sequence[Job] = (),
) -> Members:
    """Train ``k`` members (seeds seed, seed+1, ...; output bias at the naive start ``bias``)
    on ``train`` with early stopping on ``val`` (arrays of one series or ``Gathered`` windows
    of many), ``workers`` at a time; under torchrun (``shard``) in the calling thread, one
    after another. A member left inside a long batch by Ctrl-C keeps its best epoch so far.
    ``beside``: other jobs run in the same pool (their results in ``Members.beside``).
    KeyboardInterrupt when no member finished an epoch."""
    cfgs = member_configs(recipe.train, k)
    nets = [initial_member(recipe.model, c, bias) for c in cfgs]
    so_far: list[list[FitResult]] = [[] for _ in nets]  # each member's result as it fills
    with threads_for(dev):  # the caller's thread count comes back afterwards
        jobs = [_early_stopping_job(n, c, train, val, dev, s.append, shard)
                for n, c, s in zip(nets, cfgs, so_far, strict=True)]  # fmt: skip
        done = run_members(jobs + list(beside), workers, callback, in_turn=shard is not None)
        results, beside_results = done[:k], done[k:]
        trained_on = describe(dev)  # e.g. "cpu (1 thread)": what training used
    for i, r in enumerate(results):  # left inside a long batch by Ctrl-C: its best epoch so far
        if r is None and so_far[i] and so_far[i][0].state is not None and so_far[i][0].epochs:
            results[i] = dataclasses.replace(so_far[i][0], interrupted=True)
            nets[i] = initial_member(recipe.model, cfgs[i], bias)  # the old one still trains
            nets[i].load_state_dict(results[i].state)
            nets[i].eval()
    kept = [i for i, r in enumerate(results) if r is not None and r.state is not None]
    if not kept:
        raise KeyboardInterrupt
    return Members(combine([nets[i] for i in kept]), [results[i] for i in kept],
                   [cfgs[i] for i in kept], trained_on, tuple(beside_results))  # fmt: skip


def refit_live(fitted: Fitted, device: str = "auto") -> nn.Module:
    """The same recipe (members, seeds, scalers) refit on every window whose targets are stored
    (train, validation and test, and the windows between them), each member for its evaluated
    epoch count (``best_epoch``; 0 keeps the untrained member, the naive start). The start
    keeps the drift shares chosen on validation (``Fitted.start_drift``; nothing is chosen
    again on data the evaluation scored), with the drift of every stored window. Eval mode, CPU.

    Ctrl-C propagates (the caller keeps the evaluated model); ``TrainingError`` on divergence.
    """
    ds, cfg = fitted.dataset, fitted.cfg
    if cfg is None:
        raise ValueError("refit_live needs the Fitted's TrainConfig")
    rows = all_stored_rows(ds)
    start = fitted.start_drift if fitted.start_drift is not None else choose_start(ds)
    bias = naive_start(ds, start, rows)  # drift of every stored window, shares of validation
    train = ds.x[rows], ds.target_scaler.forward(ds.y[rows]).astype(np.float32)
    return refit_members(fitted.model_cfg, cfg, fitted.fits, bias, train, device)


def refit_members(
    model_cfg: Any,
    cfg: TrainConfig,
    fits: list[FitResult],
    bias: np.ndarray,
    train: TrainWindows,
    device: str = "auto",
    loss: nn.Module | None = None,
) -> nn.Module:
    """Members with the seeds of ``fits``, started at ``bias``, each trained on ``train``
    (arrays or ``Gathered`` windows) for its ``best_epoch`` epochs: the live refit of point
    members or scale networks (``loss``), of one series or many. Eval mode, on the CPU.

    Ctrl-C propagates; ``TrainingError`` on divergence."""
    dev = resolve_device(device)
    cfgs = [dataclasses.replace(cfg, seed=f.seed) for f in fits]
    nets = [initial_member(model_cfg, c, bias) for c in cfgs]
    with threads_for(dev):
        jobs = [_fixed_job(n, c, train, f.best_epoch, dev, loss)
                for n, c, f in zip(nets, cfgs, fits, strict=True)]  # fmt: skip
        done = run_members(jobs, member_workers(len(jobs), dev, model_cfg), None)
    if any(d is None for d in done):  # Ctrl-C left a member unfinished
        raise KeyboardInterrupt
    return combine(nets)


@dataclass(frozen=True)
class LiveRefit:
    """The live refit's outcome: the point model and scale networks refit on every stored
    window (None when training or the refit was interrupted: predict uses the evaluated
    weights then)."""

    model: nn.Module | None
    scale: nn.Module | None
    seconds: float  # wall time of the refit, rounded to ms
    interrupted: bool  # the fit or the refit was interrupted (Ctrl-C)


def live_refit(
    refit: Callable[[], tuple[nn.Module, nn.Module | None]], interrupted: bool
) -> LiveRefit:
    """Run ``refit`` (-> live point model, live scale networks) unless the fit was
    ``interrupted``; Ctrl-C during it keeps the evaluated weights (``LiveRefit`` without models)."""
    if interrupted:
        return LiveRefit(None, None, 0.0, True)
    t0 = time.perf_counter()
    try:
        model, scale = refit()
    except KeyboardInterrupt:
        return LiveRefit(None, None, round(time.perf_counter() - t0, 3), True)
    return LiveRefit(model, scale, round(time.perf_counter() - t0, 3), False)


def fit_scale(
    ds: Dataset,
    model_cfg: Any,
    cfgs: list[TrainConfig],
    val: PartPredictions,
    kind: str,
    dev: torch.device,
    workers: int,
) -> ScaleFit:
    """Train one scale network per member config on the point model's windows (the
    ``scale_jobs``, alone in their pool), then keep the network's scale at the horizons where
    its conformal band beats the EWMA-scaled band on validation (``choose_scale_head``);
    ``val``: the point model's validation predictions (the band's centre). ``fit_recipe``
    trains the same jobs beside the point members."""
    jobs = scale_jobs(ds, model_cfg, cfgs, kind, dev)
    with threads_for(dev):
        results = run_members(jobs.jobs, workers, None)
    return jobs.fitted(results, [(ds, val)])


@dataclass
class ScaleJobs:
    """The scale networks of one series as ``run_members`` jobs, to train in the same pool as
    the point members (``fit_recipe``); ``fitted`` turns their results into the ``ScaleFit``
    that ``fit_scale`` gives."""

    kind: str
    nets: list[nn.Module]
    jobs: list[Job]
    started: float  # perf_counter when the jobs were made

    def fitted(self, results: list[Any], parts: list[tuple[Dataset, PartPredictions]]
               ) -> ScaleFit:  # fmt: skip
        """The averaged networks and the head chosen on ``parts`` (``choose_scale_head``);
        KeyboardInterrupt when none ran."""
        kept = [n for n, r in zip(self.nets, results, strict=True)
                if r is not None and r.state is not None]  # fmt: skip
        if not kept:
            raise KeyboardInterrupt
        model = combine(kept)
        head = choose_scale_head(self.kind, model, parts)
        fits = [r for r in results if r is not None]
        return ScaleFit(model, head, fits, time.perf_counter() - self.started)


def scale_jobs(
    ds: Dataset, model_cfg: Any, cfgs: list[TrainConfig], kind: str, dev: torch.device
) -> ScaleJobs:
    """One scale network per member config on ``ds``'s windows, as ``fit_scale`` trains them
    (same initial weights, windows, likelihood and early stopping), not yet run."""
    train = scale_arrays(ds, ds.window_slice("train"))
    valset = scale_arrays(ds, ds.window_slice("val"))
    c = np.zeros(train[1].shape[1])
    bias = scalenet.initial_bias(train[1], c, kind)
    nets = [initial_member(model_cfg, m, bias) for m in cfgs]
    loss = scalenet.ScaleNLL(c, kind)
    jobs = [_scale_job(n, m, train, valset, dev, loss) for n, m in zip(nets, cfgs, strict=True)]
    return ScaleJobs(kind, nets, jobs, time.perf_counter())


def train_scale_members(
    model_cfg: Any,
    cfgs: list[TrainConfig],
    train: tuple[np.ndarray, np.ndarray] | Gathered,
    val: tuple[np.ndarray, np.ndarray] | Gathered,
    start_targets: np.ndarray,
    kind: str,
    dev: torch.device,
    workers: int,
) -> tuple[nn.Module, list[FitResult]]:
    """(the averaged scale networks, their runs): one per member config, on windows of
    EWMA-standardised targets (arrays of one series or ``Gathered`` windows of many), likelihood
    ``kind`` around no move, early stopping on validation likelihood; epoch 0 is the constant
    multiplier of ``start_targets``' spread (the EWMA band). KeyboardInterrupt when none ran."""
    c = np.zeros(start_targets.shape[1])
    bias = scalenet.initial_bias(start_targets, c, kind)
    nets = [initial_member(model_cfg, m, bias) for m in cfgs]
    loss = scalenet.ScaleNLL(c, kind)
    with threads_for(dev):
        jobs = [_scale_job(n, m, train, val, dev, loss) for n, m in zip(nets, cfgs, strict=True)]
        results = run_members(jobs, workers, None)
    kept = [n for n, r in zip(nets, results, strict=True) if r is not None and r.state is not None]
    if not kept:
        raise KeyboardInterrupt
    return combine(kept), [r for r in results if r is not None]


def choose_scale_head(
    kind: str, model: nn.Module, parts: list[tuple[Dataset, PartPredictions]]
) -> ScaleHead:
    """Per horizon, the network's scale where its band beats the EWMA band on the validation
    windows of ``parts`` (each series' windows and the point model's predictions on them,
    pooled; ``intervals.prefer_model_scale``), else the EWMA scale."""
    horizon = parts[0][0].config.horizon
    every = ScaleHead(kind, (True,) * horizon)
    rows = [ds.window_slice("val") for ds, _ in parts]
    sigma = [every.scales(predict_scaled(model, ds.x[r], torch.device("cpu")), p.vol)
             for (ds, p), r in zip(parts, rows, strict=True)]  # fmt: skip
    use = intervals.prefer_model_scale(
        np.concatenate([p.y for _, p in parts]),
        np.concatenate([p.mu for _, p in parts]),
        np.concatenate(sigma),
        np.concatenate([p.vol for _, p in parts]),
    )
    return ScaleHead(kind, tuple(bool(u) for u in use))


def scale_arrays(ds: Dataset, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """(x, EWMA-standardised targets) of window ``rows``: what a scale network trains on."""
    first = ds.config.lookback - 1
    vol = ds.vol[rows.start + first : rows.stop + first]  # (N,) at each window's as-of session
    return ds.x[rows], scalenet.standardised(ds.y[rows], vol)


def refit_live_scale(fitted: Fitted, device: str = "auto") -> nn.Module | None:
    """The scale networks refit on every stored window for their evaluated epoch counts, as
    ``refit_live`` refits the point members; None without scale networks."""
    ds, cfg, sf = fitted.dataset, fitted.cfg, fitted.scale
    if sf is None or cfg is None:
        return None
    train = scale_arrays(ds, all_stored_rows(ds))
    return refit_scale_members(fitted.model_cfg, cfg, sf, train, train[1], device)


def refit_scale_members(
    model_cfg: Any,
    cfg: TrainConfig,
    scale: ScaleFit,
    train: tuple[np.ndarray, np.ndarray] | Gathered,
    start_targets: np.ndarray,
    device: str = "auto",
) -> nn.Module:
    """``scale``'s networks refit on ``train`` (arrays or ``Gathered`` windows of
    EWMA-standardised targets) for their evaluated epoch counts, from the start of
    ``start_targets``' spread: the live scale networks of one series or of many."""
    c = np.zeros(start_targets.shape[1])
    bias = scalenet.initial_bias(start_targets, c, scale.head.kind)
    loss = scalenet.ScaleNLL(c, scale.head.kind)
    return refit_members(model_cfg, cfg, scale.fits, bias, train, device, loss)


def all_stored_rows(ds: Dataset) -> slice:
    """Window rows whose H targets are all stored: as-of lookback-1 .. n-1-H."""
    return slice(0, max(0, len(ds.dates) - ds.config.horizon - ds.config.lookback + 1))


def member_configs(cfg: TrainConfig, k: int) -> list[TrainConfig]:
    """The K members' configs: seeds cfg.seed, cfg.seed + 1, ..."""
    return [dataclasses.replace(cfg, seed=cfg.seed + i) for i in range(k)]


def choose_start(ds: Dataset) -> np.ndarray:
    """(H,) drift share of the naive start at each horizon, chosen on the validation part only
    (``choosestart.choose``: drift unless validation prefers persistence or half the drift
    significantly), with the drift of the training part."""
    val = ds.parts["val"]
    asof = np.arange(val.start, val.stop)
    return choosestart.choose(ds.y[ds.window_slice("val")], ds.close[asof], drift_returns(ds))


def drift_returns(ds: Dataset, rows: slice | None = None) -> np.ndarray:
    """(H,) the h-session drift ``h * m``, ``m`` the mean daily log return of the training part
    (of the window ``rows`` when given: the live refit's)."""
    m = shrink.train_drift(ds.y[ds.window_slice("train") if rows is None else rows][:, 0])
    return m * np.arange(1, ds.config.horizon + 1, dtype=float)


def naive_start(ds: Dataset, share: np.ndarray, rows: slice | None = None) -> np.ndarray:
    """(H,) the scaled output of the untrained model: the log returns ``share[h] * h * m``,
    with ``m`` the mean daily log return of the training part (of the window ``rows`` when
    given: the live refit's); ``share`` 0 is persistence, 1 drift (``choose_start``).

    Why a naive forecast at all: early stopping keeps epoch 0 whenever no epoch beats it on
    validation, so the start is the floor of the model; which one is ``naivestart``'s choice
    (``bench/naive_start.py``).
    """
    return scaled_start(drift_returns(ds, rows), share, ds.target_scaler.mean, ds.target_scaler.std)


def scaled_start(
    drift: np.ndarray, share: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """``share x drift`` (log returns, (..., H)) in the units of a target scaler with ``mean``
    and ``std`` (..., H): the output bias of an untrained member. The one formula of the naive
    start, for one series (``naive_start``) and per series of a global model."""
    start = np.asarray(share, dtype=np.float64) * np.asarray(drift, dtype=np.float64)
    return np.asarray((start - mean) / std, dtype=np.float64)


def initial_member(model_cfg: Any, cfg: TrainConfig, bias: np.ndarray) -> nn.Module:
    """A member's initial weights: seeded by ``cfg.seed``, output bias at the naive start."""
    net = build_model(model_cfg, cfg.seed)
    net.init_output_bias(bias)
    return net


def combine(nets: list[nn.Module]) -> nn.Module:
    """One member as itself, several as their ``Ensemble``; eval mode, on the CPU."""
    model = nets[0] if len(nets) == 1 else Ensemble(nets)
    return model.to("cpu").eval()


def member_workers(k: int, device: torch.device, model_cfg: Any) -> int:
    """How many members train at once: one per CPU core on the CPU (never more than K), one
    at a time on a GPU or when dropout draws from the shared random generator."""
    if device.type != "cpu" or getattr(model_cfg, "dropout", 0.0) > 0:
        return 1
    return max(1, min(k, os.cpu_count() or 1))


GRACE_S = 1.0  # after Ctrl-C, how long a member in the middle of a batch may take to stop
STOP_ALL = threading.Event()  # set: every member of every fit stops (Ctrl-C seen elsewhere)


@contextmanager
def stop_all_on_ctrl_c() -> Iterator[None]:
    """Within the block, Ctrl-C also stops members that run under other threads' fits (`tune
    --jobs N`: trials in Optuna's threads, which Ctrl-C never reaches), before it raises
    KeyboardInterrupt in the main thread as usual. Outside the main thread: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        STOP_ALL.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        STOP_ALL.clear()


def run_members(
    jobs: list[Job], workers: int, callback: Callback | None, in_turn: bool = False
) -> list[Any]:
    """Run each job on ``workers`` threads; job 0 reports its epochs to ``callback``. A job
    never started (Ctrl-C came first) gives None. ``in_turn`` (and always under torchrun): in
    the calling thread, one after another (a rank whose members ran in threads aborted at exit
    now and then, in gloo: a process group's collectives stay on the thread that made it).

    Ctrl-C asks every running member to stop before its next batch and waits ``GRACE_S`` for
    them: an early-stopping member returns its best epoch so far (see ``fit``), a refit member
    raises KeyboardInterrupt, which propagates. A member still inside one long batch after that
    (a lookback of thousands) is left behind and gives None (``fit_recipe`` then keeps its best
    epoch so far, from a copy): its daemon thread stops at its next batch, or with the process.
    The calling thread only waits, so Ctrl-C reaches it at once even while a batch runs in a
    kernel. A member's error (a non-finite loss) stops the others and is raised.
    """
    run = _MemberRun(jobs, callback)
    if in_turn or os.environ.get("WORLD_SIZE", "1") != "1":
        run.worker()
        return _outcome(run.results, run.errors)
    threads = [threading.Thread(target=run.worker, name=f"member-{w}", daemon=True)
               for w in range(max(1, min(workers, len(jobs))))]  # fmt: skip
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    except KeyboardInterrupt:
        run.stop.set()
        deadline = time.monotonic() + GRACE_S
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
    return _outcome(list(run.results), list(run.errors))  # a member left behind stays None


class _MemberRun:
    """The shared state of ``run_members``: the jobs not yet taken, each one's result or
    error, and the stop flag every member asks before each batch."""

    def __init__(self, jobs: list[Job], callback: Callback | None) -> None:
        self.jobs, self.callback = jobs, callback
        self.stop = threading.Event()
        self.results: list[Any] = [None] * len(jobs)
        self.errors: list[BaseException | None] = [None] * len(jobs)
        self.pending = list(range(len(jobs)))[::-1]  # popped from the end: job 0 first
        self.lock = threading.Lock()

    def stopped(self) -> bool:
        return self.stop.is_set() or STOP_ALL.is_set()

    def watch(self, report_to: Callback | None) -> Callable[[Any], None]:
        """The epoch callback of a member: reports (job 0 only), then stops when asked."""

        def on_epoch(report: Any) -> None:
            if report_to is not None:
                report_to(report)
            if self.stopped():
                raise KeyboardInterrupt

        return on_epoch

    def worker(self) -> None:
        """Take jobs until none is left or a stop is asked; an error stops every member."""
        while not self.stopped():
            with self.lock:
                if not self.pending:
                    return
                i = self.pending.pop()
            try:
                report_to = self.callback if i == 0 else None
                self.results[i] = self.jobs[i](self.watch(report_to), self.stopped)
            except BaseException as exc:  # handed to the calling thread
                self.errors[i] = exc
                self.stop.set()
            if getattr(self.results[i], "interrupted", False):
                self.stop.set()  # Ctrl-C reached this member (e.g. through its callback)


def _outcome(results: list[Any], errors: list[BaseException | None]) -> list[Any]:
    """``results``, or the first member error (Ctrl-C after any other)."""
    for exc in errors:
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            raise exc
    if any(isinstance(exc, KeyboardInterrupt) for exc in errors):
        raise KeyboardInterrupt
    return results


Job = Callable[[Callable[[Any], None], Callable[[], bool]], Any]  # (on_epoch, stop) -> result


def _early_stopping_job(net: nn.Module, cfg: TrainConfig, train: TrainWindows, val: TrainWindows,
                        dev: torch.device, started: Callable[[FitResult], None] | None = None,
                        shard: Shard | None = None) -> Job:  # fmt: skip
    # under torchrun a rank may not leave an epoch alone (the others would wait in DDP)
    return lambda on_epoch, stop: fit(net, train, val, cfg, dev, on_epoch, shard,
                                      stop=None if shard is not None else stop,
                                      started=started)  # fmt: skip


def _scale_job(net: nn.Module, cfg: TrainConfig, train: Any, val: Any, dev: torch.device,
               loss: nn.Module) -> Job:  # fmt: skip
    return lambda on_epoch, stop: fit(net, train, val, cfg, dev, on_epoch, loss_fn=loss, stop=stop)


def _fixed_job(net: nn.Module, cfg: TrainConfig, train: TrainWindows, epochs: int,
               dev: torch.device, loss: nn.Module | None = None) -> Job:  # fmt: skip
    return lambda on_epoch, stop: fit_epochs(net, train, cfg, epochs, dev, on_epoch, stop,
                                             loss_fn=loss)  # fmt: skip

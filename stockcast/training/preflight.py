"""Option values checked against the data and the machine before any work starts: each check
takes milliseconds and refuses with one line naming the fix (``UsageError``, exit 2).

- ``check_model``: architecture settings that cannot build (a transformer width not divisible
  by its heads) and a model too large for the memory free on the device (parameters and
  activations estimated from the options).
- ``check_lookback``: a lookback or horizon the user chose that leaves too few windows in a
  symbol's history (a part under ``MIN_PART_WINDOWS``, or fewer training windows than sessions
  in one window), with the largest lookback that fits.
- ``check_jobs``: more parallel trials than cores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from stockcast import models
from stockcast.device import resolve_device
from stockcast.errors import UsageError
from stockcast.options import DataConfig, TrainConfig
from stockcast.prep import features, windows
from stockcast.prep.windows import MIN_PART_WINDOWS

GiB = 2**30
OPTIMISER_BYTES = 16  # per parameter while training: fp32 weights, gradients, Adam's two moments
KEPT_BYTES = 4  # per parameter of every member: the best epoch's copy kept on the CPU
RNN_ACTIVATIONS = 12  # floats kept per (window, session, layer, unit) of a recurrent layer
ATTENTION_ACTIVATIONS = 3  # floats kept per (window, head, query, key) of attention
MAX_LOOKBACK = 5000  # the largest --lookback (options.DataConfig)


def parameters(model_cfg: Any) -> int:
    """About how many parameters ``model_cfg``'s architecture has (within a factor of two for
    every registered one, a test checks), from its width, depth, inputs and outputs alone:
    building the model, even on PyTorch's "meta" device, takes seconds the first time."""
    hidden = int(getattr(model_cfg, "hidden", 64))
    layers = int(getattr(model_cfg, "layers", 1))
    inputs = int(getattr(model_cfg, "n_features", 4))
    outputs = int(getattr(model_cfg, "horizon", 5))
    ff = int(getattr(model_cfg, "ff_mult", 0))
    if ff:  # a transformer: attention (4 D^2) and the feed-forward block (2 ff D^2) per layer
        body = layers * (4 + 2 * ff) * hidden * hidden + inputs * hidden
    else:  # recurrent layers: a gate block of (inputs + hidden) x hidden per gate
        gates = 3 if models.arch_of(model_cfg) == "gru" else 4
        body = gates * hidden * (inputs + hidden) + (layers - 1) * gates * hidden * 2 * hidden
    return body + hidden * outputs


def activation_bytes(model_cfg: Any, batch: int, lookback: int) -> int:
    """A generous estimate of what one training batch keeps for the backward pass."""
    hidden = int(getattr(model_cfg, "hidden", 64))
    layers = int(getattr(model_cfg, "layers", 1))
    per_session = layers * hidden * (RNN_ACTIVATIONS + 2 * getattr(model_cfg, "ff_mult", 0))
    total = batch * lookback * per_session
    heads = getattr(model_cfg, "heads", 0)
    if heads:
        total += batch * layers * heads * lookback * lookback * ATTENTION_ACTIVATIONS
    return 4 * total


def free_bytes(device: torch.device) -> int | None:
    """Memory free for training on ``device`` (None when unknown: the check is skipped)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_model(model_cfg: Any, data: DataConfig, cfg: TrainConfig, device: str) -> None:
    """UsageError when the architecture settings cannot build or training would not fit in the
    memory free on ``device``."""
    arch = models.arch_of(model_cfg)
    heads, hidden = getattr(model_cfg, "heads", 0), getattr(model_cfg, "hidden", 0)
    if heads and hidden % heads:
        fits = [w for w in (16, 32, 64, 128) if w % heads == 0]
        raise UsageError(
            f"--hidden {hidden} is not a multiple of the {arch}'s {heads} attention heads; "
            f"use a multiple of {heads} such as {', '.join(map(str, fits))}"
        )
    n = parameters(model_cfg)
    dev = resolve_device(device)
    free = free_bytes(dev)
    if free is None:
        return
    at_once = 1 if dev.type != "cpu" else max(1, min(cfg.ensemble, os.cpu_count() or 1))
    need = at_once * (n * OPTIMISER_BYTES + activation_bytes(model_cfg, cfg.batch_size,
                                                             data.lookback))  # fmt: skip
    need += cfg.ensemble * n * KEPT_BYTES
    if need > free:
        members = f", {at_once} members at once" if at_once > 1 else ""
        raise UsageError(
            f"this model needs about {need / GiB:.1f} GiB to train ({n / 1e6:,.1f} million "
            f"parameters{members}) but {free / GiB:.1f} GiB is free on {dev.type}; lower "
            "--hidden, --layers, --batch-size, --lookback or --ensemble"
        )


def _fits(n: int, lookback: int, data: DataConfig, test_start: int | None) -> bool:
    """Every part of ``n`` sessions (after warm-up) holds MIN_PART_WINDOWS windows and the
    training part at least ``lookback`` of them (``test_start``: index of a given test start)."""
    if test_start is None:
        b1, b2 = windows.fraction_bounds(n, data.val_frac, data.test_frac)
    else:
        b2 = test_start
        b1 = b2 - int(data.val_frac * n + 1e-9)
    parts = windows.part_ranges(n, lookback, data.horizon, b1, b2)
    return all(len(r) >= MIN_PART_WINDOWS for r in parts.values()) and (
        len(parts["train"]) >= lookback
    )


def longest_lookback(n: int, data: DataConfig, test_start: int | None = None) -> int:
    """The longest lookback that ``_fits`` ``n`` sessions (1 when none does)."""
    if not _fits(n, 2, data, test_start):
        return 1
    lo, hi = 2, MAX_LOOKBACK
    while lo < hi:  # the windows shrink as the lookback grows
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if _fits(n, mid, data, test_start) else (lo, mid - 1)
    return lo


def check_lookback(symbol: str, stored: int, data: DataConfig) -> None:
    """UsageError when a chosen lookback or horizon (not the defaults: a history too short for
    them is a data problem, named when the windows are built) leaves too few windows in the
    ``stored`` sessions of ``symbol``."""
    default = DataConfig()
    if data.test_start is not None or (data.lookback, data.horizon) == (
        default.lookback,
        default.horizon,
    ):
        return
    n = stored - features.warmup(data.features)
    if n < 1 or _fits(n, data.lookback, data, None):
        return
    best = longest_lookback(n, data)
    if best < 2:
        return  # too short whatever the lookback: the windows' own error says fetch more
    raise UsageError(
        f"{symbol}: --lookback {data.lookback} with --horizon {data.horizon} leaves too few "
        f"windows in its {stored} sessions (each part needs {MIN_PART_WINDOWS}, and the "
        f"training part at least as many windows as sessions per window); use --lookback "
        f"{best} or less"
    )


def fold_lookback(symbol: str, end: int, origin: int, data: DataConfig, what: str) -> None:
    """UsageError when a walk-forward fold of sessions 0..``end`` whose test part starts at
    session ``origin`` has too few windows at ``data``'s lookback; ``what`` names the command
    ("tune")."""
    warm = features.warmup(data.features)
    n, start = end + 1 - warm, origin - warm
    if start > 0 and _fits(n, data.lookback, data, start):
        return
    best = longest_lookback(n, data, start) if start > 0 else 1
    fix = (
        f"use --lookback {best} or less"
        if best >= 2
        else "fetch a longer history (`stockcast fetch SYMBOL --full`)"
    )
    raise UsageError(
        f"{symbol}: {what} needs {MIN_PART_WINDOWS} windows in each part of its first fold at "
        f"lookback {data.lookback}, but only {origin} sessions come before that fold; {fix}"
    )


def check_jobs(jobs: int) -> None:
    """UsageError when ``jobs`` exceeds the cores here (each trial trains on its own core)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if jobs > cores:
        raise UsageError(f"--jobs {jobs} is more than the {cores} cores here; use at most {cores}")

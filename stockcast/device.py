"""Choosing the torch device and the CPU thread count."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch

from stockcast.errors import UsageError

# Measured on a 2-core CPU (docs/models.md, "Devices"): for the default LSTM (hidden 64, one
# layer, window 60, batch 256) one intra-op thread trained as fast as two or faster, and left the
# other core to the rest of the machine; more threads only pay off for larger models.
DEFAULT_CPU_THREADS = 1
ENV_THREADS = "STOCKCAST_THREADS"  # overrides the CPU thread count


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError("--device mps: this torch build sees no Apple GPU; use --device cpu")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        return _cuda(spec)
    raise UsageError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")


def _cuda(spec: str) -> torch.device:
    if not torch.cuda.is_available():
        raise UsageError(
            f"--device {spec}: torch sees no CUDA GPU (torch {torch.__version__}); "
            "use --device cpu or auto, or install a CUDA build of torch"
        )
    dev = torch.device(spec)
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise UsageError(f"--device {spec}: only {count} CUDA device(s); use cuda:0..{count - 1}")
    return dev


def cpu_threads(threads: int | None = None) -> int:
    """The intra-op thread count for CPU work: ``threads``, else ``$STOCKCAST_THREADS``, else
    ``DEFAULT_CPU_THREADS``."""
    if threads is not None:
        return max(1, threads)
    env = os.environ.get(ENV_THREADS, "").strip()
    if not env:
        return DEFAULT_CPU_THREADS
    if not env.isdigit() or int(env) < 1:
        raise UsageError(
            f"{ENV_THREADS}={env!r} is not a thread count; set it to 1 or more, or unset it"
        )
    return int(env)


@contextmanager
def threads_for(device: torch.device, threads: int | None = None) -> Iterator[int]:
    """Run the block with torch's intra-op threads set for work on ``device`` (CPU only: see
    ``cpu_threads``), and restore the caller's count afterwards, exception or not. Yields the
    count in use.

    >>> with threads_for(torch.device("cpu"), 1) as n:
    ...     n
    1
    """
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(threads))
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def describe(device: torch.device) -> str:
    """Short human name: ``cpu (1 thread)``, ``cuda:0 (NVIDIA H200)``."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'s' if n != 1 else ''})"
    return str(device)


def amp_context(device: torch.device) -> AbstractContextManager:
    """bf16 autocast on CUDA; ``nullcontext()`` on every other device type, so no autocast
    object is built where a torch version lacks one (older torch on ``mps``)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()

"""Device choice, thread hygiene (library calls restore torch's thread count), the allocator."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from stockcast.data.sources.sample import load_sample
from stockcast.data.store import PriceStore
from stockcast.device import (
    DEFAULT_CPU_THREADS,
    ENV_THREADS,
    cpu_threads,
    resolve_device,
    threads_for,
)
from stockcast.errors import UsageError
from stockcast.training import job, recipe

CPU = torch.device("cpu")


@pytest.fixture
def caller_threads(monkeypatch: pytest.MonkeyPatch):
    """The caller runs with 2 threads (not stockcast's default of 1); restored afterwards."""
    monkeypatch.delenv(ENV_THREADS, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_threads_for_sets_then_restores(caller_threads):
    with threads_for(CPU) as n:
        assert n == DEFAULT_CPU_THREADS == torch.get_num_threads()
    assert torch.get_num_threads() == caller_threads
    with threads_for(CPU, 3) as n:
        assert n == 3 == torch.get_num_threads()
    assert torch.get_num_threads() == caller_threads


def test_threads_for_restores_after_an_exception(caller_threads):
    with pytest.raises(RuntimeError, match="boom"), threads_for(CPU, 1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == caller_threads


def test_threads_for_leaves_other_devices_alone(caller_threads):
    with threads_for(torch.device("cuda"), 1) as n:  # no GPU needed: nothing runs on it
        assert n == caller_threads == torch.get_num_threads()


def test_stockcast_threads_is_honoured_and_checked(caller_threads, monkeypatch):
    monkeypatch.setenv(ENV_THREADS, "3")
    with threads_for(CPU) as n:
        assert n == 3
    assert cpu_threads(1) == 1  # an explicit count wins over the variable
    assert torch.get_num_threads() == caller_threads
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(ENV_THREADS, bad)
        with pytest.raises(UsageError, match="set it to 1 or more, or unset it"):
            cpu_threads()
    assert torch.get_num_threads() == caller_threads


@pytest.fixture
def stored_sample(stockcast_home: Path) -> Path:
    PriceStore(stockcast_home).write("MSFT", load_sample(), source="sample")
    return stockcast_home


def _tiny_configs():
    return job.recipe_from_options({"epochs": 1, "hidden": 8, "lookback": 20, "ensemble": 1})


@pytest.mark.slow
def test_train_symbol_restores_the_callers_threads(stored_sample, caller_threads):
    res = job.train_symbol(stored_sample, "MSFT", _tiny_configs()[0], device="cpu")
    assert res.device == f"cpu ({DEFAULT_CPU_THREADS} thread)"  # what training used
    assert torch.get_num_threads() == caller_threads


def test_train_symbol_restores_threads_when_training_fails(
    stored_sample, caller_threads, monkeypatch
):
    seen = []

    def failing_fit(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise RuntimeError("out of memory")

    monkeypatch.setattr(recipe, "fit", failing_fit)  # the members train in recipe
    with pytest.raises(RuntimeError, match="out of memory"):
        job.train_symbol(stored_sample, "MSFT", _tiny_configs()[0], device="cpu")
    assert seen == [DEFAULT_CPU_THREADS]
    assert torch.get_num_threads() == caller_threads


def test_resolve_device_names_the_fix():
    assert resolve_device("cpu") == CPU
    assert resolve_device(" CPU ") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="use auto, cpu, cuda, cuda:N or mps"):
        resolve_device("tpu")
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        with pytest.raises(UsageError, match=rf"use cuda:0\.\.{n - 1}"):
            resolve_device(f"cuda:{n}")
    else:
        with pytest.raises(UsageError, match="use --device cpu or auto"):
            resolve_device("cuda:0")
    if not torch.backends.mps.is_available():
        with pytest.raises(UsageError, match="use --device cpu"):
            resolve_device("mps")


# The allocator setting is per process and cannot be undone, so each check runs in a fresh one.
# A 40 MiB block is above glibc's largest dynamic mmap threshold (32 MiB) and below the tuned
# one (64 MiB): glibc's defaults serve it with mmap, the tuned allocator from the heap.
ALLOCATOR_PROBE = textwrap.dedent("""
    import ctypes, json
    from stockcast import allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                    "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    calls = [allocator.tune(), allocator.tune()]
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(40 * 2**20)
    mmapped = libc.mallinfo2().hblkhd - before
    libc.free(block)
    print(json.dumps({"calls": calls, "mmapped": mmapped}))
""")


def _probe(tune_env: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "STOCKCAST_MALLOC_TUNE"}
    if tune_env is not None:
        env["STOCKCAST_MALLOC_TUNE"] = tune_env
    proc = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's")
def test_allocator_tune_keeps_large_blocks_in_the_heap_once_per_process():
    tuned = _probe(None)
    assert tuned["calls"] == [True, True]  # a bool, and the second call changes nothing
    assert tuned["mmapped"] == 0
    default = _probe("0")
    assert default["calls"] == [False, False]  # STOCKCAST_MALLOC_TUNE=0: a no-op
    assert default["mmapped"] >= 40 * 2**20

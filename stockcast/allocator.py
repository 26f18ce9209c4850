"""The glibc allocator setting that CPU training relies on, applied once by the CLI process.

Measured on the 2-core benchmark CPU (BENCHMARKS.md): nn.LSTM training at batch 256 spent about
half its time page-faulting in fresh oneDNN work buffers of about 16 MB, because glibc serves
allocations above its mmap threshold (128 KiB, rising to at most 32 MiB) with mmap and unmaps
them on free. Raising the mmap threshold to 64 MiB (and the trim threshold with it) keeps those
buffers in the heap where they are reused: about 2x the windows/s. Unlike turning mmap off, a
long-lived process still gets blocks above 64 MiB back from the OS when it frees them.

``tune()`` is called by ``stockcast.cli.main`` (the `stockcast` command and ``python -m
stockcast``, torchrun included), never as a side effect of a library call. It is a no-op
elsewhere than glibc, and with ``STOCKCAST_MALLOC_TUNE=0``.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 64 * 2**20  # bytes: allocations below this come from the heap and are reused
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # free heap top kept before returning memory to the OS
ENV = "STOCKCAST_MALLOC_TUNE"  # "0" leaves glibc's defaults alone
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameter numbers
_tuned: bool | None = None  # None until the first call has tried


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds (once per process); returns whether in effect."""
    global _tuned
    if _tuned is None:
        _tuned = False
        if os.environ.get(ENV, "1") != "0":
            try:
                libc = ctypes.CDLL("libc.so.6")
                ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                _tuned = ok and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            except (OSError, AttributeError):
                pass
    return _tuned

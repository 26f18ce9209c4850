"""What changes the trained weights on a CPU: the thread count, ATen's vector ISA, MKL's and
oneDNN's ISA (issue 23: the README's global example trained differently on another CPU).

    python bench/cpu_determinism.py [--steps 15]

Trains the default LSTM (hidden 64, one feature and horizon 5, as the README's global example)
for ``--steps`` AdamW steps (Huber loss, gradient clipping, as ``training/loop.py``) on one
seeded batch of 256 windows, in a fresh process per setting, and prints a hash of the weights.
Equal hashes: the setting leaves every bit of the weights as it was. Run it on two machines and
compare the hashes of the default row: equal hashes say the two CPUs train identically.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from timing import ROOT

CHILD = """
import hashlib, sys
import torch
from torch import nn
from stockcast.models.lstm import Config, Model
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
m = Model(Config(n_features=1, horizon=5, hidden=64))
g = torch.Generator().manual_seed(1)
x, y = torch.randn(256, 60, 1, generator=g), torch.randn(256, 5, generator=g)
opt = torch.optim.AdamW(m.parameters(), lr=2e-3, weight_decay=0.05)
for _ in range(int(sys.argv[2])):
    opt.zero_grad()
    nn.HuberLoss()(m(x), y).backward()
    nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
w = b"".join(p.detach().numpy().tobytes() for p in m.parameters())
print(hashlib.sha256(w).hexdigest()[:16], torch.backends.cpu.get_cpu_capability())
"""

AVX2 = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
SETTINGS = [  # (label, torch threads, environment)
    ("default (1 thread, as stockcast trains)", 1, {}),
    ("2 threads", 2, {}),
    ("ATen vector code capped at AVX2", 1, {"ATEN_CPU_CAPABILITY": "avx2"}),
    ("MKL and oneDNN capped at AVX2", 1, AVX2),
    ("MKL's reproducible AVX2 mode (MKL_CBWR=AVX2) and oneDNN capped", 1,
     {"MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}),
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=15)
    args = ap.parse_args()
    for label, threads, env in SETTINGS:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(threads), str(args.steps)],
            cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, text=True,
        )  # fmt: skip
        digest, capability = out.stdout.split()
        print(f"{digest}  {label} (ATen {capability})")


if __name__ == "__main__":
    main()

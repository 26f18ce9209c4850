"""One-shot check of stockcast on an NVIDIA GPU: ``python bench/gpu_check.py [--cpu] [--quick]``.

Prints a few human lines, then one JSON object on the last line. On CUDA it checks:

1. the dtypes inside the default model under ``amp_context``: the recurrent layer's output must
   be float32 (stockcast keeps it out of autocast); the head's may be bfloat16;
2. the share of the recurrent layer's weight gradients below fp16's smallest normal (6.1e-5),
   and below its smallest subnormal (6e-8, flushed to zero), on one real training batch of the
   bundled sample: why fp16 without a loss scaler would be wrong;
3. training throughput (windows/s) of the default model at batch 256 and 1024;
4. a short ``fit`` that must reach a finite validation loss.

Exit status 1 when check 1 or 4 fails, else 0; 0 with ``{"cuda": false}`` where torch sees no
CUDA GPU. ``--cpu`` runs everything on the CPU instead (a dry run: amp_context is a no-op
there), ``--quick`` shortens it (fewer windows and epochs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
import train_speed as ts
from torch import nn

from stockcast import allocator, models
from stockcast.data.sources.sample import SAMPLE_SYMBOL, load_sample
from stockcast.device import amp_context, cpu_threads, describe, threads_for
from stockcast.options import DataConfig, TrainConfig
from stockcast.prep.windows import build_dataset
from stockcast.training.loop import build_model, fit, make_loss

FP16_MIN_NORMAL = float(torch.finfo(torch.float16).tiny)  # 6.1e-5
FP16_MIN_SUBNORMAL = 2.0**-24  # 6.0e-8: smaller magnitudes become 0 in fp16
BATCHES = (256, 1024)


def default_model(ds, seed: int = 0) -> nn.Module:
    """The default architecture at its default size, initialised as ``train`` does (output bias
    at the scaled zero return)."""
    config_cls, _ = models.lookup(models.DEFAULT_ARCH)
    x, y = ds.arrays("train")
    model = build_model(config_cls(n_features=x.shape[2], horizon=y.shape[1]), seed)
    model.init_output_bias(-ds.target_scaler.mean / ds.target_scaler.std)
    return model


def _recurrent(model: nn.Module) -> dict[str, nn.RNNBase]:
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.RNNBase)}


def dtypes_under_amp(model: nn.Module, xb: torch.Tensor) -> dict:
    """Output dtypes of the recurrent layer(s), the head (the last Linear) and the model, for a
    forward pass under ``amp_context`` on ``xb``'s device."""
    seen: dict[str, str] = {}
    head_name = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    hooked = {**_recurrent(model), head_name: model.get_submodule(head_name)}

    def hook(name: str):
        def record(_mod, _inp, out) -> None:
            seen[name] = str((out[0] if isinstance(out, tuple) else out).dtype)

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in hooked.items()]
    try:
        with torch.no_grad(), amp_context(xb.device):
            out = model(xb)  # (B, L, F) -> (B, H)
    finally:
        for h in handles:
            h.remove()
    return {"recurrent": {n: seen[n] for n in _recurrent(model)}, "head": seen[head_name],
            "head_module": head_name, "output": str(out.dtype)}  # fmt: skip


def grad_underflow(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig) -> dict:
    """Shares of the recurrent weight gradients of one training batch below fp16's ranges."""
    model.train()
    model.zero_grad(set_to_none=True)
    with amp_context(xb.device):
        loss = make_loss(cfg.loss, cfg.huber_delta)(model(xb).float(), yb)
    loss.backward()
    per, allg = {}, []
    for mname, mod in _recurrent(model).items():
        for pname, p in mod.named_parameters():
            if pname.startswith("weight") and p.grad is not None:
                g = p.grad.detach().float().abs().flatten().cpu()
                allg.append(g)
                per[f"{mname}.{pname}"] = _shares(g)
    model.zero_grad(set_to_none=True)
    return {"loss": float(loss.detach()), "all": _shares(torch.cat(allg)), "per_weight": per}


def _shares(g: torch.Tensor) -> dict:
    return {
        "n": g.numel(),
        "below_fp16_normal": float((g < FP16_MIN_NORMAL).float().mean()),
        "below_fp16_subnormal": float((g < FP16_MIN_SUBNORMAL).float().mean()),
        "median_abs": float(g.median()),
        "max_abs": float(g.max()),
    }


def throughput(x: np.ndarray, y: np.ndarray, device: torch.device, epochs: int) -> list[dict]:
    """windows/s of the default model's training step at each of BATCHES (bench/train_speed)."""
    config_cls, _ = models.lookup(models.DEFAULT_ARCH)
    cfg = config_cls()
    rows = []
    for batch in BATCHES:
        case = ts.Case("default", cfg.hidden, cfg.layers, batch, cpu_threads(), str(device),
                       amp=device.type == "cuda")  # fmt: skip
        r = ts.windows_per_s(case, x, y, epochs)
        rows.append({k: r[k] for k in ("batch", "windows", "epoch_s", "windows_per_s",
                                       "gflops_per_s", "gpu_peak_mem_mb") if k in r})  # fmt: skip
    return rows


def short_fit(ds, device: torch.device, epochs: int) -> dict:
    """A few epochs of ``fit`` on the sample; the best validation loss must be finite."""
    cfg = TrainConfig(epochs=epochs)
    res = fit(default_model(ds), ds.arrays("train"), ds.arrays("val"), cfg, device)
    return {"epochs": res.epochs, "best_val_loss": res.best_val_loss,
            "finite": math.isfinite(res.best_val_loss), "seconds": round(res.seconds, 3),
            "windows_per_s": round(res.windows_per_s, 1)}  # fmt: skip


def machine(device: torch.device) -> dict:
    out = {"device": describe(device), "torch": torch.__version__}
    if device.type == "cuda":
        out |= {"cuda_version": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                "bf16_supported": torch.cuda.is_bf16_supported()}  # fmt: skip
    return out


def run(device: torch.device, quick: bool) -> dict:
    """All four checks on ``device``; the JSON object."""
    ds = build_dataset(SAMPLE_SYMBOL, load_sample(), DataConfig())
    x, y = ds.arrays("train")
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(x), generator=gen)[: TrainConfig().batch_size]  # fit's first batch
    xb = torch.as_tensor(x)[idx].to(device)
    yb = torch.as_tensor(y)[idx].to(device)
    model = default_model(ds).to(device)
    res = {"cuda": device.type == "cuda", **machine(device), "quick": quick}
    res["dtypes"] = dtypes_under_amp(model, xb)
    res["grad_underflow"] = grad_underflow(model, xb, yb, TrainConfig())
    n = 2048 if quick else len(x)
    res["throughput"] = throughput(np.ascontiguousarray(x[:n]), np.ascontiguousarray(y[:n]),
                                   device, 1 if quick else 3)  # fmt: skip
    res["fit"] = short_fit(ds, device, 1 if quick else 3)
    rec = res["dtypes"]["recurrent"].values()
    res["checks"] = {
        "recurrent_output_float32": bool(rec) and all(d == "torch.float32" for d in rec),
        "fit_val_loss_finite": res["fit"]["finite"],
    }
    res["ok"] = all(res["checks"].values())
    return res


def human(res: dict) -> list[str]:
    d, g = res["dtypes"], res["grad_underflow"]["all"]
    lines = [
        f"{res['device']}, torch {res['torch']}",
        f"dtypes under amp_context: recurrent {', '.join(d['recurrent'].values())}, "
        f"head ({d['head_module']}) {d['head']}, output {d['output']}",
        f"recurrent weight gradients of one batch: {g['below_fp16_normal']:.1%} below fp16's "
        f"smallest normal, {g['below_fp16_subnormal']:.1%} would be 0 in fp16 "
        f"(median |g| {g['median_abs']:.2e})",
    ]
    lines += [f"training, batch {r['batch']}: {r['windows_per_s']:,.0f} windows/s"
              for r in res["throughput"]]  # fmt: skip
    f = res["fit"]
    lines.append(f"fit, {f['epochs']} epochs: best validation loss {f['best_val_loss']:.4f}")
    failed = [k for k, ok in res["checks"].items() if not ok]
    lines.append("all checks passed" if not failed else f"FAILED: {', '.join(failed)}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run on the CPU (a dry run)")
    ap.add_argument("--quick", action="store_true", help="fewer windows and epochs")
    args = ap.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        print(f"torch {torch.__version__} sees no CUDA GPU: nothing to check (--cpu: dry run)")
        print(json.dumps({"cuda": False}))
        return 0
    device = torch.device("cpu" if args.cpu else "cuda")
    allocator.tune()  # as the `stockcast` command does (CPU rows)
    t0 = time.perf_counter()
    with threads_for(device):
        res = run(device, args.quick)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    print("\n".join(human(res)))
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

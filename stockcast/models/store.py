"""Saved models: ``<data>/models/<SYMBOL>/<id>/`` holding ``model.safetensors`` and
``manifest.json``.

The folder is written under a hidden temporary name and renamed into place, so a reader sees a
whole model or none. Ids sort by creation time (``20261129T153000-ab12cd``); the newest is the
default. Weights are safetensors only: opening a model never runs code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path

import numpy as np

from stockcast.data.fsutil import fsync_dir
from stockcast.data.paths import normalize_symbol, symbol_file
from stockcast.errors import ModelError

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"
CALIB_KEYS = ("calib.y", "calib.mu", "calib.vol")
_ID_RE = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{6}$")


def models_dir(root: Path, symbol: str) -> Path:
    """``<root>/models/<SYMBOL>`` (validated symbol, inside root)."""
    return symbol_file(Path(root), symbol, "models", "")


def list_models(root: Path, symbol: str) -> list[str]:
    """Published model ids of ``symbol``, oldest first."""
    folder = models_dir(root, symbol)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and _ID_RE.match(p.name))


def new_model_id(existing: list[str], now: dt.datetime | None = None) -> str:
    """A fresh id that sorts after every id in ``existing``."""
    now = now or dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    if existing and existing[-1][:15] >= stamp:  # same second (or clock went back): next second
        last = dt.datetime.strptime(existing[-1][:15], "%Y%m%dT%H%M%S")
        stamp = (last + dt.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def save_model(
    root: Path,
    symbol: str,
    manifest: dict,
    weights: dict,
    calib: dict[str, np.ndarray],
) -> tuple[str, Path]:
    """Publish a model atomically; returns (id, folder). ``weights`` is a torch state dict."""
    import torch
    from safetensors.torch import save

    sym = normalize_symbol(symbol)
    folder = models_dir(root, sym)
    folder.mkdir(parents=True, exist_ok=True)
    model_id = new_model_id(list_models(root, sym))
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in weights.items()}
    for key in CALIB_KEYS:
        tensors[key] = torch.from_numpy(np.ascontiguousarray(calib[key.split(".")[1]]))
    blob = save(tensors, metadata={"format_version": str(FORMAT_VERSION), "id": model_id})
    manifest = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "id": model_id,
        "ticker": sym,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    _remove_stale_temporaries(folder)
    tmp = folder / f".tmp-{model_id}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write(tmp / WEIGHTS, blob)
        _write(tmp / MANIFEST, (json.dumps(manifest, indent=2, default=str) + "\n").encode())
        fsync_dir(tmp)
        os.rename(tmp, folder / model_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(folder)
    return model_id, folder / model_id


STALE_TMP_SECONDS = 3600.0  # a save takes well under a second; older ones were killed


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove half-written model folders left by a killed process (never a recent one, which
    may belong to a concurrent `train`)."""
    import time

    for tmp in folder.glob(".tmp-*"):
        try:
            if time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            continue


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_manifest(root: Path, symbol: str, model_id: str | None = None) -> dict:
    """The manifest of a model (newest by default) without loading weights."""
    sym = normalize_symbol(symbol)
    folder = _resolve(root, sym, model_id)
    return _read_manifest(folder, sym)


def _resolve(root: Path, sym: str, model_id: str | None) -> Path:
    ids = list_models(root, sym)
    if not ids:
        raise ModelError(f"no model for {sym}; run `stockcast train {sym}`")
    if model_id is None:
        return models_dir(root, sym) / ids[-1]
    if model_id not in ids:
        raise ModelError(
            f"no model {model_id!r} for {sym}; the newest is {ids[-1]} "
            f"(omit --model to use it, or run `stockcast train {sym}`)"
        )
    return models_dir(root, sym) / model_id


def _read_manifest(folder: Path, sym: str) -> dict:
    fix = f"run `stockcast train {sym}` to replace it"
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise ModelError(f"model {folder.name} of {sym} has no {MANIFEST}; {fix}") from None
    except (OSError, ValueError):
        raise ModelError(
            f"model {folder.name} of {sym} has an unreadable {MANIFEST}; {fix}"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        got = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise ModelError(
            f"model {folder.name} of {sym} has format version {got}, this stockcast reads "
            f"{FORMAT_VERSION}; {fix}"
        )
    return manifest


def load_model(root: Path, symbol: str, model_id: str | None = None, device: str = "cpu"):
    """(manifest, model in eval mode, calib arrays {"y", "mu", "vol"}); newest by default.

    ModelError with one line when the model is missing, corrupt or of another format version.
    """
    from safetensors.torch import load

    from stockcast.models.lstm import LSTMForecaster, ModelConfig

    sym = normalize_symbol(symbol)
    folder = _resolve(root, sym, model_id)
    manifest = _read_manifest(folder, sym)
    fix = f"run `stockcast train {sym}` to replace it"
    try:
        blob = (folder / WEIGHTS).read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model {folder.name} of {sym} has no {WEIGHTS}; {fix}") from None
    if hashlib.sha256(blob).hexdigest() != manifest.get("weights_sha256"):
        raise ModelError(f"weights of model {folder.name} of {sym} are corrupt; {fix}")
    try:
        tensors = load(blob)
        model = LSTMForecaster(ModelConfig(**manifest["model_config"]), init=False)
        state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(state, strict=True)
        calib = {k.split(".")[1]: tensors[k].numpy() for k in CALIB_KEYS}
    except Exception as exc:
        raise ModelError(
            f"model {folder.name} of {sym} cannot be loaded ({exc.__class__.__name__}); {fix}"
        ) from None
    model.to(device).eval()
    return manifest, model, calib

"""Saved models: ``<data>/models/<NAME>/<id>/`` holding ``model.safetensors`` and
``manifest.json``.

A model has a name and the symbols it was trained on; a per-symbol model is the one-symbol
case, named after its symbol. What is per symbol (scaler statistics, split dates, calibration)
is kept per symbol. The manifest is handed out typed (``models.manifest.Manifest``, upgraded
from either format version on read), so callers never branch on the version nor read the JSON.
Format 1 (stockcast 0.1.0) kept the per-symbol keys at the top level and had no ``arch`` (it was
always an LSTM); format 2 keeps them under ``series`` and also mirrors them at the top level for
a one-symbol model.

The folder is written under a hidden temporary name and renamed into place, so a reader sees a
whole model or none. Ids sort by creation time (``20261129T153000-ab12cd``); the newest model
whose training was not interrupted is the default (an interrupted one only when no other
exists). Weights are safetensors only: opening a model never runs code.

A model file may hold two weight sets: the evaluated weights (``model.*``, with the validation
calibration ``calib.<SYMBOL>.*``), which `evaluate` scores on the test split, and the live
weights (``live.model.*``, with ``live.calib.<SYMBOL>.*``: the evaluated weights' test-split
residuals), the same recipe refit on every stored session, which `predict` and `run` use. An
ensemble's weights are its members' (``model.members.<i>.*``; the manifest's ``members`` list
gives K). What `train` scored on the test split with the evaluated weights is kept too
(``scored.<SYMBOL>.*``: the raw test predictions, the band's scales, the GARCH baseline's
scales and a digest of the inputs they came from), so `evaluate` re-scores it without torch
while the stored prices are unchanged (``forecasting/evaluation.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as load_arrays

from stockcast import models
from stockcast.data.fsutil import (
    MANIFEST_LIMIT,
    WEIGHTS_LIMIT,
    fsync_dir,
    read_stored,
    stored_dir,
)
from stockcast.data.paths import normalize_symbol, symbol_file
from stockcast.errors import EXIT_USAGE, ModelError, NoModel, UnsafeFile, UsageError
from stockcast.models import numpy_infer, schema
from stockcast.models.manifest import (
    FORMAT_VERSION,
    READABLE_VERSIONS,
    Manifest,
    Series,
)
from stockcast.models.scale import ScaleHead

WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"
CALIB_PARTS = ("y", "mu", "vol")  # calibration arrays per symbol: calib.<SYMBOL>.<part>
SCALE_PART = "sigma"  # (N, H) the band's scale at the calibration windows (scale networks only)
SCALE = "scale."  # prefix of the scale networks' weights (``live.scale.`` for the live ones)
LIVE = "live."  # prefix of the live weights and calibration
SCORED = "scored."  # prefix of what `train` scored per symbol: scored.<SYMBOL>.<part>
WEIGHT_SETS = ("evaluated", "live")  # load_model(weights=...)
SeriesView = Series  # one symbol's part of a saved model (``Manifest.series_of``)


def models_dir(root: Path, name: str) -> Path:
    """``<root>/models/<NAME>`` (validated like a symbol, inside root)."""
    return symbol_file(Path(root), name, "models", "")


def list_models(root: Path, name: str) -> list[str]:
    """Published model ids of ``name``, oldest first."""
    folder = models_dir(root, name)
    if not stored_dir(folder, root, "move it aside or remove it"):
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and schema.is_model_id(p.name))


def check_name(root: Path, name: str, symbols: list[str]) -> None:
    """UsageError (before any training) when a model of ``symbols`` named ``name`` would share
    its name with another kind of model: a global model (of several symbols, or of one that is
    not its name) may not take the name of a stored symbol or of a symbol's own models, and a
    symbol's own model may not join a global model's name."""
    label = normalize_symbol(name)
    syms = [normalize_symbol(s) for s in symbols]
    own = syms == [label]
    others = [k for k in _kinds(root, label) if (k == (label,)) != own]
    if not own and (
        others or os.path.lexists(symbol_file(Path(root), label, "prices", ".parquet"))
    ):
        raise UsageError(
            f"--name {name}: {label} is a stored symbol, and a global model may not take its "
            f"name (`predict {label}` would be ambiguous); choose another --name"
        )
    if own and others:
        raise UsageError(
            f"{label} is the name of a global model (of {', '.join(others[0])}); a symbol's own "
            f"model cannot share it: remove that model (`stockcast models rm {label} --yes`) "
            f"to train {label}"
        )


def _kinds(root: Path, label: str) -> list[tuple[str, ...]]:
    """The symbols of each readable saved model of ``label``."""
    out = []
    for model_id in list_models(root, label):
        try:
            out.append(
                tuple(_read_manifest(root, models_dir(root, label) / model_id, label).symbols)
            )
        except ModelError:
            continue
    return out


def new_model_id(existing: list[str], now: dt.datetime | None = None) -> str:
    """A fresh id that sorts after every id in ``existing``."""
    now = now or dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    if existing and existing[-1][:15] >= stamp:  # same second (or clock went back): next second
        last = dt.datetime.strptime(existing[-1][:15], "%Y%m%dT%H%M%S")
        stamp = (last + dt.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def model_ref(symbol: str, ref: str | None) -> tuple[str, str | None]:
    """(model name, id or None for the default) of a ``--model`` value used for ``symbol``.

    ``--model`` takes an id (``20261129T153000-ab12cd``: ``symbol``'s own model), a model name
    (``global``: the newest model of that name, e.g. a global model covering ``symbol``), or
    ``NAME:ID`` (that model of that name); nothing gives ``symbol``'s own newest model. An id
    is recognised by its shape, so a name can never be mistaken for one."""
    if ref is None or not ref.strip():
        return normalize_symbol(symbol), None
    ref = ref.strip()
    if schema.is_model_id(ref):
        return normalize_symbol(symbol), ref
    name, _, model_id = ref.partition(":")
    if model_id and not schema.is_model_id(model_id):
        raise UsageError(
            f"--model {ref}: {model_id!r} is not a model id (like 20261129T153000-ab12cd); "
            "give an id, a model name, or NAME:ID"
        )
    return normalize_symbol(name), model_id or None


def model_arch(manifest: Manifest) -> str:
    """The registry name of the model's architecture (format 1: always ``lstm``)."""
    return manifest.arch


def model_symbols(manifest: Manifest) -> list[str]:
    """The symbols the model was trained on, in training order."""
    return manifest.symbols


def series_view(manifest: Manifest, symbol: str | None = None) -> Series:
    """``symbol``'s scalers, split and dates (default: the model's own symbol, see
    ``pick_symbol``); ModelError when the model was not trained on it."""
    return manifest.series_of(symbol)


def evaluation_report(manifest: Manifest, symbol: str | None = None) -> Mapping | None:
    """``symbol``'s saved test evaluation (the `evaluate --json` report: horizons, baselines,
    verdicts), whatever the model's kind: a one-symbol model's ``test_metrics``, a global
    model's ``series_metrics`` entry of the symbol; None when the model has none."""
    return manifest.report(symbol)


def pooled_report(manifest: Manifest) -> Mapping | None:
    """A global model's pooled test figures over all its symbols (``forecasting/crosssection``:
    per horizon ``skill_vs_best`` {value, low, high}, ...); None for other models."""
    return manifest.pooled


def pick_symbol(manifest: Manifest, symbol: str | None = None) -> str:
    """``symbol`` checked against the model's symbols; None: the only one, or the model's name."""
    return manifest.pick_symbol(symbol)


def save_model(
    root: Path,
    name: str,
    manifest: Manifest,
    weights: dict,
    calib: Mapping[str, Mapping[str, np.ndarray]],
    *,
    live_weights: dict | None = None,
    live_calib: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    scale_weights: dict | None = None,
    live_scale_weights: dict | None = None,
    scored: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> tuple[str, Path]:
    """Publish a model atomically; returns (id, folder). ``weights`` is a torch state dict.

    ``manifest.series`` names the symbols and ``calib`` holds the same symbols'
    ``{"y", "mu", "vol"}`` arrays; the store adds the name, id and the weights' digest.
    ``live_weights`` and ``live_calib`` (both or neither): the weights and calibration
    `predict` uses.
    ``scale_weights`` / ``live_scale_weights``: the band's scale networks (``scale.*`` and
    ``live.scale.*``), described by ``manifest.scale``; their calibration arrays carry a
    ``sigma`` part.
    ``scored``: per symbol, the arrays `evaluate` may re-score instead of running the weights
    again (``scored.<SYMBOL>.<part>``; ``evaluation.scored_arrays``).
    """
    import torch
    from safetensors.torch import save

    label = normalize_symbol(name)
    series = tuple(replace(s, symbol=normalize_symbol(s.symbol)) for s in manifest.series)
    symbols = [s.symbol for s in series]
    if sorted(symbols) != sorted(normalize_symbol(k) for k in calib):
        raise ValueError("calibration and series must name the same symbols")
    folder = models_dir(root, label)
    folder.mkdir(parents=True, exist_ok=True)
    model_id = new_model_id(list_models(root, label))
    if (live_weights is None) != (live_calib is None):
        raise ValueError("live weights and live calibration come together")
    tensors = _tensors("", weights, calib)
    if live_weights is not None and live_calib is not None:
        tensors.update(_tensors(LIVE, live_weights, live_calib))
    for prefix, sw in (("", scale_weights), (LIVE, live_scale_weights)):
        if sw is not None:
            tensors.update({f"{prefix}{SCALE}{k}": v.detach().cpu().contiguous()
                            for k, v in sw.items()})  # fmt: skip
    for sym, arrays in (scored or {}).items():
        pre = f"{SCORED}{normalize_symbol(sym)}."
        tensors.update({pre + part: torch.from_numpy(np.array(a))  # a copy: never shared
                        for part, a in arrays.items()})  # fmt: skip
    blob = save(tensors, metadata={"format_version": str(FORMAT_VERSION), "id": model_id})
    manifest = replace(
        manifest,
        series=series,
        id=model_id,
        name=label,
        display_name=name.strip() if name.strip() != label else None,  # as typed
        weights_sha256=hashlib.sha256(blob).hexdigest(),
        format_version=FORMAT_VERSION,
    )
    _remove_stale_temporaries(folder)
    tmp = folder / f".tmp-{model_id}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write(tmp / WEIGHTS, blob)
        text = json.dumps(manifest.to_json(), indent=2, default=str) + "\n"
        _write(tmp / MANIFEST, text.encode())
        fsync_dir(tmp)
        os.rename(tmp, folder / model_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(folder)
    return model_id, folder / model_id


def _tensors(prefix: str, weights: Mapping, calib: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """``<prefix>model.<key>`` weights and ``<prefix>calib.<SYMBOL>.<part>`` arrays."""
    import torch

    out = {f"{prefix}model.{k}": v.detach().cpu().contiguous() for k, v in weights.items()}
    for sym, arrays in calib.items():
        for part in (*CALIB_PARTS, SCALE_PART):
            if part not in arrays or arrays[part] is None:
                continue  # no scale network: no sigma
            key = f"{prefix}calib.{normalize_symbol(sym)}.{part}"
            out[key] = torch.from_numpy(np.ascontiguousarray(arrays[part]))
    return out


STALE_TMP_SECONDS = 3600.0  # a save takes well under a second; older ones were killed


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove half-written model folders left by a killed process (never a recent one, which
    may belong to a concurrent `train`)."""
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


def read_manifest(root: Path, name: str, model_id: str | None = None) -> Manifest:
    """The manifest of a model (newest by default) without loading weights."""
    label = normalize_symbol(name)
    folder = _resolve(root, label, model_id)
    return _read_manifest(root, folder, label)


def _resolve(root: Path, label: str, model_id: str | None) -> Path:
    ids = list_models(root, label)
    if not ids:
        raise NoModel(f"no model for {label}; run `stockcast train {label}`")
    if model_id is None:
        return models_dir(root, label) / _default_id(root, label, ids)
    if model_id not in ids:
        raise ModelError(
            f"no model {model_id!r} for {label}; the newest is {ids[-1]} "
            f"(omit --model to use it, or run `stockcast train {label}`)",
            exit_code=EXIT_USAGE,  # a --model that names nothing is bad usage
        )
    return models_dir(root, label) / model_id


def _default_id(root: Path, label: str, ids: list[str]) -> str:
    """The newest whole model (see ``damage``) whose training was not interrupted; else the
    newest whole one (its manifest's ``note`` says it was interrupted, and predict shows it);
    the newest of all when none is whole (loading it names the damage)."""
    whole = None
    for model_id in reversed(ids):
        try:
            manifest = _read_manifest(root, models_dir(root, label) / model_id, label)
            _read_weights(root, models_dir(root, label) / model_id, label, manifest)
        except ModelError:
            continue
        if not manifest.interrupted:
            return model_id
        whole = whole or model_id
    return whole or ids[-1]


def damage(root: Path, name: str, model_id: str) -> str | None:
    """Why a saved model cannot be used (the one line loading it would raise), or None: its
    manifest reads and passes the schema, and its weights file is whole (digest) and finite.
    A damaged model is never the default, nor one that `models prune` keeps."""
    label = normalize_symbol(name)
    folder = models_dir(root, label) / model_id
    try:
        _read_weights(root, folder, label, _read_manifest(root, folder, label))
    except ModelError as exc:
        return str(exc)
    return None


def _read_manifest(root: Path, folder: Path, label: str) -> Manifest:
    fix = f"run `stockcast train {label}` to replace it"
    try:
        manifest = json.loads(read_stored(folder / MANIFEST, root, MANIFEST_LIMIT, fix))
    except FileNotFoundError:
        raise ModelError(f"model {folder.name} of {label} has no {MANIFEST}; {fix}") from None
    except UnsafeFile as exc:
        raise ModelError(str(exc)) from None
    except (OSError, ValueError, RecursionError, MemoryError):
        manifest = None
    if not isinstance(manifest, dict):
        raise ModelError(f"model {folder.name} of {label} has an unreadable {MANIFEST}; {fix}")
    got = manifest.get("format_version")
    if got not in READABLE_VERSIONS:
        readable = " or ".join(str(v) for v in READABLE_VERSIONS)
        raise ModelError(
            f"model {folder.name} of {label} has format version {got}, this stockcast reads "
            f"{readable}; {fix}"
        )
    if not _well_formed(manifest):
        raise ModelError(f"model {folder.name} of {label} has an unreadable {MANIFEST}; {fix}")
    schema.check_manifest(manifest, f"model {folder.name} of {label}", fix)
    try:
        return Manifest.from_json(manifest)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        raise ModelError(
            f"model {folder.name} of {label} has an unreadable {MANIFEST}; {fix}"
        ) from None


def _well_formed(manifest: dict) -> bool:
    """Every symbol has its scalers and split (so ``series_view`` cannot fail on the file)."""
    try:
        if manifest.get("format_version", 1) >= 2:
            series = manifest["series"]
        else:
            series = {manifest["ticker"]: manifest}
        return bool(series) and all(
            isinstance(s["scalers"], dict) and isinstance(s["split"], dict) for s in series.values()
        )
    except (KeyError, TypeError, AttributeError):
        return False


def load_model(
    root: Path,
    name: str,
    model_id: str | None = None,
    device: str = "cpu",
    symbol: str | None = None,
    weights: str = "evaluated",
) -> tuple[Manifest, Any, dict[str, np.ndarray]]:
    """(manifest, model in eval mode, calibration of ``symbol``: arrays {"y", "mu", "vol"});
    the default model (see ``_default_id``) by default, and its own symbol by default (see
    ``pick_symbol``). ``weights``: "evaluated" (what `evaluate` scores, calibrated on
    validation) or "live" (refit on every stored session, calibrated on the evaluated weights'
    test residuals; a model without live weights gives its evaluated ones).

    ModelError with one line when the model is missing, corrupt, of an unknown format version
    or architecture, or not trained on ``symbol``.
    """
    from safetensors.torch import load

    f = _open_weights(root, name, model_id, symbol, weights)
    config_cls, model_cls = models.lookup(model_arch(f.manifest))
    try:
        state, calib = _weight_set(load(f.blob), f.manifest, f.symbol, weights)
        cfg = config_cls(**f.manifest.model_config)
        k = f.manifest.ensemble
        model = model_cls(cfg, init=False)
        if k > 1:
            model = models.make_ensemble([model_cls(cfg, init=False) for _ in range(k)])
        model.load_state_dict(state, strict=True)
        calib = {part: v.numpy() for part, v in calib.items()}
    except Exception as exc:
        raise f.unloadable(exc) from None
    model.to(device).eval()
    return f.manifest, model, calib


@dataclass(frozen=True)
class ScoredSet:
    """One read of a model's evaluated weight set without building a forward: the manifest,
    the symbol's validation calibration arrays and what `train` scored on its test split
    (``scored.<SYMBOL>.*``; None in a model saved before they were kept)."""

    manifest: Manifest
    symbol: str
    calib: dict[str, np.ndarray]  # {"y", "mu", "vol"} (and "sigma" with scale networks)
    scored: dict[str, np.ndarray] | None


def read_scored(
    root: Path, name: str, model_id: str | None = None, symbol: str | None = None
) -> ScoredSet:
    """The evaluated calibration and scored arrays of ``symbol`` in a saved model, read and
    checked as ``load_model`` reads them (one-line ModelErrors), without torch."""
    return next(iter(read_scored_sets(root, name, model_id, [symbol]).values()))


def read_scored_sets(
    root: Path, name: str, model_id: str | None, symbols: Sequence[str | None]
) -> dict[str, ScoredSet]:
    """``read_scored`` of each of ``symbols`` (None: the model's own) from one read of the
    weights file, by symbol."""
    f = _open_weights(root, name, model_id, symbols[0], "evaluated")
    syms = [f.manifest.pick_symbol(s) for s in symbols]
    try:
        tensors = load_arrays(f.blob)
        calibs = {sym: _weight_set(tensors, f.manifest, sym, "evaluated")[1] for sym in syms}
    except Exception as exc:
        raise f.unloadable(exc) from None
    out = {}
    for sym in syms:
        pre = f"{SCORED}{sym}."
        scored = {k[len(pre) :]: v for k, v in tensors.items() if k.startswith(pre)}
        out[sym] = ScoredSet(f.manifest, sym, dict(calibs[sym]), scored or None)
    return out


# a model's band scale networks: how they are used and their forward (scaled windows (B, L, F)
# -> log scales (B, H); None when no horizon uses the network's scale)
ScaleNets = tuple[ScaleHead, numpy_infer.Predict | None]


@dataclass(frozen=True)
class NumpyModel:
    """One read of a model's weight set without torch (``load_numpy``): the manifest, the point
    forecaster, the calibration arrays and the band's scale networks, from one open, digest
    check and parse of the weights file."""

    manifest: Manifest
    predict: numpy_infer.Predict | None  # scaled windows (B, L, F) -> scaled outputs (B, H)
    calib: dict[str, np.ndarray]  # {"y", "mu", "vol"} (and "sigma" with scale networks)
    scale: ScaleNets | None  # None: no scale networks (the band uses the EWMA scale)


def load_numpy(
    root: Path,
    name: str,
    model_id: str | None = None,
    symbol: str | None = None,
    weights: str = "evaluated",
    torch_route: bool = False,
) -> NumpyModel:
    """``load_model`` without torch, weights file read once. ``predict`` maps scaled windows
    (B, L, F) to scaled outputs (B, H) in numpy (``numpy_infer``), or is None when the
    architecture has no numpy forward or the model's release forecast through torch
    (``Manifest.forecasts_in_torch``; then use ``load_model``). ``scale``: the band's scale
    networks (numpy where the architecture has a numpy forward, else torch; ``torch_route``:
    torch even where numpy could, so `evaluate` scores exactly what `train` scored), or None
    for a model without them. The same checks and one-line ModelErrors as ``load_model``."""
    f = _open_weights(root, name, model_id, symbol, weights)
    try:
        tensors = load_arrays(f.blob)
        state, calib = _weight_set(tensors, f.manifest, f.symbol, weights)
        arch, cfg = _arch_key(f.manifest), dict(f.manifest.model_config)
        predict = (None if f.manifest.forecasts_in_torch
                   else numpy_infer.predictor(arch, cfg, state, f.manifest.ensemble))  # fmt: skip
        scale = _scale_nets(f.manifest, tensors, weights, torch_route)
    except Exception as exc:
        raise f.unloadable(exc) from None
    return NumpyModel(f.manifest, predict, calib, scale)


@dataclass(frozen=True)
class _Opened:
    """A model's checked manifest and weights file, before the weights are parsed."""

    folder: Path
    label: str
    manifest: Manifest
    symbol: str
    blob: bytes

    def unloadable(self, exc: Exception) -> ModelError:
        return ModelError(
            f"model {self.folder.name} of {self.label} cannot be loaded "
            f"({exc.__class__.__name__}); run `stockcast train {self.label}` to replace it"
        )


def _open_weights(
    root: Path, name: str, model_id: str | None, symbol: str | None, weights: str
) -> _Opened:
    """Resolve, read and check a model (format, architecture, symbol, weights digest)."""
    label = normalize_symbol(name)
    folder = _resolve(root, label, model_id)
    manifest = _read_manifest(root, folder, label)
    sym = pick_symbol(manifest, symbol)
    blob = _read_weights(root, folder, label, manifest)
    if weights not in WEIGHT_SETS:
        raise ValueError(f"weights must be one of {WEIGHT_SETS}")
    return _Opened(folder, label, manifest, sym, blob)


def _read_weights(root: Path, folder: Path, label: str, manifest: Manifest) -> bytes:
    """The weights file of a model whose manifest was read, checked: a known architecture, the
    manifest's digest, finite arrays."""
    fix = f"run `stockcast train {label}` to replace it"
    if _arch_key(manifest) not in models.REGISTRY:
        raise ModelError(
            f"model {folder.name} of {label} uses architecture {model_arch(manifest)!r}, which "
            f"this stockcast does not have; {fix}"
        )
    try:
        blob = read_stored(folder / WEIGHTS, root, WEIGHTS_LIMIT, fix)
    except FileNotFoundError:
        raise ModelError(f"model {folder.name} of {label} has no {WEIGHTS}; {fix}") from None
    except UnsafeFile as exc:
        raise ModelError(str(exc)) from None
    except OSError as exc:
        why = exc.strerror or exc.__class__.__name__
        raise ModelError(
            f"weights of model {folder.name} of {label} cannot be read ({why}); {fix}"
        ) from None
    if hashlib.sha256(blob).hexdigest() != manifest.weights_sha256:
        raise ModelError(f"weights of model {folder.name} of {label} are corrupt; {fix}")
    schema.check_weights(blob, f"model {folder.name} of {label}", fix)
    return blob


def _arch_key(manifest: Manifest) -> str:
    """``model_arch`` as the registry spells it (what ``models.lookup`` accepts)."""
    return model_arch(manifest).strip().lower()


def _weight_set(
    tensors: Mapping[str, Any], manifest: Manifest, sym: str, weights: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state dict, calibration {"y", "mu", "vol"}) of the chosen weight set in a weights file
    (torch tensors or numpy arrays alike): the live set when asked for and present."""
    live = weights == "live" and f"{LIVE}calib.{sym}.y" in tensors
    pre = LIVE if live else ""
    start = len(pre) + len("model.")
    state = {key[start:]: v for key, v in tensors.items() if key.startswith(pre + "model.")}
    prefix = "calib." if manifest.format_version == 1 else f"{pre}calib.{sym}."
    parts = [*CALIB_PARTS, *([SCALE_PART] if prefix + SCALE_PART in tensors else [])]
    return state, {part: tensors[prefix + part] for part in parts}


def _scale_nets(manifest: Manifest, tensors: Mapping[str, np.ndarray], weights: str,
                torch_route: bool) -> ScaleNets | None:  # fmt: skip
    """The band's scale networks in a parsed weights file (the live set when asked for and
    present), or None for a model without them."""
    saved = manifest.scale
    if saved is None:
        return None
    head = ScaleHead(kind=saved.kind, use=saved.use)
    if not any(head.use):
        return head, None
    live = weights == "live" and any(k.startswith(LIVE + SCALE) for k in tensors)
    pre = (LIVE if live else "") + SCALE
    state = {k[len(pre) :]: v for k, v in tensors.items() if k.startswith(pre)}
    k = max(1, len(saved.members))
    arch, cfg = _arch_key(manifest), dict(manifest.model_config)
    fast = None if torch_route else numpy_infer.predictor(arch, cfg, state, k)
    return head, fast or _torch_scale(manifest, state, k)


def _torch_scale(
    manifest: Manifest, state: Mapping[str, np.ndarray], k: int
) -> numpy_infer.Predict:
    """The torch forward of scale networks whose architecture has no numpy forward."""
    import torch

    from stockcast.models.base import predict_scaled

    config_cls, model_cls = models.lookup(model_arch(manifest))
    cfg = config_cls(**manifest.model_config)
    net = model_cls(cfg, init=False)
    if k > 1:
        net = models.make_ensemble([model_cls(cfg, init=False) for _ in range(k)])
    net.load_state_dict({key: torch.from_numpy(np.array(v)) for key, v in state.items()})
    net.eval()
    return lambda x: predict_scaled(net, x, torch.device("cpu"))


def default_model_id(root: Path, name: str) -> str | None:
    """The id `predict NAME` uses without --model (the folder ``_resolve`` picks), or None."""
    try:
        return _resolve(root, normalize_symbol(name), None).name
    except ModelError:
        return None

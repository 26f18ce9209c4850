"""What a readable manifest and weight file hold: types, ranges, finite numbers.

``check_manifest`` runs on every manifest read (``models.store``) and ``check_weights`` on every
weight load, so that a damaged or hand-edited model fails with one line naming the model and the
repair, never with a traceback deep in loading or a forecast of NaN. Pure: no disk.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from safetensors.numpy import load as load_arrays

from stockcast.errors import ModelError

MAX_HORIZON = 1_000  # sessions; far beyond any sensible model, far below an overflow
MAX_LOOKBACK = 100_000
MAX_WIDTH = 1_000_000  # any integer in a model config (hidden size, layers, heads)
MODEL_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")  # a model id: creation time, random suffix
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-^=]*$")


def is_model_id(text: str) -> bool:
    """Whether ``text`` has the shape of a model id (``20261129T153000-ab12cd``); a model name
    never has it."""
    return MODEL_ID.fullmatch(text) is not None


class _Bad(Exception):
    """One schema violation: the key path and what is wrong with its value."""


def check_manifest(manifest: Mapping, what: str, fix: str) -> None:
    """ModelError "``what`` has a damaged manifest (KEY: problem); ``fix``" unless the manifest
    has the keys loading and forecasting read, with sane types and ranges and finite scaler
    statistics. ``what`` names the model ("model ID of NAME")."""
    try:
        _manifest(manifest)
    except _Bad as bad:
        raise ModelError(f"{what} has a damaged manifest.json ({bad}); {fix}") from None


def check_weights(blob: bytes, what: str, fix: str) -> None:
    """ModelError unless ``blob`` is a safetensors file whose floating-point arrays are all
    finite (NaN weights or calibration would print NaN forecasts)."""
    try:
        tensors = load_arrays(blob)
    except Exception as exc:  # a forged digest over garbage: any parse error
        raise ModelError(
            f"weights of {what} cannot be read ({exc.__class__.__name__}); {fix}"
        ) from None
    for key, arr in tensors.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ModelError(f"weights of {what} hold non-finite numbers ({key}); {fix}")


def _manifest(m: Mapping) -> None:
    """Keys a writer always stores are checked when present (hand-built test manifests and old
    formats may lack some); the per-symbol scalers and split are always required."""
    if not isinstance(m, Mapping):
        raise _Bad("not a JSON object")
    horizon = _int(m, "horizon", 1, MAX_HORIZON) if "horizon" in m else None
    lookback = _int(m, "lookback", 1, MAX_LOOKBACK) if "lookback" in m else None
    if "id" in m and not (isinstance(m["id"], str) and is_model_id(m["id"])):
        raise _Bad("id: not a model id")
    for key in ("name", "ticker", "arch", "display_name"):
        if m.get(key) is not None and not (isinstance(m[key], str) and _NAME_RE.match(m[key])):
            raise _Bad(f"{key}: not a name")
    if "interrupted" in m and not isinstance(m["interrupted"], bool):
        raise _Bad("interrupted: not true or false")
    if m.get("members") is not None and not isinstance(m["members"], list):
        raise _Bad("members: not a list")
    names = None
    if "data_config" in m:
        dc = _table(m, "data_config")
        names = _features(dc, "data_config.features")
        if _int(dc, "lookback", 1, MAX_LOOKBACK, "data_config.") != (lookback or dc["lookback"]):
            raise _Bad("data_config.lookback: differs from lookback")
        horizon = horizon or dc.get("horizon")
        if _int(dc, "horizon", 1, MAX_HORIZON, "data_config.") != horizon:
            raise _Bad("data_config.horizon: differs from horizon")
    if "model_config" in m:
        _model_config(_table(m, "model_config"), names, horizon)
    series = m.get("series") if m.get("format_version", 1) >= 2 else {m.get("ticker"): m}
    if not isinstance(series, Mapping) or not series:
        raise _Bad("series: empty")
    for sym, s in series.items():
        if not isinstance(s, Mapping):
            raise _Bad(f"series.{sym}: not an object")
        _scalers(s.get("scalers"), f"series.{sym}.scalers", names, horizon)
        _split(s.get("split"), f"series.{sym}.split")


def _model_config(mc: Mapping, names: list[str] | None, horizon: int | None) -> None:
    for key, value in mc.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, int) and not 0 <= value <= MAX_WIDTH:
            raise _Bad(f"model_config.{key}: {value} is out of range")
        if isinstance(value, float) and not (math.isfinite(value) and value >= 0):
            raise _Bad(f"model_config.{key}: {value} is out of range")
        if not isinstance(value, int | float):
            raise _Bad(f"model_config.{key}: not a number")
    if names is not None and mc.get("n_features", len(names)) != len(names):
        raise _Bad("model_config.n_features: differs from the number of features")
    if horizon is not None and mc.get("horizon", horizon) != horizon:
        raise _Bad("model_config.horizon: differs from horizon")


def _table(m: Mapping, key: str) -> Mapping:
    value = m.get(key)
    if not isinstance(value, Mapping):
        raise _Bad(f"{key}: missing or not an object")
    return value


def _int(m: Mapping, key: str, lo: int, hi: int, prefix: str = "") -> int:
    value = m.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _Bad(f"{prefix}{key}: not a whole number in {lo}..{hi}")
    return value


def _features(dc: Mapping, where: str) -> list[str]:
    names = dc.get("features")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and _NAME_RE.match(n) for n in names)
    ):
        raise _Bad(f"{where}: not a list of feature names")
    return names


def _scalers(sc: Any, where: str, names: list[str] | None, horizon: int | None) -> None:
    if not isinstance(sc, Mapping):
        raise _Bad(f"{where}: missing")
    n_features = None if names is None else len(names)
    for part, size in (("features", n_features), ("targets", horizon)):
        stats = sc.get(part)
        if stats is None:  # hand-built test manifests; a saved model always has both
            continue
        if not isinstance(stats, Mapping):
            raise _Bad(f"{where}.{part}: missing")
        for key in ("mean", "std"):
            values = stats.get(key)
            if not isinstance(values, list) or (size is not None and len(values) != size):
                raise _Bad(f"{where}.{part}.{key}: not {size or 'a list of'} numbers")
            if not all(_finite(v) and (key == "mean" or v > 0) for v in values):
                kind = "finite numbers" if key == "mean" else "finite positive numbers"
                raise _Bad(f"{where}.{part}.{key}: not all {kind}")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _split(split: Any, where: str) -> None:
    if not isinstance(split, Mapping):
        raise _Bad(f"{where}: missing")
    for part, info in split.items():
        if not isinstance(info, Mapping):
            raise _Bad(f"{where}.{part}: not an object")
        n = info.get("n", 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise _Bad(f"{where}.{part}.n: not a whole number >= 0")
        if n:
            for key in ("start", "end"):
                _date(info.get(key), f"{where}.{part}.{key}")


def _date(value: Any, where: str) -> None:
    try:
        dt.date.fromisoformat(value[:10])
    except (TypeError, ValueError):
        raise _Bad(f"{where}: not a date") from None

"""Model architectures by name, and the saved-model store (``store``).

Each architecture is one module exposing ``Config`` (a frozen dataclass, stored in the manifest)
and ``Model`` (an ``nn.Module`` built as ``Model(cfg, init=True)``) that meets the protocol in
``base.py``. Adding one is one new file plus one line in ``REGISTRY``. The modules are imported
on first lookup, so importing this package does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from stockcast.errors import UsageError

REGISTRY: dict[str, str] = {
    "cnn-lstm": "stockcast.models.cnn_lstm",
    "gru": "stockcast.models.gru",
    "lstm": "stockcast.models.lstm",
    "lstm-attn": "stockcast.models.lstm_attn",
    "transformer": "stockcast.models.transformer",
}
DEFAULT_ARCH = "lstm"  # also what a manifest without an `arch` key (format 1) was trained with


def names() -> list[str]:
    """The architecture names, sorted."""
    return sorted(REGISTRY)


def _module(name: str) -> ModuleType:
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise UsageError(f"unknown architecture {name!r}; choose one of {', '.join(names())}")
    return import_module(REGISTRY[key])


def lookup(name: str) -> tuple[type, type]:
    """``(Config, Model)`` of architecture ``name``; UsageError naming the choices otherwise."""
    mod = _module(name)
    return mod.Config, mod.Model


def arch_of(cfg: Any) -> str:
    """The registry name of a ``Config`` instance (its defining module's entry)."""
    for name, path in REGISTRY.items():
        if type(cfg).__module__ == path:
            return name
    raise UsageError(f"{type(cfg).__name__} is not the Config of a registered architecture")


def build(cfg: Any, init: bool = True) -> Any:
    """The module of ``cfg``'s architecture; ``init=False`` when weights are loaded next."""
    _, model_cls = lookup(arch_of(cfg))
    return model_cls(cfg, init=init)


def make_ensemble(members: list) -> Any:
    """The ``ensemble.Ensemble`` averaging ``members`` (imported on first use, like the
    architectures, so that importing the model store does not import torch)."""
    return import_module("stockcast.models.ensemble").Ensemble(members)

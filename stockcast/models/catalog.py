"""Every saved model at a glance, and removing the ones no longer wanted.

``entries(root)`` lists the models of every name (one-symbol models are named after their
symbol) with what a user chooses by: when it was made, what data it saw, its size, whether
training was interrupted, its test skill against the best naive forecast, and which model is
the default (the one `predict` uses when no id is given: ``store.read_manifest`` decides).
``remove`` and ``prune`` delete whole model folders by renaming them out of sight first, so a
concurrent reader sees a whole model or none; ``prune`` never removes the default one.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stockcast.data.fsutil import fsync_dir
from stockcast.errors import ModelError, UsageError
from stockcast.models import store

MODELS = "models"


@dataclass(frozen=True)
class Entry:
    """One saved model, as `stockcast models` shows it."""

    name: str  # the model's name (a one-symbol model: its symbol)
    id: str  # sortable id (creation time + random suffix)
    symbols: tuple[str, ...]  # symbols it was trained on
    arch: str  # architecture in the registry (lstm, gru, ...)
    created: str | None  # ISO timestamp
    data_end: str | None  # last stored session when it was trained (first symbol)
    trained_through: str | None  # last date whose price shaped the weights (first symbol)
    epochs: int | None  # epochs run (the first member's, for an ensemble)
    members: int  # ensemble size (1: a single network)
    interrupted: bool  # training was stopped by Ctrl-C; the best epoch so far was kept
    skill_vs_best: float | None  # test skill at h=1 against the best naive forecast (pooled)
    default: bool  # the model `predict NAME` uses without --model
    size_bytes: int  # bytes on disk
    error: str | None = None  # set when the manifest cannot be read

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["symbols"] = list(self.symbols)
        return d


def names(root: Path) -> list[str]:
    """Names that have a model folder, sorted."""
    base = Path(root) / MODELS
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def default_id(root: Path, name: str) -> str | None:
    """The id `predict NAME` uses without --model, or None (no readable model)."""
    return store.default_model_id(root, name)


def entries(root: Path, name: str | None = None) -> list[Entry]:
    """Every saved model (of ``name`` only, when given), by name then oldest first."""
    out = []
    for label in [store.normalize_symbol(name)] if name else names(root):
        default = default_id(root, label)
        for model_id in store.list_models(root, label):
            out.append(_entry(root, label, model_id, model_id == default))
    return out


def _entry(root: Path, label: str, model_id: str, default: bool) -> Entry:
    folder = store.models_dir(root, label) / model_id
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    try:
        m = store.read_manifest(root, label, model_id)
    except ModelError as exc:
        return Entry(label, model_id, (), "?", None, None, None, None, 0, False, None, default,
                     size, str(exc))  # fmt: skip
    view = store.series_view(m, store.model_symbols(m)[0])
    members = m.get("members")
    return Entry(
        name=label,
        id=model_id,
        symbols=tuple(store.model_symbols(m)),
        arch=store.model_arch(m),
        created=m.get("created"),
        data_end=view.data_end,
        trained_through=m.get("trained_through", view.trained_through),
        epochs=m.get("epochs"),
        members=len(members) if isinstance(members, list) and members else 1,
        interrupted=bool(m.get("interrupted")),
        skill_vs_best=model_skill(m),
        default=default,
        size_bytes=size,
    )


def skill_vs_best(report: Any) -> float | None:
    """1 - MAE / MAE of the best naive forecast at h=1, from a saved test report."""
    try:
        h = report["horizons"][0]
        best = min(float(b["mae"]) for b in h["baselines"].values())
        return 1.0 - float(h["mae"]) / best if best > 0 else None
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def model_skill(manifest: Mapping) -> float | None:
    """The skill `stockcast models` lists: a one-symbol model's test skill at h=1, a global
    model's pooled one over all its symbols."""
    pooled = store.pooled_report(manifest)
    if pooled is not None:
        return pooled_skill_vs_best(pooled)
    return skill_vs_best(manifest.get("test_metrics"))


def pooled_skill_vs_best(pooled: Any) -> float | None:
    """A global model's pooled test skill at h=1 against the best naive forecast of each
    symbol, over all its symbols (the `evaluate --model NAME` "Pooled" figure)."""
    try:
        value = pooled["horizons"][0]["skill_vs_best"]["value"]
        return None if value is None else float(value)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def find(root: Path, model_id: str) -> tuple[str, str]:
    """(name, id) of the model with this id (or a unique prefix of it); ModelError otherwise."""
    hits = [(label, i) for label in names(root) for i in store.list_models(root, label)
            if i == model_id or i.startswith(model_id)]  # fmt: skip
    exact = [h for h in hits if h[1] == model_id]
    if exact:
        return exact[0]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UsageError(f"no model {model_id!r}; `stockcast models` lists the ids")
    raise UsageError(f"{model_id!r} matches {len(hits)} models; give more of the id")


def show(root: Path, model_id: str) -> dict[str, Any]:
    """The manifest of one model (by id or unique prefix)."""
    label, mid = find(root, model_id)
    return store.read_manifest(root, label, mid)


def remove(root: Path, model_id: str) -> tuple[str, str]:
    """Delete one model folder (by id or unique prefix); returns (name, id)."""
    label, mid = find(root, model_id)
    _delete(store.models_dir(root, label) / mid)
    return label, mid


def prune(root: Path, name: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` models of ``name``, never the default one; returns the
    removed ids."""
    if keep < 1:
        raise UsageError("--keep must be at least 1 (the default model is always kept)")
    label = store.normalize_symbol(name)
    ids = store.list_models(root, label)
    if not ids:
        raise ModelError(f"no model for {label}; `stockcast models` lists the names")
    default = default_id(root, label)
    kept = set(ids[-keep:]) | ({default} if default else set())
    gone = [i for i in ids if i not in kept]
    for mid in gone:
        _delete(store.models_dir(root, label) / mid)
    return gone


def _delete(folder: Path) -> None:
    """Rename out of sight (atomic for readers), then remove."""
    hidden = folder.parent / f".rm-{folder.name}-{secrets.token_hex(4)}"
    os.rename(folder, hidden)
    fsync_dir(folder.parent)
    shutil.rmtree(hidden, ignore_errors=True)


def summary(items: list[Entry]) -> Mapping[str, int]:
    """Counts for a footer: models, names, bytes."""
    return {"models": len(items), "names": len({e.name for e in items}),
            "bytes": sum(e.size_bytes for e in items)}  # fmt: skip

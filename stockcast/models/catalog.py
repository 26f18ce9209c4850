"""Every saved model at a glance, and removing the ones no longer wanted.

``entries(root)`` lists the models of every name (one-symbol models are named after their
symbol) with what a user chooses by: when it was made, what data it saw, its size, whether
training was interrupted, its test skill against the best naive forecast, and which model is
the default (the one `predict` uses when no id is given: ``store.read_manifest`` decides).
``remove`` and ``prune`` delete whole model folders by renaming them into ``models/.trash/``
under the name's lock first, so a concurrent reader sees a whole model or none, and a kill
leaves nothing half-deleted in sight; ``prune`` never removes the default one. A damaged model
(``store.damage``: its manifest or weights cannot be used) is never the default, and ``prune``
removes it first.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stockcast.data.fsutil import fsync_dir, locked, stored_dir
from stockcast.data.paths import symbol_file
from stockcast.errors import ModelError, UsageError
from stockcast.models import store
from stockcast.models.manifest import Manifest

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
    error: str | None = None  # why the model cannot be used (``store.damage``); None: whole
    display_name: str | None = None  # the name as the user typed it (``--name big3``)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["symbols"] = list(self.symbols)
        return d


def names(root: Path) -> list[str]:
    """Names that have a model folder, sorted (the trash and temporaries aside)."""
    base = Path(root) / MODELS
    if not stored_dir(base, root, "remove the link, or point --data-dir elsewhere"):
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def default_id(root: Path, name: str) -> str | None:
    """The id `predict NAME` uses without --model, or None (no whole model)."""
    model_id = store.default_model_id(root, name)
    if model_id is None or store.damage(root, name, model_id) is not None:
        return None
    return model_id


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
    size = sum(p.lstat().st_size for p in folder.iterdir() if p.is_file())
    damage = store.damage(root, label, model_id)
    try:
        m = store.read_manifest(root, label, model_id)
    except ModelError as exc:
        return Entry(label, model_id, (), "?", None, None, None, None, 0, False, None, False,
                     size, str(exc))  # fmt: skip
    view = m.series[0]
    return Entry(
        name=label,
        id=model_id,
        symbols=tuple(m.symbols),
        arch=m.arch,
        created=m.created,
        data_end=view.data_end,
        trained_through=view.trained_through,
        epochs=m.training.epochs,
        members=m.ensemble,
        interrupted=m.interrupted,
        skill_vs_best=model_skill(m),
        default=default and damage is None,
        size_bytes=size,
        error=damage,
        display_name=m.display_name,
    )


def skill_vs_best(report: Any) -> float | None:
    """1 - MAE / MAE of the best naive forecast at h=1, from a saved test report."""
    try:
        h = report["horizons"][0]
        best = min(float(b["mae"]) for b in h["baselines"].values())
        return 1.0 - float(h["mae"]) / best if best > 0 else None
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def model_skill(manifest: Manifest) -> float | None:
    """The skill `stockcast models` lists: a one-symbol model's test skill at h=1, a global
    model's pooled one over all its symbols."""
    if manifest.pooled is not None:
        return pooled_skill_vs_best(manifest.pooled)
    return skill_vs_best(manifest.report()) if len(manifest.series) == 1 else None


def pooled_skill_vs_best(pooled: Any) -> float | None:
    """A global model's pooled test skill at h=1 against the best naive forecast of each
    symbol, over all its symbols (the `evaluate --model NAME` "Pooled" figure)."""
    try:
        value = pooled["horizons"][0]["skill_vs_best"]["value"]
        return None if value is None else float(value)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


# the start of an id, at least its year
_ID_START = re.compile(r"^\d{4,8}(T\d{0,6}(-[0-9a-f]{0,6})?)?$")
_PATTERN = re.compile(r"[*?\[\]{}]")  # glob and brace characters: never part of a name or id


def resolve(root: Path, ref: str) -> tuple[str, str]:
    """(name, id) of one model named by ``ref``: an id or a unique start of one (at least the
    year), ``NAME`` (its default model) or ``NAME:ID``. UsageError for an empty, pattern-like,
    ambiguous or unknown reference."""
    ref = (ref or "").strip()
    if not ref:
        raise UsageError("empty model reference; give an id, NAME or NAME:ID "
                         "(`stockcast models` lists them)")  # fmt: skip
    if _PATTERN.search(ref):
        raise UsageError(f"{ref!r} looks like a pattern, which is never expanded; give one "
                         "model's id, NAME or NAME:ID (`stockcast models` lists them)")  # fmt: skip
    if ":" in ref:
        named, one = store.model_ref(ref, ref)
        if one is None or one not in store.list_models(root, named):
            raise UsageError(f"no model {ref!r}; `stockcast models` lists the ids")
        return named, one
    by_id = _ID_START.match(ref) is not None
    label = _name_or_none(ref)
    if by_id and label is not None and store.list_models(root, label):
        raise UsageError(f"{ref!r} is a model name and the start of an id; give NAME:ID or "
                         "more of the id")  # fmt: skip
    if by_id:
        return _find_id(root, ref)
    ids = store.list_models(root, label) if label is not None else []
    if label is None or not ids:
        raise UsageError(f"no model {ref!r}; `stockcast models` lists the ids and names")
    return label, default_id(root, label) or ids[-1]


def _name_or_none(ref: str) -> str | None:
    try:
        return store.normalize_symbol(ref)
    except UsageError:
        return None


def _find_id(root: Path, prefix: str) -> tuple[str, str]:
    hits = [(label, i) for label in names(root) for i in store.list_models(root, label)
            if i.startswith(prefix)]  # fmt: skip
    exact = [h for h in hits if h[1] == prefix]
    if exact:
        return exact[0]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UsageError(f"no model {prefix!r}; `stockcast models` lists the ids")
    raise UsageError(f"{prefix!r} matches {len(hits)} models; give more of the id")


def find(root: Path, model_id: str) -> tuple[str, str]:
    """(name, id) of the model with this id (or a unique start of it), NAME or NAME:ID."""
    return resolve(root, model_id)


def show(root: Path, ref: str) -> Manifest:
    """The manifest of one model (see ``resolve``)."""
    label, mid = resolve(root, ref)
    return store.read_manifest(root, label, mid)


def is_default(root: Path, name: str, model_id: str) -> bool:
    """``model_id`` is the whole model `predict NAME` uses without --model."""
    return default_id(root, name) == model_id


def remove(root: Path, name: str, model_id: str) -> None:
    """Delete one model folder, all or nothing: under the name's lock it is renamed into the
    trash (one atomic step: a reader sees the whole model or none), then deleted."""
    label = store.normalize_symbol(name)
    with _lock(root, label):
        if model_id not in store.list_models(root, label):
            raise UsageError(f"no model {model_id!r} of {label}; `stockcast models` lists them")
        _to_trash(root, label, model_id)
    empty_trash(root)


def prune(root: Path, name: str | None, keep: int) -> list[tuple[str, str, bool]]:
    """Delete all but the newest ``keep`` whole models of ``name`` (every name when None),
    never the default one; damaged models (``store.damage``) go first and never count as kept.
    Returns (name, id, damaged) of each removed model."""
    if keep < 1:
        raise UsageError("--keep must be at least 1 (the default model is always kept)")
    if name is None:
        labels = names(root)
    else:
        label = _prune_name(root, name)
        labels = [label]
    gone: list[tuple[str, str, bool]] = []
    for label in labels:
        with _lock(root, label):
            for mid, damaged in _prune_plan(root, label, keep):
                _to_trash(root, label, mid)
                gone.append((label, mid, damaged))
    empty_trash(root)
    return gone


def _prune_name(root: Path, ref: str) -> str:
    """The name ``prune`` works on: a name, or the name of the model an id names."""
    label = _name_or_none(ref.strip()) if ref.strip() else None
    if label is not None and store.list_models(root, label):
        return label
    label, _ = resolve(root, ref)
    return label


def _prune_plan(root: Path, label: str, keep: int) -> list[tuple[str, bool]]:
    """(id, damaged) of the models ``prune`` removes from ``label``: damaged ones first."""
    ids = store.list_models(root, label)
    damaged = [i for i in ids if store.damage(root, label, i) is not None]
    whole = [i for i in ids if i not in damaged]
    default = default_id(root, label)
    kept = set(whole[-keep:]) | ({default} if default in whole else set())
    return [(i, True) for i in damaged] + [(i, False) for i in whole if i not in kept]


TRASH = ".trash"  # <data>/models/.trash/: removed model folders, deleted right after


def _lock(root: Path, label: str) -> contextlib.AbstractContextManager[None]:
    path = symbol_file(Path(root), label, "locks", ".models.lock")
    return locked(path, f"models of {label} in {root}")


def _to_trash(root: Path, label: str, model_id: str) -> None:
    """Rename a model folder into the trash: one atomic step, gone for every reader."""
    folder = store.models_dir(root, label) / model_id
    trash = Path(root) / MODELS / TRASH
    trash.mkdir(parents=True, exist_ok=True)
    os.rename(folder, trash / f"{label}-{model_id}-{secrets.token_hex(4)}")
    fsync_dir(folder.parent)
    fsync_dir(trash)


def empty_trash(root: Path) -> None:
    """Delete what the trash holds (also what a killed `models rm` or `prune` left there)."""
    trash = Path(root) / MODELS / TRASH
    if not trash.is_dir() or trash.is_symlink():
        return
    for p in trash.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()


def summary(items: list[Entry]) -> Mapping[str, int]:
    """Counts for a footer: models, names, bytes."""
    return {"models": len(items), "names": len({e.name for e in items}),
            "bytes": sum(e.size_bytes for e in items)}  # fmt: skip

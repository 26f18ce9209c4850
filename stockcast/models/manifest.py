"""The saved model's manifest, typed: what a model is, what it saw and how it did.

``Manifest`` and its parts are frozen dataclasses; every field is held once. Only this package
reads or writes the JSON (``Manifest.from_json`` when ``models.store`` reads ``manifest.json``,
``Manifest.to_json`` when it writes one); everything else reads attributes. ``from_json``
upgrades what older releases wrote, so their models load as they did:

- format 1 (stockcast 0.1.0): no ``arch`` (an LSTM), the one symbol's scalers, split and dates
  at the top level (``ticker``), no ``series``, no members, no live weights;
- format 2 before the naive start was chosen (this release's predecessor): no ``start_drift``
  (read as 0.5 at every horizon: what those models started at), no ``scale`` (the EWMA band),
  a global model of one member.

``to_json`` writes the layout of format 2: the data options under ``data_config`` (and mirrored
at the top as ``features``, ``lookback``, ``horizon``), each symbol under ``series``, a
one-symbol model's series also mirrored at the top (``ticker``, ``scalers``, ``split``,
``trained_through``, ``data_end``), a per-symbol model's test report as ``test_metrics`` and a
global model's as ``series_metrics``. The mirrors are written from the one field, never read.
Reports (test metrics, pooled and cross-sectional figures, the shrink weight) are the JSON
objects `evaluate --json` prints, kept as they were saved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stockcast.data.paths import normalize_symbol
from stockcast.errors import ModelError
from stockcast.models import DEFAULT_ARCH
from stockcast.options import DataConfig, TrainConfig

FORMAT_VERSION = 2  # written; READABLE_VERSIONS are read
READABLE_VERSIONS = (1, 2)
LEGACY_START_DRIFT = 0.5  # models saved without `start_drift` started at half the drift
GLOBAL = "global"  # Manifest.kind of a model over many symbols (`train --global`)
SYMBOL = "symbol"  # Manifest.kind of a symbol's own model

Json = dict[str, Any]


@dataclass(frozen=True)
class Stats:
    """Per-column mean and standard deviation of a scaler (train rows only)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_json(self) -> Json:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, d: Mapping | None) -> Stats | None:
        if not d:
            return None
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))


@dataclass(frozen=True)
class Split:
    """One part (train, val, test) of a series' chronological split."""

    n: int  # windows (as-of sessions)
    start: str | None = None  # first as-of session (ISO date); None when n == 0
    end: str | None = None  # last as-of session
    target_start: str | None = None  # first session a target of the part reaches
    target_end: str | None = None  # last one

    def to_json(self) -> Json:
        if not self.n and self.start is None:
            return {"n": 0}
        keys = ("start", "end", "n", "target_start", "target_end")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None or k == "n"}

    @classmethod
    def from_json(cls, d: Mapping) -> Split:
        return cls(int(d.get("n", 0)), d.get("start"), d.get("end"), d.get("target_start"),
                   d.get("target_end"))  # fmt: skip


@dataclass(frozen=True)
class Series:
    """One symbol's part of a saved model: what rebuilds its view of that symbol's prices."""

    symbol: str
    features: Stats | None  # feature scaler (F columns)
    targets: Stats | None  # target scaler (H horizons)
    split: Mapping[str, Split]  # "train", "val", "test" (in that order)
    start_drift: tuple[float, ...] = ()  # (H,) drift share of the naive start (0: persistence)
    trained_through: str | None = None  # last date whose price shaped the weights predict uses
    evaluated_trained_through: str | None = None  # the same for the evaluated weights
    data_end: str | None = None  # last stored session of the symbol when the model was trained
    test_metrics: Mapping | None = None  # the symbol's `evaluate --json` report at training

    @property
    def scalers(self) -> Json:
        """The scalers as ``prep.windows.Scaler.from_dict`` takes them."""
        return {
            "features": None if self.features is None else self.features.to_json(),
            "targets": None if self.targets is None else self.targets.to_json(),
        }

    def split_json(self) -> Json:
        """The split as ``prep.windows.split_summary`` made it (``parts_from_split`` reads it)."""
        return {part: s.to_json() for part, s in self.split.items()}

    def to_json(self) -> Json:
        scalers = {k: v for k, v in self.scalers.items() if v is not None}
        out: Json = {"scalers": scalers, "split": self.split_json()}
        if self.start_drift:
            out["start_drift"] = list(self.start_drift)
        out["trained_through"] = self.trained_through
        if self.evaluated_trained_through is not None:
            out["evaluated_trained_through"] = self.evaluated_trained_through
        out["data_end"] = self.data_end
        return out

    @classmethod
    def from_json(cls, symbol: str, d: Mapping, horizon: int,
                  report: Mapping | None = None) -> Series:  # fmt: skip
        sc = d.get("scalers") or {}
        start = d.get("start_drift") or [LEGACY_START_DRIFT] * horizon
        return cls(
            symbol=symbol,
            features=Stats.from_json(sc.get("features")),
            targets=Stats.from_json(sc.get("targets")),
            split={part: Split.from_json(s) for part, s in (d.get("split") or {}).items()},
            start_drift=tuple(float(v) for v in start),
            trained_through=d.get("trained_through"),
            evaluated_trained_through=d.get("evaluated_trained_through"),
            data_end=d.get("data_end"),
            test_metrics=report or None,
        )


@dataclass(frozen=True)
class Member:
    """One network of an ensemble (or of the band's scale networks): its early-stopping run."""

    seed: int | None
    best_epoch: int | None  # 0: no epoch beat the untrained network (the naive start)
    best_val_loss: float | None = None
    initial_val_loss: float | None = None
    epochs: int | None = None  # epochs run
    interrupted: bool | None = None  # None: not recorded (the scale networks)

    def to_json(self) -> Json:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in out.items() if v is not None or k != "interrupted"}

    @classmethod
    def from_json(cls, d: Mapping) -> Member:
        return cls(d.get("seed"), d.get("best_epoch"), d.get("best_val_loss"),
                   d.get("initial_val_loss"), d.get("epochs"), d.get("interrupted"))  # fmt: skip


@dataclass(frozen=True)
class Live:
    """What the live weights (the recipe refit on every stored window) saw."""

    trained_through: str | None  # last stored session (the latest of all series)
    as_of_end: str | None  # last as-of session with every target stored
    windows: int | None  # windows they were fitted on
    epochs: tuple[int, ...]  # per member: its evaluated best epoch count
    calibration: str | None = None  # what calibrates their bands, in words
    calibration_start: str | None = None
    calibration_end: str | None = None
    processes: int | None = None  # a global model's torchrun ranks (1: one process)

    def to_json(self) -> Json:
        out: Json = {"trained_through": self.trained_through, "as_of_end": self.as_of_end,
                     "windows": self.windows, "epochs": list(self.epochs)}  # fmt: skip
        if self.processes is not None:
            out["processes"] = self.processes
        out["calibration"] = self.calibration
        out["calibration_start"] = self.calibration_start
        if self.calibration_end is not None or self.processes is None:
            out["calibration_end"] = self.calibration_end
        return out

    @classmethod
    def from_json(cls, d: Mapping | None) -> Live | None:
        if not d:
            return None
        return cls(d.get("trained_through"), d.get("as_of_end"), d.get("windows"),
                   tuple(d.get("epochs") or ()), d.get("calibration"), d.get("calibration_start"),
                   d.get("calibration_end"), d.get("processes"))  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """The band's scale networks (`train --band model`/`model-t`): the likelihood, per horizon
    whether the network's scale is used, and its members."""

    kind: str  # "gaussian" or "student-t"
    use: tuple[bool, ...]  # (H,) True: the network's scale at h; False: the EWMA one
    description: str  # in words (``ScaleHead.describe``)
    members: tuple[Member, ...]
    seconds: float | None = None

    def to_json(self) -> Json:
        out: Json = {"kind": self.kind, "use": list(self.use), "description": self.description,
                     "members": [m.to_json() for m in self.members]}  # fmt: skip
        if self.seconds is not None:
            out["seconds"] = self.seconds
        return out

    @classmethod
    def from_json(cls, d: Mapping | None) -> Scale | None:
        if not d:
            return None
        return cls(str(d["kind"]), tuple(bool(u) for u in d["use"]), str(d.get("description")
                   or ""), tuple(Member.from_json(m) for m in d.get("members") or ()),
                   d.get("seconds"))  # fmt: skip


@dataclass(frozen=True)
class Training:
    """How the evaluated weights were fitted: the ensemble's summary and the run's costs."""

    best_val_loss: float | None = None  # the (averaged) model's loss on scaled validation
    initial_val_loss: float | None = None  # the untrained (naive start) members' best
    epochs: int | None = None  # most epochs any member ran
    best_epoch: int | None = None  # the latest best epoch (0: every member is the naive start)
    seed: int | None = None
    device: str | None = None  # e.g. "cpu (1 thread)"
    seconds: float | None = None
    cpu_seconds: float | None = None
    windows_per_s: float | None = None  # all members together


@dataclass(frozen=True)
class Manifest:
    """A saved model. ``id``, ``name`` and ``weights_sha256`` are None until ``models.store``
    saves it."""

    arch: str  # a name in ``models.REGISTRY``
    model_config: Mapping[str, Any]  # the architecture's ``Config`` fields
    data: DataConfig  # features, lookback, horizon, split fractions
    train_config: Mapping[str, Any]  # ``TrainConfig`` fields as saved (older: fewer)
    series: tuple[Series, ...]  # in training order
    members: tuple[Member, ...] = ()  # () for format 1: one network
    kind: str = SYMBOL  # SYMBOL or GLOBAL
    training: Training = field(default_factory=Training)
    interrupted: bool = False  # Ctrl-C stopped training; the best epoch so far was kept
    note: str | None = None  # what a reader must know, in words
    live: Live | None = None  # None: no live weights (interrupted, or older)
    scale: Scale | None = None  # None: the EWMA band
    shrink: Mapping | None = None  # ``forecasting.shrink.Shrink`` as saved; None: raw forecasts
    split_dates: tuple[str, str] | None = None  # a global model: (val start, test start)
    pooled: Mapping | None = None  # a global model's pooled test report
    cross_section: Mapping | None = None  # a global model's cross-sectional test report
    versions: Mapping[str, str] | None = None  # library versions at training
    created: str | None = None  # ISO timestamp
    id: str | None = None
    name: str | None = None  # the model's name (upper case; a one-symbol model: its symbol)
    display_name: str | None = None  # the name as typed (``--name big3``), when it differs
    weights_sha256: str | None = None
    format_version: int = FORMAT_VERSION  # the version read (written: always FORMAT_VERSION)

    # --- reading -------------------------------------------------------------------------

    @property
    def forecasts_in_torch(self) -> bool:
        """Its release forecast through torch in float32 (format 1, stockcast 0.1.0): the
        numpy forward (float64) would differ in the last digits, so it forecasts through torch
        to print exactly what that release printed."""
        return self.format_version == 1

    @property
    def symbols(self) -> list[str]:
        """The symbols the model was trained on, in training order."""
        return [s.symbol for s in self.series]

    @property
    def is_global(self) -> bool:
        return self.kind == GLOBAL

    @property
    def horizon(self) -> int:
        return self.data.horizon

    @property
    def ensemble(self) -> int:
        """Members averaged (1: one network)."""
        return max(1, len(self.members))

    @property
    def label(self) -> str:
        """The name in messages: as typed where known."""
        return self.display_name or self.name or "?"

    def pick_symbol(self, symbol: str | None = None) -> str:
        """``symbol`` (normalized) checked against the model's symbols; None: the only one, or
        the model's name. ModelError when the model was not trained on it."""
        syms, name, mid = self.symbols, str(self.name), self.id or "?"
        if symbol is None:
            if len(syms) == 1:
                return syms[0]
            if name in syms:
                return name
            raise ModelError(f"model {mid} of {name} covers {', '.join(syms)}; name one of them")
        sym = normalize_symbol(symbol)
        if sym not in syms:
            raise ModelError(
                f"model {mid} of {name} was not trained on {sym} (it covers {', '.join(syms)}); "
                f"run `stockcast train {sym}`"
            )
        return sym

    def series_of(self, symbol: str | None = None) -> Series:
        """``symbol``'s part (see ``pick_symbol``)."""
        sym = self.pick_symbol(symbol)
        return next(s for s in self.series if s.symbol == sym)

    def report(self, symbol: str | None = None) -> Mapping | None:
        """``symbol``'s saved test evaluation (the `evaluate --json` report), or None."""
        if len(self.series) == 1:
            return self.series[0].test_metrics
        return self.series_of(symbol).test_metrics

    def train_options(self) -> TrainConfig:
        """The saved training options (keys this stockcast does not know are left out)."""
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in self.train_config.items() if k in known})

    def untrained(self) -> bool:
        """Every member kept epoch 0: the model is its naive start."""
        if self.members:
            return all(m.best_epoch == 0 for m in self.members)
        return self.training.best_epoch == 0

    # --- writing -------------------------------------------------------------------------

    def with_reports(self, reports: Mapping[str, Mapping]) -> Manifest:
        """The manifest with each symbol's test report."""
        series = tuple(dataclasses.replace(s, test_metrics=reports.get(s.symbol, s.test_metrics))
                       for s in self.series)  # fmt: skip
        return dataclasses.replace(self, series=series)

    def to_json(self) -> Json:
        """The ``manifest.json`` object (format 2)."""
        t, d = self.training, self.data
        out: Json = {"created": self.created}
        if self.is_global:
            out["kind"] = GLOBAL
        out.update(
            format_version=FORMAT_VERSION,
            features=list(d.features),
            lookback=d.lookback,
            horizon=d.horizon,
            data_config={**dataclasses.asdict(d), "features": list(d.features)},
            arch=self.arch,
            model_config=dict(self.model_config),
            train_config=dict(self.train_config),
        )
        if self.split_dates is not None:
            out["split_dates"] = list(self.split_dates)
        out["series"] = {s.symbol: s.to_json() for s in self.series}
        out.update(
            best_val_loss=t.best_val_loss,
            initial_val_loss=t.initial_val_loss,
            epochs=t.epochs,
            best_epoch=t.best_epoch,
            ensemble=self.ensemble,
            members=[m.to_json() for m in self.members],
            interrupted=self.interrupted,
            note=self.note,
            scale=None if self.scale is None else self.scale.to_json(),
            live=None if self.live is None else self.live.to_json(),
            seed=t.seed,
            device=t.device,
            seconds=t.seconds,
        )
        if t.cpu_seconds is not None:
            out["cpu_seconds"] = t.cpu_seconds
        out["windows_per_s"] = t.windows_per_s
        if self.is_global:
            out["series_metrics"] = {s.symbol: s.test_metrics for s in self.series
                                     if s.test_metrics is not None}  # fmt: skip
            out["pooled"] = self.pooled
            out["cross_section"] = self.cross_section
        else:
            out["test_metrics"] = self.series[0].test_metrics if len(self.series) == 1 else None
        if self.shrink is not None:
            out["shrink"] = dict(self.shrink)
        out["versions"] = None if self.versions is None else dict(self.versions)
        out.update(id=self.id, name=self.name)
        if self.display_name is not None:
            out["display_name"] = self.display_name
        out["symbols"] = self.symbols
        if len(self.series) == 1 and not self.is_global:  # format 1's top-level keys, mirrored
            one = self.series[0].to_json()
            out["ticker"] = self.series[0].symbol
            out.update({k: one[k] for k in ("scalers", "split", "trained_through", "data_end")})
        out["weights_sha256"] = self.weights_sha256
        return out

    # --- reading the JSON ----------------------------------------------------------------

    @classmethod
    def from_json(cls, m: Mapping) -> Manifest:
        """A manifest of any readable format version, upgraded (see the module docstring).
        KeyError, TypeError or ValueError on a malformed one (``models.store`` checks the
        schema first)."""
        version = int(m.get("format_version") or (2 if "series" in m else 1))
        data = _data_config(m)
        kind = GLOBAL if m.get("kind") == GLOBAL else SYMBOL
        if version >= 2:
            raw = m["series"]
        else:  # format 1: one symbol, its keys at the top
            raw = {m["ticker"]: {k: m.get(k) for k in ("scalers", "split", "trained_through",
                                                       "data_end")}}  # fmt: skip
        per_symbol = m.get("series_metrics") or {}
        own = m.get("test_metrics")
        series = tuple(
            Series.from_json(str(sym).upper(), s, data.horizon,
                             per_symbol.get(sym) if kind == GLOBAL or not own else own)
            for sym, s in raw.items()
        )  # fmt: skip
        split_dates = m.get("split_dates")
        return cls(
            arch=str(m.get("arch") or DEFAULT_ARCH),
            model_config=dict(m.get("model_config") or {}),
            data=data,
            train_config=dict(m.get("train_config") or {}),
            series=series,
            members=tuple(Member.from_json(x) for x in m.get("members") or ()),
            kind=kind,
            training=Training(**{f.name: m.get(f.name) for f in dataclasses.fields(Training)}),
            interrupted=m.get("interrupted") is True,
            note=m.get("note"),
            live=Live.from_json(m.get("live")),
            scale=Scale.from_json(m.get("scale")),
            shrink=m.get("shrink") or None,
            split_dates=None if not split_dates else (str(split_dates[0]), str(split_dates[1])),
            pooled=m.get("pooled") or None,
            cross_section=m.get("cross_section") or None,
            versions=m.get("versions"),
            created=m.get("created"),
            id=m.get("id"),
            name=m.get("name") or m.get("ticker"),
            display_name=m.get("display_name"),
            weights_sha256=m.get("weights_sha256"),
            format_version=version,
        )


def _data_config(m: Mapping) -> DataConfig:
    """``data_config`` (top-level ``features``, ``lookback``, ``horizon`` where a hand-built
    manifest has only those); defaults for what neither holds."""
    d = dict(m.get("data_config") or {})
    for key in ("features", "lookback", "horizon"):
        if key not in d and key in m:
            d[key] = m[key]
    if "horizon" not in d and "horizon" in (m.get("model_config") or {}):
        d["horizon"] = m["model_config"]["horizon"]
    known = {f.name for f in dataclasses.fields(DataConfig)}
    d = {k: v for k, v in d.items() if k in known}
    if "features" in d:
        d["features"] = tuple(d["features"])
    return DataConfig(**d)


def members_of(seeds: Sequence[Any]) -> tuple[Member, ...]:
    """Members from training results (anything with ``seed``, ``best_epoch``,
    ``best_val_loss``, ``initial_val_loss``, ``epochs`` and ``interrupted``)."""
    return tuple(Member(f.seed, f.best_epoch, f.best_val_loss, f.initial_val_loss, f.epochs,
                        f.interrupted) for f in seeds)  # fmt: skip

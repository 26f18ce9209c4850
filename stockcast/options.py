"""Training options, declared once: what the data, model and optimiser settings are, their
defaults, their help text and their valid ranges.

Everything else derives from the dataclasses here: the `stockcast train` flags
(``stockcast.cli.flags``), the ``[train]`` table of ``stockcast.toml`` (its keys, types and
checks), the commented example that `stockcast init` writes, and the manifest of a saved model
(``DataConfig`` and ``TrainConfig`` are stored as they are). A field declared with ``option(...)``
is a user-facing option; a plain field is an internal constant kept for the manifest.

This module is light (standard library only) because `stockcast --help` builds the flags from it.
"""

from __future__ import annotations

import builtins
import datetime as dt
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from stockcast.errors import UsageError

# The features used when --features is not given. stockcast.prep.features marks the same ones
# `default=True` in its registry (a test keeps the two in step); kept here so that the flags'
# help needs no pandas.
DEFAULT_FEATURES: tuple[str, ...] = ("log_return", "hl_pct", "pct_change", "log_volume_change")
# Band scales (`--band`): a scale network with a Gaussian or Student-t likelihood, or EWMA alone.
BANDS: tuple[str, ...] = ("model", "model-t", "ewma")
ARCHS: tuple[str, ...] = (
    "cnn-lstm",
    "gru",
    "lstm",
    "lstm-attn",
    "transformer",
)  # names in stockcast.models.REGISTRY (a test checks)


def option(
    default: Any, help: str, check: Callable[[Any], bool] | None = None, rule: str = ""
) -> Any:
    """A dataclass field that is a user-facing training option.

    ``check(value)`` says whether a value is valid; ``rule`` completes "--name must ..." when
    it is not (e.g. "be at least 2").
    """
    return field(default=default, metadata={"help": help, "check": check, "rule": rule})


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


def _float_in(lo: float, hi: float, lo_open: bool = False) -> Callable[[Any], bool]:
    return lambda v: math.isfinite(v) and (lo < v if lo_open else lo <= v) and v <= hi


def _iso_date(value: Any) -> bool:
    """``2017-01-02``, and no other spelling (01/02/2017 reads as January or February)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return False
    return MIN_DATE <= day <= MAX_DATE  # pandas' nanosecond dates: 1677-09-22..2262-04-11


MIN_DATE, MAX_DATE = dt.date(1677, 9, 22), dt.date(2262, 4, 11)


@dataclass(frozen=True)
class DataConfig:
    """What the model sees and how the history is split; stored in the manifest."""

    features: tuple[str, ...] = option(
        DEFAULT_FEATURES,
        f"Comma-separated names from `stockcast features` (default {', '.join(DEFAULT_FEATURES)}).",
    )  # registry names, in column order
    lookback: int = option(
        60, "Sessions per window.", _int_in(2, 5000), "be between 2 and 5000"
    )  # L: sessions in one input window
    horizon: int = option(
        5, "Sessions ahead.", _int_in(1, 250), "be between 1 and 250"
    )  # H: sessions ahead, all predicted at once
    val_frac: float = option(
        0.15, "Validation share of sessions.", _float_in(0, 1, lo_open=True), "be in (0, 1)"
    )  # share of sessions in validation
    test_frac: float = option(
        0.15, "Test share of sessions.", _float_in(0, 1, lo_open=True), "be in (0, 1)"
    )  # share of sessions in test (ignored when test_start is set)
    test_start: str | None = option(
        None, "Test starts at this date (YYYY-MM-DD).", _iso_date, "be a date as YYYY-MM-DD"
    )  # ISO date: test starts at the first session on/after it


@dataclass(frozen=True)
class ModelOptions:
    """The architecture and the hyper-parameters every architecture in the registry takes."""

    arch: str = option(
        "lstm", f"Model architecture: {' or '.join(ARCHS)}.", lambda v: v in ARCHS,
        f"be one of {', '.join(ARCHS)}",
    )  # fmt: skip
    hidden: int = option(
        64, "Hidden units per layer.", _int_in(1, 4096), "be between 1 and 4096"
    )  # recurrent hidden units per layer
    layers: int = option(1, "Stacked recurrent layers.", _int_in(1, 16), "be between 1 and 16")
    dropout: float = option(
        0.0, "Dropout between layers and before the head.", _float_in(0, 0.99), "be in [0, 1)"
    )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; stored in the manifest."""

    epochs: int = option(
        30, "Most epochs.", _int_in(1, 100_000), "be between 1 and 100000"
    )  # early stopping usually ends sooner
    batch_size: int = option(
        256, "Windows per optimiser step.", _int_in(1, 1 << 20), "be between 1 and 1048576"
    )
    lr: float = option(
        2e-3, "Peak learning rate.", _float_in(0, 1.0, lo_open=True), "be in (0, 1]"
    )  # after warm-up, then cosine decay
    weight_decay: float = option(
        0.05, "AdamW weight decay.", _float_in(0, 10.0), "be in [0, 10]"
    )  # decoupled decay on weight matrices (not biases)
    loss: str = option(
        "huber", "huber or l1.", lambda v: v in ("huber", "l1"), "be huber or l1"
    )  # on scaled targets
    patience: int = option(
        5, "Epochs without improvement before stopping.", _int_in(1, 100_000),
        "be at least 1",
    )  # fmt: skip
    seed: int = option(
        0, "Random seed.", _int_in(0, 2**32 - 1), "be between 0 and 4294967295"
    )  # seeds torch and numpy: same seed, data and CPU -> identical weights
    ensemble: int = option(
        4, "Members averaged, with seeds seed, seed+1, ... (trained at once, one per core).",
        _int_in(1, 64), "be between 1 and 64",
    )  # fmt: skip  # K models on the same windows, averaged; 4: bench/ensemble.py (seed spread)
    shrink: bool = option(
        False, "Shrink forecasts toward the best naive one by a weight learned on validation."
    )  # forecasting/shrink.py; the weight is stored in the manifest's `shrink`
    band: str = option(
        "model",
        "Band scale: model (a scale network per member, Gaussian likelihood), model-t "
        "(Student-t likelihood) or ewma (EWMA volatility, no scale network).",
        lambda v: v in BANDS, f"be one of {', '.join(BANDS)}",
    )  # fmt: skip  # training/scale.py; bench/bands.py measured gaussian vs student-t
    huber_delta: float = 1.0  # Huber transition point, in target standard deviations
    clip_norm: float = 1.0  # gradient-norm clipping threshold
    warmup_epochs: float = 1.0  # linear LR warm-up length
    final_lr_share: float = 0.05  # LR at the last epoch as a share of the peak

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class RunOptions:
    """Where training runs (not stored as a hyper-parameter)."""

    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")


SECTIONS: tuple[type, ...] = (DataConfig, ModelOptions, TrainConfig, RunOptions)


@dataclass(frozen=True)
class Spec:
    """One user-facing training option, derived from its dataclass field."""

    name: str  # field name; the flag is --name-with-dashes, the TOML key is the name
    type: type  # int, float or str (features: a comma-separated str or a TOML list)
    default: Any
    help: str
    section: builtins.type  # the dataclass that holds it (`type` is a field name here)
    check: Callable[[Any], bool] | None
    rule: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def help_with_default(self) -> str:
        if self.default is None or self.name == "features":
            return self.help
        return f"{self.help.rstrip('.')} (default {format_default(self.default)})."


_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _base_type(annotation: str) -> type:
    """``"int"``, ``"str | None"``, ``"tuple[str, ...]"`` -> int, str, str."""
    head = annotation.split("|")[0].strip()
    return _TYPES.get(head, str)


def specs() -> Iterator[Spec]:
    """Every user-facing option, in declaration order (data, model, training, run)."""
    for section in SECTIONS:
        for f in fields(section):
            if "help" not in f.metadata:
                continue
            default = f.default if f.default is not MISSING else None
            yield Spec(f.name, _base_type(str(f.type)), default, f.metadata["help"], section,
                       f.metadata["check"], f.metadata["rule"])  # fmt: skip


SPECS: Mapping[str, Spec] = {s.name: s for s in specs()}


def format_default(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ", ".join(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def toml_value(value: Any) -> str:
    """A default as it is written in stockcast.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def check(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate flat options (CLI flags or the ``[train]`` table): unknown keys, types and
    ranges, before anything is allocated. Returns the options without the ones left out (None).

    ``features`` may be a comma-separated string or a sequence of names; it is returned as a
    tuple of stripped names (validated against the registry by the caller, which has pandas).
    """
    opts = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(opts) - set(SPECS))
    if unknown:
        raise UsageError(f"unknown training option {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name, value in opts.items():
        spec = SPECS[name]
        if name == "features":
            out[name] = _feature_names(value)
            continue
        value = _coerce(spec, value)
        if spec.check is not None and not spec.check(value):
            raise UsageError(f"{spec.flag} must {spec.rule} (got {value!r})")
        out[name] = value
    if "val_frac" in out or "test_frac" in out:
        v = out.get("val_frac", SPECS["val_frac"].default)
        t = out.get("test_frac", SPECS["test_frac"].default)
        if v + t >= 1:
            raise UsageError("--val-frac and --test-frac must be in (0, 1) and sum below 1")
    return out


def _coerce(spec: Spec, value: Any) -> Any:
    if spec.type is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{spec.flag} must be true or false (got {value!r})")
        return value
    ok = (
        isinstance(value, spec.type) or (spec.type is float and isinstance(value, int))
    ) and not isinstance(value, bool)
    if not ok:
        raise UsageError(f"{spec.flag} must be {spec.type.__name__} (got {value!r})")
    return float(value) if spec.type is float else value


def arch_list(value: str | None) -> tuple[str, ...] | None:
    """``--arch`` of `backtest`, which may name several architectures: ``"lstm,gru"`` ->
    ``("lstm", "gru")`` (stripped, lower-cased, duplicates dropped, order kept); None -> None.

    A UsageError (one line, naming the valid names) when a name is not in the registry or the
    list is empty. One name is returned as it is (``options.check`` then judges it as usual).
    """
    if value is None:
        return None
    if "," not in value:
        return (value,)
    names = list(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in ARCHS]
    if unknown or not names:
        got = f"unknown {', '.join(repr(n) for n in unknown)} in " if unknown else ""
        raise UsageError(
            f"--arch must be one of {', '.join(ARCHS)} or a comma-separated list of them "
            f"(got {got}{value!r})"
        )
    return tuple(names)


def _feature_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        names = [n.strip() for n in value]
    else:
        raise UsageError("--features must be a comma-separated list of feature names")
    names = [n for n in names if n]
    if not names:
        raise UsageError("--features is empty; name at least one (see `stockcast features`)")
    return tuple(names)


def split(opts: Mapping[str, Any]) -> tuple[DataConfig, ModelOptions, TrainConfig, RunOptions]:
    """Checked flat options -> the four dataclasses (left-out keys take the defaults)."""
    parts = []
    for section in SECTIONS:
        names = {f.name for f in fields(section)}
        parts.append(section(**{k: v for k, v in opts.items() if k in names}))
    data, model, train, run = parts
    return data, model, train, run


def toml_example() -> str:
    """The ``[train]`` lines of the `stockcast init` example: every option, commented out, at
    its true default."""
    lines = []
    for s in SPECS.values():
        value = '"2015-01-02"' if s.name == "test_start" else toml_value(s.default)
        lines.append(f"# {s.name} = {value}  # {s.help.split(' (default')[0].rstrip('.')}")
    return "\n".join(lines)

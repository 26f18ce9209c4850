"""``stockcast.toml``: the watchlist and options of scheduled runs (``stockcast run``).

A minimal file is one line, ``symbols = ["AAPL", "MSFT"]``. Everything else has a default:

    symbols = ["AAPL", "MSFT"]   # required: the watchlist
    levels = [0.8, 0.9]          # interval levels of logged forecasts
    horizon = 5                  # sessions to forecast, and to train for (default: the model's)
    stale_sessions = 3           # completed sessions missing from the prices before "stale"

    [train]                      # passed to the trainer when a model is (re)trained
    epochs = 30

    [retrain]                    # when `run` retrains instead of reusing the newest model
    every_days = 7               # the newest model is at least this many days old (0: off)
    new_sessions = 5             # this many sessions were stored after its data ended (0: off)

    [overrides.MSFT]             # per-symbol overrides of levels, horizon, train, retrain
    horizon = 3
    [overrides.MSFT.train]
    epochs = 50

Parsing is pure (``parse``); unknown keys and invalid symbols raise ``ConfigError`` with one line
that names the key and the file.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stockcast import options
from stockcast.data.fsutil import CONFIG_LIMIT, atomic_write_bytes, read_stored
from stockcast.data.paths import normalize_symbol
from stockcast.errors import NoConfig, UnsafeFile, UsageError

CONFIG_NAME = "stockcast.toml"
DEFAULT_LEVELS = (0.8, 0.9)
DEFAULT_STALE_SESSIONS = 3  # completed sessions the stored prices may lack before they are stale
NO_MODEL = "no model yet"  # the retrain reason when a symbol has no model

_TOP_KEYS = {"symbols", "levels", "horizon", "stale_sessions", "train", "retrain", "overrides",
             "global"}  # fmt: skip
_OVERRIDE_KEYS = {"levels", "horizon", "train", "retrain"}
_RETRAIN_KEYS = {"every_days", "new_sessions"}


class ConfigError(UsageError):
    """``stockcast.toml`` is missing, not TOML, or has an unknown key or a bad value."""


class NoConfigFile(ConfigError, NoConfig):
    """No config file where one was looked for (the CLI adds the data directory in use)."""


@dataclass(frozen=True)
class RetrainPolicy:
    """When `stockcast run` trains a new model instead of reusing the newest one."""

    every_days: int = 7  # retrain when the newest model is at least this many days old; 0: off
    new_sessions: int = 5  # retrain when this many sessions arrived after its data ended; 0: off

    def reason(self, age_days: float | None, new_sessions: int | None) -> str | None:
        """Why a retrain is due (a short phrase), or None when the newest model may be reused.

        ``age_days`` is None when there is no model; ``new_sessions`` counts the stored sessions
        after the last session the model was built from.

        >>> RetrainPolicy(7, 5).reason(age_days=2.0, new_sessions=5)
        '5 new sessions (new_sessions = 5)'
        """
        if age_days is None:
            return NO_MODEL
        if self.every_days and age_days >= self.every_days:
            return f"model is {age_days:.0f} days old (every_days = {self.every_days})"
        if self.new_sessions and new_sessions is not None and new_sessions >= self.new_sessions:
            return f"{new_sessions} new sessions (new_sessions = {self.new_sessions})"
        return None


@dataclass(frozen=True)
class SymbolPlan:
    """The resolved options of one symbol: defaults, then the file, then its overrides."""

    ticker: str
    levels: tuple[float, ...]  # interval levels of logged forecasts, ascending
    horizon: int | None  # sessions to forecast; None: the model's horizon
    train: Mapping[str, Any]  # options for the trainer (only the keys the file sets)
    retrain: RetrainPolicy
    stale_sessions: int = DEFAULT_STALE_SESSIONS  # completed sessions missing before "stale"
    model: str | None = None  # the global model ([global.NAME]) that forecasts it; None: its own


@dataclass(frozen=True)
class Override:
    """A symbol's ``[overrides.SYMBOL]`` table; None or empty means "as the top level"."""

    levels: tuple[float, ...] | None = None
    horizon: int | None = None
    train: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    retrain: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Config:
    """A parsed ``stockcast.toml``."""

    symbols: tuple[str, ...]  # upper-cased, validated, in file order, without repeats
    levels: tuple[float, ...] = DEFAULT_LEVELS
    horizon: int | None = None
    stale_sessions: int = DEFAULT_STALE_SESSIONS  # completed sessions missing before "stale"
    train: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    retrain: RetrainPolicy = RetrainPolicy()
    overrides: Mapping[str, Override] = field(default_factory=lambda: MappingProxyType({}))
    path: Path | None = None  # the file it was read from
    # [global.NAME] symbols = [...]: NAME -> the symbols one global model covers (`train --global`)
    global_models: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def plan(self, ticker: str) -> SymbolPlan:
        """The options of ``ticker``, its overrides applied."""
        ov = self.overrides.get(ticker, Override())
        policy = RetrainPolicy(**{**vars(self.retrain), **ov.retrain})
        horizon = ov.horizon if ov.horizon is not None else self.horizon
        train = {**self.train, **ov.train}
        if horizon is not None:  # models are trained for the horizon forecast, unless told
            train.setdefault("horizon", horizon)
        return SymbolPlan(
            ticker=ticker,
            levels=ov.levels if ov.levels is not None else self.levels,
            horizon=horizon,
            train=MappingProxyType(train),
            retrain=policy,
            stale_sessions=self.stale_sessions,
            model=next((n for n, syms in self.global_models.items() if ticker in syms), None),
        )


# --- reading ---------------------------------------------------------------------------------


def config_path(data_dir: Path, option: Path | None = None) -> Path:
    """The file to read: ``--config PATH`` if given, else ``<data>/stockcast.toml``."""
    return Path(option).expanduser() if option else Path(data_dir) / CONFIG_NAME


def load(path: Path) -> Config:
    """Read and check a config file; ConfigError naming the fix when it cannot be used."""
    path = Path(path)
    try:
        text = _read_bounded(path)
    except FileNotFoundError:
        raise NoConfigFile(
            f"no config file at {path.absolute()}; run `stockcast init` and edit it, or pass "
            "--config PATH"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path} ({exc.__class__.__name__}); check the file"
        ) from None
    depth = _nesting(text)
    if depth > MAX_DEPTH:
        raise ConfigError(f"{path} nests brackets {depth} deep (at most {MAX_DEPTH}); fix the file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix that line") from None
    except RecursionError:
        raise ConfigError(f"{path} nests too deep; fix the file") from None
    return parse(data, where=str(path), path=path)


MAX_INT = 1_000_000  # days, sessions, counts: any larger value is a typo
MAX_BYTES = CONFIG_LIMIT  # a config is a few hundred bytes; a bigger file is not one
MAX_DEPTH = 16  # [ and { nested deeper than this: not a stockcast config


def _read_bounded(path: Path) -> str:
    """The text of a regular file of at most ``MAX_BYTES`` (``fsutil.read_stored``: a FIFO or
    a device is refused without blocking; opening a FIFO would wait for a writer, reading
    /dev/zero would never end). The file may lie anywhere: --config names it."""
    try:
        data = read_stored(path, None, MAX_BYTES, "point --config at a stockcast.toml")
    except UnsafeFile as exc:
        raise ConfigError(str(exc)) from None
    return data.decode("utf-8")


def _nesting(text: str) -> int:
    """The deepest nesting of [ and { outside strings and comments (a cheap upper bound)."""
    depth = deepest = 0
    quote = None
    comment = False
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def parse(data: Mapping[str, Any], where: str = CONFIG_NAME, path: Path | None = None) -> Config:
    """Check the TOML table ``data`` and build a Config (pure).

    >>> parse({"symbols": ["aapl", "msft"]}).symbols
    ('AAPL', 'MSFT')
    """
    _no_unknown(data, _TOP_KEYS, where)
    if "symbols" not in data:
        raise ConfigError(f'{where} has no `symbols`; add a line such as symbols = ["AAPL"]')
    symbols = _symbols(data["symbols"], where)
    overrides = _overrides(data.get("overrides", {}), symbols, where)
    retrain = _retrain(data.get("retrain", {}), f"{where} [retrain]")
    levels = _levels(data["levels"], where) if "levels" in data else DEFAULT_LEVELS
    horizon = _positive_int(data["horizon"], "horizon", where) if "horizon" in data else None
    stale = data.get("stale_sessions", DEFAULT_STALE_SESSIONS)
    stale = _positive_int(stale, "stale_sessions", where, allow_zero=True)
    train = _train(data.get("train", {}), f"{where} [train]")
    config = Config(
        symbols=symbols,
        levels=levels,
        horizon=horizon,
        stale_sessions=stale,
        train=train,
        retrain=RetrainPolicy(**retrain),
        overrides=MappingProxyType(overrides),
        path=path,
        global_models=MappingProxyType(_global_models(data.get("global", {}), symbols, where)),
    )
    for sym in symbols:
        _check_horizons(config.plan(sym), where)
    return config


def _global_models(table: Any, symbols: tuple[str, ...], where: str) -> dict:
    """``[global.NAME] symbols = [...]`` -> {NAME: symbols}; each symbol in `symbols`, and in
    one global model at most."""
    _no_unknown(table, set(table) if isinstance(table, Mapping) else set(), where)
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for raw, entry in table.items():
        label = f"{where} [global.{raw}]"
        _no_unknown(entry, {"symbols"}, label)
        try:
            name = normalize_symbol(str(raw))
        except UsageError as exc:
            raise ConfigError(f"{exc} (a model name in {label})") from None
        syms = _symbols(entry.get("symbols"), label)
        for sym in syms:
            if sym not in symbols:
                raise ConfigError(f"{sym} in {label} is not in `symbols`; add it there")
            if sym in seen:
                raise ConfigError(f"{sym} is in [global.{seen[sym]}] and {label}; keep one")
            seen[sym] = str(raw)
        out[name] = syms
    return out


def _no_unknown(table: Any, known: set[str], where: str) -> None:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table; see `stockcast init` for an example")
    for key in table:
        if key not in known:
            raise ConfigError(
                f"unknown key `{key}` in {where}; known keys: {', '.join(sorted(known))}"
            )


def _symbols(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'`symbols` in {where} must be a list of tickers, like ["AAPL", "MSFT"]')
    if not value:
        raise ConfigError(f"`symbols` in {where} is empty; list at least one ticker")
    out: list[str] = []
    for raw in value:
        try:
            sym = normalize_symbol(raw)
        except UsageError as exc:
            raise ConfigError(f"{exc} (in `symbols` of {where})") from None
        if sym not in out:
            out.append(sym)
    return tuple(out)


def _levels(value: Any, where: str) -> tuple[float, ...]:
    ok = isinstance(value, list) and value and all(_is_number(v) for v in value)
    if not ok or not all(0 < float(v) < 1 for v in value):
        raise ConfigError(
            f"`levels` in {where} must be a list of numbers between 0 and 1, like [0.8, 0.9]"
        )
    return tuple(sorted({float(v) for v in value}))


def _positive_int(value: Any, key: str, where: str, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_INT:
        kind = f"a whole number in {low}..{MAX_INT}"
        raise ConfigError(f"`{key}` in {where} must be {kind}, not {value!r}")
    return value


def _retrain(table: Any, where: str) -> dict[str, int]:
    _no_unknown(table, _RETRAIN_KEYS, where)
    return {k: _positive_int(v, k, where, allow_zero=True) for k, v in table.items()}


def _train(table: Any, where: str) -> Mapping[str, Any]:
    """The ``[train]`` table, checked by the same rules as the `train` flags (options.py)."""
    _no_unknown(table, set(options.SPECS), where)
    try:
        options.check(table)
    except UsageError as exc:
        raise ConfigError(f"{_as_key(str(exc))} in {where}") from None
    return MappingProxyType(dict(table))


def _as_key(message: str) -> str:
    """ "--batch-size must ..." (a flag) -> "`batch_size` must ..." (the TOML key)."""
    flag, _, rest = message.partition(" ")
    if flag.startswith("--"):
        return f"`{flag[2:].replace('-', '_')}` {rest}"
    return message


def _overrides(table: Any, symbols: tuple[str, ...], where: str) -> dict[str, Override]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"`overrides` in {where} must be tables like [overrides.MSFT]")
    out: dict[str, Override] = {}
    for raw, sub in table.items():
        try:
            sym = normalize_symbol(raw)
        except UsageError as exc:
            raise ConfigError(f"{exc} (in [overrides] of {where})") from None
        if sym not in symbols:
            raise ConfigError(
                f"[overrides.{raw}] in {where} names a symbol not in `symbols`; add it there"
            )
        here = f"{where} [overrides.{raw}]"
        _no_unknown(sub, _OVERRIDE_KEYS, here)
        out[sym] = Override(
            levels=_levels(sub["levels"], here) if "levels" in sub else None,
            horizon=_positive_int(sub["horizon"], "horizon", here) if "horizon" in sub else None,
            train=_train(sub.get("train", {}), f"{here}.train"),
            retrain=MappingProxyType(_retrain(sub.get("retrain", {}), f"{here}.retrain")),
        )
    return out


def _check_horizons(plan: SymbolPlan, where: str) -> None:
    trained = plan.train.get("horizon")
    if plan.horizon is not None and trained is not None and plan.horizon > trained:
        raise ConfigError(
            f"{plan.ticker}: horizon {plan.horizon} is more than the trained horizon {trained} "
            f"([train] horizon) in {where}; lower `horizon` or raise [train] horizon"
        )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# --- the example file ------------------------------------------------------------------------

EXAMPLE_TEMPLATE = """\
# stockcast.toml: what `stockcast run` does on each scheduled run.
# Only `symbols` is required; every other line shows its default and may be deleted.

# The watchlist. Each symbol is refreshed from where it came from: Yahoo for
# `stockcast fetch SYM`, the same CSV file (read again) for `stockcast fetch SYM --csv FILE`.
symbols = ["MSFT"]

# Interval levels of the logged forecasts (`stockcast score` reports their coverage).
levels = [0.8, 0.9]

# Sessions to forecast (models are trained for it unless [train] sets `horizon`);
# leave it out to use the model's horizon (5 by default).
# horizon = 5

# Prices that lack more than this many completed sessions of their exchange are stale: the
# run still forecasts from them, warns (even under --quiet) and exits with code 5.
stale_sessions = 3

# Options for the trainer when `run` trains a model (the same as `stockcast train --help`),
# each at its default.
[train]
{train}

# When to train a new model instead of reusing the newest one (0 turns a rule off).
# A symbol without a model is always trained.
[retrain]
every_days = 7     # the newest model is at least this many days old
new_sessions = 5   # this many sessions were stored after the model's data ended

# Per-symbol overrides of levels, horizon, [train] and [retrain]:
# [overrides.MSFT]
# levels = [0.5, 0.9]
# [overrides.MSFT.train]
# epochs = 50
"""


EXAMPLE = EXAMPLE_TEMPLATE.replace("{train}", options.toml_example())


def write_example(path: Path, force: bool = False) -> Path:
    """Write the commented example to ``path``; refuse to overwrite unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; edit it, or pass --force to overwrite it")
    atomic_write_bytes(path, EXAMPLE.encode())
    return path

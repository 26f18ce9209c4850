"""What `train` returns, typed: frozen dataclasses whose ``to_dict()`` is the `train --json`
object (its keys are the contract the tests check), as ``Forecast`` and ``RunReport`` are.

The evaluation inside is the symbol's ``EvaluateResult`` (a global model: each symbol's), whose
``to_dict()`` is its `evaluate --json` object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stockcast.models.manifest import Live, Member

if TYPE_CHECKING:  # annotations only: this module stays light (no torch)
    from stockcast.forecasting.evaluation import EvaluateResult


def _live(live: Live | None) -> dict[str, Any] | None:
    return None if live is None else live.to_json()


@dataclass(frozen=True)
class TrainResult:
    """One symbol's own model, trained, evaluated on its test split and saved."""

    ticker: str
    model: str  # the saved model's id
    path: str  # its folder
    epochs: int  # most epochs any member ran
    best_epoch: int  # the latest best epoch (0: every member kept the naive start)
    val_loss: float  # the (averaged) model's loss on the scaled validation targets
    initial_val_loss: float  # the untrained members' best
    train_windows: int
    val_windows: int
    test_windows: int
    seconds: float  # fitting the members (wall)
    cpu_seconds: float
    live_seconds: float  # the live refit
    total_seconds: float  # the whole job, reading to saving
    device: str  # e.g. "cpu (1 thread)"
    windows_per_s: float  # all members together
    gflops_per_s: float
    interrupted: bool  # Ctrl-C: the best epoch so far was saved
    note: str  # the manifest's note
    start_drift: tuple[float, ...]  # (H,) the naive start's drift share per horizon
    start: str  # the naive start in words
    ensemble: int  # members averaged
    members: tuple[Member, ...]
    workers: int  # members trained at once
    ensemble_seconds_ratio: float
    live: Live | None  # None: no live refit (interrupted)
    evaluation: EvaluateResult  # the test split's evaluation

    def to_dict(self) -> dict[str, Any]:
        """The `train --json` object."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["start_drift"] = list(self.start_drift)
        out["members"] = [m.to_json() for m in self.members]
        out["live"] = _live(self.live)
        out["evaluation"] = self.evaluation.to_dict()
        return out


@dataclass(frozen=True)
class GlobalTrainResult:
    """One model over many symbols (`train --global`), trained, evaluated per symbol and
    across them, and saved."""

    name: str  # the model's name (upper case)
    display_name: str  # as typed: the name in messages
    model: str  # the saved model's id
    path: str
    symbols: tuple[str, ...]
    processes: int  # torchrun ranks (1: one process)
    epochs: int
    best_epoch: int
    val_loss: float
    initial_val_loss: float
    train_windows: int
    val_windows: int
    test_windows: int
    split: tuple[str, str]  # (validation start, test start): every series splits there
    seconds: float | None
    live_seconds: float
    total_seconds: float
    device: str
    windows_per_s: float  # all ranks together
    interrupted: bool
    note: str | None
    ensemble: int
    members: tuple[Member, ...]
    start_drift: Mapping[str, tuple[float, ...]]  # per symbol: (H,) drift shares
    start: str  # the naive start in words
    live: Live | None
    evaluation: Mapping[str, EvaluateResult]  # per symbol: its test split's evaluation
    pooled: Mapping[str, Any] | None  # pooled test figures over the symbols
    cross_section: Mapping[str, Any] | None  # rank IC and spread per horizon

    def to_dict(self) -> dict[str, Any]:
        """The `train --global --json` object."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["symbols"] = list(self.symbols)
        out["split"] = {"val_start": self.split[0], "test_start": self.split[1]}
        out["members"] = [m.to_json() for m in self.members]
        out["start_drift"] = {s: list(v) for s, v in self.start_drift.items()}
        out["live"] = _live(self.live)
        out["evaluation"] = {s: v.to_dict() for s, v in self.evaluation.items()}
        return out


@dataclass(frozen=True)
class TuneBest:
    """The best trial of a study."""

    params: Mapping[str, Any]  # flat training options it ran (lists for tuples, as in JSON)
    value: float  # MAE / best naive MAE on the inner folds (below 1 beats naive)
    trial: int  # its number in the study

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "value": self.value, "trial": self.trial}


@dataclass(frozen=True)
class TuneBacktest:
    """The walk-forward backtest of the best parameters on the sessions after the search."""

    searched_through: str  # the last session the search saw (ISO date)
    folds: tuple[Mapping[str, Any], ...]  # origin, end, test_start, test_end, n per fold
    horizons: tuple[Mapping[str, Any], ...]  # h, skill_vs_best, verdict, dm_pvalue

    def to_dict(self) -> dict[str, Any]:
        return {"searched_through": self.searched_through,
                "folds": [dict(f) for f in self.folds],
                "horizons": [dict(h) for h in self.horizons]}  # fmt: skip


@dataclass(frozen=True)
class TuneResult:
    """A hyper-parameter search of one symbol (`tune`): the study, its counts, the best trial,
    the command that trains it and, when asked, its backtest; ``to_dict`` is `tune --json`."""

    ticker: str
    arch: str
    study: Mapping[str, str]  # {"name", "storage"}
    trials_completed: int
    trials_pruned: int
    trials_failed: int
    best: TuneBest | None  # None: no trial completed yet
    command: str | None  # `stockcast train ...` with the best options (None without a best)
    searched_through: str | None  # the last session the search saw
    backtest: TuneBacktest | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticker": self.ticker,
            "arch": self.arch,
            "study": dict(self.study),
            "trials_completed": self.trials_completed,
            "trials_pruned": self.trials_pruned,
            "trials_failed": self.trials_failed,
            "best": None if self.best is None else self.best.to_dict(),
        }
        if self.command is not None:
            out["command"] = self.command
        if self.searched_through is not None:
            out["searched_through"] = self.searched_through
        if self.backtest is not None:
            out["backtest"] = self.backtest.to_dict()
        return out


@dataclass(frozen=True)
class BacktestSettings:
    """What a walk-forward backtest ran: its folds, the share of sessions they cover, members
    per fold and the recipe; with a saved model's recipe (`backtest --model REF`) its label
    NAME:ID, and for a global model its symbols."""

    folds: int
    share: float  # the share of the stored sessions the test blocks cover (the last ones)
    seeds: int  # members per fold
    data_config: Mapping[str, Any]  # the data options, without a test start
    train_config: Mapping[str, Any]
    model_config: Mapping[str, Any]
    model: str | None = None  # NAME:ID of the saved model whose recipe ran
    symbols: tuple[str, ...] | None = None  # a global model's symbols

    def to_dict(self) -> dict[str, Any]:
        """The ``settings`` object of `backtest --json` (a global model's: ``model`` and
        ``symbols`` first, a per-symbol model's recipe: ``model`` last)."""
        out: dict[str, Any] = {}
        if self.symbols is not None:
            out["model"] = self.model
            out["symbols"] = list(self.symbols)
        out.update(
            folds=self.folds,
            share=self.share,
            seeds=self.seeds,
            data_config=dict(self.data_config),
            train_config=dict(self.train_config),
            model_config=dict(self.model_config),
        )
        if self.symbols is None and self.model is not None:
            out["model"] = self.model
        return out


@dataclass(frozen=True)
class BacktestResult:
    """One symbol's walk-forward backtest (`backtest`): its folds, the pooled per-horizon report
    (``walkforward.report``) and, for a global model, the cross-section of all its symbols;
    ``to_dict()`` is the symbol's `backtest --json` object."""

    ticker: str
    sessions: int  # stored sessions the folds were cut from (a global model: the union's)
    settings: BacktestSettings
    folds: tuple[Mapping[str, Any], ...]  # per fold: dates, n, mae_ratio per h, shrink, ...
    horizons: tuple[Mapping[str, Any], ...]  # pooled over the folds, per horizon
    garch: Mapping[str, Any]  # folds, fallbacks, reasons
    seconds: float
    cross_section_folds: tuple[Mapping[str, Any], ...] | None = None  # a global model's
    cross_section: Mapping[str, Any] | None = None  # pooled over the folds
    pooled_across_symbols: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `backtest --json` object of the symbol."""
        out: dict[str, Any] = {
            "ticker": self.ticker,
            "sessions": self.sessions,
            "settings": self.settings.to_dict(),
            "folds": [dict(f) for f in self.folds],
            "horizons": [dict(h) for h in self.horizons],
            "garch": dict(self.garch),
        }
        if self.cross_section_folds is not None:
            out["cross_section_folds"] = [dict(f) for f in self.cross_section_folds]
            out["cross_section"] = self.cross_section
            out["pooled_across_symbols"] = self.pooled_across_symbols
        out["seconds"] = self.seconds
        return out

"""What `train` returns, typed: frozen dataclasses whose ``to_dict()`` is the `train --json`
object (its keys are the contract the tests check), as ``Forecast`` and ``RunReport`` are.

The evaluation inside is the `evaluate --json` object of the symbol (a global model: of each
symbol), kept as that plain JSON object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stockcast.models.manifest import Live, Member


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
    evaluation: Mapping[str, Any]  # the `evaluate --json` object of the test split

    def to_dict(self) -> dict[str, Any]:
        """The `train --json` object."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["start_drift"] = list(self.start_drift)
        out["members"] = [m.to_json() for m in self.members]
        out["live"] = _live(self.live)
        out["evaluation"] = dict(self.evaluation)
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
    evaluation: Mapping[str, Mapping[str, Any]]  # per symbol: its `evaluate --json` object
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
        out["evaluation"] = {s: dict(v) for s, v in self.evaluation.items()}
        return out

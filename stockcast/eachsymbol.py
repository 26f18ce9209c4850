"""One step for each of many symbols (``for_each_symbol``): each symbol's failure is contained,
a failure that would repeat for every symbol stops the run (the ``Batch`` of symbols), and the
run ends in one exit code.

Used by `fetch`, `train`, `predict` and `run`. Nothing here prints: the CLI passes
``on_outcome`` to say what happened as it happens, and reads the ``Batch`` at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from stockcast.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    SourceDown,
    StockcastError,
    StoreUnwritable,
)

T = TypeVar("T")

# errors after which every remaining symbol would fail the same way
STOPS_BATCH: tuple[type[StockcastError], ...] = (SourceDown, StoreUnwritable)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What the step did for one symbol."""

    symbol: str  # the symbol the step was given
    value: T | None = None  # what the step returned; None when it failed or was interrupted
    error: StockcastError | None = None  # why it failed; None when it did not
    attempted: bool = True  # False: not tried, an earlier failure stopped the batch
    interrupted: bool = False  # Ctrl-C came during this symbol (its value, if any, is kept)


@dataclass
class Batch(Generic[T]):
    """Every outcome of a batch, in the order of the symbols."""

    symbols: list[str]  # the symbols asked for
    outcomes: list[Outcome[T]] = field(default_factory=list)  # one per symbol reached
    interrupted: str | None = None  # the symbol Ctrl-C stopped the batch at, if it did

    @property
    def failures(self) -> list[Outcome[T]]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def errors(self) -> list[StockcastError]:
        return [o.error for o in self.outcomes if o.error is not None]

    @property
    def values(self) -> list[T]:
        """What the step returned, for each symbol it succeeded on."""
        return [o.value for o in self.outcomes if o.value is not None]

    @property
    def exit_code(self) -> int:
        codes = [e.exit_code for e in self.errors]
        return exit_code(len(self.symbols), codes, interrupted=self.interrupted is not None)


def exit_code(total: int, failure_codes: Sequence[int], *, interrupted: bool = False) -> int:
    """130 after Ctrl-C; else 0 when nothing failed, 3 when some of ``total`` symbols failed,
    1 when all did; a single symbol's failure exits with that failure's own code."""
    if interrupted:
        return EXIT_INTERRUPTED
    if not failure_codes:
        return EXIT_OK
    if len(failure_codes) < total:
        return EXIT_PARTIAL
    return failure_codes[0] if total == 1 else EXIT_ERROR


def stops_batch(error: BaseException) -> bool:
    """Whether every remaining symbol would fail the same way (source down, disk unwritable)."""
    return isinstance(error, STOPS_BATCH)


def for_each_symbol(
    symbols: Sequence[str],
    step: Callable[[str], T],
    *,
    on_outcome: Callable[[Outcome[T]], None] | None = None,
    pace: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    keep_on_interrupt: bool = False,
    stops_early: Callable[[T], bool] | None = None,
) -> Batch[T]:
    """Run ``step`` on each symbol in turn, ``pace`` seconds apart.

    A ``StockcastError`` fails that symbol only; after one that ``stops_batch`` the remaining
    symbols are failed with it unasked. Ctrl-C propagates, unless ``keep_on_interrupt``: then
    the batch stops and returns what was done. ``stops_early(value)`` marks a value that
    reports an interruption (a training that kept its best epoch): the batch stops there too.
    """
    batch: Batch[T] = Batch(list(symbols))
    stop: StockcastError | None = None
    for i, sym in enumerate(batch.symbols):
        if stop is not None:
            _record(batch, Outcome(sym, error=stop, attempted=False), on_outcome)
            continue
        if i and pace:
            sleep(pace)
        try:
            value = step(sym)
        except StockcastError as exc:
            stop = exc if stops_batch(exc) else None
            _record(batch, Outcome(sym, error=exc), on_outcome)
            continue
        except KeyboardInterrupt:
            if not keep_on_interrupt:
                raise
            batch.interrupted = sym
            _record(batch, Outcome(sym, interrupted=True), on_outcome)
            break
        early = stops_early is not None and stops_early(value)
        _record(batch, Outcome(sym, value, interrupted=early), on_outcome)
        if early:
            batch.interrupted = sym
            break
    return batch


def _record(batch: Batch[T], outcome: Outcome[T], on_outcome: Callable | None) -> None:
    batch.outcomes.append(outcome)
    if on_outcome is not None:
        on_outcome(outcome)

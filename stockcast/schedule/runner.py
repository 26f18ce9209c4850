"""`stockcast run`, the scheduled job: refresh, retrain when due, forecast and log, per symbol.

One lock for the whole run (``<data>/locks/_run.lock``, not waited for): a second run that overlaps
raises ``BusyError`` at once and does nothing. One symbol's failure never stops the others; when a
refresh fails for any reason the forecast is still made from stored prices and marked stale (a
refresh refused because it would lose stored history, or a symbol stored from a price source that
is not installed, also fails the symbol). Prices lacking more
than ``stale_sessions`` completed sessions are stale too. The result is a ``RunReport``: what
happened per symbol, and the exit code.

The work per symbol goes through ``Steps`` (refresh, retrain_due, train, forecast), so tests can
replace a step; the real steps live in ``stockcast.schedule.steps``, their types in
``stockcast.schedule.steptypes``. The loop and the exit code are ``stockcast.eachsymbol``'s.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stockcast.data.calendar import calendar_code_for, last_completed_session, sessions_after
from stockcast.data.store import PriceStore
from stockcast.eachsymbol import exit_code, for_each_symbol, stops_batch
from stockcast.errors import (
    EXIT_ERROR,
    EXIT_STALE,
    HistoryRefused,
    SourceError,
    StockcastError,
    UnknownSource,
)
from stockcast.schedule import forecastlog
from stockcast.schedule.config import NO_MODEL
from stockcast.schedule.logsetup import FILE_ONLY
from stockcast.schedule.runlock import run_lock
from stockcast.schedule.steps import default_steps, source_of
from stockcast.schedule.steptypes import LoggedForecast, Refresh, Steps

if TYPE_CHECKING:
    from stockcast.schedule.config import Config, SymbolPlan

__all__ = ["LoggedForecast", "Refresh", "RunReport", "Steps", "SymbolResult", "run", "run_lock"]

LOGGER = "stockcast.run"


@dataclass
class SymbolResult:
    """One row of the run summary (and of ``run --json``)."""

    ticker: str
    fetched: bool = False  # refreshed from its source
    added: int = 0  # new sessions stored by the refresh
    retrained: bool = False
    model: str | None = None  # id of the model the forecast came from
    as_of: str | None = None  # last session the forecast used
    stale: bool = False  # the refresh failed, or the prices lack > stale_sessions sessions
    age_sessions: int | None = None  # completed sessions of the exchange after as_of
    forecasts: int = 0  # sessions forecast (and logged, unless error says otherwise)
    error: str | None = None  # why this symbol failed (a forecast may still have been made)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunReport:
    """The outcome of a whole run."""

    results: list[SymbolResult]
    seconds: float = 0.0

    @property
    def failed(self) -> list[SymbolResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def clean(self) -> bool:
        """Nothing worth telling a cron user: no failure, no stale data, no warning."""
        return self.ok and not any(r.stale or r.warnings for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 all went well, 3 (EXIT_PARTIAL) some symbols failed, 1 all failed (one too: the
        run's own failures are in its report, not in the exit code), 5 (EXIT_STALE) none
        failed but some forecasts came from stale prices."""
        code = exit_code(len(self.results), [EXIT_ERROR] * len(self.failed))
        if code == 0 and any(r.stale for r in self.results):
            return EXIT_STALE
        return code

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "symbols": [r.to_dict() for r in self.results],
        }


def run(
    root: Path,
    config: Config,
    steps: Steps | None = None,
    now: dt.datetime | None = None,
) -> RunReport:
    """Run every symbol of ``config`` under the run lock; BusyError when another run holds it."""
    if steps is None:
        steps = default_steps()
    work = steps
    log = logging.getLogger(LOGGER)
    start = time.perf_counter()
    with run_lock(root):
        now = now or dt.datetime.now(dt.UTC)
        log.info("run started: %d symbol(s) in %s", len(config.symbols), root)
        down: dict[str, str] = {}  # source -> why it is unreachable for the rest of this run
        batch = for_each_symbol(
            config.symbols, lambda sym: run_symbol(root, config.plan(sym), work, now, down, log)
        )
    results = batch.values  # run_symbol keeps each symbol's failure in its result
    report = RunReport(results, time.perf_counter() - start)
    bad = len(report.failed)
    log.info(  # the CLI prints the summary: on the terminal once
        "run finished in %.1f s: %d ok, %d failed",
        report.seconds,
        len(results) - bad,
        bad,
        extra=FILE_ONLY,
    )
    return report


def run_symbol(
    root: Path,
    plan: SymbolPlan,
    steps: Steps,
    now: dt.datetime,
    down: dict[str, str],
    log: logging.Logger,
) -> SymbolResult:
    """Refresh, retrain when due, forecast and log one symbol; failures land in the result."""
    sym = plan.ticker
    res = SymbolResult(sym)
    start = time.perf_counter()
    try:
        refused = _refresh(root, sym, steps, down, res, log)
        _maybe_retrain(root, plan, steps, now, res, log)
        fc = steps.forecast(root, sym, plan, res.stale, now)
        res.model, res.as_of = fc.model, fc.as_of
        res.forecasts = int(fc.rows.drop_duplicates(forecastlog.KEY).shape[0])
        _check_age(plan, fc.as_of, now, res, log)
        fc.rows["stale"] = fc.rows["stale"] | res.stale
        forecastlog.append(root, sym, fc.rows)  # DataError when the log is unwritable
        stale = " (stale)" if res.stale else ""
        log.info("%s: %d forecast(s) as of %s logged%s", sym, res.forecasts, fc.as_of, stale)
        res.error = refused  # the refused refresh fails the symbol; its forecast stands
    except StockcastError as exc:
        res.error = str(exc)
        log.error("%s: %s", sym, exc)
    except Exception as exc:  # a bug: keep the other symbols going, keep the traceback in the log
        res.error = f"unexpected {exc.__class__.__name__}: {exc} (traceback in the log file)"
        log.exception("%s: %s", sym, res.error)  # the terminal shows the line, the file all
    res.seconds = round(time.perf_counter() - start, 3)
    return res


def _refresh(
    root: Path,
    sym: str,
    steps: Steps,
    down: dict[str, str],
    res: SymbolResult,
    log: logging.Logger,
) -> str | None:
    """Refresh ``sym``; on any failure mark the result stale (the forecast uses the stored
    prices). Returns the refusal of a refresh that would lose stored history, else None."""
    source = source_of(root, sym)
    if source in down:
        if not _stored(root, sym):
            raise SourceError(f"not fetched: {down[source]}")
        res.stale = True
        _warn(res, log, f"not refreshed: {down[source]}; forecasting from stored prices")
        return None
    try:
        ref = steps.refresh(root, sym)
    except Exception as exc:  # any failure of the refresh: a source, a file, a bug
        if stops_batch(exc):  # SourceDown: no other symbol of this source is asked
            down[source] = str(exc)
        if not _stored(root, sym):  # nothing to forecast from: the refresh error is the story
            raise
        res.stale = True
        if isinstance(exc, HistoryRefused | UnknownSource):  # the user must act: it fails
            log.error("%s: %s; forecasting from stored prices", sym, exc)
            return str(exc)
        _warn(res, log, f"refresh failed: {_why(exc)}; forecasting from stored prices")
        if not isinstance(exc, StockcastError | OSError):  # a bug: its traceback to the file
            log.info("%s: refresh traceback", sym, exc_info=exc, extra=FILE_ONLY)
        return None
    res.fetched, res.added = ref.fetched, ref.added
    if ref.fetched:
        log.info("%s: %d new session(s) from %s", sym, ref.added, ref.source)
    for note in ref.notes:
        log.info("%s: %s", sym, note)
    return None


def _why(exc: BaseException) -> str:
    """One line for a refresh failure of any kind."""
    if isinstance(exc, StockcastError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot read{where} ({exc.strerror or exc.__class__.__name__})"
    return f"unexpected {exc.__class__.__name__}: {exc} (traceback in the log file)"


def _check_age(
    plan: SymbolPlan, as_of: str, now: dt.datetime, res: SymbolResult, log: logging.Logger
) -> None:
    """Count the completed sessions after ``as_of``; more than ``stale_sessions`` is stale."""
    code = calendar_code_for(plan.ticker)
    try:
        last = last_completed_session(now, code)
        res.age_sessions = sessions_after(dt.date.fromisoformat(as_of), last, code)
    except StockcastError:  # the calendar cannot tell: no age, no verdict
        return
    if res.age_sessions > plan.stale_sessions:
        res.stale = True
        _warn(
            res,
            log,
            f"stale prices: the last stored session {as_of} is {res.age_sessions} completed "
            f"sessions behind {last} (stale_sessions = {plan.stale_sessions}); check its source",
        )


def _stored(root: Path, sym: str) -> bool:
    return PriceStore(root).exists(sym)


def _maybe_retrain(
    root: Path,
    plan: SymbolPlan,
    steps: Steps,
    now: dt.datetime,
    res: SymbolResult,
    log: logging.Logger,
) -> None:
    reason = steps.retrain_due(root, plan.ticker, plan, now)
    if reason is None:
        return
    log.info("%s: training a new model (%s)", plan.ticker, reason)
    try:
        model = steps.train(root, plan.ticker, plan.train)
    except StockcastError as exc:
        if reason == NO_MODEL:  # nothing to fall back on
            raise
        _warn(res, log, f"retraining failed ({exc}); forecasting with the previous model")
        return
    res.retrained = True
    log.info("%s: trained model %s", plan.ticker, model)


def _warn(res: SymbolResult, log: logging.Logger, text: str) -> None:
    res.warnings.append(text)
    log.warning("%s: %s", res.ticker, text)

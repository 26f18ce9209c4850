"""The real steps of `stockcast run` for one symbol: refresh, retrain check, train, forecast.

Each is a thin call into the layers below (``ingest``, ``modelstore``, ``training``,
``forecast``); ``runner`` strings them together and keeps one symbol's failure from the others.
What they take and give lives in ``steptypes``, so this module never imports ``runner``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from stockcast.data import ingest
from stockcast.data.sources.base import DEFAULT_SOURCE, is_static, pace_of
from stockcast.data.store import PriceStore
from stockcast.errors import ModelError
from stockcast.forecasting.forecast import forecast_symbol
from stockcast.models import store as modelstore
from stockcast.schedule.config import NO_MODEL
from stockcast.schedule.steptypes import LoggedForecast, Refresh, Steps
from stockcast.training.job import recipe_from_options, train_symbol

if TYPE_CHECKING:
    from stockcast.schedule.config import SymbolPlan


def default_steps() -> Steps:
    """The steps that touch the real sources, models and store (each source's requests paced
    as it asks: Yahoo one symbol a second)."""
    pacer = Pacer()

    def paced_refresh(root: Path, symbol: str) -> Refresh:
        return refresh(root, symbol, pacer)

    return Steps(refresh=paced_refresh, retrain_due=retrain_due, train=train, forecast=forecast)


class Pacer:
    """Keeps paced calls at least ``seconds`` apart (a source that asks for it is asked one
    symbol at a time, politely)."""

    def __init__(
        self,
        seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.seconds, self.clock, self.sleep = seconds, clock, sleep
        self.last: float | None = None

    def wait(self, seconds: float | None = None) -> None:
        """Sleep until ``seconds`` (default: the pacer's own) have passed since the last paced
        call; a call with no pace neither waits nor counts."""
        gap = self.seconds if seconds is None else seconds
        if gap <= 0:
            return
        if self.last is not None:
            self.sleep(max(0.0, gap - (self.clock() - self.last)))
        self.last = self.clock()


def source_of(root: Path, symbol: str) -> str:
    """Where a symbol's prices come from: its stored source; Yahoo when nothing is stored."""
    store = PriceStore(root)
    return store.info(symbol).source if store.exists(symbol) else DEFAULT_SOURCE


def refresh(root: Path, symbol: str, pacer: Pacer | None = None) -> Refresh:
    """Refresh from the symbol's own source, through its registry entry: Yahoo incrementally,
    its CSV file read again, a plugin's source as it reads.

    The bundled sample has nothing to refresh. A symbol not stored yet is fetched from Yahoo;
    one stored from a source that is not installed raises UnknownSource (never Yahoo instead).
    """
    store = PriceStore(root)
    source = ingest.open_stored(store, symbol)
    if is_static(source):
        return Refresh(source.name, 0, fetched=False)
    if pacer is not None:
        pacer.wait(pace_of(source))
    result = ingest.refresh(store, symbol, source)
    return Refresh(result.source, result.rows_added, notes=list(result.notes))


def retrain_due(root: Path, symbol: str, plan: SymbolPlan, now: dt.datetime) -> str | None:
    """Why the newest model should be replaced (the config's policy), or None to reuse it.

    Age counts from the model's ``created`` stamp; new sessions are the stored sessions after
    the last session of the data it was built from (``data_end``). A model that cannot forecast
    the configured horizon, or whose manifest is unreadable, is replaced too.
    """
    if plan.model is not None:  # a global model: trained by `train --global`, never by `run`
        if not modelstore.list_models(root, plan.model):
            raise ModelError(
                f"no global model {plan.model} for {symbol}; train it with `stockcast train "
                f"{symbol} ... --global --name {plan.model}` (the symbols of [global."
                f"{plan.model}])"
            )
        return None
    if not modelstore.list_models(root, symbol):
        return NO_MODEL
    model_id = modelstore.default_model_id(root, symbol)
    damage = modelstore.damage(root, symbol, model_id) if model_id else None
    if damage is not None:  # its manifest or weights: every whole model is damaged
        return f"the newest model is unusable: {damage}"
    try:
        manifest = modelstore.read_manifest(root, symbol)
        view = modelstore.series_view(manifest, symbol)
    except ModelError as exc:
        return f"the newest model is unusable: {exc}"
    if plan.horizon is not None and plan.horizon > manifest.horizon:
        return f"the model forecasts {manifest.horizon} sessions, horizon is {plan.horizon}"
    created = pd.Timestamp(manifest.created)
    created = created.tz_localize("UTC") if created.tzinfo is None else created
    age_days = (pd.Timestamp(now) - created).total_seconds() / 86400
    end = view.data_end or view.trained_through
    new = None
    if end:
        dates = PriceStore(root).read(symbol).index
        new = int((dates > pd.Timestamp(end)).sum())
    return plan.retrain.reason(age_days, new)


def train(root: Path, symbol: str, options: Mapping[str, Any]) -> str:
    """Train and save a model with the config's ``[train]`` options; returns its id.

    Ctrl-C during training keeps the best model so far (the trainer saves it, marked
    interrupted) and stops the whole run.
    """
    recipe, device = recipe_from_options(dict(options))
    out = train_symbol(root, symbol, recipe, device)
    if out.interrupted:  # Ctrl-C during training: stop the run, as Ctrl-C should
        raise KeyboardInterrupt
    return out.model


def forecast(
    root: Path, symbol: str, plan: SymbolPlan, stale: bool, now: dt.datetime
) -> LoggedForecast:
    """Forecast with the newest model at the config's levels and horizon, as log rows.

    The rows are marked stale when the refresh failed or the stored prices end before the
    calendar's last completed session.
    """
    fc = forecast_symbol(
        root, symbol, horizon=plan.horizon, levels=plan.levels, now=now, model_id=plan.model
    )  # plan.model: the [global.NAME] model that covers the symbol, else its own
    rows = pd.DataFrame(fc.log_rows(origin="run"))
    rows["stale"] = stale or fc.stale
    return LoggedForecast(model=fc.model, as_of=fc.as_of.isoformat(), rows=rows)

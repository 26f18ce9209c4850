"""`stockcast backtest`: rolling-origin (walk-forward) evaluation with an expanding window.

For fold k with origin o_k and block end e_k (``walkforward.fold_blocks``) the recipe of
`train` (``job.fit_recipe``, the same options) is fitted on the prices up to e_k with
``DataConfig(test_start=o_k)``: the inner train/validation split and the scalers use sessions
before o_k only, and the test part is the as-of sessions o_k - 1 .. e_k - H, whose targets stay
inside the block. Nothing is saved. The folds are pooled by ``walkforward.report``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from torch import nn

from stockcast.data.paths import normalize_symbol
from stockcast.data.store import PriceStore
from stockcast.errors import DataError
from stockcast.forecasting import evaluation, garch, metrics, shrink, walkforward
from stockcast.prep import features
from stockcast.prep.windows import MIN_PART_WINDOWS, DataConfig, Dataset
from stockcast.training import preflight
from stockcast.training.loop import Callback
from stockcast.training.recipe import Recipe, fit_recipe
from stockcast.training.results import BacktestResult, BacktestSettings

# on_fold(k, folds, origin ISO date, fold row or None): None as fold k starts, the row after it
FoldCallback = Callable[[int, int, str, dict | None], None]
T = TypeVar("T")


def backtest_symbol(
    root: Path,
    symbol: str,
    recipe: Recipe,
    *,
    folds: int = walkforward.DEFAULT_FOLDS,
    ensemble: int | None = None,
    device: str = "auto",
    callback: Callback | None = None,
    on_fold: FoldCallback | None = None,
    share: float = walkforward.DEFAULT_SHARE,
    on_folds: Callable[[list[walkforward.FoldPredictions]], None] | None = None,
) -> BacktestResult:
    """Walk-forward backtest of one stored symbol (``to_dict()``: the `backtest --json`
    object).

    ``ensemble``: members per fold (default: ``cfg.ensemble``, train's default);
    ``share``: the share of the stored sessions that the test blocks cover (the last ones).
    ``on_folds`` receives every fold's predictions at the end (`backtest --forecasts`).
    """
    sym, data, t0 = normalize_symbol(symbol), recipe.data, time.perf_counter()
    prices = PriceStore(root).read(sym)
    features.require_inputs(prices, data.features, sym, "the chosen features include",
                            command="backtest")  # fmt: skip
    blocks = walkforward.fold_blocks(len(prices), folds, share)
    check_blocks(sym, blocks, data)
    if data.lookback != DataConfig().lookback:  # a chosen lookback the first fold cannot hold
        preflight.fold_lookback(sym, blocks[0][1], blocks[0][0], data, "backtest")
    ensemble = ensemble if ensemble is not None else recipe.train.ensemble
    days = [prices.index[origin].date().isoformat() for origin, _ in blocks]
    preds = each_fold(
        days,
        lambda k: run_fold(
            sym, prices.iloc[: blocks[k][1] + 1], blocks[k][0], recipe, ensemble, device, callback
        ),
        walkforward.fold_row,
        on_fold,
    )
    rep = walkforward.report(preds)
    if on_folds is not None:
        on_folds(preds)
    return BacktestResult(
        ticker=sym,
        sessions=len(prices),
        settings=BacktestSettings(len(blocks), share, ensemble, **recipe_settings(recipe)),
        folds=rep.folds,
        horizons=rep.horizons,
        garch=rep.garch,
        seconds=round(time.perf_counter() - t0, 2),
    )


def each_fold(
    days: list[str],
    run: Callable[[int], T],
    row: Callable[[T], dict],
    on_fold: FoldCallback | None,
) -> list[T]:
    """``run(k)`` for each fold k in turn (origins ``days``, ISO dates), telling ``on_fold``
    as each starts (row None) and ends (its ``row``): the fold walk of every backtest."""
    out = []
    for k, day in enumerate(days):
        if on_fold is not None:
            on_fold(k, len(days), day, None)
        out.append(run(k))
        if on_fold is not None:
            on_fold(k, len(days), day, row(out[-1]))
    return out


def recipe_settings(recipe: Recipe) -> dict:
    """The recipe in a backtest's ``settings`` (its data options without a test start)."""
    data = recipe.data
    return {
        "data_config": {**asdict(data), "features": list(data.features), "test_start": None},
        "train_config": recipe.train.to_dict(),
        "model_config": recipe.model.to_dict(),
    }


def check_blocks(sym: str, blocks: list[tuple[int, int]], data: DataConfig) -> None:
    """DataError (naming the fix) when a block cannot hold MIN_PART_WINDOWS test windows."""
    size = blocks[0][1] - blocks[0][0] + 1
    if size - data.horizon + 1 < MIN_PART_WINDOWS:
        raise DataError(
            f"{sym}: each of the {len(blocks)} folds has {size} sessions, too few for "
            f"{MIN_PART_WINDOWS} test windows at horizon {data.horizon}; use fewer --folds"
        )


def run_fold(
    sym: str,
    prices: Any,
    origin: int,
    recipe: Recipe,
    ensemble: int,
    device: str,
    callback: Callback | None,
) -> walkforward.FoldPredictions:
    """Fit on ``prices`` (up to the block end) with the test part from session ``origin`` on,
    and collect the test windows, the validation calibration and the learned shrinkage."""
    t0 = time.perf_counter()
    day = prices.index[origin].date().isoformat()
    fitted = fit_recipe(sym, prices, recipe.with_data(test_start=day), ensemble=ensemble,
                        device=device, callback=callback)  # fmt: skip
    if fitted.interrupted:  # a fold cut short is no fair fold: Ctrl-C ends the backtest
        raise KeyboardInterrupt
    scale = None if fitted.scale is None else fitted.scale.net
    return fold_predictions(sym, fitted.model, fitted.dataset, fitted.val, prices, day, t0,
                            scale=scale)  # fmt: skip


def fold_predictions(
    sym: str,
    model: nn.Module,
    ds: Dataset,
    val: evaluation.PartPredictions,
    prices: pd.DataFrame,
    day: str,
    t0: float,
    test: evaluation.PartPredictions | None = None,
    scale: evaluation.ScaleNet | None = None,
) -> walkforward.FoldPredictions:
    """One symbol's fold: ``model``'s test windows of ``ds`` (a model fitted on ``prices`` up
    to the block end, its test part from the origin ``day`` on; ``test`` when the caller has
    predicted them already), the validation calibration ``val`` and the learned shrinkage.
    ``t0``: when the fold began (its ``seconds``).

    DataError unless the first test target is the symbol's first session on or after the
    origin: the contract the folds rest on (no target crosses an origin)."""
    if test is None:  # the band's scale on test from the same networks as on validation
        test = evaluation.part_predictions(model, ds, "test", scale=scale)
    asof = test.asof + ds.offset  # absolute indices into the fold's stored history
    if asof[0] != int(prices.index.searchsorted(pd.Timestamp(day))) - 1:
        raise DataError(f"{sym}: fold at {day} starts its test windows at the wrong session")
    learned = shrink.learn(ds, val)
    train_y1 = ds.y[ds.window_slice("train")][:, 0]
    g = garch.for_dataset(ds, val.asof, test.asof)
    nv = len(val.asof)
    return walkforward.FoldPredictions(
        origin=day,
        end=prices.index[-1].date().isoformat(),
        dates=[d.date().isoformat() for d in prices.index],
        close=ds.history_close,
        asof=asof,
        y=test.y,
        mu=test.mu,
        mu_shrunk=shrink.apply(test.mu, learned),
        vol=test.vol,
        val=(val.y, val.mu, val.vol),
        scale=float(np.mean(np.abs(train_y1))),
        shrink=learned.to_dict(),
        seconds=time.perf_counter() - t0,
        val_naive=metrics.naive_log_errors(ds.history_close, val.asof + ds.offset, val.y),
        sigma=test.sigma,
        val_sigma=val.sigma,
        garch=g.scale[nv:],
        val_garch=g.scale[:nv],
        garch_converged=g.converged,
        garch_reason=g.reason,
        scale_use=None if scale is None else scale[1].use,
    )

"""`stockcast backtest SYM... --model REF`: walk-forward backtest of a saved model's recipe.

The recipe is the model's manifest (its data, model and training configs), never the options
of the command line. Two kinds of model:

**A global model** (``--model NAME`` or ``NAME:ID``; `train --global`). The folds are cut from
the union of its symbols' sessions after feature warm-up (``globaljob.union_sessions``): the
last ``walkforward.DEFAULT_SHARE`` of that calendar in ``folds`` equal blocks
(``walkforward.fold_blocks``), so fold k has an origin date o_k and a block end date e_k shared
by every symbol. Fold k trains a fresh global network (``globaljob.fit_global``: the same seed,
naive start and early stopping as `train --global`) on every symbol's prices up to e_k with
``test_start = o_k``, so the common validation split, the scalers and early stopping use
sessions before o_k only. Then, per symbol, exactly what ``backtest.run_fold`` collects for a
per-symbol model (``backtest.fold_predictions``): the test windows of the block (as-of the
symbol's last session before o_k up to H sessions before its last session up to e_k, so every
target lies in [o_k, e_k]), the validation calibration and the learned shrinkage. Each
requested symbol's folds are pooled by ``walkforward.report`` into the object that
``backtest_symbol`` returns; the cross-section over ALL the model's symbols (rank IC, its t,
the top-minus-bottom spread, and the pooled scale-free errors; ``forecasting.crosssection``)
is added per fold and over all folds. Nothing is saved.

**A per-symbol model** (``--model ID``, the symbol's own model, or a name whose newest model is
a one-symbol model): ``backtest_symbol`` with that model's recipe (its ensemble size as the
members per fold). The symbol must be the model's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast import models
from stockcast.data.paths import normalize_symbol
from stockcast.data.store import PriceStore
from stockcast.errors import UsageError
from stockcast.forecasting import crosssection, evaluation, walkforward
from stockcast.forecasting.latest import data_config
from stockcast.models import store as modelstore
from stockcast.models.manifest import Manifest
from stockcast.prep.dataset import MultiDataset
from stockcast.prep.windows import Dataset, build_dataset
from stockcast.training.backtest import (
    FoldCallback,
    backtest_symbol,
    check_blocks,
    each_fold,
    fold_predictions,
    recipe_settings,
)
from stockcast.training.globaljob import fit_global, fit_global_scale, union_sessions
from stockcast.training.loop import Callback
from stockcast.training.recipe import Recipe
from stockcast.training.results import BacktestResult, BacktestSettings


def is_bare_id(ref: str) -> bool:
    """``ref`` is a model id alone (``20261129T153000-ab12cd``): some symbol's own model."""
    return ":" not in ref and modelstore.model_ref("ID", ref)[1] is not None


def read_saved(root: Path, ref: str, symbol: str | None = None) -> Manifest:
    """The manifest that ``--model`` ``ref`` names (an id: ``symbol``'s own model; a name or
    NAME:ID: that model); UsageError when no model has that name, or for an id without a
    symbol."""
    if symbol is None and is_bare_id(ref):
        raise UsageError(
            f"--model {ref} is a model id of one symbol's own models; give that symbol: "
            f"`stockcast backtest SYMBOL --model {ref}`"
        )
    name, model_id = modelstore.model_ref(symbol or "ID", ref)
    if not modelstore.list_models(root, name) and is_bare_id(ref):
        raise UsageError(
            f"--model {ref}: {name} has no saved model of its own; give that model's symbol, "
            "or a global model's name"
        )
    if not modelstore.list_models(root, name):
        raise UsageError(
            f"--model {ref}: no saved model is named {name}; `stockcast models` lists them"
        )
    return modelstore.read_manifest(root, name, model_id)


def is_global(manifest: Manifest) -> bool:
    """The model is one network over several symbols (`train --global`)."""
    return manifest.is_global


def recipe(manifest: Manifest) -> Recipe:
    """The ``Recipe`` of a saved model (its data options without a test start): what `train`
    was given when it made it."""
    data = replace(data_config(manifest), test_start=None)
    config_cls, _ = models.lookup(manifest.arch)
    return Recipe(data, config_cls(**manifest.model_config), manifest.train_options())


def model_label(manifest: Manifest) -> str:
    """``NAME:ID``: the saved model exactly (``--model`` accepts it)."""
    return f"{manifest.name}:{manifest.id}"


def check_symbols(manifest: Manifest, symbols: Sequence[str]) -> list[str]:
    """``symbols`` normalised; UsageError (one line naming the model's symbols) when one is not
    a symbol of the model."""
    covered = manifest.symbols
    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    missing = [s for s in syms if s not in covered]
    if missing:
        one = len(missing) == 1
        raise UsageError(
            f"{', '.join(missing)} {'is' if one else 'are'} not {'a symbol' if one else 'symbols'}"
            f" of model {model_label(manifest)}, which covers {', '.join(covered)}; name "
            f"{'one' if one else 'some'} of those"
        )
    return syms


def backtest_recipe(
    root: Path,
    symbol: str,
    ref: str,
    *,
    folds: int = walkforward.DEFAULT_FOLDS,
    device: str = "auto",
    callback: Callback | None = None,
    on_fold: FoldCallback | None = None,
) -> BacktestResult:
    """``backtest_symbol`` of ``symbol`` with the recipe of its per-symbol model ``ref``; the
    object carries ``settings.model`` (NAME:ID). UsageError for a global model (use
    ``backtest_global``) or a model that is not the symbol's."""
    sym = normalize_symbol(symbol)
    manifest = read_saved(root, ref, sym)
    if is_global(manifest):
        raise UsageError(f"--model {ref} is a global model; backtest it with backtest_global")
    check_symbols(manifest, [sym])
    made = recipe(manifest)
    out = backtest_symbol(root, sym, made, folds=folds, ensemble=made.train.ensemble,
                          device=device, callback=callback, on_fold=on_fold)  # fmt: skip
    return replace(out, settings=replace(out.settings, model=model_label(manifest)))


def backtest_global(
    root: Path,
    ref: str,
    symbols: Sequence[str],
    *,
    folds: int = walkforward.DEFAULT_FOLDS,
    device: str = "auto",
    callback: Callback | None = None,
    on_fold: FoldCallback | None = None,
) -> list[BacktestResult]:
    """Walk-forward backtest of the global model ``ref`` (NAME or NAME:ID); one object per
    requested symbol, in the order given: ``backtest_symbol``'s keys plus ``settings.model``,
    ``cross_section_folds``, ``cross_section`` and ``pooled_across_symbols`` (the same for
    every symbol: they are over all the model's symbols). ``on_fold`` gets, after each fold,
    ``{"n": test windows of all symbols, "mae_ratio": pooled MAE of log returns over the best
    naive forecast's, per h}``.

    UsageError when ``ref`` is not a global model or a symbol is not one of its symbols;
    DataError when a block is too short or a symbol too short for a fold's split.
    """
    t0 = time.perf_counter()
    manifest = read_saved(root, ref)
    if not is_global(manifest):
        raise UsageError(
            f"--model {ref} is a per-symbol model; backtest it per symbol: `stockcast backtest "
            f"{' '.join(manifest.symbols)} --model {ref}`"
        )
    wanted = check_symbols(manifest, symbols)
    syms, made = manifest.symbols, recipe(manifest)
    store = PriceStore(root)
    prices = {s: store.read(s) for s in syms}
    union = union_sessions(prices, made.data)  # (U,) the calendar the folds are cut from
    blocks = walkforward.fold_blocks(len(union), folds)
    label = model_label(manifest)
    check_blocks(label, blocks, made.data)
    preds, tests, per_fold = _run_folds(prices, union, blocks, made, device, callback, on_fold)
    pooled = _over_folds(tests, len(syms))
    seconds = round(time.perf_counter() - t0, 2)
    settings = BacktestSettings(
        folds=len(blocks),
        share=walkforward.DEFAULT_SHARE,
        seeds=made.train.ensemble,  # members per fold, as the model was trained
        **recipe_settings(made),
        model=label,
        symbols=tuple(syms),
    )
    return [_result(s, len(union), settings, walkforward.report(preds[s]), per_fold, pooled,
                    seconds) for s in wanted]  # fmt: skip


def _result(symbol: str, sessions: int, settings: BacktestSettings,
            rep: walkforward.FoldsReport, per_fold: list, pooled: dict,
            seconds: float) -> BacktestResult:  # fmt: skip
    """One requested symbol's object: its own folds beside the cross-section of them all."""
    return BacktestResult(
        ticker=symbol,
        sessions=sessions,
        settings=settings,
        folds=rep.folds,
        horizons=rep.horizons,
        garch=rep.garch,
        seconds=seconds,
        cross_section_folds=tuple(per_fold),
        cross_section=pooled["cross_section"],
        pooled_across_symbols=pooled["pooled"],
    )


def _run_folds(
    prices: dict[str, pd.DataFrame],
    union: pd.DatetimeIndex,
    blocks: list[tuple[int, int]],
    made: Recipe,
    device: str,
    callback: Callback | None,
    on_fold: FoldCallback | None,
) -> tuple[dict[str, list[walkforward.FoldPredictions]], list[crosssection.SymbolTest], list]:
    """Every fold in turn: (each symbol's fold predictions, every symbol's test windows of
    every fold, each fold's cross-section row)."""
    days = [union[o].date().isoformat() for o, _ in blocks]

    def fold(k: int) -> tuple[dict[str, walkforward.FoldPredictions], list, dict]:
        end = union[blocks[k][1]]
        fold_preds, fold_tests = _run_fold(prices, end, days[k], made, device, callback)
        across = crosssection.report(fold_tests)
        return fold_preds, fold_tests, {"origin": days[k], "end": end.date().isoformat(), **across}

    done = each_fold(days, fold, lambda f: _progress_row(f[1], f[2]), on_fold)
    preds = {s: [f[0][s] for f in done] for s in prices}
    return preds, [t for f in done for t in f[1]], [f[2] for f in done]


def _run_fold(
    prices: dict[str, pd.DataFrame],
    end: pd.Timestamp,
    day: str,
    made: Recipe,
    device: str,
    callback: Callback | None,
) -> tuple[dict[str, walkforward.FoldPredictions], list[crosssection.SymbolTest]]:
    """One fold: a global network fitted on every symbol's prices up to ``end`` with the test
    part from ``day`` on; per symbol its fold predictions and its test windows (raw model) for
    the cross-section."""
    t0 = time.perf_counter()
    cut = {s: p.loc[:end] for s, p in prices.items()}
    fitted = fit_global(cut, made.with_data(test_start=day), device, callback)
    views = {x.symbol: symbol_dataset(fitted.dataset, x.symbol, cut[x.symbol])
             for x in fitted.dataset.series}  # fmt: skip
    raw = {s: evaluation.part_predictions(fitted.model, ds, "val") for s, ds in views.items()}
    fold_scale = fit_global_scale(fitted, made.model, views, raw, device)
    net = None if fold_scale is None else fold_scale.net
    out, tests = {}, []
    for s, ds in views.items():
        val = evaluation.part_predictions(fitted.model, ds, "val", scale=net)
        test = evaluation.part_predictions(fitted.model, ds, "test", scale=net)
        out[s] = fold_predictions(s, fitted.model, ds, val, cut[s], day, t0, test=test,
                                  scale=net)  # fmt: skip
        tests.append(evaluation.symbol_test(s, ds, test))
    seconds = time.perf_counter() - t0  # the fold's training and forecasting, all symbols
    return {s: replace(fp, seconds=seconds) for s, fp in out.items()}, tests


def symbol_dataset(ds: MultiDataset, symbol: str, prices: pd.DataFrame) -> Dataset:
    """``symbol``'s windows as a one-symbol ``Dataset``, with its split and scalers in the
    packed ``ds`` (what ``evaluation.rebuild_dataset`` makes from a saved manifest)."""
    s = ds.get(symbol)
    return build_dataset(symbol, prices, ds.config, scalers=(s.feature_scaler, s.target_scaler),
                         parts=s.parts)  # fmt: skip


def _over_folds(tests: list[crosssection.SymbolTest], n_symbols: int) -> dict:
    """``crosssection.report`` over every fold's test windows. Each (symbol, fold) is its own
    entry, keeping its fold's MASE scale; the folds' as-of dates do not overlap, so each date's
    cross-section holds one fold's symbols. ``series`` counts the symbols, not the entries."""
    out = crosssection.report(tests)
    out["pooled"]["series"] = out["cross_section"]["series"] = n_symbols
    return out


def _progress_row(tests: list[crosssection.SymbolTest], across: dict) -> dict:
    """The fold row ``on_fold`` receives: windows of all symbols, pooled MAE ratio per h."""
    ratios: list[float | None] = []
    for h in across["pooled"]["horizons"]:
        naive = h["baselines"][h["best_baseline"]]["mae_bps"]
        ratios.append(h["mae_bps"] / naive if naive > 0 else None)
    return {"n": int(np.sum([len(t.dates) for t in tests])), "mae_ratio": ratios}

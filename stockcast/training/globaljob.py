"""One network over the windows of many symbols (`train SYM... --global`), saved as one model.

The symbols are packed by ``prep.dataset.build_multi``: each series scaled by statistics of its
own training part, and all of them split at the same calendar dates (``common_split``), so no
series' validation or test period is inside another series' training period. The windows are
gathered by index at batch time (``loop.Gathered``) through the same ``fit`` loop, optionally
sharded over torchrun ranks (``loop.Shard``). Each symbol is then evaluated exactly as
``evaluate --model NAME`` will: its dataset rebuilt from the manifest's per-symbol scalers and
split; the pooled and cross-sectional figures over all of them (``forecasting.crosssection``)
are stored in the manifest as ``pooled`` and ``cross_section``. An ensemble (``--ensemble K``)
is K members with seeds seed..seed+K-1 on the same windows and scalers, averaged on their scaled
outputs, trained as ``recipe.run_members`` trains a per-symbol model's members (one at a time
under torchrun). ``--shrink`` (one symbol's weight toward its naive forecast) is refused.

The live weights (what `predict` and `run` use) are the same recipe refit after evaluation, as a
per-symbol model's are (``recipe.refit_live``): the same seeds, the naive start with the drift of
every stored window and each series' drift shares chosen on validation, each member trained for
its evaluated ``best_epoch`` epochs on every window whose targets are stored, in one process
(rank 0 under torchrun, while the other ranks have finished); each
series' ``trained_through`` is then its last stored session, and the live bands are calibrated on
the evaluated weights' test-split predictions. ``fit_global`` is the fitting part alone, which
the global walk-forward backtest (``globalbacktest``) reuses per fold.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from stockcast import models
from stockcast.data.paths import normalize_symbol
from stockcast.data.store import PriceStore
from stockcast.device import resolve_device
from stockcast.errors import UsageError
from stockcast.forecasting import choosestart, evaluation, naivestart
from stockcast.models import store as modelstore
from stockcast.models.base import EVAL_BATCH
from stockcast.models.manifest import GLOBAL, Live, Manifest, Series, Training, members_of
from stockcast.models.scale import KINDS
from stockcast.prep import features
from stockcast.prep.dataset import MultiDataset, build_multi
from stockcast.prep.windows import DataConfig, Dataset, fraction_bounds
from stockcast.training import job
from stockcast.training import scale as scalenet
from stockcast.training.loop import (
    Callback,
    FitResult,
    Gathered,
    Shard,
    TrainConfig,
    make_loss,
)
from stockcast.training.recipe import (
    Fitted,
    LiveRefit,
    Recipe,
    ScaleFit,
    choose_scale_head,
    fit_members,
    live_refit,
    member_workers,
    refit_members,
    refit_scale_members,
    scaled_start,
    train_scale_members,
)
from stockcast.training.results import GlobalTrainResult

SCALE_BIAS_ROWS = 50_000  # training windows whose spread sets the scale networks' start

GLOBAL_NAME = "global"  # the default name of a global model
GLOBAL_NOTE = "a global model: one network over all its symbols"


def union_sessions(prices: Mapping[str, pd.DataFrame], data: DataConfig) -> pd.DatetimeIndex:
    """(U,) the union of every series' sessions after feature warm-up, sorted."""
    warm = features.warmup(data.features)
    return pd.DatetimeIndex(sorted(set().union(*(set(p.index[warm:]) for p in prices.values()))))


def common_split(prices: Mapping[str, pd.DataFrame], data: DataConfig) -> tuple[str, str]:
    """(validation start, test start) as ISO dates: the fraction split (or ``test_start``) of
    the union of every series' sessions after feature warm-up."""
    union = union_sessions(prices, data)
    if len(union) == 0:
        raise UsageError("the symbols have no sessions after feature warm-up; fetch more history")
    if data.test_start is not None:
        b2 = int(union.searchsorted(pd.Timestamp(data.test_start)))
        b1 = b2 - int(np.floor(round(data.val_frac * len(union), 9)))
    else:
        b1, b2 = fraction_bounds(len(union), data.val_frac, data.test_frac)
    b1, b2 = max(0, b1), min(len(union) - 1, b2)
    return union[b1].date().isoformat(), union[b2].date().isoformat()


@dataclass(frozen=True)
class GlobalFit:
    """One global network fitted over several series (``fit_global``)."""

    model: nn.Module  # eval mode, on the CPU; scaled windows (B, L, F) -> (B, H); an ensemble
    # averages its members
    dataset: MultiDataset  # the packed series, split at ``split_dates``, with their scalers
    results: list[FitResult]  # one early-stopping run per member (best epoch, losses, seed), in
    # seed order; members Ctrl-C stopped before epoch 1 left out
    split_dates: tuple[str, str]  # (validation start, test start), ISO dates, every series
    cfg: TrainConfig  # the recipe's config (member i used seed cfg.seed + i)
    device: str  # what training used, e.g. "cpu (1 thread)"
    start_drift: np.ndarray  # (S, H) each series' drift share of the start (choose_starts)
    seconds: float = 0.0  # wall time of fitting all the members

    @property
    def result(self) -> FitResult:
        """The first member's run (the only one of a model of one member)."""
        return self.results[0]

    @property
    def interrupted(self) -> bool:
        """Ctrl-C stopped some member before its patience ran out."""
        return any(r.interrupted for r in self.results)


def fit_global(
    prices: Mapping[str, pd.DataFrame],
    recipe: Recipe,
    device: str = "auto",
    callback: Callback | None = None,
    shard: Shard | None = None,
) -> GlobalFit:
    """Pack ``prices`` (symbol -> stored frame) at the common split of the recipe's data
    options (its ``test_start`` when set, else its fractions of the union calendar), start the
    recipe's ensemble at the naive start and fit each member with early stopping
    (``recipe.fit_members``, as a per-symbol model's): the fitting part of `train --global`,
    also each fold of a global backtest. Every rank of a torchrun launch returns the fit.
    ``callback`` receives the first member's epochs.

    KeyboardInterrupt when Ctrl-C came before epoch 1 finished; ``TrainingError`` on a
    non-finite loss; DataError when a series is too short for the common split.
    """
    data, cfg = recipe.data, recipe.train
    for sym, frame in prices.items():
        features.require_inputs(frame, data.features, sym, "the chosen features include")
    split_dates = common_split(prices, data)
    ds = build_multi(prices, dataclasses.replace(data, test_start=None), split_dates)
    # each series' naive start, its drift the mean target of its training windows
    shares = choose_starts(ds)  # (S, H) chosen on each series' validation windows
    start = scaled_start(ds.target_mean, shares, ds.target_mean, ds.target_std)  # (S, H)
    dev = resolve_device(device)
    train, val = Gathered(ds.gather, ds.index("train")), Gathered(ds.gather, ds.index("val"))
    # under torchrun every rank must run the same members in the same order (collectives)
    workers = 1 if shard is not None else member_workers(cfg.ensemble, dev, recipe.model)
    wall = time.perf_counter()
    members = fit_members(recipe, cfg.ensemble, np.mean(start, axis=0), train, val, dev,
                          workers, callback, shard)  # fmt: skip
    return GlobalFit(members.model, ds, members.fits, split_dates, cfg, members.device, shares,
                     time.perf_counter() - wall)  # fmt: skip


def choose_starts(ds: MultiDataset) -> np.ndarray:
    """(S, H) each series' drift share of the naive start, chosen on its own validation
    windows (``choosestart.choose``, as ``recipe.choose_start`` for one series), its drift the
    mean h-session target of its training windows (its target scaler's mean)."""
    out = []
    for sid, s in enumerate(ds.series):
        rows = ds.index("val", s.symbol)  # (Nv,) global as-of rows
        y, close = ds.targets(rows), s.close[ds.local(rows)]  # (Nv, H), (Nv,)
        out.append(choosestart.choose(y, close, ds.target_mean[sid]))
    return np.array(out, dtype=float).reshape(len(ds.series), ds.config.horizon)


def fit_global_scale(
    fitted: GlobalFit,
    model_cfg: Any,
    datasets: Mapping[str, Dataset],
    val: Mapping[str, evaluation.PartPredictions],
    device: str = "auto",
) -> ScaleFit | None:
    """The band's scale networks of a global model, as ``recipe.fit_scale`` for one series
    (the same ``train_scale_members`` and ``choose_scale_head``): trained on the packed windows
    gathered at batch time, the network's horizons chosen on the validation windows of all the
    symbols pooled (``datasets``: each symbol's windows, ``val``: the point model's validation
    predictions on them). None for ``--band ewma`` or when training was interrupted. One
    process (rank 0 under torchrun)."""
    cfg, ds = fitted.cfg, fitted.dataset
    if cfg.band == "ewma" or fitted.interrupted:
        return None
    t0 = time.perf_counter()
    kind, gather = KINDS[cfg.band], scale_gather(ds)
    train, valset = Gathered(gather, ds.index("train")), Gathered(gather, ds.index("val"))
    cfgs = [dataclasses.replace(cfg, seed=r.seed) for r in fitted.results]
    dev = resolve_device(device)
    workers = member_workers(len(cfgs), dev, model_cfg)
    start = gather(_sample(ds.index("train")))[1]
    model, fits = train_scale_members(model_cfg, cfgs, train, valset, start, kind, dev, workers)
    head = choose_scale_head(kind, model, [(datasets[s], v) for s, v in val.items()])
    return ScaleFit(model, head, fits, time.perf_counter() - t0)


def refit_global_scale(fitted: GlobalFit, scale: ScaleFit | None, model_cfg: Any,
                       device: str = "auto") -> nn.Module | None:  # fmt: skip
    """The scale networks refit on every stored window for their evaluated epoch counts, as
    ``refit_global`` refits the point members; None without scale networks."""
    if scale is None:
        return None
    ds, gather = fitted.dataset, scale_gather(fitted.dataset)
    rows = stored_rows(ds)
    start = gather(_sample(rows))[1]
    return refit_scale_members(model_cfg, fitted.cfg, scale, Gathered(gather, rows), start, device)


def _sample(rows: np.ndarray) -> np.ndarray:
    """At most ``SCALE_BIAS_ROWS`` of ``rows``, evenly spaced: whose spread sets the start."""
    return rows[np.linspace(0, len(rows) - 1, min(len(rows), SCALE_BIAS_ROWS)).astype(int)]


def scale_gather(ds: MultiDataset) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Rows -> (x (B, L, F), EWMA-standardised targets (B, H)): the scale networks' windows,
    gathered at batch time like the point model's."""
    vol = np.concatenate([s.vol for s in ds.series])  # (R,) packed as the rows are

    def gather(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, _ = ds.gather(rows)
        return x, scalenet.standardised(ds.targets(rows), vol[np.asarray(rows, dtype=np.int64)])

    return gather


def stored_rows(ds: MultiDataset) -> np.ndarray:
    """(N,) int64 global as-of rows of every window whose H targets are stored, series by
    series: local as-of lookback-1 .. n-1-H of each (``recipe.all_stored_rows`` per series)."""
    first, horizon = ds.config.lookback - 1, ds.config.horizon
    ranges = [np.arange(first, max(first, len(s.dates) - horizon)) + s.start for s in ds.series]
    return np.concatenate(ranges).astype(np.int64)


def live_start(ds: MultiDataset, rows: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """(H,) scaled output bias of the live refit's untrained member: per series its drift
    ``shares`` (S, H), kept as chosen on validation, times the mean h-session log return of its
    windows among ``rows`` (the evaluated start uses the training windows' mean, the target
    scaler's), scaled by the series' own target scaler, averaged over the series."""
    sid = ds.series_id(rows)  # (N,)
    y = ds.targets(rows)  # (N, H) all finite: every target of these rows is stored
    counts = np.bincount(sid, minlength=len(ds.series)).astype(float)  # (S,)
    sums = np.stack([np.bincount(sid, weights=y[:, c], minlength=len(ds.series))
                     for c in range(y.shape[1])], axis=1)  # fmt: skip  # (S, H)
    mean = sums / np.maximum(counts, 1.0)[:, None]  # (S, H)
    return np.mean(scaled_start(mean, shares, ds.target_mean, ds.target_std), axis=0)  # (H,)


def refit_global(fitted: GlobalFit, model_cfg: Any, device: str = "auto") -> nn.Module:
    """The live network: the same recipe (seeds, scalers) refit in one process on every window
    whose targets are stored (``stored_rows``), each member for its evaluated ``best_epoch``
    epochs (0 keeps the untrained member at ``live_start``; ``recipe.refit_members``, as a
    per-symbol model's). Eval mode, on the CPU.

    Ctrl-C propagates (the caller keeps the evaluated weights); ``TrainingError`` on divergence.
    """
    ds = fitted.dataset
    rows = stored_rows(ds)
    bias = live_start(ds, rows, fitted.start_drift)
    windows = Gathered(ds.gather, rows)
    return refit_members(model_cfg, fitted.cfg, fitted.results, bias, windows, device)


def ensemble_val_loss(fitted: GlobalFit) -> float:
    """The training loss of the (averaged) model on the scaled validation windows (a member's
    own best when there is one member)."""
    if len(fitted.results) == 1:
        return fitted.results[0].best_val_loss
    cfg, ds = fitted.cfg, fitted.dataset
    loss_fn, rows = make_loss(cfg.loss, cfg.huber_delta), ds.index("val")
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(rows), EVAL_BATCH):
            x, y = ds.gather(rows[i : i + EVAL_BATCH])  # (B, L, F), (B, H)
            pred = fitted.model(torch.from_numpy(x)).float()
            total += float(loss_fn(pred, torch.from_numpy(y))) * len(x)
    return total / max(1, len(rows))


def train_global(
    root: Path,
    name: str,
    symbols: list[str],
    recipe: Recipe,
    device: str = "auto",
    callback: Callback | None = None,
    shard: Shard | None = None,
) -> GlobalTrainResult | None:
    """Train, evaluate per symbol, refit on every stored window (the live weights) and save
    one model over ``symbols``; the `train --json` object (None on ranks other than 0 of a
    torchrun launch, which write nothing; rank 0 alone refits, in one process).

    KeyboardInterrupt when Ctrl-C came before epoch 1 finished; after that, the best epoch so
    far is saved with ``interrupted: true`` and no live weights (Ctrl-C during the refit too).
    ``TrainingError`` (nothing saved) on a non-finite loss; DataError when a symbol is too
    short for the common split; UsageError for ``cfg.shrink`` (a per-symbol weight).
    """
    if recipe.train.shrink:
        raise UsageError(
            "--shrink learns one symbol's weight toward its naive forecast and does not apply "
            "to a --global model; leave --shrink out"
        )
    t_start = time.perf_counter()
    syms = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    modelstore.check_name(root, name, syms)
    store = PriceStore(root)
    prices = {s: store.read(s) for s in syms}
    fitted = fit_global(prices, recipe, device, callback, shard)
    if shard is not None and shard.rank != 0:
        return None
    scale, members = _evaluate(fitted, prices, recipe, device)
    live = live_refit(
        lambda: (
            refit_global(fitted, recipe.model, device),
            refit_global_scale(fitted, scale, recipe.model, device),
        ),
        fitted.interrupted,
    )
    # the note, `live` and each series' `trained_through` say which weights predict uses
    manifest = _manifest(fitted, recipe.data, recipe.model, live=live.model is not None,
                         interrupted=live.interrupted)  # fmt: skip
    reports = {sym: m.report.to_dict() for sym, m in members.items()}
    across = evaluation.cross_sectional(members)
    manifest = dataclasses.replace(
        manifest.with_reports(reports),  # per symbol: the `evaluate --json` report
        scale=job.scale_entry(scale),
        pooled=across["pooled"],  # as `evaluate --model NAME` prints them
        cross_section=across["cross_section"],
    )
    lw, ls = live.model, live.scale
    model_id, path = modelstore.save_model(
        root, name, manifest, fitted.model.state_dict(),
        {s: _calib(m.val) for s, m in members.items()},
        live_weights=None if lw is None else lw.state_dict(),
        live_calib=None if lw is None else {s: _calib(m.test_raw) for s, m in members.items()},
        scale_weights=None if scale is None else scale.model.state_dict(),
        live_scale_weights=None if lw is None or ls is None else ls.state_dict(),
        scored={s: m.scored for s, m in members.items()},
    )  # fmt: skip
    world = 1 if shard is None else shard.world
    reports_of = {sym: m.report for sym, m in members.items()}
    return _result(name, model_id, path, fitted, manifest, world, across, live, t_start,
                   reports_of)  # fmt: skip


def _evaluate(
    fitted: GlobalFit, prices: Mapping[str, pd.DataFrame], recipe: Recipe, device: str
) -> tuple[ScaleFit | None, dict[str, evaluation.MemberEvaluation]]:
    """The band's scale networks and each symbol's evaluation, exactly what `evaluate --model
    NAME` computes per symbol (its dataset rebuilt from the manifest's scalers and split)."""
    model, syms = fitted.model, list(fitted.dataset.symbols)
    manifest = _manifest(fitted, recipe.data, recipe.model, live=False,
                         interrupted=fitted.interrupted)  # fmt: skip
    views = {sym: evaluation.rebuild_dataset(sym, prices[sym], manifest) for sym in syms}
    val = {sym: evaluation.part_predictions(model, views[sym], "val") for sym in syms}
    scale = fit_global_scale(fitted, recipe.model, views, val, device)
    net = None if scale is None else scale.net
    members = {sym: evaluation.evaluate_member(model, sym, prices[sym], manifest, net)
               for sym in syms}  # fmt: skip
    return scale, members


def _result(name: str, model_id: str, path: Path, fitted: GlobalFit, manifest: Manifest,
            world: int, across: Mapping[str, Any], live: LiveRefit, t_start: float,
            reports: Mapping[str, evaluation.EvaluationReport]) -> GlobalTrainResult:  # fmt: skip
    """What `train --global` did (``to_dict``: the `train --global --json` object)."""
    ds, t = fitted.dataset, manifest.training
    return GlobalTrainResult(
        name=normalize_symbol(name),
        display_name=name.strip(),  # as typed: the name in messages
        model=model_id,
        path=str(path),
        symbols=tuple(ds.symbols),
        processes=world,
        epochs=int(t.epochs or 0),
        best_epoch=int(t.best_epoch or 0),
        val_loss=float(t.best_val_loss or 0.0),
        initial_val_loss=float(t.initial_val_loss or 0.0),
        train_windows=len(ds.index("train")),
        val_windows=len(ds.index("val")),
        test_windows=len(ds.index("test")),
        split=fitted.split_dates,
        seconds=t.seconds,
        live_seconds=live.seconds,
        total_seconds=round(time.perf_counter() - t_start, 3),
        device=fitted.device,
        windows_per_s=round((t.windows_per_s or 0.0) * world, 1),
        interrupted=live.interrupted,
        note=manifest.note,
        ensemble=manifest.ensemble,
        members=manifest.members,
        start_drift={s.symbol: s.start_drift for s in manifest.series},
        start=global_start(fitted),
        live=manifest.live,
        evaluation={sym: evaluation.EvaluateResult(sym, model_id, r) for sym, r in reports.items()},
        pooled=across["pooled"],
        cross_section=across["cross_section"],
    )


def _calib(p: evaluation.PartPredictions) -> dict[str, np.ndarray]:
    return job.calib_arrays(p)


def _manifest(fitted: GlobalFit, data: DataConfig, model_cfg: Any, live: bool,
              interrupted: bool) -> Manifest:  # fmt: skip
    """The per-symbol series blocks and the recipe (``job._manifest``'s keys for one member);
    ``live``: live weights are saved (each series trained through its last stored session)."""
    ds, fits, cfg = fitted.dataset, fitted.results, fitted.cfg
    one = Fitted(model=None, dataset=None, val=None, fits=fits, seconds=fitted.seconds,  # type: ignore[arg-type]
                 device=fitted.device, model_cfg=model_cfg, cfg=cfg)  # fmt: skip
    series = []
    for s in ds.series:
        split = ds.split_summary(s.symbol)
        data_end = s.dates[-1].date().isoformat()
        block = {
            "scalers": {
                "features": s.feature_scaler.to_dict(),
                "targets": s.target_scaler.to_dict(),
            },
            "split": split,
            "start_drift": fitted.start_drift[ds.symbols.index(s.symbol)].tolist(),
            # the last date whose price shaped the weights predict uses (job._manifest)
            "trained_through": data_end if live else split["val"]["target_end"],
            "evaluated_trained_through": split["val"]["target_end"],
            "data_end": data_end,
        }
        series.append(Series.from_json(s.symbol, block, data.horizon))
    note = job.notes(one, interrupted, live=live, start=global_start(fitted))
    return Manifest(
        created=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        kind=GLOBAL,
        data=dataclasses.replace(data, features=tuple(data.features)),
        arch=models.arch_of(model_cfg),
        model_config=model_cfg.to_dict(),
        train_config=cfg.to_dict(),
        split_dates=fitted.split_dates,  # every series splits at these sessions
        series=tuple(series),
        training=Training(
            best_val_loss=ensemble_val_loss(fitted),
            initial_val_loss=min(f.initial_val_loss for f in fits),
            epochs=max(f.epochs for f in fits),
            best_epoch=max(f.best_epoch for f in fits),  # 0: every member is the naive start
            seed=cfg.seed,
            device=fitted.device,
            seconds=round(fitted.seconds, 3),
            windows_per_s=round(sum(f.windows_per_s for f in fits), 1),
        ),
        members=members_of(fits),
        interrupted=interrupted,
        note="; ".join(n for n in (GLOBAL_NOTE, note) if n),
        live=_live_block(fitted) if live else None,
        versions=job.versions(),
    )


def global_start(fitted: GlobalFit) -> str:
    """A global model's naive start in words: the one start when every series has it, else
    each symbol's."""
    words = [naivestart.describe(row) for row in fitted.start_drift]
    if len(set(words)) == 1:
        return words[0]
    return " / ".join(f"{sym}: {w}" for sym, w in zip(fitted.dataset.symbols, words, strict=True))


def _live_block(fitted: GlobalFit) -> Live:
    """The manifest's ``live``: what the live weights saw (per series: ``series.<SYM>.
    trained_through``) and what calibrates their bands."""
    ds, horizon = fitted.dataset, fitted.dataset.config.horizon
    return Live(
        trained_through=max(s.dates[-1] for s in ds.series).date().isoformat(),
        as_of_end=max(s.dates[-1 - horizon] for s in ds.series).date().isoformat(),
        windows=len(stored_rows(ds)),
        epochs=tuple(f.best_epoch for f in fitted.results),
        processes=1,  # refit in one process (rank 0 under torchrun)
        calibration="test-split predictions of the evaluated model",
        calibration_start=fitted.split_dates[1],
    )

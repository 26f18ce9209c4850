"""`stockcast backtest SYMBOL --arch lstm,gru,...`: the walk-forward backtest once per
architecture (same data, folds, seeds and training options), side by side with the naive
forecasts.

``backtest_archs`` runs ``backtest.backtest_symbol`` per architecture and counts each one's
parameters; ``combine`` (pure: backtest results in, the JSON object out) lines the runs up per
horizon against the naive forecasts, finds the significant edges and losses with family-wise
control, and says in words which architecture, if any, has one. The family is every
(architecture, horizon) comparison with the best naive forecast: their Diebold-Mariano p-values
are Holm-adjusted (``stats.holm``), and an edge is "better" (or "worse") when its adjusted p
lies below 5% with a positive (negative) point skill, so the chance of any false "better" or
"worse" verdict in the whole board is at most 5%. Each row keeps its unadjusted per-comparison
verdict as well. All architectures are scored on the same test windows (a check), so the naive
rows (persistence, drift and the EWMA-volatility band around persistence) are shared.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stockcast import models
from stockcast.errors import DataError
from stockcast.forecasting import stats, walkforward
from stockcast.models.base import n_parameters
from stockcast.prep.windows import DataConfig
from stockcast.training.backtest import FoldCallback, backtest_symbol
from stockcast.training.loop import TrainConfig
from stockcast.training.recipe import Recipe
from stockcast.training.results import BacktestResult

LEVEL = 0.9  # the interval whose score the leaderboard shows
ALPHA = 0.05  # family-wise error rate of the board's "better" and "worse" verdicts
CORRECTION = "holm"
# progress(arch) -> a context manager yielding the fold callback of that architecture's run
Progress = Callable[[str], AbstractContextManager[FoldCallback | None]]


@dataclass(frozen=True)
class ArchRun:
    """One architecture's backtest and its size."""

    arch: str  # registry name
    parameters: int  # trainable parameters of one network (an ensemble has `ensemble` of them)
    flops_per_window: float  # forward + backward FLOPs of one window, one network
    result: BacktestResult  # this architecture's backtest


def model_size(model_cfg: Any, lookback: int) -> tuple[int, float]:
    """(parameters, forward+backward FLOPs per window) of one network of ``model_cfg``, built
    without touching the global random state (training seeds its own)."""
    with torch.random.fork_rng(devices=[]):
        model = models.build(model_cfg, init=False)
    return n_parameters(model), float(model.flops_per_window(lookback))


def backtest_archs(
    root: Path,
    symbol: str,
    data: DataConfig,
    model_cfgs: Sequence[Any],
    cfg: TrainConfig,
    *,
    folds: int = walkforward.DEFAULT_FOLDS,
    ensemble: int | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> dict:
    """``backtest_symbol`` once per ``Config`` in ``model_cfgs`` (in order), then ``combine``;
    returns the per-symbol object of `backtest --arch a,b --json`."""
    runs = []
    for model_cfg in model_cfgs:
        arch = models.arch_of(model_cfg)
        with progress(arch) if progress is not None else contextlib.nullcontext() as on_fold:
            result = backtest_symbol(root, symbol, Recipe(data, model_cfg, cfg), folds=folds,
                                     ensemble=ensemble, device=device, on_fold=on_fold)  # fmt: skip
        params, flops = model_size(model_cfg, data.lookback)
        runs.append(ArchRun(arch, params, flops, result))
    return combine(runs)


def combine(runs: Sequence[ArchRun]) -> dict:
    """The leaderboard of one symbol from its per-architecture backtests (at least one, all of
    the same symbol, folds and windows): shared ``settings``, per architecture its size, time
    and full ``folds``/``horizons``, per horizon the naive rows beside every architecture's
    row, the significant edges, a ranking and a sentence."""
    if not runs:
        raise ValueError("no architecture to compare")
    first = runs[0].result
    _check_same_windows(runs)
    settings = {k: v for k, v in first.settings.to_dict().items() if k != "model_config"}
    board = [horizon_rows(k, runs) for k in range(len(first.horizons))]
    _adjust(board)
    edges = [_said(a, h) for h in board for a in h["archs"] if a["holm_verdict"] == "better"]
    worse = [_said(a, h) for h in board for a in h["archs"] if a["holm_verdict"] == "worse"]
    return {
        "ticker": first.ticker,
        "sessions": first.sessions,
        "settings": settings,
        "archs": [
            {
                "arch": r.arch,
                "parameters": r.parameters,
                "mflops_per_window": round(r.flops_per_window / 1e6, 3),
                "seconds": r.result.seconds,
                "train_seconds": round(sum(f["seconds"] for f in r.result.folds), 2),
                "mean_skill_vs_best": mean_skill(r.result),
                "model_config": dict(r.result.settings.model_config),
                "folds": [dict(f) for f in r.result.folds],
                "horizons": [dict(h) for h in r.result.horizons],
            }
            for r in runs
        ],
        "leaderboard": board,
        "ranking": ranking(runs),
        "edges": edges,
        "worse": worse,
        "comparisons": len(runs) * len(board),
        "correction": CORRECTION,
        "alpha": ALPHA,
        "summary": summary(first.ticker, [r.arch for r in runs], edges, worse, len(board)),
        "seconds": round(sum(r.result.seconds for r in runs), 2),
    }


def _adjust(board: list[dict]) -> None:
    """Add ``adjusted_pvalue`` (Holm over every row of the board) and ``holm_verdict`` to each
    architecture row, in place."""
    rows = [a for h in board for a in h["archs"]]
    adjusted = stats.holm([1.0 if a["dm_pvalue"] is None else a["dm_pvalue"] for a in rows])
    for a, p in zip(rows, adjusted, strict=True):
        skill = a["skill_vs_best"]["value"]
        a["adjusted_pvalue"] = p
        a["holm_verdict"] = (
            "indistinguishable" if p >= ALPHA else "better" if skill > 0 else "worse"
        )


def _check_same_windows(runs: Sequence[ArchRun]) -> None:
    """The naive rows are shared only if every run scored the same windows."""

    def key(r: BacktestResult) -> list:
        return [(h["n"], h["baselines"]["persistence"]["mae"]) for h in r.horizons]

    ref = key(runs[0].result)
    for r in runs[1:]:
        other = key(r.result)
        same = len(other) == len(ref) and all(
            n == m and math.isclose(a, b, rel_tol=1e-9)
            for (n, a), (m, b) in zip(ref, other, strict=True)
        )
        if not same:
            raise DataError(
                f"{runs[0].result.ticker}: {r.arch} was scored on other windows than "
                f"{runs[0].arch}; the architectures cannot be compared"
            )


def band(h: Mapping[str, Any], level: float = LEVEL) -> dict:
    """The interval row of ``level`` (the widest when that level is not reported)."""
    rows = h["intervals"]
    return next((b for b in rows if math.isclose(b["level"], level)), rows[-1])


def horizon_rows(k: int, runs: Sequence[ArchRun]) -> dict:
    """Horizon index ``k``: the best naive forecast, the naive rows (MAE and skill against the
    best; the EWMA band's interval score) and every architecture's row."""
    h0 = runs[0].result.horizons[k]
    best = h0["best_baseline"]
    best_mae = h0["baselines"][best]["mae_bps"]
    b0 = band(h0)
    naive = {
        name: {
            "mae": b["mae"],
            "mae_bps": b["mae_bps"],
            "skill_vs_best": 1.0 - b["mae_bps"] / best_mae if best_mae else 0.0,
        }
        for name, b in h0["baselines"].items()
    }
    rows = []
    for r in runs:
        h = r.result.horizons[k]
        b = band(h)
        ewma = b["ewma_interval_score_rel"]
        rows.append({
            "arch": r.arch,
            "mae": h["mae"],
            "mae_bps": h["mae_bps"],
            "skill_vs_best": h["skill_vs_best"],
            "dm_pvalue": h["dm_pvalue"],
            "verdict": h["verdict"],
            "coverage": b["coverage"],
            "interval_score": b["interval_score"],
            "interval_score_vs_ewma": b["interval_score_rel"] / ewma if ewma else None,
        })  # fmt: skip
    return {
        "h": h0["h"],
        "n": h0["n"],
        "best_baseline": best,
        "level": b0["level"],
        "naive": naive,
        "ewma_interval_score": b0["ewma_interval_score"],
        "archs": rows,
    }


def mean_skill(result: BacktestResult) -> float:
    """Mean over horizons of the point skill against the best naive forecast (horizons where
    that forecast made no error, so skill is undefined, left out; 0 when all are)."""
    values = [h["skill_vs_best"]["value"] for h in result.horizons if h["skill_vs_best"]]
    return float(sum(values) / len(values)) if values else 0.0


def ranking(runs: Sequence[ArchRun]) -> list[str]:
    """Architectures by mean point skill against the best naive forecast, best first (an
    ordering of point estimates, not evidence: only the verdicts are)."""
    return [r.arch for r in sorted(runs, key=lambda r: -mean_skill(r.result))]


def _said(row: dict, h: dict) -> dict:
    return {"arch": row["arch"], "h": h["h"], "best_baseline": h["best_baseline"],
            "skill_vs_best": row["skill_vs_best"], "dm_pvalue": row["dm_pvalue"],
            "adjusted_pvalue": row["adjusted_pvalue"]}  # fmt: skip


def _ci(s: dict) -> str:
    return f"{s['value']:+.1%}, 95% CI {s['low'] * 100:+.1f}..{s['high'] * 100:+.1f}"


def summary(ticker: str, archs: Sequence[str], edges: Sequence[dict], worse: Sequence[dict],
            horizons: int) -> str:  # fmt: skip
    """The verdict in words: which architectures, if any, beat (or lose to) the best naive
    forecast with the family-wise error of all the board's comparisons held at 5% (Holm)."""
    n = len(archs) * horizons
    hs = f"h=1..{horizons}" if horizons > 1 else "h=1"
    control = (
        f"Holm-adjusted over the {n} architecture x horizon comparisons, so the chance of any "
        "false 'better' or 'worse' verdict among them is at most 5%"
    )
    if not edges:
        text = (
            f"{ticker}: no architecture has a significant edge over the best naive forecast "
            f"(none of {', '.join(archs)} is better at any of {hs}; {control})."
        )
    else:
        parts = [f"{e['arch']} at h={e['h']} vs {e['best_baseline']} ({_ci(e['skill_vs_best'])}, "
                 f"adjusted p = {e['adjusted_pvalue']:.3f})" for e in edges]  # fmt: skip
        text = (
            f"{ticker}: significant edge over the best naive forecast in {len(edges)} of {n} "
            f"comparisons ({control}): {'; '.join(parts)}."
        )
    if worse:
        by_arch: dict[str, list[str]] = {}
        for w in worse:
            by_arch.setdefault(w["arch"], []).append(str(w["h"]))
        said = "; ".join(f"{a} at h={','.join(h)}" for a, h in by_arch.items())
        text += f" Significantly worse than it (same control): {said}."
    return text

"""One global model against the per-symbol default models, on the same test dates.

    nice python bench/global_vs_local.py [--csv stockcast/sample/sp500_10.csv] [--only AAPL,AMD]
                                         [--set epochs=1 --set ensemble=1] [--out FILE.md]
                                         [--global-ensemble K]

The tickers of the wide close-only CSV are imported as ``bench/backtest_all.py`` does (OHLC
filled from the close, no volume) and every model trains on the default features those data
allow (``backtest_all.allowed_features``, the same for every ticker) with train's defaults plus
``--set``. First ``train_global`` over all the tickers (``--global-ensemble`` members, default 1
as measured in docs/models.md; common date split); then, per
ticker, the default per-symbol recipe (``fit_recipe``: ``ensemble`` members, shrinkage when
``shrink`` is set; no live refit, nothing saved) with ``test_start`` = the global model's test
split date, so both are scored on the same test windows (checked per ticker: ``same_test``).

Reported per horizon: the skill against the best naive forecast (``evaluate``'s
``skill_vs_best``, prices of each ticker) averaged over the tickers, global vs per-symbol; the
pooled skill (``forecasting/crosssection.py``, log returns, CI robust to a day's common move);
and the daily rank IC with its HAC t and the top-minus-bottom-third spread, for both. The issue's
bar: the global model's average skill at least the per-symbol models'. Writes a markdown table
to ``--out`` and the JSON next to it; prints the JSON summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_all import DEFAULT_CSV, allowed_features, import_series

from stockcast import options
from stockcast.data.store import PriceStore
from stockcast.forecasting import crosssection, evaluation, shrink
from stockcast.training.globaljob import train_global
from stockcast.training.job import configs_from_options
from stockcast.training.recipe import Recipe, fit_recipe

ROOT = Path(__file__).resolve().parent.parent


def local_model(root: Path, sym: str, data, model_cfg, cfg, device: str) -> dict:
    """The default per-symbol recipe on ``sym`` with ``data.test_start``: its evaluate report
    and its test windows for the cross-section."""
    t0 = time.perf_counter()
    made = Recipe(data, model_cfg, cfg)
    fitted = fit_recipe(sym, PriceStore(root).read(sym), made, device=device)
    ds = fitted.dataset
    learned = shrink.learn(ds, fitted.val) if cfg.shrink else None
    test = evaluation.part_predictions(fitted.model, ds, "test")
    report = evaluation.evaluate_dataset(fitted.model, ds, val=fitted.val, shrink=learned,
                                         predicted=test)  # fmt: skip
    if learned is not None:  # what evaluate scores: the shrunk forecasts
        test = dataclasses.replace(test, mu=shrink.apply(test.mu, learned))
    return {
        "report": report.to_dict(),  # the `evaluate --json` report
        "test": evaluation.symbol_test(sym, ds, test),
        "seconds": round(time.perf_counter() - t0, 1),
        "epochs": [f.epochs for f in fitted.fits],
    }


def mean_skill(reports: list[dict], h: int) -> float | None:
    """Mean over tickers of the skill against the best naive forecast at ``h``."""
    vals = [r["horizons"][h - 1]["skill_vs_best"] for r in reports]
    vals = [v["value"] for v in vals if v]
    return float(np.mean(vals)) if vals else None


def summary(syms: list[str], glob: dict, local: dict[str, dict], local_cs: dict) -> dict:
    horizons = []
    g_reports = [glob["evaluation"][s] for s in syms]
    l_reports = [local[s]["report"] for s in syms]
    for h in range(1, len(glob["pooled"]["horizons"]) + 1):
        g, lo = mean_skill(g_reports, h), mean_skill(l_reports, h)
        gp, lp = (x["pooled"]["horizons"][h - 1] for x in (glob, local_cs))
        gc, lc = (x["cross_section"]["horizons"][h - 1] for x in (glob, local_cs))
        horizons.append({
            "h": h,
            "global_mean_skill": g,
            "local_mean_skill": lo,
            "global_at_least_local": None if g is None or lo is None else g >= lo,
            "global_pooled_skill": gp["skill_vs_best"],
            "local_pooled_skill": lp["skill_vs_best"],
            "global_rank_ic": gc["rank_ic"], "global_rank_ic_t": gc["rank_ic_t"],
            "global_spread": gc["spread"],
            "local_rank_ic": lc["rank_ic"], "local_rank_ic_t": lc["rank_ic_t"],
            "local_spread": lc["spread"], "days": gc["days"],
        })  # fmt: skip
    return {"symbols": syms, "test_start": glob["split"]["test_start"], "horizons": horizons}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2%}"


def _ci(ci: dict | None) -> str:
    return "n/a" if not ci else f"{ci['value']:+.2%} ({ci['low']:+.2%}..{ci['high']:+.2%})"


def _num(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else fmt.format(x)


def table(out: dict) -> str:
    head = (
        "| h | mean skill vs best, global | per-symbol | global >= | pooled skill global (95% CI) "
        "| pooled per-symbol | rank IC global (t) | rank IC per-symbol (t) | spread bps global "
        "| days |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = [
        f"| {h['h']} | {_pct(h['global_mean_skill'])} | {_pct(h['local_mean_skill'])} "
        f"| {h['global_at_least_local']} | {_ci(h['global_pooled_skill'])} "
        f"| {_ci(h['local_pooled_skill'])} "
        f"| {_num(h['global_rank_ic'], '{:+.4f}')} ({_num(h['global_rank_ic_t'], '{:+.2f}')}) "
        f"| {_num(h['local_rank_ic'], '{:+.4f}')} ({_num(h['local_rank_ic_t'], '{:+.2f}')}) "
        f"| {_num(None if h['global_spread'] is None else h['global_spread'] * 1e4, '{:+.1f}')} "
        f"| {h['days']} |"
        for h in out["horizons"]
    ]
    return head + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "global_vs_local.md")
    ap.add_argument("--only", default="", help="comma-separated tickers (default: all)")
    ap.add_argument("--set", action="append", default=[], help="option=value, e.g. epochs=2")
    ap.add_argument("--global-ensemble", type=int, default=1, help="members of the global model")
    args = ap.parse_args()
    given = {k: v for k, v in (s.split("=", 1) for s in args.set)}
    given = {k: type(options.SPECS[k].default)(v) for k, v in given.items()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        syms = import_series(root, args.csv)[1:]  # the file's tickers, not the bundled sample
        if args.only:
            syms = [s for s in syms if s in args.only.split(",")]
        feats = {allowed_features(root, s) for s in syms}
        if len(feats) != 1:
            raise SystemExit(f"the tickers allow different features: {feats}")
        opts = {"features": ",".join(feats.pop()), **given}
        data, model_cfg, cfg, dev = configs_from_options(opts)
        t0 = time.perf_counter()
        one = dataclasses.replace(cfg, ensemble=args.global_ensemble, shrink=False)
        trained = train_global(root, "global", syms, Recipe(data, model_cfg, one), dev)
        assert trained is not None  # one process: rank 0
        glob = trained.to_dict()  # the `train --global --json` object
        global_s = time.perf_counter() - t0
        print(f"global: {global_s:.0f}s, test from {glob['split']['test_start']}",
              file=sys.stderr, flush=True)  # fmt: skip
        local_data = dataclasses.replace(data, test_start=glob["split"]["test_start"])
        local: dict[str, dict] = {}
        for sym in syms:
            local[sym] = local_model(root, sym, local_data, model_cfg, cfg, dev)
            same = local[sym]["report"]["test"] == glob["evaluation"][sym]["test"]
            local[sym]["same_test"] = same
            print(f"{sym}: {local[sym]['seconds']:.0f}s, same test windows: {same}",
                  file=sys.stderr, flush=True)  # fmt: skip
        local_cs = crosssection.report([local[s]["test"] for s in syms])
    out = summary(syms, glob, local, local_cs)
    out.update({
        "options": opts,
        "global_seconds": round(global_s, 1),
        "global_epochs": glob["epochs"],
        "local_seconds": {s: local[s]["seconds"] for s in syms},
        "local_epochs": {s: local[s]["epochs"] for s in syms},
        "same_test": all(local[s]["same_test"] for s in syms),
        "per_symbol": {
            s: {"global": [h["skill_vs_best"] for h in glob["evaluation"][s]["horizons"]],
                "local": [h["skill_vs_best"] for h in local[s]["report"]["horizons"]]}
            for s in syms
        },
        "global_pooled": glob["pooled"],
        "global_cross_section": glob["cross_section"],
        "local_pooled": local_cs["pooled"],
        "local_cross_section": local_cs["cross_section"],
    })  # fmt: skip
    cmd = " ".join(["nice python bench/global_vs_local.py", *sys.argv[1:]])
    args.out.write_text(
        f"Command: `{cmd}` ({out['global_seconds']:.0f} s global, "
        f"{sum(out['local_seconds'].values()):.0f} s per-symbol), test from "
        f"{out['test_start']}, same test windows: {out['same_test']}\n\n{table(out)}"
    )
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps({k: out[k] for k in ("symbols", "test_start", "same_test", "horizons")},
                     indent=1, default=str))  # fmt: skip


if __name__ == "__main__":
    main()

"""Rich rendering shared by `train`, `evaluate` and `backtest`: the evaluation tables, the
interval tables, the cross-section of a global model, and the small text helpers they use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stockcast.cli.tables import print_table

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from stockcast.forecasting.evaluation import EvaluateResult


def render_evaluation(ev: EvaluateResult, console: Console) -> None:
    """The evaluation tables (shared by `train` and `evaluate`) and their plain sentences."""
    rep = ev.report
    t = rep.test
    console.print(
        f"[bold]{ev.ticker}[/] model {ev.model}: test as-of {t.start} to {t.end} "
        f"({t.n} windows); MAE bps: |log(forecast / outcome)| x 10,000 (scale-free, what skill "
        "is computed on); MAE, RMSE: prices of the adjusted close"
    )
    main = new_table("Model", "h", "MAE bps", "MAE", "RMSE", "MAPE %", "Direction", "Up share",
                  "Skill", "vs best (95% CI)", "Verdict")  # fmt: skip
    naive = new_table("Naive forecasts: MAE / RMSE / MAPE %", "h", "Persistence", "Drift", "SMA5")
    for h in rep.horizons:
        skill = "n/a" if h["skill"] is None else f"{h['skill']:+.2%}"
        main.add_row(
            str(h["h"]), _bps(h), f"{h['mae']:.4f}", f"{h['rmse']:.4f}", f"{h['mape']:.3f}",
            f"{h['directional_accuracy']:.1%}", f"{h['up_share']:.1%}", skill,
            skill_ci_text(h.get("skill_vs_best")), verdict_text(h),
        )  # fmt: skip
        b = h["baselines"]
        naive.add_row(str(h["h"]), *(errors_text(b[k]) for k in ("persistence", "drift", "sma")))
    print_table(console, main)
    print_table(console, naive)
    console.print(
        "Skill = 1 - MAE bps / persistence MAE bps; vs best: the same against the naive "
        "forecast (persistence or drift) that was best on validation, with a 95% confidence "
        "interval. Verdict: better / worse only when that interval "
        "excludes 0. Direction: share of correct up / not-up calls; always-up scores the up "
        "share.",
        markup=False,
    )
    for note in rep.notes:
        console.print(note, markup=False)
    console.print(rep.summary, markup=False)
    render_intervals(rep.horizons, console)


def skill_ci_text(ci: dict[str, float] | None) -> str:
    """E.g. "-0.2% (-0.9..+0.5)"; "n/a" without an interval."""
    if not ci:
        return "n/a"
    return f"{ci['value']:+.1%} ({ci['low'] * 100:+.1f}..{ci['high'] * 100:+.1f})"


def verdict_text(h: Mapping[str, Any]) -> str:
    """E.g. "better than drift", "≈ drift" or "worse than drift" (from the CI, not the point)."""
    best, verdict = h["best_baseline"], h.get("verdict")
    if verdict is None:  # a model saved before verdicts: the point comparison, said as such
        return f"MAE {'<' if h['beats_best_baseline'] else '>='} {best}"
    return {"better": f"better than {best}", "worse": f"worse than {best}"}.get(
        verdict, f"≈ {best}"
    )


def render_intervals(horizons: Sequence[Mapping[str, Any]], console: Console) -> None:
    """The model's bands on test next to the EWMA and GARCH bands (``render_bands``)."""
    render_bands(horizons, console, "Bands on test: interval score in % of the as-of close",
                 "each calibrated on the validation part")  # fmt: skip


def render_bands(horizons: Sequence[Mapping[str, Any]], console: Console, title: str,
                 where: str) -> None:  # fmt: skip
    """Coverage (CI), width and scale-free interval score of the model's band per horizon and
    level, the EWMA and GARCH bands' scores, the skill against each, and the h=1 verdicts."""
    from stockcast.forecasting.verdicts import verdict_line

    if not horizons or not horizons[0].get("intervals"):
        return
    table = new_table(title, "h", "Level", "Coverage (95% CI)", "Indep. p", "Width %", "Score",
                      "EWMA", "GARCH", "vs EWMA (95% CI)", "vs GARCH (95% CI)")  # fmt: skip
    for h in horizons:
        for b in h["intervals"]:
            cov = f"{b['coverage']:.1%}"
            if b.get("coverage_low") is not None:
                cov += f" ({b['coverage_low']:.1%}..{b['coverage_high']:.1%})"
            other = b.get("bands", {})
            indep = b.get("independence_pvalue")
            table.add_row(str(h["h"]), level_text(b["level"]), cov,
                          "n/a" if indep is None else f"{indep:.2f}", f"{b['mean_width_pct']:.2f}",
                          _score(b["interval_score"]), _score(other.get("ewma")),
                          _score(other.get("garch")), _vs(b.get("skill_vs_ewma")),
                          _vs(b.get("skill_vs_garch")))  # fmt: skip
    print_table(console, table, keys=2)
    console.print(
        "Score: interval score (width plus 2/alpha times any miss) in % of the as-of close; "
        "lower is better. EWMA: last close, EWMA volatility; GARCH: last close, GARCH(1,1)-t "
        f"fitted on the training part; {where}. vs: 1 - score / that band's score (above 0: "
        "the model's band is better), 95% CI for overlapping windows. The coverage CI allows "
        "for overlapping windows and clustered misses; Indep. p: Christoffersen's test that "
        "misses do not come in runs (small: they do).",
        markup=False,
    )
    for b in horizons[0]["intervals"]:
        if b.get("skill_vs_ewma"):
            console.print(verdict_line(b, horizons[0]["h"]), markup=False)


def _score(band: dict[str, Any] | float | None) -> str:
    """A scale-free interval score (units of the close) as a percentage; "n/a" without one."""
    if band is None:
        return "n/a"
    value = band["interval_score"] if isinstance(band, dict) else band
    return f"{100 * value:.3f}"


def _vs(s: dict[str, Any] | None) -> str:
    """``+0.4% (-0.1..+0.9)``: the band's interval-score skill over another band's."""
    if not s:
        return "n/a"
    return f"{s['value']:+.1%} ({s['low'] * 100:+.1f}..{s['high'] * 100:+.1f})"


def _bps(h: Mapping[str, Any]) -> str:
    """The scale-free MAE in bps, "n/a" for a model saved before it was reported."""
    return "n/a" if h.get("mae_bps") is None else f"{h['mae_bps']:.1f}"


def level_text(level: float) -> str:
    """0.9 -> "90%", 0.999 -> "99.9%" (never a rounded "100%")."""
    return f"{level * 100:g}%"


def new_table(title: str, *headers: str) -> Table:
    """A compact table whose cells never wrap (numbers stay whole at 80 columns)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for h in headers:
        table.add_column(h, no_wrap=True, justify="left" if h in ("Verdict", "Symbol") else "right")
    return table


def errors_text(e: dict[str, float]) -> str:
    return f"{e['mae']:.4f}/{e['rmse']:.4f}/{e['mape']:.3f}"  # as the Model table


def render_cross_section(
    result: dict[str, Any], console: Console, title: str | None = None
) -> None:
    """The "Pooled" and "Cross-section" tables of a global model (`train --global`,
    `evaluate --model NAME`, `backtest --model NAME` under ``title``) and what they mean."""
    pooled, cross = result["pooled"], result["cross_section"]
    console.print(
        title
        or f"[bold]{result['name']}[/] model {result['model']} over {pooled['series']} "
        "symbols' test windows"
    )
    table = new_table("Pooled (log returns, scale-free)", "h", "Windows", "Days", "MAE bps",
                   "MASE", "Best naive", "Naive bps", "vs best (95% CI)", "Verdict")  # fmt: skip
    for h in pooled["horizons"]:
        best = h["best_baseline"]
        table.add_row(
            str(h["h"]), f"{h['n']:,}", f"{h['days']:,}", f"{h['mae_bps']:.1f}",
            num_text(h["mase"], "{:.3f}"), best, f"{h['baselines'][best]['mae_bps']:.1f}",
            skill_ci_text(h["skill_vs_best"]), verdict_text(h),
        )  # fmt: skip
    print_table(console, table)
    cs = new_table("Cross-section (per as-of date, across symbols)", "h", "Days", "Rank IC",
                "IC t (HAC)", "Spread bps", "Spread t")  # fmt: skip
    for h in cross["horizons"]:
        spread = None if h["spread"] is None else h["spread"] * 1e4
        cs.add_row(
            str(h["h"]), f"{h['days']:,}", num_text(h["rank_ic"], "{:+.4f}"),
            num_text(h["rank_ic_t"], "{:+.2f}"), num_text(spread, "{:+.1f}"),
            num_text(h["spread_t"], "{:+.2f}"),
        )  # fmt: skip
    print_table(console, cs)
    console.print(
        "Pooled: every symbol's test windows together; MAE of predicted vs realised log "
        "returns in basis points, MASE against each symbol's one-session naive error in "
        "training; skill = 1 - MAE / MAE of the best naive forecast, its 95% CI robust to "
        "symbols moving together on a day. Rank IC: Spearman correlation across symbols "
        f"(days with at least {cross['min_names']}) between predicted and realised h-session "
        "returns, averaged over days; |t| above about 2 is unlikely by chance. Spread: mean "
        "realised return of the top third by prediction minus the bottom third.",
        markup=False,
    )


def num_text(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else fmt.format(x)

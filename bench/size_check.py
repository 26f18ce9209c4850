"""Size of stockcast's tests under the null: how often each rejects at a nominal 5%.

Monte Carlo, ``--reps`` replications per cell (default 2,000; the Monte Carlo standard error
of a 5% rejection rate is then sqrt(0.05 * 0.95 / reps), about 0.5 points), at h = 1, 3, 5:

- **DM test and skill CI** (``stats.diebold_mariano``, ``stats.skill_ci``): 750 overlapping
  h-session targets of iid Student-t(5) daily returns, two uninformative forecasts of equal
  accuracy (independent N(0, 0.5^2 h) noise); a rejection is DM p < 5% or a skill CI that
  excludes 0.
- **Rank-IC and spread t** (``stats.mean_with_hac_t`` as ``crosssection`` uses it): 10 symbols,
  1,250 days of iid returns, persistent uninformative predictions (AR(1), phi = 0.95, per
  symbol); |t| > 1.96 is a rejection. Beside it the former Bartlett kernel with h - 1 lags.
- **Coverage CI** (``stats.coverage_ci``, Wilson with an EWC design effect): 1,000 overlapping
  h-session targets whose daily volatility switches between a calm (1%) and a turbulent (2%)
  regime (a Markov chain, calm days stay calm with p 0.98, turbulent ones turbulent with p
  0.94), and a band of constant width whose true coverage is 90% (its half-width from 2 million
  draws of the same process), so misses cluster in the turbulent spells; a rejection is a 95% CI
  that excludes 0.9. Beside it two former CIs: the one that assumes independent hits beyond the
  overlap (truncated kernel, h - 1 lags only), and the wider of that and a fixed-b Bartlett
  interval (bandwidth 15% of the windows, Kiefer-Vogelsang critical value 2.41).
- **Independence test** (``stats.independence_test``) and the coverage CI once more: the same
  targets with constant volatility and a band of exactly 90% (hits independent beyond the
  overlap); a rejection is p < 5%, or a CI that excludes 0.9.

Run: ``python bench/size_check.py [--reps 2000]`` (about 3 minutes on two busy cores);
writes ``bench/size_check.json`` and ``bench/size_check.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from stockcast.forecasting import stats

HERE = Path(__file__).resolve().parent
HORIZONS = (1, 3, 5)


def _targets(r: np.ndarray, h: int) -> np.ndarray:
    """Overlapping h-session sums of daily returns r (T,) -> (T - h + 1,)."""
    c = np.concatenate([[0.0], np.cumsum(r)])
    return c[h:] - c[:-h]


def dm_and_skill(rng: np.random.Generator, h: int, n: int = 750) -> tuple[bool, bool]:
    y = _targets(rng.standard_t(5, n + h - 1) / math.sqrt(5 / 3), h)
    f1 = rng.normal(0, 0.5 * math.sqrt(h), n)
    f2 = rng.normal(0, 0.5 * math.sqrt(h), n)
    e1, e2 = np.abs(y - f1), np.abs(y - f2)
    _, low, high = stats.skill_ci(e1, e2, h - 1)
    return stats.diebold_mariano(e1, e2, h).pvalue < 0.05, not low <= 0.0 <= high


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, axis=1), axis=1).astype(float)


def rank_ic(rng: np.random.Generator, h: int, days: int = 1250, names: int = 10) -> dict:
    r = rng.normal(0, 0.01, (days + h, names))
    y = np.stack([_targets(r[:, s], h)[1 : days + 1] for s in range(names)], axis=1)
    shocks = rng.normal(0, math.sqrt(1 - 0.95**2), (days, names))
    shocks[0] = rng.normal(size=names)  # a stationary start
    pred = lfilter([1.0], [1.0, -0.95], shocks, axis=0)
    rp, ry = _ranks(pred), _ranks(y)
    rp, ry = rp - rp.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    ic = (rp * ry).sum(1) / np.sqrt((rp**2).sum(1) * (ry**2).sum(1))
    order = np.argsort(pred, axis=1)
    k = names // 3
    ys = np.take_along_axis(y, order, axis=1)
    spread = ys[:, -k:].mean(1) - ys[:, :k].mean(1)
    out = {}
    for name, x in (("rank_ic_t", ic), ("spread_t", spread)):
        _, t = stats.mean_with_hac_t(x, h - 1)
        old = x.mean() / math.sqrt(stats.hac_variance(x, h - 1, "bartlett"))
        out[name], out[name + "_bartlett"] = abs(t) > 1.96, abs(old) > 1.96
    return out


def _regime_vol(rng: np.random.Generator, n: int) -> np.ndarray:
    """Daily volatility of a two-state Markov regime: calm 0.01 (stays with p 0.98) and
    turbulent 0.02 (stays with p 0.94), a quarter of the days turbulent; started stationary."""
    u = rng.uniform(size=n)
    state = np.empty(n, dtype=bool)
    state[0] = u[0] < 0.25
    for t in range(1, n):
        state[t] = u[t] < (0.94 if state[t - 1] else 0.02)
    return np.where(state, 0.02, 0.01)


def _scaled_targets(rng: np.random.Generator, n: int, h: int) -> np.ndarray:
    """(n,) overlapping h-session targets of returns with regime volatility, in units of the
    calm volatility: a band of constant width misses mostly in turbulent spells, so its misses
    cluster (as bands whose volatility estimate lags a change of regime do)."""
    r = _regime_vol(rng, n + h - 1) * rng.normal(size=n + h - 1)
    return _targets(r, h) / (0.01 * math.sqrt(h))


def half_width(h: int, level: float = 0.9) -> float:
    """The constant half-width that covers ``level`` of the targets (2 million draws)."""
    rng = np.random.default_rng(12345 + h)
    return float(np.quantile(np.abs(_scaled_targets(rng, 2_000_000, h)), level))


def coverage(rng: np.random.Generator, h: int, c: float, n: int = 1000) -> dict:
    hits = np.abs(_scaled_targets(rng, n, h)) <= c
    _, low, high = stats.coverage_ci(hits, h - 1)
    x = hits.astype(float)
    p, olow, ohigh, overlap = stats.hac_mean_ci(x, h - 1, 0.95, "truncated")
    fixed_b = 2.4129 * math.sqrt(stats.hac_variance(x, max(h - 1, math.ceil(0.15 * n))))
    fb = max(1.96 * overlap, fixed_b)
    flat = np.abs(_targets(rng.normal(size=n + h - 1), h)) <= 1.645 * math.sqrt(h)
    _, flow, fhigh = stats.coverage_ci(flat, h - 1)
    return {
        "coverage_ci": not low <= 0.9 <= high,
        "coverage_ci_flat": not flow <= 0.9 <= fhigh,
        "coverage_ci_overlap_only": not olow <= 0.9 <= ohigh,
        "coverage_ci_fixed_b": not p - fb <= 0.9 <= p + fb,
        "independence": stats.independence_test(flat, h) < 0.05,
    }


def _row(label: str, rates: dict[int, float]) -> str:
    return f"| {label} | " + " | ".join(f"{100 * rates[h]:.1f}%" for h in HORIZONS) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    table: dict[str, dict[int, float]] = {}
    for h in HORIZONS:
        c = half_width(h)
        counts: dict[str, int] = {}
        for _ in range(args.reps):
            dm, skill = dm_and_skill(rng, h)
            row = {"dm": dm, "skill_ci": skill, **rank_ic(rng, h), **coverage(rng, h, c)}
            for k, v in row.items():
                counts[k] = counts.get(k, 0) + int(v)
        for k, v in counts.items():
            table.setdefault(k, {})[h] = v / args.reps
    seconds = time.perf_counter() - t0
    mcse = math.sqrt(0.05 * 0.95 / args.reps)
    (HERE / "size_check.json").write_text(json.dumps(
        {"reps": args.reps, "seed": args.seed, "mc_se": mcse, "seconds": round(seconds, 1),
         "rejection_rate": table}, indent=1) + "\n")  # fmt: skip
    labels = {
        "dm": "DM test (p < 5%)",
        "skill_ci": "skill 95% CI excludes 0",
        "rank_ic_t": "rank-IC t beyond +/-1.96 (truncated kernel, h-1 lags)",
        "rank_ic_t_bartlett": "rank-IC, former Bartlett kernel (h-1 lags)",
        "spread_t": "spread t beyond +/-1.96 (truncated kernel)",
        "spread_t_bartlett": "spread, former Bartlett kernel",
        "coverage_ci": "coverage 95% CI excludes 90% (clustered misses)",
        "coverage_ci_overlap_only": "coverage CI, overlap lags only (former)",
        "coverage_ci_fixed_b": "coverage CI, fixed-b Bartlett 15% (former)",
        "coverage_ci_flat": "coverage 95% CI excludes 90% (misses independent)",
        "independence": "Christoffersen independence, Fisher exact (p < 5%)",
    }
    lines = [
        "# Size check: rejections at a nominal 5% under the null",
        "",
        f"Command: `python bench/size_check.py --reps {args.reps} --seed {args.seed}` "
        f"({seconds:.0f} s). {args.reps} replications per cell; Monte Carlo standard error "
        f"{100 * mcse:.1f} points (a 95% band around 5% is "
        f"{100 * (0.05 - 1.96 * mcse):.1f}-{100 * (0.05 + 1.96 * mcse):.1f}%). The designs are "
        "in the script's docstring.",
        "",
        "| test | h=1 | h=3 | h=5 |",
        "|---|---|---|---|",
        *[_row(labels[k], table[k]) for k in labels],
        "",
    ]
    (HERE / "size_check.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

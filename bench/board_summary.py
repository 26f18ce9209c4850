"""Per-architecture summary of a leaderboard's JSON (what docs/models.md and docs/forecasts.md
quote of `bench/leaderboard_sp500.json`): skill against the best naive forecast over the
series x horizons (worst, best, mean), the "worse"/"better" verdicts after Holm and the
unadjusted 95% CIs below/above zero, horizons below -1%, train seconds; then the 80% and 90%
bands' coverage and their interval-score verdicts against the EWMA and GARCH bands (unadjusted
95% CIs), in all and by series.

    python bench/board_summary.py bench/leaderboard_sp500.json
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path


def points(rows: list[dict]) -> None:
    per: dict[str, dict] = defaultdict(lambda: {"skills": [], "holm": Counter(), "ci": Counter(),
                                                "train": 0.0, "params": 0})  # fmt: skip
    for r in rows:
        for key, verdict in (("edges", "better"), ("worse", "worse")):
            for e in r[key]:
                per[e["arch"]]["holm"][verdict] += 1
        for a in r["archs"]:
            p = per[a["arch"]]
            p["params"], p["train"] = a["parameters"], p["train"] + a["train_seconds"]
            for h in a["horizons"]:
                p["skills"].append((h["skill_vs_best"]["value"], r["ticker"], h["h"]))
                p["ci"][h["verdict"]] += 1
    print("| arch | parameters | worst skill | best skill | mean skill | worse (Holm) | better "
          "(Holm) | CI below 0 | CI above 0 | below -1% | train s (all) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for arch, p in per.items():
        sk = sorted(p["skills"])
        mean = sum(s for s, *_ in sk) / len(sk)
        lo, hi = sk[0], sk[-1]
        print(f"| {arch} | {p['params']:,} | {lo[0]:+.2%} ({lo[1]} h={lo[2]}) | {hi[0]:+.2%} "
              f"({hi[1]} h={hi[2]}) | {mean:+.2%} | {p['holm']['worse']} | {p['holm']['better']} | "
              f"{p['ci']['worse']} | {p['ci']['better']} | {sum(s < -0.01 for s, *_ in sk)} | "
              f"{p['train']:,.0f} |")  # fmt: skip


def bands(rows: list[dict]) -> None:
    for level in (0.8, 0.9):
        ewma, garch, cov = Counter(), Counter(), []
        by_series: dict[str, Counter] = defaultdict(Counter)
        by_arch: dict[str, Counter] = defaultdict(Counter)
        for r in rows:
            for a in r["archs"]:
                for h in a["horizons"]:
                    for it in h["intervals"]:
                        if it["level"] == level:
                            ewma[it["skill_vs_ewma"]["verdict"]] += 1
                            garch[it["skill_vs_garch"]["verdict"]] += 1
                            by_series[r["ticker"]][it["skill_vs_garch"]["verdict"]] += 1
                            by_arch[a["arch"]][it["skill_vs_garch"]["verdict"]] += 1
                            cov.append(it["coverage"])
        mean = sum(cov) / len(cov)
        print(f"{level:.0%} band: coverage {min(cov):.1%}..{max(cov):.1%} (mean {mean:.1%}); "
              f"vs EWMA {dict(ewma)}; vs GARCH {dict(garch)}")  # fmt: skip
        for what, by in (("series", by_series), ("architecture", by_arch)):
            print(f"  vs GARCH by {what}: " + "; ".join(f"{k} {dict(c)}" for k, c in by.items()))


def main() -> None:
    rows = [r for r in json.loads(Path(sys.argv[1]).read_text()) if "error" not in r]
    points(rows)
    bands(rows)


if __name__ == "__main__":
    main()

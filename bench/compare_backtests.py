"""Two runs of `bench/backtest_all.py` side by side: where did the point skill move?

    python bench/compare_backtests.py OLD.json NEW.json

For every series and horizon in both: the skill against the best naive forecast in each run,
the change, and whether the new skill lies below the old one by more than the new 95% CI's
half-width (the bar "no worse than before by more than the CI"). The two runs may differ in
how the comparator is chosen and in the error unit; the script says so when they do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def skill(h: dict) -> tuple[float, float]:
    """(value, half-width of the 95% CI) of a horizon's skill against the best naive forecast."""
    s = h["skill_vs_best"]
    return s["value"], (s["high"] - s["low"]) / 2


def main() -> None:
    old_path, new_path = (Path(a) for a in sys.argv[1:3])
    old = {r["ticker"]: r for r in json.loads(old_path.read_text()) if "horizons" in r}
    new = {r["ticker"]: r for r in json.loads(new_path.read_text()) if "horizons" in r}
    print("| series | h | old skill | new skill (95% CI half-width) | change | worse by more "
          "than CI |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    worse, n = [], 0
    for sym in [s for s in new if s in old]:
        for ho, hn in zip(old[sym]["horizons"], new[sym]["horizons"], strict=True):
            (vo, _), (vn, half) = skill(ho), skill(hn)
            flag = vn < vo - half
            n += 1
            if flag:
                worse.append(f"{sym} h={hn['h']}")
            print(f"| {sym} | {hn['h']} | {vo:+.2%} | {vn:+.2%} (±{half:.2%}) | "
                  f"{vn - vo:+.2%} | {'yes' if flag else 'no'} |")  # fmt: skip
    print(
        f"\n{len(worse)} of {n} series-horizons worse by more than the new CI's half-width"
        + (f": {', '.join(worse)}" if worse else "")
    )


if __name__ == "__main__":
    main()

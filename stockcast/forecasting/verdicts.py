"""Verdicts in words: a skill's confidence interval read as better / indistinguishable / worse.

Light on purpose (no scipy): `predict` prints these from a saved model's test metrics.
"""

from __future__ import annotations

from typing import Literal

Verdict = Literal["better", "indistinguishable", "worse"]
BAND_NAMES = {"ewma": "the EWMA band", "garch": "the GARCH(1,1)-t band"}


def verdict(low: float, high: float) -> Verdict:
    """'better' when the skill CI lies above 0, 'worse' when below, else 'indistinguishable'."""
    if low > 0.0:
        return "better"
    if high < 0.0:
        return "worse"
    return "indistinguishable"


def _pct(x: float) -> str:
    """Signed percentage with one decimal, never '-0.0'."""
    return f"{round(100.0 * x, 1) + 0.0:+.1f}"


def describe_skill(name: str, value: float, low: float, high: float, level: float = 0.95) -> str:
    """E.g. 'better than drift (skill +1.3%, 95% CI +0.4..+2.2)'."""
    label = {"better": "better than", "worse": "worse than"}.get(
        verdict(low, high), "indistinguishable from"
    )
    ci = f"{round(100 * level):d}% CI {_pct(low)}..{_pct(high)}"
    return f"{label} {name} (skill {_pct(value)}%, {ci})"


def verdict_line(row: dict, h: int) -> str:
    """One sentence on the model's band against the baseline bands at one level and horizon."""
    parts = []
    for base in BAND_NAMES:
        s = row.get(f"skill_vs_{base}")
        if s is None:
            continue
        parts.append(describe_skill(BAND_NAMES[base], s["value"], s["low"], s["high"]))
    level = f"{row['level'] * 100:g}%"
    return f"At h={h} the {level} band is " + "; ".join(parts) + " in interval score."

"""The naive forecast an untrained network starts from: its candidates and its words.

Every member's output bias is set so that, untrained, it forecasts the log return

    start[h] = s[h] * drift[h]

at horizon h: ``s[h] = 0`` is persistence ("tomorrow = today"), ``s[h] = 1`` drift (h times
the mean daily log return of the training part), 0.5 their midpoint. Early stopping keeps that
start (epoch 0) unless a trained epoch beats it on validation, so the start is the floor of
every model. ``choosestart.choose`` picks ``s[h]`` from ``CANDIDATES`` on the validation part
only: drift, unless persistence or the midpoint has a lower validation MAE of price forecasts by
a Diebold-Mariano test at ``LEVEL`` (of two such, the lower MAE wins). This module is light (no
scipy): `predict` reads the words of a saved model's start through it.

Why drift first and a test to leave it (``bench/naive_start.py``, the 11 bundled series on the
default split and on the 5 walk-forward folds of each): the plain validation argmin over
{0, 0.5, 1} follows a flat validation period into a trending test period (MSFT: persistence on
validation, -2.2% at h=5 on test); drift alone and this rule measure best, this rule slightly
ahead, and it still starts at persistence where validation clearly contradicts drift. No rule
fitted on the past can know that the trend flips after validation.

Models saved before the choice existed started at the midpoint (``LEGACY``) at every horizon.
"""

from __future__ import annotations

from collections.abc import Sequence

from stockcast.models.manifest import LEGACY_START_DRIFT as LEGACY

CANDIDATES = (1.0, 0.5, 0.0)  # drift shares: drift (the default), the midpoint, persistence
LEVEL = 0.05  # leave drift only when the validation difference is significant at this level
NAMES = {0.0: "persistence", 0.5: "half the drift", 1.0: "drift"}


def legacy(horizon: int) -> list[float]:
    """The start of a model saved before the choice: the midpoint at every horizon."""
    return [LEGACY] * horizon


def describe(shares: Sequence[float]) -> str:
    """The start in words, runs of equal horizons together: "persistence at h=1-3, drift at
    h=4-5"; one name when every horizon agrees ("drift")."""
    vals = [float(s) for s in shares]
    if not vals:
        return "no start"
    if len(set(vals)) == 1:
        return _name(vals[0])
    runs: list[tuple[int, int, float]] = []  # (first h, last h, share)
    for h, s in enumerate(vals, start=1):
        if runs and runs[-1][2] == s:
            runs[-1] = (runs[-1][0], h, s)
        else:
            runs.append((h, h, s))
    return ", ".join(f"{_name(s)} at h={a}" + (f"-{b}" if b > a else "") for a, b, s in runs)


def _name(share: float) -> str:
    return NAMES.get(share, f"{share:g} x drift")

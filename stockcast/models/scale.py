"""How a scale network's outputs are read (``training/scale.py`` trains it).

A scale member maps a window (B, L, F) to ``log m_h`` (B, H): the log of a multiplier on the
EWMA scale ``vol * sqrt(h)`` of the h-session log return, the scale of a Gaussian or a Student-t
with ``NU`` degrees of freedom. The EWMA scale carries the level of volatility (which moves far
between decades, where a network would have to extrapolate); the network learns how the next
moves deviate from it, and its untrained start (a constant multiplier) is the EWMA band itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NU = 5.0  # degrees of freedom of the Student-t likelihood (daily stock returns: about 4-8)
KINDS = {"model": "gaussian", "model-t": "student-t"}  # --band value -> likelihood


def std_factor(kind: str) -> float:
    """Standard deviation per unit of the likelihood's scale: 1 (Gaussian), sqrt(nu/(nu-2))."""
    return 1.0 if kind == "gaussian" else math.sqrt(NU / (NU - 2.0))


def ewma_scale(vol: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H) the EWMA scale ``max(vol, 1e-6) * sqrt(h)`` of the h-session log return."""
    v = np.maximum(np.asarray(vol, float).reshape(-1), 1e-6)
    return v[:, None] * np.sqrt(np.arange(1, horizon + 1))[None, :]


def sigma(out: np.ndarray, vol: np.ndarray, kind: str) -> np.ndarray:
    """(N, H) standard deviations of the h-session log returns from the log multipliers ``out``
    (N, H) and the EWMA vol (N,) at the same as-of sessions."""
    out = np.asarray(out, float)
    return np.exp(out) * ewma_scale(vol, out.shape[1]) * std_factor(kind)


@dataclass(frozen=True)
class ScaleHead:
    """How a model's band scale is made: the network's likelihood and, per horizon, whether the
    network's scale is used (it beat the EWMA scale on validation) or the EWMA scale is."""

    kind: str  # "gaussian" or "student-t"
    use: tuple[bool, ...]  # (H,) True: the network's scale at h; False: vol * sqrt(h)

    def scales(self, out: np.ndarray | None, vol: np.ndarray) -> np.ndarray:
        """(N, H) band scales from the network's outputs ``out`` (N, H) (None: EWMA only) and
        the EWMA vol (N,) at the same as-of sessions."""
        ewma = ewma_scale(vol, len(self.use))
        if out is None or not any(self.use):
            return ewma
        return np.where(np.asarray(self.use)[None, :], sigma(out, vol, self.kind), ewma)

    def describe(self) -> str:
        """E.g. "network scale at h=1-5" or "EWMA scale at h=4-5 (network not better there)"."""
        net = [h + 1 for h, u in enumerate(self.use) if u]
        if len(net) == len(self.use):
            return f"network scale ({self.kind} likelihood) at every horizon"
        if not net:
            return "EWMA scale at every horizon (the network's was not better on validation)"
        ewma = [h + 1 for h, u in enumerate(self.use) if not u]
        return (
            f"network scale at h={','.join(map(str, net))}, EWMA scale at "
            f"h={','.join(map(str, ewma))} (the network's was not better there on validation)"
        )

    def to_dict(self) -> dict:
        return {"kind": self.kind, "use": list(self.use)}

    @classmethod
    def from_dict(cls, d: dict | None) -> ScaleHead | None:
        """None (no scale network: the EWMA band of older models) for a missing entry."""
        if not d:
            return None
        return cls(kind=str(d["kind"]), use=tuple(bool(u) for u in d["use"]))

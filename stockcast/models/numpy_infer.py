"""Inference without torch: the forward passes of the registered architectures in numpy.

`predict` forecasts one window; importing torch to do it costs seconds, the arithmetic
microseconds. These functions compute what each architecture's ``Model.forward`` computes in
eval mode (dropout off), on the state dict that ``store.load_numpy`` reads with safetensors'
numpy loader: the keys and shapes are torch's (``nn.LSTM``/``nn.GRU`` with ``batch_first``,
``nn.Linear``). Weights and inputs are float32 as in torch; the arithmetic is float64, so the
outputs agree with torch's to float32 rounding (tests/test_fast_predict.py holds the two
routes together). They live here, not in the architecture files, because those import torch.

An architecture without an entry in ``FORWARDS`` is predicted with torch (``predictor``
returns None); adding one stays one file plus one registry line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

Weights = Mapping[str, np.ndarray]
Forward = Callable[[Mapping, Weights, np.ndarray], np.ndarray]  # (model_config, weights, x)
Predict = Callable[[np.ndarray], np.ndarray]  # (B, L, F) scaled windows -> (B, H) scaled outputs


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


def _f64(w: np.ndarray) -> np.ndarray:
    return np.asarray(w, dtype=np.float64)


def _linear(w: Weights, name: str, x: np.ndarray) -> np.ndarray:
    """``nn.Linear`` ``name``: (..., in) -> (..., out)."""
    return x @ _f64(w[f"{name}.weight"]).T + _f64(w[f"{name}.bias"])


def _input_gates(w: Weights, rnn: str, layer: int, x: np.ndarray) -> np.ndarray:
    """x W_ih^T + b_ih + b_hh for every step at once: (B, L, in) -> (B, L, G*D)."""
    sfx = f"_l{layer}"
    return x @ _f64(w[f"{rnn}.weight_ih{sfx}"]).T + _f64(w[f"{rnn}.bias_ih{sfx}"])


def lstm_layer(w: Weights, rnn: str, layer: int, x: np.ndarray) -> np.ndarray:
    """One ``nn.LSTM`` layer, gates i, f, g, o: (B, L, in) -> (B, L, D)."""
    sfx = f"_l{layer}"
    w_hh = _f64(w[f"{rnn}.weight_hh{sfx}"]).T  # (D, 4D)
    gx = _input_gates(w, rnn, layer, x) + _f64(w[f"{rnn}.bias_hh{sfx}"])  # -> (B, L, 4D)
    B, L, D = x.shape[0], x.shape[1], w_hh.shape[0]
    h, c = np.zeros((B, D)), np.zeros((B, D))
    out = np.empty((B, L, D))
    for t in range(L):
        g = gx[:, t] + h @ w_hh  # -> (B, 4D)
        i, f = _sigmoid(g[:, :D]), _sigmoid(g[:, D : 2 * D])
        cand, o = np.tanh(g[:, 2 * D : 3 * D]), _sigmoid(g[:, 3 * D :])
        c = f * c + i * cand
        h = o * np.tanh(c)
        out[:, t] = h
    return out


def gru_layer(w: Weights, rnn: str, layer: int, x: np.ndarray) -> np.ndarray:
    """One ``nn.GRU`` layer, gates r, z, n, with ``b_hn`` inside the reset product:
    (B, L, in) -> (B, L, D)."""
    sfx = f"_l{layer}"
    w_hh = _f64(w[f"{rnn}.weight_hh{sfx}"]).T  # (D, 3D)
    b_hh = _f64(w[f"{rnn}.bias_hh{sfx}"])  # (3D,)
    gx = _input_gates(w, rnn, layer, x)  # -> (B, L, 3D)
    B, L, D = x.shape[0], x.shape[1], w_hh.shape[0]
    h = np.zeros((B, D))
    out = np.empty((B, L, D))
    for t in range(L):
        gh = h @ w_hh + b_hh  # -> (B, 3D)
        r = _sigmoid(gx[:, t, :D] + gh[:, :D])
        z = _sigmoid(gx[:, t, D : 2 * D] + gh[:, D : 2 * D])
        n = np.tanh(gx[:, t, 2 * D :] + r * gh[:, 2 * D :])
        h = (1.0 - z) * n + z * h
        out[:, t] = h
    return out


def _recurrent_forward(layer_fn: Callable, rnn: str) -> Forward:
    """The forward of ``lstm.Model``/``gru.Model``: stacked layers, last state, linear head."""

    def forward(cfg: Mapping, w: Weights, x: np.ndarray) -> np.ndarray:
        # B batch, L lookback, F features, D hidden units, H horizons
        out = _f64(np.asarray(x, dtype=np.float32))  # (B, L, F), rounded like torch's x.float()
        for layer in range(int(cfg.get("layers", 1))):
            out = layer_fn(w, rnn, layer, out)  # -> (B, L, D)
        return _linear(w, "head", out[:, -1, :])  # -> (B, H)

    return forward


FORWARDS: dict[str, Forward] = {
    "gru": _recurrent_forward(gru_layer, "gru"),
    "lstm": _recurrent_forward(lstm_layer, "lstm"),
}
_GATES = {"gru": 3, "lstm": 4}  # gate blocks stacked in each recurrent weight


def expected_shapes(arch: str, cfg: Mapping) -> dict[str, tuple[int, ...]]:
    """The state-dict keys and shapes of one ``Model`` of ``arch`` (what torch's strict
    ``load_state_dict`` would demand)."""
    F, H = int(cfg["n_features"]), int(cfg["horizon"])
    D, G = int(cfg["hidden"]), _GATES[arch]
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(int(cfg.get("layers", 1))):
        sfx = f"_l{layer}"
        shapes[f"{arch}.weight_ih{sfx}"] = (G * D, F if layer == 0 else D)
        shapes[f"{arch}.weight_hh{sfx}"] = (G * D, D)
        shapes[f"{arch}.bias_ih{sfx}"] = (G * D,)
        shapes[f"{arch}.bias_hh{sfx}"] = (G * D,)
    shapes["head.weight"], shapes["head.bias"] = (H, D), (H,)
    return shapes


def predictor(arch: str, cfg: Mapping, weights: Weights, ensemble: int = 1) -> Predict | None:
    """The numpy forward of a saved model of ``arch`` (``ensemble`` > 1: the mean of its
    members' scaled outputs, as ``ensemble.Ensemble``); None when ``arch`` has none.

    ValueError when ``weights`` are not exactly the model's state dict.
    """
    forward = FORWARDS.get(arch)
    if forward is None:
        return None
    one = expected_shapes(arch, cfg)
    prefixes = [f"members.{i}." for i in range(ensemble)] if ensemble > 1 else [""]
    want = {p + k: shape for p in prefixes for k, shape in one.items()}
    if set(weights) != set(want):
        raise ValueError(f"state dict keys differ from a {arch} model's")
    bad = [k for k, shape in want.items() if tuple(weights[k].shape) != shape]
    if bad:
        raise ValueError(f"state dict shape of {bad[0]} differs from a {arch} model's")
    parts = [{k: weights[p + k] for k in one} for p in prefixes]

    def predict(x: np.ndarray) -> np.ndarray:
        outs = np.stack([forward(cfg, w, x) for w in parts])  # (B, L, F) -> (K, B, H)
        return outs.mean(axis=0)  # -> (B, H)

    return predict

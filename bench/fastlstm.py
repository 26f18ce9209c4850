"""CPU training speed: a fused LSTM kernel on ``nn.LSTM``'s own parameters, and the allocator.

``tune_cpu_allocator()`` is what stockcast's CPU training uses by default (see its docstring):
it about doubled nn.LSTM's training throughput at batch 256 on the benchmark machine.

``lstm_forward(lstm, x)`` computes what ``lstm(x)[0]`` computes (batch_first, any number of
layers, dropout between layers, zero initial state), with a hand-written backward. The
parameters stay the ``nn.LSTM``'s, so saved weights load into ``nn.LSTM`` (and cuDNN)
unchanged. It is off by default (``ENABLED``, ``STOCKCAST_FASTLSTM=1``): it trained about
1.7x faster than nn.LSTM with glibc's default allocator, but 0.8-0.9x once the allocator is
tuned. What it does (each step measured, see BENCHMARKS.md):

* Each step is one GEMM ``[x_t, h_{t-1}] @ [W_ih, W_hh]^T + b``; the backward gets ``dW_ih``,
  ``dW_hh`` and both biases from one GEMM over all steps (``[x; h_prev; 1]^T @ dG``), so the
  step loop only does ``dG @ W_hh`` plus a dozen in-place pointwise ops on small tensors.
* Float32 GEMMs go through oneDNN (``torch.ops.mkldnn._linear_pointwise``), which uses
  AVX-512 where MKL's ``torch.mm`` did not on the AMD CPU we measured (about 2x).
* tanh is computed as ``2 sigmoid(2x) - 1`` (ATen's tanh was 3x slower than its sigmoid):
  the g-gate rows are doubled for the forward, and the cell state is kept doubled.
* Gate rows are reordered from PyTorch's (i, f, g, o) to (o, i, f, g) inside the kernel, so
  one sigmoid covers all four gates and each gate is a plain view.
* Large work buffers are pooled between calls (fresh ones were page-faulted in).
* With ``last_only=True`` (the forecaster reads only the top layer's last hidden state) the
  output gradient enters at the last step only; the first layer computes no input gradient
  unless ``x`` requires one.

Shapes: B batch, L lookback (steps), In layer input size, H hidden size, G = 4H gate rows.
Buffers are time-major, (L, B, .), so that one step is a contiguous (B, .) slice.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

__all__ = ["ENABLED", "MIN_BATCH", "lstm_forward", "supports", "tune_cpu_allocator", "use_for"]

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters
_allocator_tuned: bool | None = None  # None until the first call has tried


def tune_cpu_allocator() -> bool:
    """Keep freed memory in the process instead of returning it to the OS (glibc only; once).

    Measured on the 2-core benchmark CPU: nn.LSTM training at batch 256 spent about half its
    time page-faulting in fresh oneDNN work buffers, because glibc serves allocations of
    more than 128 KiB with mmap and unmaps them on free. Without mmap and with a high trim
    threshold the buffers are reused: about 2x the windows/s at batch 256 (BENCHMARKS.md).
    Peak RSS of `stockcast train MSFT` rose about 10% (511 -> 566 MiB). Returns whether the
    setting is in effect; a no-op elsewhere than glibc, or with STOCKCAST_MALLOC_TUNE=0.
    """
    global _allocator_tuned
    if _allocator_tuned is None:  # train_step calls this per batch: try once, not every time
        _allocator_tuned = False
        if os.environ.get("STOCKCAST_MALLOC_TUNE", "1") != "0":
            try:
                import ctypes

                libc = ctypes.CDLL("libc.so.6")
                ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
                _allocator_tuned = ok and libc.mallopt(_M_TRIM_THRESHOLD, 512 * 2**20) == 1
            except (OSError, AttributeError):
                pass
    return _allocator_tuned


# Off by default: once the allocator keeps freed memory (tune_cpu_allocator), nn.LSTM's own
# oneDNN kernel trained faster than this one in every configuration measured (BENCHMARKS.md).
# STOCKCAST_FASTLSTM=1 turns it on, for comparisons and for platforms where that may differ.
ENABLED = os.environ.get("STOCKCAST_FASTLSTM", "0") == "1"
# Below this batch size nn.LSTM trained faster than this kernel even without the allocator
# setting (per-step Python overhead); see BENCHMARKS.md.
MIN_BATCH = 256
# Below this many rows a step GEMM is faster in MKL than in oneDNN (call overhead); measured.
ONEDNN_MIN_ROWS = 64
_onednn_op = None  # torch.ops.mkldnn._linear_pointwise once checked, False if unusable


def use_for(lstm: nn.LSTM, x: Tensor) -> bool:
    """Whether to train ``lstm`` on ``x`` with this kernel: enabled, gradients on, a supported
    configuration, and a batch large enough to be faster than ``nn.LSTM``."""
    return (
        ENABLED
        and torch.is_grad_enabled()
        and x.dim() == 3
        and x.shape[0] >= MIN_BATCH
        and supports(lstm, x)
    )


def supports(lstm: nn.LSTM, x: Tensor) -> bool:
    """Whether ``lstm_forward`` handles this module and input (otherwise call ``lstm``)."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.dim() == 3
        and x.shape[0] > 0
        and x.shape[1] > 0
        and lstm.batch_first
        and lstm.bias
        and not lstm.bidirectional
        and lstm.proj_size == 0
        and all(p.device.type == "cpu" and p.dtype == x.dtype for p in lstm.parameters())
    )


# -- reused buffers -------------------------------------------------------------------------------

# Large work buffers are kept between calls: fresh ones of several MB come from the OS and were
# page-faulted in on first touch, which cost more than a third of the backward here. A buffer
# is taken by a forward and given back when its backward is done (never while in use).
_POOL: dict[tuple, list[Tensor]] = {}
_POOL_KEEP = 4  # most spare buffers kept per shape


def _take(shape: tuple[int, ...], like: Tensor) -> Tensor:
    spare = _POOL.get((shape, like.dtype))
    return spare.pop() if spare else like.new_empty(shape)


def _give(*buffers: Tensor) -> None:
    for b in buffers:
        spare = _POOL.setdefault((tuple(b.shape), b.dtype), [])
        if len(spare) < _POOL_KEEP:
            spare.append(b)


# -- GEMMs ----------------------------------------------------------------------------------------


def _onednn():
    """The oneDNN linear op when this torch build has a working one, else False."""
    global _onednn_op
    if _onednn_op is None:
        try:
            op = torch.ops.mkldnn._linear_pointwise
            a, w = torch.ones(2, 3), torch.ones(4, 3)
            plain = op(a, w, None, "none", [], "")
            added = op.binary(a, torch.ones(2, 4), w, None, "add")
            ok = torch.equal(plain, torch.full((2, 4), 3.0)) and torch.equal(added, plain + 1)
            _onednn_op = op if ok and torch.backends.mkldnn.is_available() else False
        except (AttributeError, RuntimeError):
            _onednn_op = False
    return _onednn_op


def _use_onednn(x: Tensor) -> bool:
    return x.dtype == torch.float32 and x.shape[0] >= ONEDNN_MIN_ROWS and bool(_onednn())


def _linear(x: Tensor, w: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ w.T (+ bias)``; x (M, K) contiguous, w (N, K)."""
    if _use_onednn(x):
        return _onednn_op(x, w, bias, "none", [], "")
    return x @ w.t() if bias is None else torch.addmm(bias, x, w.t())


def _linear_add(x: Tensor, other: Tensor, w: Tensor) -> Tensor:
    """``other + x @ w.T`` in one call; a new tensor."""
    if _use_onednn(x):
        return _onednn_op.binary(x, other, w, None, "add")
    return torch.addmm(other, x, w.t())


# -- one layer ------------------------------------------------------------------------------------


def _gate_order(hidden: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Row permutation (i, f, g, o) -> (o, i, f, g) and its inverse."""
    blocks = torch.arange(4 * hidden, device=device).view(4, hidden)
    perm = blocks[[3, 0, 1, 2]].reshape(-1)
    return perm, torch.argsort(perm)


def _row_scale(hidden: int, like: Tensor, o: float, i: float, f: float, g: float) -> Tensor:
    """A (G, 1) column scaling the gate blocks (o, i, f, g) of a weight matrix."""
    return torch.tensor([o, i, f, g], dtype=like.dtype).repeat_interleave(hidden)[:, None]


# backward works with dG_f and dG_g that are 2x and x/4 the true gradients (doubled cell
# state, g from sigmoid(2x)); these row factors turn them into the true ones
_BWD_SCALE = (1.0, 1.0, 0.5, 4.0)


def _layer_forward(xin: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor) -> tuple:
    """One layer over the sequence. xin (L, B, In); weights in (o, i, f, g) order.

    Each step is one GEMM ``[x_t, h_{t-1}] @ [W_ih, W_hh]^T + b`` on a slice of ``z``
    (L+1, B, In+H), into whose next slice the step writes h_t; a separate input projection
    over all steps was slower here (reading it back from memory stalled the step GEMM).
    Returns z, the per-step activations [o, i, f, s] (B, G) with s = sigmoid(2 x_g), the
    doubled cell states 2c (L, B, H) and tanh(c) (L, B, H).
    """
    steps, batch, n_in = xin.shape
    hidden = w_hh.shape[1]
    dbl = _row_scale(hidden, w_hh, 1, 1, 1, 2)  # g = 2 sigmoid(2x) - 1
    w_cat, bias2 = torch.cat([w_ih, w_hh], 1) * dbl, bias * dbl[:, 0]  # -> (G, In+H)
    z = _take((steps + 1, batch, n_in + hidden), xin)
    z[:steps, :, :n_in].copy_(xin)
    z[steps, :, :n_in].zero_()
    z[0, :, n_in:].zero_()  # h_{-1} = 0
    cells = _take((steps, batch, hidden), xin)  # 2 c_t
    tanh_c = _take((steps, batch, hidden), xin)
    ones = xin.new_ones(batch, hidden)
    acts: list[Tensor] = []
    for t in range(steps):
        a = _linear(z[t], w_cat, bias2).sigmoid_()  # -> (B, G)
        o, i, f, s = a.view(batch, 4, hidden).unbind(1)  # g = 2s - 1
        c, tc = cells[t], tanh_c[t]
        if t == 0:
            c.zero_()
        else:
            torch.mul(f, cells[t - 1], out=c)
        c.addcmul_(i, s, value=4).add_(i, alpha=-2)  # 2c = f 2c_prev + 2 i (2s - 1)
        torch.sigmoid(c, out=tc)
        tc.add_(tc).sub_(ones)  # tanh(c) = 2 sigmoid(2c) - 1
        torch.mul(o, tc, out=z[t + 1, :, n_in:])  # h_t
        acts.append(a)
    return z, acts, cells, tanh_c


def _layer_backward(
    dh: Tensor, dh_seq: Tensor | None, acts: list[Tensor], cells: Tensor, tanh_c: Tensor, w_bwd
) -> Tensor:
    """Gate gradients dG (L, B, G), f and g blocks scaled by 2 and 1/4 (see _BWD_SCALE).

    ``dh`` (B, H) is the gradient reaching h at the last step; ``dh_seq`` (L, B, H), if given,
    the gradient reaching h at every earlier step (from the layer above or the output).
    ``w_bwd`` (H, G) is the transposed, row-scaled recurrent weight: dh_prev = dG @ w_bwd.T.
    """
    steps, batch, hidden = cells.shape
    dgates = _take((steps, batch, 4 * hidden), cells)
    dc = cells.new_zeros(batch, hidden)
    u = cells.new_empty(batch, hidden)
    ones = cells.new_ones(batch, hidden)
    for t in range(steps - 1, -1, -1):
        a, tc, d = acts[t], tanh_c[t], dgates[t]
        o, i, f, s = a.view(batch, 4, hidden).unbind(1)
        torch.addcmul(ones, tc, tc, value=-1, out=u)
        dc.addcmul_(dh, u.mul_(o))  # dc += dh o (1 - tanh(c)^2)
        torch.addcmul(a, a, a, value=-1, out=d)  # sigmoid'(x) = a (1 - a), all four blocks
        d_o, d_i, d_f, d_g = d.view(batch, 4, hidden).unbind(1)
        d_o.mul_(tc).mul_(dh)  # dh tanh(c) o'
        torch.add(s, s, out=u).sub_(ones)  # g = 2s - 1
        d_i.mul_(u).mul_(dc)  # dc g i'
        if t > 0:
            d_f.mul_(cells[t - 1]).mul_(dc)  # dc (2 c_prev) f'
        else:
            d_f.zero_()
        d_g.mul_(i).mul_(dc)  # dc i s' (x4 in _BWD_SCALE)
        if t > 0:  # gradients reaching h_{t-1} (dG @ W_hh, plus the layer above's) and c_{t-1}
            dh = _linear(d, w_bwd) if dh_seq is None else _linear_add(d, dh_seq[t - 1], w_bwd)
            dc.mul_(f)
    return dgates


def _layer_grads(z: Tensor, dgates: Tensor, scale: Tensor) -> tuple[Tensor, ...]:
    """dW_ih, dW_hh, db (permuted order) from one GEMM: [x_t, h_{t-1}, 1]^T @ dG, all steps."""
    steps, batch, gates = dgates.shape
    width = z.shape[2]  # In + H
    zt = _take((width + 1, steps, batch), z)  # feature-major  # -> (In+H+1, L, B)
    zt[:width].copy_(z[:steps].permute(2, 0, 1))
    zt[width].fill_(1.0)  # bias gradient = column sums
    dwt = _linear(zt.view(width + 1, -1), dgates.view(steps * batch, gates).t())
    _give(zt)
    dw = dwt.t() * scale  # -> (G, In+H+1)
    n_in = width - gates // 4
    return dw[:, :n_in], dw[:, n_in:width], dw[:, width]


def _stack_forward(xin: Tensor, weights: list, masks: list | None) -> tuple[list, Tensor]:
    """All layers on one batch slice; xin (L, b, F). Returns what the backward needs and the
    top layer's hidden states (L, b, H)."""
    saved = []
    for k, (w_ih, w_hh, bias) in enumerate(weights):
        z, acts, cells, tanh_c = _layer_forward(xin, w_ih, w_hh, bias)
        saved.append((z, acts, cells, tanh_c))
        xin = z[1:, :, w_ih.shape[1] :]  # h_t  # -> (L, b, H)
        if masks is not None and k < len(weights) - 1:
            xin = xin * masks[k]  # dropout between layers
    return saved, xin


def _stack_backward(
    saved: list, weights: list, masks: list | None, dh: Tensor, dh_seq: Tensor | None, need_dx
) -> tuple[Tensor | None, list]:
    """Backward through all layers of one batch slice: (dx (L, b, F) or None, per layer
    (dW_ih, dW_hh, db) in the permuted gate order). Gives the layers' buffers back to the
    pool, except the top layer's z when it backs the returned output (``dh_seq`` given)."""
    grads: list = [None] * len(weights)
    keep_top = dh_seq is not None
    for k in range(len(weights) - 1, -1, -1):
        (w_ih, w_hh, _), (z, acts, cells, tanh_c) = weights[k], saved[k]
        scale = _row_scale(cells.shape[2], cells, *_BWD_SCALE)
        w_bwd = (w_hh * scale).t().contiguous()  # -> (H, G)
        dgates = _layer_backward(dh, dh_seq, acts, cells, tanh_c, w_bwd)
        grads[k] = _layer_grads(z, dgates, scale)
        _give(cells, tanh_c, *([] if keep_top and k == len(weights) - 1 else [z]))
        if k == 0 and not need_dx:
            _give(dgates)
            return None, grads
        steps, batch, _ = dgates.shape
        w_in = (w_ih * scale).t().contiguous()  # -> (In, G)
        dxin = _linear(dgates.view(steps * batch, -1), w_in).view(steps, batch, -1)
        _give(dgates)
        if k > 0 and masks is not None:
            dxin.mul_(masks[k - 1])
        dh, dh_seq = dxin[-1], dxin
    return dh_seq, grads


class _FusedLSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, masks, last_only, *flat):  # type: ignore[override]
        # x (B, L, F); flat = (w_ih, w_hh, b_ih, b_hh) per layer, in nn.LSTM order
        hidden = flat[1].shape[1]
        perm, inv = _gate_order(hidden, x.device)
        weights = []
        for k in range(len(flat) // 4):
            w_ih, w_hh, b_ih, b_hh = (p.detach() for p in flat[4 * k : 4 * k + 4])
            weights.append((w_ih[perm], w_hh[perm], (b_ih + b_hh)[perm]))
        saved, top = _stack_forward(x.detach().transpose(0, 1), weights, masks)
        ctx.saved, ctx.weights, ctx.masks, ctx.inv = saved, weights, masks, inv
        ctx.last_only = last_only
        return top[-1].clone() if last_only else top.transpose(0, 1)  # -> (B, H) | (B, L, H)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        if ctx.last_only:
            dh, dh_seq = grad_out.contiguous(), None
        else:
            dh_seq = grad_out.transpose(0, 1).contiguous()  # -> (L, B, H)
            dh = dh_seq[-1]
        need_dx = ctx.needs_input_grad[0]
        dx, per_layer = _stack_backward(ctx.saved, ctx.weights, ctx.masks, dh, dh_seq, need_dx)
        ctx.saved = None
        inv = ctx.inv
        grads = [g[inv] for d_w_ih, d_w_hh, d_b in per_layer for g in (d_w_ih, d_w_hh, d_b, d_b)]
        return (dx.transpose(0, 1) if need_dx else None, None, None, *grads)


def lstm_forward(
    lstm: nn.LSTM,
    x: Tensor,
    *,
    last_only: bool = False,
    masks: list[Tensor] | None = None,
) -> Tensor:
    """``lstm(x)[0]`` (B, L, H), or its last step (B, H) with ``last_only``, via the fused kernel.

    Dropout between layers follows ``lstm.dropout`` in training mode; ``masks`` (one (L, B, H)
    tensor per layer but the last, already scaled by 1/(1-p)) overrides it (for tests).
    """
    layers = lstm.num_layers
    if masks is None and lstm.training and lstm.dropout > 0 and layers > 1:
        keep = 1.0 - lstm.dropout
        shape = (x.shape[1], x.shape[0], lstm.hidden_size)
        masks = [
            torch.empty(shape, dtype=x.dtype).bernoulli_(keep).div_(keep) for _ in range(layers - 1)
        ]
    flat = [getattr(lstm, f"{n}_l{k}") for k in range(layers) for n in _NAMES]
    return _FusedLSTM.apply(x, masks, last_only, *flat)


_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

"""Connectionist temporal classification (Graves et al. 2006), PyTorch's ``F.ctc_loss``:
the negative log-probability of a target sequence summed over every alignment of it to
the T input frames, by the forward-backward recursions in log space.

The target l (length L) is extended with blanks, ``l' = (b, l₁, b, l₂, …, l_L, b)`` (length
S = 2L + 1). With ``y_t(c)`` the frame-t log-probability of class c:

    α_0(0) = y_0(b),  α_0(1) = y_0(l₁)
    α_t(s) = logsumexp(α_{t−1}(s), α_{t−1}(s − 1), [α_{t−1}(s − 2)]) + y_t(l'_s)
    β_{T−1}(S − 1) = y_{T−1}(b),  β_{T−1}(S − 2) = y_{T−1}(l_L)
    β_t(s) = logsumexp(β_{t+1}(s), β_{t+1}(s + 1), [β_{t+1}(s + 2)]) + y_t(l'_s)

where the bracketed skip is allowed only onto a label that differs from the label two
places before it. The loss is ``nll = −logsumexp(α_{T−1}(S − 1), α_{T−1}(S − 2))`` and its
derivative with respect to the log-probabilities

    ∂nll/∂y_t(c) = −Σ_{s: l'_s = c} exp(α_t(s) + β_t(s) − y_t(c) + nll)

(each path through (t, s) is counted once by α·β/y). PyTorch's backward returns this plus
``exp(y_t(c))``, a term that sums to one over c and that the backward of the
``log_softmax`` producing y cancels: gradients reaching the logits are the same.
"""

from __future__ import annotations

import numpy as np

from chainrule.autograd import Function

_NEG_INF = -np.inf


def _lse3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Elementwise log(e^a + e^b + e^c), −∞ where all three are −∞."""
    m = np.maximum(np.maximum(a, b), c)
    safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = safe + np.log(np.exp(a - safe) + np.exp(b - safe) + np.exp(c - safe))
    return np.where(np.isneginf(m), _NEG_INF, out)


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x moved k places along the last axis (right for k > 0, left for k < 0), −∞ in."""
    out = np.full_like(x, _NEG_INF)
    if k > 0:
        out[..., k:] = x[..., :-k]
    else:
        out[..., :k] = x[..., -k:]
    return out


class CTCLoss(Function):
    """log_probs (T, N, C) → per-sample negative log-likelihood (N,)."""

    __slots__ = ()

    def forward(self, lp: np.ndarray, *, ext: np.ndarray, s_len: np.ndarray,
                skip: np.ndarray, in_len: np.ndarray, zero_infinity: bool) -> np.ndarray:
        t_max, n, _ = lp.shape
        s_max = ext.shape[1]
        y = np.take_along_axis(lp.astype(np.float64), np.broadcast_to(ext, (t_max, n, s_max)),
                               axis=2)  # (T, N, S): y_t(l'_s)
        inside = np.arange(s_max)[None, :] < s_len[:, None]
        alpha = np.full((t_max, n, s_max), _NEG_INF)
        alpha[0, :, :2] = np.where(inside[:, :2], y[0, :, :2], _NEG_INF)
        for t in range(1, t_max):
            a = alpha[t - 1]
            alpha[t] = np.where(inside, _lse3(a, _shift(a, 1),
                                              np.where(skip, _shift(a, 2), _NEG_INF)) + y[t],
                                _NEG_INF)
        last = in_len - 1
        rows = np.arange(n)
        end = alpha[last, rows]  # (N, S) at each sample's last frame
        final_a = end[rows, s_len - 1]
        final_b = np.where(s_len > 1, end[rows, np.maximum(s_len - 2, 0)], _NEG_INF)
        with np.errstate(divide="ignore", invalid="ignore"):
            nll = -np.logaddexp(final_a, final_b)
        zeroed = np.isinf(nll) & zero_infinity
        self.saved = (lp.shape, lp.dtype, y, alpha, ext, s_len, inside, skip, last, nll,
                      zeroed)
        return np.where(zeroed, 0.0, nll).astype(lp.dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        shape, dtype, y, alpha, ext, s_len, inside, skip, last, nll, zeroed = self.saved
        t_max, n, c = shape
        s_max = ext.shape[1]
        rows = np.arange(n)
        skip_up = _shift(np.where(skip, 0.0, _NEG_INF), -2)  # may s + 2 be reached from s
        beta = np.full((t_max, n, s_max), _NEG_INF)
        init = np.full((n, s_max), _NEG_INF)  # β at each sample's last frame, less y
        init[rows, s_len - 1] = 0.0
        two = s_len > 1
        init[rows[two], s_len[two] - 2] = 0.0
        nxt = np.full((n, s_max), _NEG_INF)
        for t in range(t_max - 1, -1, -1):
            rec = _lse3(nxt, _shift(nxt, -1), _shift(nxt, -2) + skip_up) + y[t]
            here = np.where((t == last)[:, None], init + y[t],
                            np.where((t < last)[:, None], rec, _NEG_INF))
            beta[t] = nxt = np.where(inside, here, _NEG_INF)
        with np.errstate(over="ignore", invalid="ignore"):
            share = np.exp(alpha + beta - y + nll[None, :, None])  # (T, N, S)
        grad = np.zeros((t_max, n, c))
        t_idx = np.arange(t_max)[:, None, None]
        np.add.at(grad, (t_idx, rows[None, :, None], np.broadcast_to(ext, share.shape)),
                  np.where(np.isneginf(alpha + beta), 0.0, -share))
        grad[:, zeroed] = 0.0
        return (grad * g[None, :, None]).astype(dtype)


def extend_targets(targets: list[np.ndarray], blank: int) -> tuple[np.ndarray, ...]:
    """(ext, s_len, skip): every target with blanks around and between its labels, padded
    with blanks to one length; each one's extended length; and where the skip from
    s − 2 to s is allowed (a label unlike the one two places before)."""
    n = len(targets)
    longest = max((len(t) for t in targets), default=0)
    ext = np.full((n, 2 * longest + 1), blank, np.int64)
    for i, t in enumerate(targets):
        ext[i, 1:2 * len(t):2] = t
    s_len = np.array([2 * len(t) + 1 for t in targets], np.int64)
    skip = np.zeros(ext.shape, bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    return ext, s_len, skip


__all__ = ["extend_targets"]

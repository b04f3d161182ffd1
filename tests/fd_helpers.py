"""Shared test helper: backward's gradients against central differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import chainrule as cr
from chainrule.diagnostics.gradcheck import numerical_gradient


def check_grads(fn: Callable[[], cr.Tensor], tensors: list[cr.Tensor], eps: float = 1e-6,
                rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Assert that ``fn().backward()`` fills every tensor's ``.grad`` with the central
    difference of the scalar ``fn()`` (float64 tensors expected)."""
    for t in tensors:
        t.grad = None
    fn().backward()
    for k, t in enumerate(tensors):
        assert t.grad is not None, f"input {k} got no gradient"
        numeric = numerical_gradient(fn, t, eps)
        np.testing.assert_allclose(t.grad, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {k} (shape {t.shape})")

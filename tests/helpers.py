"""Shared test helpers: gradients against central differences and against PyTorch; loading
example scripts."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType

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


EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def load_example(relative: str) -> ModuleType:
    """Import ``examples/<relative>.py`` (e.g. ``"experiments/vanishing"``) under a unique
    module name, so scripts with the same file name never collide."""
    path = os.path.abspath(os.path.join(EXAMPLES, f"{relative}.py"))
    name = "chainrule_example_" + relative.replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compare_with_torch(cr_fn: Callable, torch_fn: Callable, *arrays: np.ndarray,
                       needs: tuple[bool, ...] | None = None, tol: float = 1e-12,
                       unused_ok: bool = False) -> None:
    """Same function, inputs and output gradient in chainrule and PyTorch (float64; integer
    arrays keep their dtype): outputs and input gradients agree within ``tol`` (NaN where
    PyTorch has NaN). ``needs`` says which inputs want a gradient (default: all);
    ``unused_ok`` lets an input the output does not depend on have no gradient on both
    sides (expand_as's shape donor)."""
    import torch

    needs = needs or (True,) * len(arrays)
    xs = [cr.tensor(a, requires_grad=n, dtype=None if a.dtype.kind in "iu" else "float64")
          for a, n in zip(arrays, needs)]
    ts = [torch.tensor(a, dtype=None if a.dtype.kind in "iu" else torch.float64,
                       requires_grad=n) for a, n in zip(arrays, needs)]
    out, ref = cr_fn(*xs), torch_fn(*ts)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(99).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if not t.requires_grad or (unused_ok and t.grad is None and x.grad is None):
            continue
        expected = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        assert x.grad is not None, f"input {i} got no gradient"
        assert np.asarray(x.grad).dtype == np.float64
        np.testing.assert_allclose(x.grad, expected, rtol=tol, atol=tol,
                                   err_msg=f"gradient of input {i}")

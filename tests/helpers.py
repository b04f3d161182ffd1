"""Shared test helpers: gradients against central differences; loading example scripts."""

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

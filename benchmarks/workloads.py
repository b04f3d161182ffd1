"""The benchmark workloads, built by the same code in chainrule and PyTorch.

chainrule keeps PyTorch's names (``nn.Linear``, ``optim.Adam``, ``F.cross_entropy``), so
one builder takes either framework's namespaces. ``build(framework, name)`` returns
``step()``, one full training step (zero_grad → forward → loss → backward → optimizer
step) on fixed random data of the workload's shapes. Weights start equal on both sides
(PyTorch copies chainrule's initial state_dict).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

WORKLOADS = ["tiny_mlp", "mnist_mlp", "wide_mlp", "lenet", "char_lstm", "tiny_transformer"]

SPECS: dict[str, dict[str, Any]] = {
    "tiny_mlp": dict(sizes=[2, 16, 16, 1], act="tanh", loss="mse", opt="sgd", lr=0.1, batch=32),
    "mnist_mlp": dict(sizes=[784, 512, 256, 10], act="relu", loss="ce", opt="adam", lr=1e-3,
                      batch=128),
    "wide_mlp": dict(sizes=[1024, 4096, 4096, 1024], act="relu", loss="mse", opt="sgd",
                     lr=0.01, batch=512),
    "lenet": dict(batch=64, opt="sgd_momentum", lr=0.01),
    "char_lstm": dict(batch=32, seq=64, vocab=65, embed=64, hidden=128, opt="adam", lr=1e-3),
    "tiny_transformer": dict(batch=32, seq=64, vocab=65, d_model=128, heads=4, layers=2,
                             opt="adamw", lr=1e-3),
}


def mlp_flops(sizes: list[int], batch: int) -> float:
    """Forward GEMMs cost 2·B·in·out each; backward needs two more per layer (the first
    layer's input gradient is skipped, as both frameworks do)."""
    fwd = sum(2 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    bwd = 2 * fwd - 2 * batch * sizes[0] * sizes[1]
    return float(fwd + bwd)


def _data(name: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    s = SPECS[name]
    if name in ("tiny_mlp", "mnist_mlp", "wide_mlp"):
        x = rng.standard_normal((s["batch"], s["sizes"][0])).astype(np.float32)
        if s["loss"] == "ce":
            y = rng.integers(0, s["sizes"][-1], s["batch"])
        else:
            y = rng.standard_normal((s["batch"], s["sizes"][-1])).astype(np.float32)
        return {"x": x, "y": y}
    if name == "lenet":
        return {"x": rng.standard_normal((s["batch"], 1, 28, 28)).astype(np.float32),
                "y": rng.integers(0, 10, s["batch"])}
    tokens = rng.integers(0, s["vocab"], (s["batch"], s["seq"] + 1))
    return {"x": tokens[:, :-1], "y": tokens[:, 1:]}


class _API:
    """One framework's namespaces, under the names both share."""

    def __init__(self, framework: str) -> None:
        self.name = framework
        if framework == "chainrule":
            import chainrule as cr
            import chainrule.functional as F
            from chainrule import nn, optim

            cr.manual_seed(0)
            self.as_tensor = cr.tensor
        else:
            import torch
            import torch.nn.functional as F
            from torch import nn, optim

            self.as_tensor = torch.from_numpy
        self.nn, self.optim, self.F = nn, optim, F


def _model(api: _API, name: str) -> Any:
    nn, s = api.nn, SPECS[name]
    if "sizes" in s:
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[s["act"]]
        layers: list = []
        for i, (a, b) in enumerate(zip(s["sizes"][:-1], s["sizes"][1:])):
            layers.append(nn.Linear(a, b))
            if i < len(s["sizes"]) - 2:
                layers.append(act())
        return nn.Sequential(*layers)
    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    import benchmarks_models as models  # type: ignore[import-not-found]

    if name == "char_lstm":
        return models.char_lstm(nn, s)
    if api.name == "chainrule":
        return models.cr_transformer(s)
    return models.torch_transformer(s)


def _copy_chainrule_init(model: Any, name: str) -> None:
    """Give a PyTorch model chainrule's initial weights where the key sets agree."""
    import torch

    cr_state = _model(_API("chainrule"), name).state_dict()
    own = model.state_dict()
    if set(own) == set(cr_state) and all(tuple(own[k].shape) == cr_state[k].shape
                                         for k in own):
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in cr_state.items()})


def _optimizer(api: _API, params: list, s: dict, fused: bool) -> Any:
    optim, kind = api.optim, s["opt"]
    extra = {"fused": True} if fused else {}
    if kind == "sgd":
        return optim.SGD(params, lr=s["lr"])
    if kind == "sgd_momentum":
        return optim.SGD(params, lr=s["lr"], momentum=0.9)
    if kind == "adam":
        return optim.Adam(params, lr=s["lr"], **extra)
    return optim.AdamW(params, lr=s["lr"], **extra)


def build(framework: str, name: str) -> Callable[[], None]:
    """One training step of workload ``name`` in ``chainrule``, ``torch`` or
    ``torch_fused`` (PyTorch with ``fused=True`` Adam/AdamW)."""
    if framework not in ("chainrule", "torch", "torch_fused"):
        raise ValueError(f"unknown framework {framework!r}")
    api = _API("chainrule" if framework == "chainrule" else "torch")
    s = SPECS[name]
    model = _model(api, name)
    if api.name == "torch":
        _copy_chainrule_init(model, name)
    model.train()
    opt = _optimizer(api, list(model.parameters()), s, fused=framework == "torch_fused")
    d = _data(name)
    x, y = api.as_tensor(d["x"]), api.as_tensor(d["y"])
    F = api.F
    mse = s.get("loss") == "mse"

    def step() -> None:
        opt.zero_grad()
        out = model(x)
        if mse:
            loss = F.mse_loss(out, y)
        else:  # sequence logits (B, T, V) score every position
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()

    return step

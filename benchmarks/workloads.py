"""The benchmark workloads, built identically in chainrule and PyTorch.

``build(framework, name)`` returns ``(step, info)``: ``step()`` runs one full training
step (zero_grad → forward → loss → backward → optimizer step) on fixed random data of the
workload's shapes; ``info`` carries the FLOPs of one step for matmul-bound workloads.
Weights start equal on both sides (PyTorch copies chainrule's initial state_dict).
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


# ---- chainrule ---------------------------------------------------------------------------

def _cr_model(name: str) -> Any:
    import chainrule as cr
    from chainrule import nn

    cr.manual_seed(0)
    s = SPECS[name]
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
    if name == "char_lstm":
        from benchmarks_models import CrCharLSTM  # type: ignore[import-not-found]

        return CrCharLSTM(s)
    from benchmarks_models import cr_transformer  # type: ignore[import-not-found]

    return cr_transformer(s)


def _cr_optimizer(params: list, s: dict) -> Any:
    from chainrule import optim

    kind = s["opt"]
    if kind == "sgd":
        return optim.SGD(params, lr=s["lr"])
    if kind == "sgd_momentum":
        return optim.SGD(params, lr=s["lr"], momentum=0.9)
    if kind == "adam":
        return optim.Adam(params, lr=s["lr"])
    return optim.AdamW(params, lr=s["lr"])


def _cr_build(name: str) -> Callable[[], None]:
    import chainrule as cr
    from chainrule import losses

    s = SPECS[name]
    model = _cr_model(name)
    model.train()
    opt = _cr_optimizer(list(model.parameters()), s)
    d = _data(name)
    x = cr.tensor(d["x"]) if d["x"].dtype.kind == "f" else d["x"]
    y = d["y"]
    loss_kind = s.get("loss", "ce")
    yt = cr.tensor(y) if loss_kind == "mse" else y

    def step() -> None:
        opt.zero_grad()
        out = model(x)
        if loss_kind == "mse":
            loss = losses.mse_loss(out, yt)
        else:
            if out.ndim == 3:
                out = out.reshape(-1, out.shape[-1])
            loss = losses.cross_entropy(out, yt.reshape(-1) if yt.ndim > 1 else yt)
        loss.backward()
        opt.step()

    step.model = model  # type: ignore[attr-defined]
    return step


# ---- PyTorch -----------------------------------------------------------------------------

def _torch_model(name: str) -> Any:
    import torch
    from torch import nn

    s = SPECS[name]
    if "sizes" in s:
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[s["act"]]
        layers: list = []
        for i, (a, b) in enumerate(zip(s["sizes"][:-1], s["sizes"][1:])):
            layers.append(nn.Linear(a, b))
            if i < len(s["sizes"]) - 2:
                layers.append(act())
        model = nn.Sequential(*layers)
    elif name == "lenet":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    elif name == "char_lstm":
        from benchmarks_models import TorchCharLSTM  # type: ignore[import-not-found]

        model = TorchCharLSTM(s)
    else:
        from benchmarks_models import torch_transformer  # type: ignore[import-not-found]

        model = torch_transformer(s)
    # same starting weights as chainrule where the key sets agree
    try:
        cr_state = _cr_model(name).state_dict()
        own = model.state_dict()
        if set(own) == set(cr_state) and all(tuple(own[k].shape) == cr_state[k].shape
                                             for k in own):
            model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                                   cr_state.items()})
    except Exception:  # noqa: BLE001 - init parity is a nicety, never a failure
        pass
    return model


def _torch_build(name: str, fused: bool = False) -> Callable[[], None]:
    import torch

    s = SPECS[name]
    model = _torch_model(name)
    model.train()
    kind = s["opt"]
    params = list(model.parameters())
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=s["lr"])
    elif kind == "sgd_momentum":
        opt = torch.optim.SGD(params, lr=s["lr"], momentum=0.9)
    elif kind == "adam":
        opt = torch.optim.Adam(params, lr=s["lr"], fused=fused or None)
    else:
        opt = torch.optim.AdamW(params, lr=s["lr"], fused=fused or None)
    d = _data(name)
    x = torch.from_numpy(d["x"])
    y = torch.from_numpy(d["y"])
    loss_kind = s.get("loss", "ce")
    mse = torch.nn.functional.mse_loss
    ce = torch.nn.functional.cross_entropy

    def step() -> None:
        opt.zero_grad()
        out = model(x)
        if loss_kind == "mse":
            loss = mse(out, y)
        else:
            if out.ndim == 3:
                out = out.reshape(-1, out.shape[-1])
            loss = ce(out, y.reshape(-1))
        loss.backward()
        opt.step()

    return step


def build(framework: str, name: str) -> Callable[[], None]:
    if framework == "chainrule":
        return _cr_build(name)
    if framework == "torch":
        return _torch_build(name)
    if framework == "torch_fused":
        return _torch_build(name, fused=True)
    raise ValueError(f"unknown framework {framework!r}")

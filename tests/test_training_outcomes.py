"""End-to-end learning outcomes promised by the engine: real data, fixed seeds, thresholds."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.losses import cross_entropy, mse_loss


def two_spirals(n_per_class: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals (the classic hard problem for a linear model)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.0, 1.0, n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise, (2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)]).astype(np.int64)
    return x.astype(np.float32), y


def test_xor_with_plain_sgd_and_mse() -> None:
    cr.manual_seed(0)
    x = cr.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = cr.tensor([[0], [1], [1], [0]], dtype="float32")
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid())
    opt = optim.SGD(model.parameters(), lr=2.0)
    for _ in range(5000):
        opt.zero_grad()
        loss = mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    assert np.array_equal(model(x).numpy().ravel() > 0.5, [False, True, True, False])
    assert model(x).dtype == np.float32


def test_mlp_with_relu_dropout_adam_fits_two_spirals() -> None:
    cr.manual_seed(1)
    x_np, y_np = two_spirals(300, noise=0.02, seed=1)
    x = cr.tensor(x_np)
    model = nn.Sequential(
        nn.Linear(2, 128), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(128, 128), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(128, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    for _ in range(300):
        idx = rng.permutation(len(y_np))
        for start in range(0, len(idx), 100):
            batch = idx[start:start + 100]
            opt.zero_grad()
            loss = cross_entropy(model(x[batch]), y_np[batch])
            loss.backward()
            opt.step()
    model.eval()
    with cr.no_grad():
        accuracy = (model(x).numpy().argmax(axis=1) == y_np).mean()
    assert accuracy >= 0.95, f"training accuracy {accuracy:.3f}"


def _first_and_last_grad_norms(model: nn.Module, x: cr.Tensor, y: cr.Tensor
                               ) -> tuple[float, float]:
    model.zero_grad()
    mse_loss(model(x), y).backward()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    first = float(np.linalg.norm(linears[0].weight.grad))
    last = float(np.linalg.norm(linears[-1].weight.grad))
    return first, last


def _deep_sigmoid(depth: int, width: int, block: str) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(4, width), nn.Sigmoid()]
    for _ in range(depth - 2):
        if block == "plain":
            layers += [nn.Linear(width, width), nn.Sigmoid()]
        elif block == "batchnorm":
            layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.Sigmoid()]
        else:
            layers.append(nn.Residual(nn.Sequential(nn.Linear(width, width), nn.Sigmoid())))
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def test_deep_sigmoid_gradients_vanish_and_batchnorm_or_residual_cure_it() -> None:
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((64, 4)), dtype=cr.float32)
    y = cr.tensor(rng.standard_normal((64, 1)), dtype=cr.float32)
    ratios = {}
    for block in ("plain", "batchnorm", "residual"):
        cr.manual_seed(0)
        first, last = _first_and_last_grad_norms(_deep_sigmoid(20, 32, block), x, y)
        ratios[block] = first / last
    # 20 sigmoid layers: each multiplies the gradient by at most 0.25 times the weights
    assert ratios["plain"] < 1e-6, ratios
    # the cures bring the first layer's gradient back within a few orders of magnitude
    assert ratios["batchnorm"] > 1e3 * ratios["plain"], ratios
    assert ratios["residual"] > 1e3 * ratios["plain"], ratios
    assert ratios["batchnorm"] > 1e-4 and ratios["residual"] > 1e-4, ratios

"""The autograd-facing Tensor surface against PyTorch, float64: ``autograd.grad`` and
``backward`` values, hooks, ``.grad`` semantics, in-place rules, formatting, devices."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
torch.set_num_threads(1)

TOL = 1e-10


def pair(values: np.ndarray, requires_grad: bool = True) -> tuple[cr.Tensor, torch.Tensor]:
    arr = np.asarray(values, dtype=np.float64)
    return (cr.tensor(arr.copy(), requires_grad=requires_grad, dtype="float64"),
            torch.tensor(arr.copy(), requires_grad=requires_grad))


def close(ours: cr.Tensor | None, theirs: torch.Tensor | None) -> None:
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert isinstance(ours, cr.Tensor) and not ours.requires_grad
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=TOL, atol=1e-12)


def mlp(x, w1, b1, w2):
    """Works for both libraries: (hidden activations, scalar loss)."""
    h = (x @ w1 + b1).tanh()
    return h, ((h @ w2) ** 2).sum()


def tensors(seed: int = 0):
    rng = np.random.default_rng(seed)
    shapes = [(5, 4), (4, 3), (3,), (3, 2)]
    return [pair(rng.standard_normal(s)) for s in shapes]


def test_grad_values_for_leaves_and_intermediates() -> None:
    ts = tensors()
    ours = [t[0] for t in ts]
    theirs = [t[1] for t in ts]
    h, out = mlp(*ours)
    th, tout = mlp(*theirs)
    got = cr.autograd.grad(out, [ours[1], h, ours[2]])
    want = torch.autograd.grad(tout, [theirs[1], th, theirs[2]])
    for g, tg in zip(got, want):
        close(g, tg)
    assert all(t.grad is None for t in ours)


def test_grad_with_grad_outputs_and_several_outputs() -> None:
    (x, tx), (w, tw) = tensors(1)[:2]
    y, ty = x @ w, tx @ tw
    seed = np.random.default_rng(2).standard_normal(y.shape)
    got = cr.autograd.grad([y, (w * w).sum()], [x, w], grad_outputs=[seed, None])
    want = torch.autograd.grad([ty, (tw * tw).sum()], [tx, tw],
                               grad_outputs=[torch.from_numpy(seed), None])
    for g, tg in zip(got, want):
        close(g, tg)


def test_grad_unused_inputs_like_torch() -> None:
    (x, tx), (u, tu) = pair([1.0, 2.0]), pair([3.0])
    got = cr.autograd.grad((x * x).sum(), [x, u], allow_unused=True)
    want = torch.autograd.grad((tx * tx).sum(), [tx, tu], allow_unused=True)
    close(got[0], want[0])
    assert got[1] is None and want[1] is None
    got = cr.autograd.grad((x * x).sum(), [x, u], materialize_grads=True)
    want = torch.autograd.grad((tx * tx).sum(), [tx, tu], materialize_grads=True)
    close(got[1], want[1])
    with pytest.raises(RuntimeError):
        torch.autograd.grad((tx * tx).sum(), [tx, tu])
    with pytest.raises(RuntimeError):
        cr.autograd.grad((x * x).sum(), [x, u])


def test_hooks_and_retain_grad_under_grad_and_backward() -> None:
    results = []
    for lib in (cr, torch):
        x = (cr.tensor([1.0, 2.0], requires_grad=True, dtype="float64") if lib is cr
             else torch.tensor([1.0, 2.0], requires_grad=True, dtype=torch.float64))
        x.register_hook(lambda g: g * 10)
        z = x * 2
        z.register_hook(lambda g: g + 100)
        z.retain_grad()
        y = (z * z).sum()
        gx, gz = lib.autograd.grad(y, [x, z], retain_graph=True)
        after_grad = (x.grad, np.asarray(z.grad.detach() if lib is torch else z.grad))
        y.backward(inputs=[z], retain_graph=True)
        after_inputs = (x.grad, np.asarray(z.grad.detach() if lib is torch else z.grad))
        y.backward()
        results.append((np.asarray(gx.detach() if lib is torch else gx),
                        np.asarray(gz.detach() if lib is torch else gz),
                        after_grad, after_inputs,
                        np.asarray(x.grad.detach() if lib is torch else x.grad)))
    ours, theirs = results
    np.testing.assert_allclose(ours[0], theirs[0])  # leaf: after its hook
    np.testing.assert_allclose(ours[1], theirs[1])  # non-leaf: before its hook, as torch
    assert ours[2][0] is None and theirs[2][0] is None
    np.testing.assert_allclose(ours[2][1], theirs[2][1])
    assert ours[3][0] is None and theirs[3][0] is None
    np.testing.assert_allclose(ours[3][1], theirs[3][1])
    np.testing.assert_allclose(ours[4], theirs[4])


def test_autograd_backward_several_roots() -> None:
    (x, tx), (w, tw) = pair([1.0, -2.0, 0.5]), pair([3.0, 4.0, -1.0])
    seed = np.array([0.5, 1.0, -2.0])
    cr.autograd.backward([x * w, (x * x).sum()], [seed, None])
    torch.autograd.backward([tx * tw, (tx * tx).sum()], [torch.from_numpy(seed), None])
    close(x.grad, tx.grad)
    close(w.grad, tw.grad)


def test_grad_accumulation_keeps_the_grad_object_like_torch() -> None:
    (x, tx) = pair([1.0, 2.0])
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    g, tg = x.grad, tx.grad
    (x * 3).sum().backward()
    (tx * 3).sum().backward()
    assert (x.grad is g) and (tx.grad is tg)
    close(g, tg)  # the object held before now reads the accumulated value, as in torch


def test_grad_assignment_rules_like_torch() -> None:
    (x, tx) = pair([1.0, 2.0])
    t, tt = cr.zeros(2, dtype="float64"), torch.zeros(2, dtype=torch.float64)
    x.grad, tx.grad = t, tt
    assert x.grad is t and tx.grad is tt
    with pytest.raises(RuntimeError):
        tx.grad = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError):
        x.grad = np.zeros(3)
    with pytest.raises(RuntimeError):
        tx.grad = torch.zeros(2, dtype=torch.float32)
    with pytest.raises(TypeError):
        x.grad = np.zeros(2, np.float32)


def test_float32_parameters_get_float32_gradients_like_torch() -> None:
    model = nn.Linear(3, 2)
    tmodel = torch.nn.Linear(3, 2)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    model(cr.tensor(x)).sum().backward()
    tmodel(torch.from_numpy(x)).sum().backward()
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert p.grad.dtype == np.float32 and tp.grad.dtype == torch.float32


def test_zero_grad_set_to_none_false_keeps_the_object_like_torch() -> None:
    model, tmodel = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    model(cr.randn(2, 3)).sum().backward()
    tmodel(torch.randn(2, 3)).sum().backward()
    before, tbefore = [p.grad for p in model.parameters()], [p.grad for p in tmodel.parameters()]
    opt.zero_grad(set_to_none=False)
    topt.zero_grad(set_to_none=False)
    for p, g, tp, tg in zip(model.parameters(), before, tmodel.parameters(), tbefore):
        assert p.grad is g and tp.grad is tg
        assert not np.any(p.grad.numpy()) and not torch.any(tp.grad)


# ---- in-place rules -----------------------------------------------------------------------

def test_inplace_on_leaf_requiring_grad_errors_like_torch() -> None:
    (w, tw) = pair([1.0, 2.0])
    for ours, theirs in ((lambda: w.add_(1.0), lambda: tw.add_(1.0)),
                         (lambda: w.zero_(), lambda: tw.zero_())):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad") as a:
            ours()
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad") as b:
            theirs()
        assert type(a.value) is type(b.value)
    with cr.no_grad():
        w.mul_(3.0).add_(1.0).clamp_(max=5.0)
    with torch.no_grad():
        tw.mul_(3.0).add_(1.0).clamp_(max=5.0)
    np.testing.assert_array_equal(w.numpy(), tw.detach().numpy())


def test_inplace_ops_match_torch() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal(4)
    x, tx = cr.tensor(a.copy(), dtype="float64"), torch.tensor(a.copy())
    x.add_(b, alpha=2.0).sub_(cr.tensor(b, dtype="float64"), alpha=0.5).mul_(1.5)
    tx.add_(torch.tensor(b), alpha=2.0).sub_(torch.tensor(b), alpha=0.5).mul_(1.5)
    x.div_(3.0).clamp_(-0.5, 0.7)
    tx.div_(3.0).clamp_(-0.5, 0.7)
    np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-15)
    x.copy_(b)
    tx.copy_(torch.tensor(b))
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    f32, tf32 = cr.zeros(3), torch.zeros(3)
    f32.add_(cr.tensor([1.0, 2.0, 3.0], dtype="float64"))
    tf32.add_(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert f32.dtype == np.float32 and tf32.dtype == torch.float32


def test_manual_sgd_matches_torch() -> None:
    rng = np.random.default_rng(0)
    x_np, y_np = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    (w, tw), (b, tb) = pair(rng.standard_normal((3, 1))), pair(np.zeros(1))
    x, tx = cr.tensor(x_np, dtype="float64"), torch.from_numpy(x_np)
    y, ty = cr.tensor(y_np, dtype="float64"), torch.from_numpy(y_np)
    for _ in range(5):
        for lib, ww, bb, xx, yy in ((cr, w, b, x, y), (torch, tw, tb, tx, ty)):
            loss = ((xx @ ww + bb - yy) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                ww -= ww.grad * 0.1
                bb -= bb.grad * 0.1
                ww.grad.zero_()
                bb.grad.zero_()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-12)


def test_augmented_assignment_in_the_graph_matches_torch() -> None:
    (x, tx), (b, tb) = pair([1.0, -2.0, 0.5]), pair([0.3, 0.2, 0.1])
    for xx, bb in ((x, b), (tx, tb)):
        h = xx * 2.0
        h += bb
        h *= xx
        h -= bb
        h /= 3.0
        (h ** 2).sum().backward()
    close(x.grad, tx.grad)
    close(b.grad, tb.grad)


# ---- formatting, sizes, devices -----------------------------------------------------------

@pytest.mark.parametrize("value,spec", [(2.5, ".2f"), (-0.125, ">10.4f"), (1e-7, ".3e"),
                                        (3.0, "")])
def test_format_of_zero_dim_tensors_matches_torch(value: float, spec: str) -> None:
    ours = format(cr.tensor(value, dtype="float64"), spec)
    theirs = format(torch.tensor(value, dtype=torch.float64), spec)
    assert ours == theirs
    assert format(cr.tensor(7), "03d") == format(torch.tensor(7), "03d")


def test_format_of_vectors_raises_like_torch() -> None:
    with pytest.raises(TypeError):
        format(torch.tensor([1.0, 2.0]), ".2f")
    with pytest.raises(TypeError):
        format(cr.tensor([1.0, 2.0]), ".2f")


def test_size_matches_torch() -> None:
    x, tx = cr.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert tuple(x.size()) == tuple(tx.size()) and x.size() == tx.size()
    for d in (0, 1, 2, -1, -3):
        assert x.size(d) == tx.size(d)
    for d in (3, -4):
        with pytest.raises(IndexError):
            tx.size(d)
        with pytest.raises(IndexError):
            x.size(d)


def test_device_repr_and_str_match_torch() -> None:
    for spec in ("cpu", "cpu:0"):
        assert repr(cr.device(spec)) == repr(torch.device(spec))
        assert str(cr.device(spec)) == str(torch.device(spec))
    assert repr(cr.tensor([1.0]).device) == repr(torch.tensor([1.0]).device)
    assert (cr.device("cpu") == "cpu") == (torch.device("cpu") == "cpu")

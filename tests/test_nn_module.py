"""Modules: registration, names and state dicts (PyTorch's keys), dtype conversion, modes,
layers against PyTorch, error messages, containers, display and initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.losses import mse_loss
from chainrule.nn import init

EXPECTED_PARAMS = ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"]
EXPECTED_STATE = EXPECTED_PARAMS + ["3.running_mean", "3.running_var", "3.num_batches_tracked"]


def mlp(seed: int = 0) -> nn.Sequential:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.BatchNorm1d(2))


# ---- registration and names ------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(3, 5)
        self.scale = nn.Parameter(np.ones(5))
        self.register_buffer("offset", np.zeros(5))
        self.note = "not registered"
        self.plain = cr.ones(2)  # a plain tensor is not a parameter
        self.head = nn.Sequential(nn.Tanh(), nn.Linear(5, 1))

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.head(self.encoder(x) * self.scale + self.offset)


def test_attribute_registration() -> None:
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "encoder.weight", "encoder.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == ["offset"]
    assert [n for n, _ in net.named_children()] == ["encoder", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "encoder", "head", "head.0", "head.1"]
    assert net.num_parameters() == 5 + 15 + 5 + 5 + 1
    assert isinstance(net.offset, nn.Buffer) and not net.offset.requires_grad
    net.offset = np.full(5, 2.0)  # re-assigning a buffer keeps it a buffer
    assert isinstance(net.offset, nn.Buffer) and "offset" in net.state_dict()
    del net.encoder
    assert all(not n.startswith("encoder") for n, _ in net.named_parameters())
    with pytest.raises(TypeError, match="parameter"):
        net.scale = "oops"

    class NoInit(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        NoInit()


def test_named_parameters_and_state_dict_keys_match_pytorch_literal() -> None:
    model = mlp()
    assert [n for n, _ in model.named_parameters()] == EXPECTED_PARAMS
    assert list(model.state_dict()) == EXPECTED_STATE
    assert [n for n, _ in model.named_buffers()] == [
        "3.running_mean", "3.running_var", "3.num_batches_tracked"]
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {"0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,),
                      "3.weight": (2,), "3.bias": (2,), "3.running_mean": (2,),
                      "3.running_var": (2,), "3.num_batches_tracked": ()}


@pytest.mark.torch
def test_state_dict_keys_and_shapes_equal_torch() -> None:
    torch = pytest.importorskip("torch")
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2),
                               torch.nn.BatchNorm1d(2))
    ours = mlp().state_dict()
    theirs = tnet.state_dict()
    assert list(ours) == list(theirs)
    assert [n for n, _ in mlp().named_parameters()] == [n for n, _ in tnet.named_parameters()]
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k
    # and torch's weights load into ours (keys, shapes and layouts agree)
    model = mlp()
    model.load_state_dict({k: v.numpy() for k, v in theirs.items()})
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    tnet.eval()
    model.eval()
    np.testing.assert_allclose(model(cr.tensor(x)).numpy(),
                               tnet(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_shared_parameter_listed_once() -> None:
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]
    assert model.num_parameters() == 9 + 3 + 3
    model(cr.ones(2, 3)).sum().backward()
    assert a.weight.grad is not None and b.weight is a.weight


def test_shared_module_is_in_the_state_dict_under_every_name() -> None:
    """As in PyTorch: parameters() lists a shared layer once, but state_dict() keys it
    under each place it sits, so PyTorch's state dicts load and vice versa."""
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    assert [n for n, _ in model.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.num_parameters() == 6
    new = {k: np.full_like(v, 0.5) for k, v in model.state_dict().items()}
    model.load_state_dict(new)
    np.testing.assert_array_equal(layer.weight.numpy(), np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="missing keys"):
        model.load_state_dict({"0.weight": new["0.weight"], "0.bias": new["0.bias"]})


# ---- state dicts -----------------------------------------------------------------------------

def test_state_dict_round_trip() -> None:
    src, dst = mlp(0), mlp(1)
    x = cr.randn(6, 3)
    src(x)  # moves the running statistics
    src.eval()
    dst.eval()
    assert not np.allclose(src(x).numpy(), dst(x).numpy())
    weight_array = dst[0].weight.numpy()
    result = dst.load_state_dict({k: v.copy() for k, v in src.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst[0].weight.numpy() is weight_array  # loaded in place: optimizers keep their refs
    np.testing.assert_array_equal(src(x).numpy(), dst(x).numpy())
    assert int(dst[3].num_batches_tracked.numpy()) == 1


def test_strict_load_names_missing_unexpected_and_misshaped_keys_at_once() -> None:
    model = mlp()
    state = {k: v.copy() for k, v in model.state_dict().items()}
    del state["2.bias"]
    state["9.weight"] = np.zeros(3)
    state["0.weight"] = np.zeros((5, 3))
    before = model[0].bias.numpy().copy()
    state["0.bias"] = np.full(4, 9.0)
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    text = str(info.value)
    assert "missing" in text and "2.bias" in text
    assert "unexpected" in text and "9.weight" in text
    assert "0.weight" in text and "(4, 3)" in text and "(5, 3)" in text
    np.testing.assert_array_equal(model[0].bias.numpy(), before)  # nothing changed
    state["0.weight"] = np.zeros((4, 3))
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["9.weight"]
    assert model[0].bias.numpy().tolist() == [9.0] * 4


# ---- dtypes and modes ------------------------------------------------------------------------

def test_dtype_conversion_covers_params_and_running_stats() -> None:
    model = mlp()
    assert model.to(cr.float64) is model
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        expected = np.int64 if name.endswith("num_batches_tracked") else np.float64
        assert t.dtype == expected, name
    out = model(cr.randn(4, 3, dtype="float64"))
    assert out.dtype == np.float64
    out.sum().backward()
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert model[3].running_var.dtype == np.float32
    model.double()
    assert model[3].running_mean.dtype == np.float64 and model[0].weight.dtype == np.float64
    with pytest.raises(ValueError, match="floating"):
        model.to("int32")


def test_train_eval_propagate() -> None:
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.head.train(False)
    assert net.training and not net.head.training and not net.head[1].training


def test_dropout_eval_identity_and_train_inverted_scaling() -> None:
    drop = nn.Dropout(0.3, generator=cr.Generator(0))
    x = cr.ones(200, 500)
    out = drop(x)
    zero_frac = float((out.numpy() == 0).mean())
    assert zero_frac == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(np.unique(out.numpy()), [0.0, 1 / 0.7], rtol=1e-6)
    assert float(out.numpy().mean()) == pytest.approx(1.0, abs=0.01)
    assert out.dtype == np.float32
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)  # p = 1 is allowed, as in PyTorch (tests/test_nn_utils.py)


@pytest.mark.torch
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.3, 1e-3)])
def test_batchnorm1d_running_stats_match_torch(momentum: float, eps: float) -> None:
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm1d(3, eps=eps, momentum=momentum, dtype="float64")
    theirs = torch.nn.BatchNorm1d(3, eps=eps, momentum=momentum).double()
    rng = np.random.default_rng(0)
    for step in range(4):
        shape = (8, 3) if step % 2 == 0 else (4, 3, 5)
        x = rng.standard_normal(shape) * 3 + 1
        np.testing.assert_allclose(ours(cr.tensor(x, dtype="float64")).numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), atol=1e-12)
    assert int(ours.num_batches_tracked.numpy()) == int(theirs.num_batches_tracked) == 4
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(ours(cr.tensor(x, dtype="float64")).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), atol=1e-10)
    assert int(ours.num_batches_tracked.numpy()) == 4  # eval does not count


def test_batchnorm1d_running_stats_formula() -> None:
    bn = nn.BatchNorm1d(2, momentum=0.25, dtype="float64")
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])
    bn(cr.tensor(x, dtype="float64"))
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.25 * x.mean(0))
    np.testing.assert_allclose(bn.running_var.numpy(), 0.75 + 0.25 * x.var(0, ddof=1))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        bn(cr.ones(4, 3))


@pytest.mark.torch
def test_layernorm_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours = nn.LayerNorm((3, 4), eps=1e-4, dtype="float64")
    theirs = torch.nn.LayerNorm((3, 4), eps=1e-4).double()
    w, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ours.load_state_dict({"weight": w, "bias": b})
    theirs.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})
    x = rng.standard_normal((2, 3, 4)) * 2
    xo, xt = cr.tensor(x, requires_grad=True, dtype="float64"), torch.tensor(x,
                                                                            requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-10)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), atol=1e-10)


# ---- containers ------------------------------------------------------------------------------

def test_residual_adds_identity_and_checks_shapes() -> None:
    cr.manual_seed(0)
    block = nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh()))
    x = cr.randn(3, 4, requires_grad=True)
    out = block(x)
    np.testing.assert_allclose(out.numpy(), x.numpy() + block.fn(x).numpy(), rtol=1e-6)
    assert [n for n, _ in block.named_parameters()] == ["fn.0.weight", "fn.0.bias"]
    out.sum().backward()
    assert np.all(x.grad > 0)  # 1 + ∂f/∂x: the identity path alone gives 1
    bad = nn.Residual(nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 2\)"):
        bad(x)
    fixed = nn.Residual(nn.Linear(4, 2), shortcut=nn.Linear(4, 2))
    assert fixed(x).shape == (3, 2)
    assert "shortcut.weight" in fixed.state_dict()


def test_module_list_and_dict_register_children() -> None:
    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1)})

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            for layer in self.layers:
                x = layer(x)
            return self.heads["a"](x)

    s = Stack()
    assert [n for n, _ in s.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "layers.2.weight", "layers.2.bias", "heads.a.weight", "heads.a.bias"]
    assert len(s.layers) == 3 and s.layers[-1] is list(s.layers)[2]
    s.layers.append(nn.Linear(2, 2))
    assert "layers.3.weight" in s.state_dict()
    assert s(cr.ones(5, 2)).shape == (5, 1)


def test_repr_and_summary() -> None:
    model = mlp()
    text = repr(model)
    assert text.startswith("Sequential(\n")
    assert "(0): Linear(in_features=3, out_features=4, bias=True)" in text
    assert "(1): ReLU()" in text
    assert "(3): BatchNorm1d(2, eps=1e-05, momentum=0.1" in text
    summary = model.summary()
    assert "Linear(in_features=3, out_features=4, bias=True)" in summary
    assert "16" in summary and "10" in summary  # 4·3+4 and 2·4+2 parameters
    assert "total parameters: 30 (trainable: 30)" in summary
    assert summary.count("\n") >= 6


# ---- errors ----------------------------------------------------------------------------------

def test_linear_shape_mismatch_names_shapes_and_layer_path() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ValueError) as info:
        model(cr.ones(6, 3))
    text = str(info.value)
    assert "layer '2'" in text and "(6, 4)" in text and "(2, 5)" in text
    nested = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match="layer '1.1'"):
        nested(cr.ones(2, 3))


def test_mse_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        mse_loss(cr.ones(4, 1), cr.ones(4))


def test_linear_validates_sizes() -> None:
    with pytest.raises(ValueError, match="positive"):
        nn.Linear(0, 3)


# ---- initialisers ----------------------------------------------------------------------------

def test_fan_computation_including_conv_shapes() -> None:
    assert init.fan_in_and_fan_out((20, 10)) == (10, 20)
    assert init.fan_in_and_fan_out((16, 8, 3, 3)) == (72, 144)
    assert init.fan_in_and_fan_out((6, 4, 5)) == (20, 30)
    with pytest.raises(ValueError):
        init.fan_in_and_fan_out((5,))


@pytest.mark.torch
def test_fan_computation_equals_torch() -> None:
    torch = pytest.importorskip("torch")
    for shape in [(20, 10), (16, 8, 3, 3), (6, 4, 5)]:
        fans = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert init.fan_in_and_fan_out(shape) == tuple(fans)


def _param(*shape: int) -> nn.Parameter:
    return nn.Parameter(np.zeros(shape), dtype="float64")


INIT_CASES = [
    # name, function, shape, expected std, uniform bound (None for normal)
    ("xavier_uniform", lambda t, g: init.xavier_uniform_(t, generator=g), (300, 200),
     math.sqrt(2 / 500), math.sqrt(6 / 500)),
    ("xavier_uniform_gain", lambda t, g: init.xavier_uniform_(t, gain=2.0, generator=g),
     (300, 200), 2 * math.sqrt(2 / 500), 2 * math.sqrt(6 / 500)),
    ("xavier_normal", lambda t, g: init.xavier_normal_(t, generator=g), (300, 200),
     math.sqrt(2 / 500), None),
    ("kaiming_uniform", lambda t, g: init.kaiming_uniform_(t, generator=g), (300, 200),
     math.sqrt(2 / 200), math.sqrt(6 / 200)),
    ("kaiming_normal", lambda t, g: init.kaiming_normal_(t, generator=g), (300, 200),
     math.sqrt(2 / 200), None),
    ("kaiming_normal_fan_out", lambda t, g: init.kaiming_normal_(t, mode="fan_out", generator=g),
     (300, 200), math.sqrt(2 / 300), None),
    ("kaiming_uniform_conv", lambda t, g: init.kaiming_uniform_(t, generator=g),
     (64, 32, 3, 3), math.sqrt(2 / 288), math.sqrt(6 / 288)),
    ("xavier_normal_conv", lambda t, g: init.xavier_normal_(t, generator=g), (64, 32, 3, 3),
     math.sqrt(2 / (288 + 576)), None),
    ("kaiming_leaky", lambda t, g: init.kaiming_normal_(t, a=0.2, nonlinearity="leaky_relu",
                                                        generator=g),
     (300, 200), math.sqrt(2 / 1.04) / math.sqrt(200), None),
]


@pytest.mark.parametrize("name,fn,shape,std,bound", INIT_CASES, ids=[c[0] for c in INIT_CASES])
def test_initialisers_std_and_bounds(name: str, fn: object, shape: tuple, std: float,
                                     bound: float | None) -> None:
    t = _param(*shape)
    fn(t, cr.Generator(0))
    values = t.numpy()
    assert abs(values.mean()) < 5 * std / math.sqrt(values.size)  # centred at 0
    assert values.std() == pytest.approx(std, rel=0.03)
    if bound is not None:
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.98 * bound
    # same generator seed, same values
    again = _param(*shape)
    fn(again, cr.Generator(0))
    np.testing.assert_array_equal(values, again.numpy())


def test_linear_default_init_bound_and_generator() -> None:
    layer = nn.Linear(400, 300, generator=cr.Generator(1))
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert w.dtype == np.float32 and layer.weight.requires_grad
    same = nn.Linear(400, 300, generator=cr.Generator(1))
    np.testing.assert_array_equal(w, same.weight.numpy())
    cr.manual_seed(5)
    a = nn.Linear(3, 2)
    cr.manual_seed(5)
    np.testing.assert_array_equal(a.weight.numpy(), nn.Linear(3, 2).weight.numpy())
    assert nn.Linear(3, 2, dtype="float64").weight.dtype == np.float64

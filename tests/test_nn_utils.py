"""Unflatten, ParameterList/ParameterDict, chainrule.nn.utils (gradient clipping,
parameters as a vector), Dropout with p = 1 and Embedding's dtype, from_pretrained,
max_norm, scale_grad_by_freq and sparse: behaviour, PyTorch parity and round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.diagnostics.gradcheck import gradcheck
from chainrule.io import load, save
from chainrule.nn.embedding import Embedding


def rnd(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ---- Unflatten -------------------------------------------------------------------------

@pytest.mark.parametrize("shape,dim,sizes", [((4, 6), 1, (2, 3)), ((4, 6), -1, (3, -1)),
                                             ((12, 5), 0, (2, 2, 3)), ((2, 6, 5), 1, (6,))])
def test_unflatten_shapes_and_gradient(shape: tuple, dim: int, sizes: tuple) -> None:
    x = cr.tensor(rnd(*shape), requires_grad=True, dtype="float64")
    layer = nn.Unflatten(dim, sizes)
    out = layer(x)
    expected = np.reshape(x.numpy(), out.shape)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert gradcheck(layer, [x]).passed


@pytest.mark.torch
def test_unflatten_matches_torch_and_inverts_flatten() -> None:
    torch = pytest.importorskip("torch")
    a = rnd(3, 2, 12)
    for dim, sizes in ((2, (3, 4)), (-1, (2, -1, 3)), (1, (1, 2))):
        ours, theirs = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
        assert repr(ours) == repr(theirs)
        assert ours(cr.tensor(a)).shape == tuple(theirs(torch.tensor(a)).shape)
    x = cr.tensor(a)
    round_trip = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 12)))(x)
    np.testing.assert_array_equal(round_trip.numpy(), x.numpy())


def test_unflatten_errors() -> None:
    with pytest.raises(nn.LayerError, match="cannot split axis 1 of size 6"):
        nn.Unflatten(1, (4, 2))(cr.ones(2, 6))
    with pytest.raises(nn.LayerError, match="out of range"):
        nn.Unflatten(3, (1, 1))(cr.ones(2, 6))
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Unflatten(1, (-1, -1))


# ---- ParameterList / ParameterDict -------------------------------------------------------

class _Mixer(nn.Module):
    """A module whose weights live in parameter containers (as in PyTorch code)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ParameterList([nn.Parameter(np.ones((3, 3))) for _ in range(2)])
        self.extra = nn.ParameterDict({"scale": nn.Parameter(np.ones(3)),
                                       "shift": nn.Parameter(np.ones(3))})

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        for w in self.layers:
            x = (x @ w).tanh()
        return x * self.extra["scale"] + self.extra["shift"]


def _torch_mixer() -> object:
    """The same module written for PyTorch."""
    import torch

    class Mixer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ParameterList(
                [torch.nn.Parameter(torch.ones(3, 3)) for _ in range(2)])
            self.extra = torch.nn.ParameterDict({"scale": torch.nn.Parameter(torch.ones(3)),
                                                 "shift": torch.nn.Parameter(torch.ones(3))})

        def forward(self, x: object) -> object:
            for w in self.layers:
                x = (x @ w).tanh()
            return x * self.extra["scale"] + self.extra["shift"]

    return Mixer()


def test_parameter_list_registers_in_order_with_pytorch_keys() -> None:
    ps = nn.ParameterList([cr.ones(2), np.zeros((3, 2))])
    ps.append(nn.Parameter(cr.ones(4)))
    ps += [cr.zeros(1)]
    assert len(ps) == 4 and list(ps.state_dict()) == ["0", "1", "2", "3"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in ps)
    assert ps[1].dtype == np.float64  # arrays keep their dtype
    assert ps[-1] is ps[3]
    replacement = nn.Parameter(cr.full((3, 2), 7.0))
    ps[1] = replacement
    assert list(ps.state_dict()) == ["0", "1", "2", "3"] and ps[1] is replacement
    sliced = ps[1:3]
    assert isinstance(sliced, nn.ParameterList) and sliced[0] is replacement
    assert [p is q for p, q in zip(ps.parameters(), ps)] == [True] * 4
    with pytest.raises(IndexError):
        ps[4]
    with pytest.raises(TypeError, match="Parameters"):
        ps.append("weight")
    with pytest.raises(RuntimeError, match="no forward"):
        ps(cr.ones(1))


def test_parameter_dict_behaves_like_a_dict_of_registered_parameters() -> None:
    pd = nn.ParameterDict({"a": cr.ones(2)})
    pd["b"] = nn.Parameter(cr.zeros(3))
    pd.update([("c", cr.ones(1))])
    assert list(pd) == ["a", "b", "c"] and list(pd.keys()) == ["a", "b", "c"]
    assert "b" in pd and "z" not in pd and len(pd) == 3
    assert list(pd.state_dict()) == ["a", "b", "c"]
    popped = pd.pop("b")
    assert popped.shape == (3,) and list(pd.state_dict()) == ["a", "c"]
    assert pd.get("b") is None
    pd.setdefault("d", cr.ones(5))
    assert pd["d"].shape == (5,)
    with pytest.raises(KeyError, match="'.'"):
        pd["x.y"] = cr.ones(1)
    with pytest.raises(KeyError, match="hide"):
        pd["keys"] = cr.ones(1)
    pd.clear()
    assert len(pd) == 0 and list(pd.state_dict()) == []


def test_parameter_containers_train_with_an_optimizer() -> None:
    cr.manual_seed(0)
    model = _Mixer()
    for w in model.layers:
        w.numpy()[...] = np.random.default_rng(1).normal(0, 0.5, w.shape)
    opt = cr.optim.SGD(model.parameters(), lr=0.2)
    assert len(opt.param_groups[0]["params"]) == 4
    x, y = cr.tensor(rnd(16, 3, seed=2)), cr.tensor(rnd(16, 3, seed=3) * 0.3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.torch
def test_parameter_containers_load_torch_weights_and_give_torch_gradients() -> None:
    torch = pytest.importorskip("torch")
    theirs = _torch_mixer().double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64))
    ours = _Mixer().double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    a = rnd(5, 3, seed=4)
    ours(cr.tensor(a, dtype="float64")).sum().backward()
    theirs(torch.tensor(a)).sum().backward()
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, err_msg=name)


def test_parameter_containers_round_trip_through_a_model_file(tmp_path: Path) -> None:
    model = nn.ModuleDict({
        "list": nn.ParameterList([cr.randn(2, 3), np.arange(4.0)]),
        "dict": nn.ParameterDict({"w": cr.randn(3), "frozen": nn.Parameter(
            cr.ones(2), requires_grad=False)}),
        "empty": nn.ParameterList(),
    })
    path = tmp_path / "params.safetensors"
    save(model, path)
    loaded = load(path)
    assert repr(loaded) == repr(model)
    for k, v in model.state_dict().items():
        got = loaded.state_dict()[k]
        assert got.dtype == v.dtype and got.tobytes() == v.tobytes(), k
    assert loaded["list"][1].dtype == np.float64
    assert not loaded["dict"]["frozen"].requires_grad and loaded["dict"]["w"].requires_grad


# ---- nn.utils --------------------------------------------------------------------------

def test_nn_utils_is_importable_the_pytorch_ways() -> None:
    from chainrule.nn.utils import clip_grad_norm_, parameters_to_vector
    from chainrule.nn.utils.clip_grad import clip_grad_value_
    from chainrule.nn.utils.convert_parameters import vector_to_parameters

    assert nn.utils.clip_grad_norm_ is clip_grad_norm_
    assert cr.nn.utils.clip_grad_value_ is clip_grad_value_
    assert nn.utils.parameters_to_vector is parameters_to_vector
    assert nn.utils.vector_to_parameters is vector_to_parameters


@pytest.mark.torch
@pytest.mark.parametrize("norm_type,max_norm", [(2.0, 0.5), (1.0, 0.3), (float("inf"), 0.1),
                                                (3.0, 100.0)])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float) -> None:
    torch = pytest.importorskip("torch")
    grads = [rnd(3, 4, seed=1), rnd(5, seed=2), rnd(2, 2, seed=3)]
    ours = [nn.Parameter(np.zeros(g.shape), dtype="float64") for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad = g.copy()
        tp.grad = torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == () and total.dtype == np.float64
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(nn.utils.get_total_norm([p.grad for p in ours], norm_type).item(),
                               torch.nn.utils.get_total_norm([t.grad for t in theirs],
                                                             norm_type).item(), rtol=1e-12)


@pytest.mark.torch
def test_clip_grad_value_and_clip_grads_with_norm_match_torch() -> None:
    torch = pytest.importorskip("torch")
    g = rnd(4, 5, seed=5) * 3
    p, tp = nn.Parameter(np.zeros((4, 5)), dtype="float64"), torch.zeros(4, 5, requires_grad=True)
    p.grad, tp.grad = g.copy(), torch.tensor(g, dtype=torch.float32)
    nn.utils.clip_grad_value_(p, 1.5)
    torch.nn.utils.clip_grad_value_(tp, 1.5)
    np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-6)
    q, tq = nn.Parameter(np.zeros((4, 5)), dtype="float64"), torch.zeros(
        4, 5, dtype=torch.float64, requires_grad=True)
    q.grad, tq.grad = g.copy(), torch.tensor(g)
    nn.utils.clip_grads_with_norm_([q], 2.0, nn.utils.get_total_norm([q.grad]))
    torch.nn.utils.clip_grads_with_norm_([tq], 2.0, torch.nn.utils.get_total_norm([tq.grad]))
    np.testing.assert_allclose(q.grad, tq.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_errors_on_non_finite_when_asked() -> None:
    p = nn.Parameter(np.zeros(3))
    p.grad = np.array([1.0, np.inf, 0.0], np.float32)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0).item() == 0.0


@pytest.mark.torch
def test_parameters_to_vector_and_back_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    vec = nn.utils.parameters_to_vector(ours.parameters())
    tvec = torch.nn.utils.parameters_to_vector(theirs.parameters())
    assert vec.shape == (26,) and vec.dtype == np.float64
    np.testing.assert_array_equal(vec.numpy(), tvec.detach().numpy())
    # differentiable, as in PyTorch
    w = rnd(26, seed=6)
    (vec * cr.tensor(w, dtype="float64")).sum().backward()
    (tvec * torch.tensor(w)).sum().backward()
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    new = rnd(26, seed=7)
    weight_array = ours[0].weight.numpy()
    nn.utils.vector_to_parameters(cr.tensor(new, dtype="float64"), ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs.parameters())
    assert ours[0].weight.numpy() is weight_array  # in place: optimizers keep their arrays
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v, theirs.state_dict()[k].numpy(), err_msg=k)
    with pytest.raises(ValueError, match="26"):
        nn.utils.vector_to_parameters(cr.zeros(25), ours.parameters())
    with pytest.raises(TypeError, match="Tensor"):
        nn.utils.vector_to_parameters(np.zeros(26), ours.parameters())


# ---- Dropout p = 1 -----------------------------------------------------------------------

@pytest.mark.parametrize("layer,shape", [(nn.Dropout, (4, 5)), (nn.Dropout1d, (2, 3, 4)),
                                         (nn.Dropout2d, (2, 3, 4, 4)), (nn.Dropout1d, (3, 4))])
def test_dropout_p_one_zeroes_everything_in_training(layer: type, shape: tuple) -> None:
    drop = layer(p=1.0)
    assert repr(drop) == f"{layer.__name__}(p=1.0, inplace=False)"
    x = cr.tensor(rnd(*shape), dtype=cr.float32, requires_grad=True)
    out = drop(x)
    (out * 3).sum().backward()
    np.testing.assert_array_equal(out.numpy(), 0)
    np.testing.assert_array_equal(x.grad, 0)
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    drop.eval()
    assert drop(x) is x


def test_functional_dropout_accepts_pytorch_arguments() -> None:
    x = cr.ones(4, 3)
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    np.testing.assert_array_equal(F.dropout(x, p=0.5, training=False, inplace=True).numpy(), 1)
    out = F.dropout(x, 0.5, True, True)  # PyTorch's positional inplace
    assert set(np.unique(out.numpy())) <= {0.0, 2.0}
    np.testing.assert_array_equal(F.dropout2d(cr.ones(2, 3, 2, 2), p=1.0).numpy(), 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.01)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)
    with pytest.raises(nn.LayerError, match="3-D"):
        nn.Dropout1d(0.5)(cr.ones(2, 3, 4, 5))


def test_dropout1d_masks_whole_channels_of_unbatched_input() -> None:
    drop = nn.Dropout1d(0.5, generator=cr.Generator(0))
    out = drop(cr.ones(64, 10)).numpy()  # (C, L): one mask value per channel
    assert np.all((out == 0).all(axis=1) | (out == 2).all(axis=1))
    assert 0 < (out[:, 0] == 0).sum() < 64


@pytest.mark.torch
def test_dropout2d_reads_3d_input_as_n_c_l_like_torch() -> None:
    torch = pytest.importorskip("torch")
    x = cr.ones(8, 16, 5)
    with pytest.warns(UserWarning, match=r"\(N, C, L\)"):
        out = nn.Dropout2d(0.5, generator=cr.Generator(1))(x).numpy()
    with pytest.warns(UserWarning, match=r"\(N, C, L\)"):
        ref = torch.nn.Dropout2d(0.5)(torch.ones(8, 16, 5)).numpy()
    for a in (out, ref):  # both: whole rows along the last axis, per (n, c)
        assert np.all((a == 0).all(axis=2) | (a == 2).all(axis=2))
        assert 0 < (a[:, :, 0] == 0).sum() < 8 * 16


# ---- Embedding ---------------------------------------------------------------------------

def test_embedding_honours_dtype_and_from_pretrained_keeps_the_table_dtype() -> None:
    assert Embedding(4, 3, dtype="float64").weight.dtype == np.float64
    table = rnd(5, 3)
    before = cr.default_generator.get_state()
    emb = Embedding.from_pretrained(table)
    assert cr.default_generator.get_state() == before  # no random draw for a given table
    assert emb.weight.dtype == np.float64 and not emb.weight.requires_grad
    np.testing.assert_array_equal(emb.weight.numpy(), table)
    table[0, 0] = 99.0
    assert emb.weight.numpy()[0, 0] != 99.0  # a copy
    emb32 = Embedding.from_pretrained(cr.tensor(table.astype(np.float32)), freeze=False)
    assert emb32.weight.dtype == np.float32 and emb32.weight.requires_grad
    assert Embedding.from_pretrained(np.eye(3, dtype=np.int64)).weight.dtype == np.float32
    assert emb(np.array([1, 2])).dtype == np.float64


@pytest.mark.torch
def test_from_pretrained_padding_and_freeze_match_torch() -> None:
    torch = pytest.importorskip("torch")
    table = rnd(6, 4)
    ours = Embedding.from_pretrained(table, freeze=False, padding_idx=2)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=False,
                                                padding_idx=2)
    assert repr(ours) == repr(theirs)
    np.testing.assert_array_equal(ours.weight.numpy()[2], table[2])  # the row is kept as given
    idx = np.array([[2, 1, 2], [5, 0, 1]])
    r = rnd(2, 3, 4, seed=1)
    (ours(idx) * cr.tensor(r, dtype="float64")).sum().backward()
    (theirs(torch.tensor(idx)) * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ours.weight.grad[2], 0)


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0])
def test_max_norm_renormalises_looked_up_rows_like_torch(norm_type: float) -> None:
    torch = pytest.importorskip("torch")
    table = rnd(7, 4) * 2
    ours = Embedding(7, 4, max_norm=1.5, norm_type=norm_type, _weight=table.copy())
    theirs = torch.nn.Embedding(7, 4, max_norm=1.5, norm_type=norm_type,
                                _weight=torch.tensor(table.copy()))
    assert repr(ours) == repr(theirs)
    idx = np.array([[0, 3, 3], [5, 0, 1]])
    r = rnd(2, 3, 4, seed=2)
    out = ours(idx)
    tout = theirs(torch.tensor(idx))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)
    untouched = [2, 4, 6]  # rows not looked up keep their norm
    np.testing.assert_array_equal(ours.weight.numpy()[untouched], table[untouched])
    norms = np.linalg.norm(ours.weight.numpy()[[0, 1, 3, 5]], ord=norm_type, axis=1)
    assert np.all(norms <= 1.5 + 1e-9)
    (out * cr.tensor(r, dtype="float64")).sum().backward()
    (tout * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
def test_scale_grad_by_freq_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    table = rnd(6, 3)
    ours = Embedding(6, 3, scale_grad_by_freq=True, padding_idx=0, _weight=table.copy())
    theirs = torch.nn.Embedding(6, 3, scale_grad_by_freq=True, padding_idx=0,
                                _weight=torch.tensor(table.copy()))
    idx = np.array([[1, 1, 4, 1], [0, 4, 2, 0]])
    r = rnd(2, 4, 3, seed=3)
    (ours(idx) * cr.tensor(r, dtype="float64")).sum().backward()
    (theirs(torch.tensor(idx)) * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    w = cr.tensor(table, requires_grad=True, dtype="float64")
    assert gradcheck(lambda t: F.embedding(np.array([3, 2, 3]), t), [w]).passed


def test_embedding_sparse_and_bad_arguments_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="sparse"):
        Embedding(4, 2, sparse=True)
    with pytest.raises(ValueError, match="sparse"):
        F.embedding(np.array([0]), cr.ones(4, 2), sparse=True)
    with pytest.raises(ValueError, match="max_norm"):
        Embedding(4, 2, max_norm=0.0)
    with pytest.raises(ValueError, match=r"_weight has shape \(3, 2\)"):
        Embedding(4, 2, _weight=np.zeros((3, 2)))


def test_embedding_options_round_trip_through_a_model_file(tmp_path: Path) -> None:
    model = nn.Sequential(Embedding(9, 4, padding_idx=1, max_norm=2.0, norm_type=1.0,
                                    scale_grad_by_freq=True), nn.Flatten())
    path = tmp_path / "emb.safetensors"
    save(model, path)
    loaded = load(path)
    assert repr(loaded) == repr(model)
    emb = loaded[0]
    assert (emb.max_norm, emb.norm_type, emb.scale_grad_by_freq) == (2.0, 1.0, True)
    np.testing.assert_array_equal(emb.weight.numpy(), model[0].weight.numpy())

"""Embedding: lookup of any index shape, scatter-add backward (repeats accumulate, the
padding row gets nothing), PyTorch's init and names, errors, and PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.embedding import Embedding
from chainrule.nn.module import LayerError
from chainrule.ops.embedding import embedding
from helpers import check_grads


def t64(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(np.array(a, dtype=np.float64), requires_grad=True, dtype="float64")


def test_lookup_any_index_shape() -> None:
    w = cr.tensor(np.arange(12.0).reshape(4, 3), dtype=cr.float32)
    idx = np.array([[[0, 3], [2, 2]]])
    out = embedding(idx, w)
    assert out.shape == (1, 2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), w.numpy()[idx])
    assert embedding(cr.tensor([1, 2]), w).shape == (2, 3)
    assert embedding(2, w).shape == (3,)
    assert embedding([], w).shape == (0, 3)


def test_gradient_matches_central_differences_with_repeats() -> None:
    w = t64(np.random.default_rng(0).standard_normal((5, 3)))
    idx = np.array([[1, 4, 1], [0, 1, 4]])
    r = np.random.default_rng(1).standard_normal((2, 3, 3))
    check_grads(lambda: (embedding(idx, w) * r).sum(), [w])


def test_repeated_indices_accumulate_and_unused_rows_get_zero() -> None:
    w = cr.tensor(np.zeros((4, 2)), requires_grad=True, dtype=cr.float32)
    embedding([3, 1, 3, 3], w).sum().backward()
    np.testing.assert_array_equal(w.grad, [[0, 0], [1, 1], [0, 0], [3, 3]])
    assert w.grad.dtype == np.float32


def test_padding_idx_gets_no_gradient_and_starts_at_zero() -> None:
    cr.manual_seed(0)
    emb = Embedding(6, 4, padding_idx=-1)
    assert emb.padding_idx == 5
    np.testing.assert_array_equal(emb.weight.numpy()[5], 0)
    idx = np.array([[5, 2, 5], [1, 5, 2]])
    (emb(idx) * 3).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[5], 0)
    np.testing.assert_array_equal(emb.weight.grad[2], 6)
    np.testing.assert_array_equal(emb.weight.grad[1], 3)


def test_init_is_standard_normal_and_names_follow_pytorch() -> None:
    cr.manual_seed(1)
    emb = Embedding(1000, 64)
    assert list(emb.state_dict()) == ["weight"]
    assert emb.weight.shape == (1000, 64) and emb.weight.dtype == np.float32
    assert abs(emb.weight.numpy().mean()) < 0.01
    assert abs(emb.weight.numpy().std() - 1) < 0.01
    assert repr(Embedding(3, 2, padding_idx=0)) == "Embedding(3, 2, padding_idx=0)"


def test_from_pretrained_freezes_by_default() -> None:
    table = np.arange(6.0).reshape(3, 2)
    emb = Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb([2]).numpy(), [[4.0, 5.0]])
    assert Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_bad_indices_raise_clear_errors() -> None:
    emb = Embedding(4, 2)
    with pytest.raises(LayerError, match="index 4 is out of range"):
        emb(np.array([0, 4]))
    with pytest.raises(LayerError, match="out of range"):
        emb(np.array([-1]))
    with pytest.raises(LayerError, match="integers"):
        emb(np.array([0.5]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(4, 2, padding_idx=4)


@pytest.mark.torch
def test_matches_pytorch_with_padding() -> None:
    torch = pytest.importorskip("torch")
    cr.manual_seed(2)
    ours = Embedding(7, 5, padding_idx=2).double()
    theirs = torch.nn.Embedding(7, 5, padding_idx=2).double()
    theirs.load_state_dict({"weight": torch.from_numpy(ours.weight.numpy().copy())})
    idx = np.random.default_rng(3).integers(0, 7, (4, 6))
    r = np.random.default_rng(4).standard_normal((4, 6, 5))
    (ours(idx) * r).sum().backward()
    (theirs(torch.from_numpy(idx)) * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)

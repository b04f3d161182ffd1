"""``t[index] = value``: in place on tensors outside the graph, refused where backward
would silently be wrong (the rules of the in-place ops)."""

import numpy as np
import pytest

import chainrule as cr


def test_slices_masks_and_index_tensors():
    t = cr.ones(3, 4)
    t[:, 1] = 0
    t[cr.tensor([0, 2]), 3] = cr.tensor([7.0, 8.0])
    t[t > 5] = -1
    expected = np.ones((3, 4), np.float32)
    expected[:, 1] = 0
    expected[[0, 2], 3] = -1
    np.testing.assert_array_equal(t.numpy(), expected)
    assert t.dtype == np.float32


def test_matches_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = cr.zeros(4, 5), torch.zeros(4, 5)
    for index, value in [((slice(None), 2), 3.0), ((1, slice(1, 4)), 2.0), (0, 9.0)]:
        ours[index] = value
        theirs[index] = value
    ours[ours > 2.5] = 1.5
    theirs[theirs > 2.5] = 1.5
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_leaf_requiring_grad_needs_no_grad():
    w = cr.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0] = 5.0
    with cr.no_grad():
        w[0] = 5.0
    assert w.numpy().tolist() == [5.0, 1.0, 1.0] and w.requires_grad


def test_graph_tensor_and_grad_carrying_value_are_refused():
    w = cr.ones(3, requires_grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match="computed by the graph"):
        y[0] = 1.0
    plain = cr.zeros(3)
    with pytest.raises(RuntimeError, match="other operand requires grad"):
        plain[0] = w.sum()

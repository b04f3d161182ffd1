"""Top-level functions take the NumPy array that ``t.numpy()`` is (PyTorch code passes
``outputs.numpy()``, a tensor there) and give the same results as with the tensor."""

import numpy as np

import chainrule as cr


def test_pytorch_tutorial_line_torch_max_of_outputs_data():
    outputs = cr.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    _, predicted = cr.max(outputs.numpy(), 1)
    assert predicted.tolist() == [1, 0]
    values, indices = cr.max(outputs, 1)
    assert values.tolist() == cr.max(outputs.numpy(), 1).values.tolist()


def test_every_wrapped_function_keeps_name_and_docstring():
    for name in ("max", "sum", "softmax", "argmax", "einsum", "sigmoid"):
        fn = getattr(cr, name)
        assert fn.__name__ == name and fn.__doc__


def test_arrays_and_tensors_give_equal_results():
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for fn, kwargs in [(cr.sum, {"dim": 1}), (cr.mean, {}), (cr.softmax, {"dim": -1}),
                       (cr.argmax, {"dim": 0}), (cr.sigmoid, {}), (cr.clone, {})]:
        np.testing.assert_array_equal(fn(a, **kwargs).numpy(), fn(cr.tensor(a), **kwargs).numpy())

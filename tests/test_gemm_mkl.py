"""The optional MKL route for float32 GEMMs (chainrule.ops._gemm): every layout it takes
gives NumPy's product, whatever it does not take falls back to NumPy, and layers agree
with the route on and off. Skipped where libmkl_rt is not installed (pip install mkl;
CHAINRULE_MKL_RT may name the library), except the fall-back tests."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn
from chainrule.ops import _gemm


@pytest.fixture
def mkl(monkeypatch: pytest.MonkeyPatch):
    """The MKL route on, for products of any size (small ones normally stay with NumPy)."""
    monkeypatch.setattr(_gemm, "_MIN_WORK", 0)
    was_on = _gemm.enabled  # CHAINRULE_MKL=1 may have switched it on at import
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if not backend.use_mkl():
            pytest.skip("libmkl_rt not available (pip install mkl)")
    try:
        yield
    finally:
        backend.use_mkl(was_on)


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def _stored(x: np.ndarray, transposed: bool) -> np.ndarray:
    """x itself, or the same values as the transpose of a row-major array."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2) if transposed else x


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_two_d_products_in_every_layout(mkl: None, ta: bool, tb: bool) -> None:
    a, b = _rand(7, 5), _rand(5, 9, seed=1)
    out = _gemm.matmul(_stored(a, ta), _stored(b, tb))
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    assert out.dtype == np.float32


def test_into_out_and_strided_rows(mkl: None) -> None:
    a, b = _rand(6, 8), _rand(8, 4, seed=1)
    big = np.zeros((6, 10), np.float32)
    got = _gemm.matmul(a, b, out=big[:, 3:7])  # rows of out 10 apart
    np.testing.assert_allclose(big[:, 3:7], a @ b, rtol=1e-5, atol=1e-5)
    assert got.base is big or got is big[:, 3:7].base or np.shares_memory(got, big)
    assert not big[:, :3].any() and not big[:, 7:].any()
    wide = _rand(6, 16)[:, ::2]  # every other column: no BLAS layout, NumPy's turn
    np.testing.assert_allclose(_gemm.matmul(wide, b), wide @ b, rtol=1e-5, atol=1e-5)


def test_stacks_and_a_broadcast_operand(mkl: None) -> None:
    a, b = _rand(4, 7, 5), _rand(4, 9, 5, seed=1)
    bt = b.transpose(0, 2, 1)
    np.testing.assert_allclose(_gemm.matmul(a, bt), a @ bt, rtol=1e-5, atol=1e-5)
    w = _rand(7, 5, seed=2)
    np.testing.assert_allclose(_gemm.matmul(w, bt), w @ bt, rtol=1e-5, atol=1e-5)
    out = np.empty((4, 7, 9), np.float32)
    _gemm.matmul(a, bt, out=out)
    np.testing.assert_allclose(out, a @ bt, rtol=1e-5, atol=1e-5)


def test_four_d_stacks_as_one_batched_call(mkl: None, monkeypatch: pytest.MonkeyPatch) -> None:
    q, k = _rand(3, 4, 6, 5), _rand(3, 4, 6, 5, seed=1)
    kt = k.swapaxes(-1, -2)  # attention's q @ kᵀ: (batch, heads, T, d) @ (…, d, T)
    calls = []
    real = _gemm._sgemm_batch
    monkeypatch.setattr(_gemm, "_sgemm_batch", lambda *args: (calls.append(args[-1]),
                                                               real(*args)))
    out = _gemm.matmul(q, kt)
    assert out.shape == (3, 4, 6, 6) and calls == [12]
    np.testing.assert_allclose(out, q @ kt, rtol=1e-5, atol=1e-5)
    heads_first = _rand(4, 3, 6, 5).transpose(1, 0, 2, 3)  # batch axis not evenly stepped
    np.testing.assert_allclose(_gemm.matmul(heads_first, kt), heads_first @ kt, rtol=1e-5,
                               atol=1e-5)
    assert calls == [12]


def test_what_it_does_not_take_goes_to_numpy(mkl: None) -> None:
    a64, b64 = _rand(3, 4).astype(np.float64), _rand(4, 2).astype(np.float64)
    assert _gemm.matmul(a64, b64).dtype == np.float64
    a4, b4 = _rand(2, 3, 4, 5), _rand(1, 3, 5, 6)  # a broadcast 4-D stack
    np.testing.assert_allclose(_gemm.matmul(a4, b4), a4 @ b4, rtol=1e-5, atol=1e-5)
    one = _rand(1, 4)
    np.testing.assert_allclose(_gemm.matmul(one, _rand(4, 3)), one @ _rand(4, 3), rtol=1e-5)
    x = _rand(5, 5)
    expected = x @ x
    _gemm.matmul(x, x.copy(), out=x)  # out overlapping an operand: NumPy copies first
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)


def test_plans_repeat_one_product_per_matrix(mkl: None) -> None:
    w, stack = _rand(12, 5), _rand(3, 5, 4, seed=1)
    out = np.empty((12, 4), np.float32)
    for s, run in enumerate(_gemm.plans(w, stack, out)):
        stack[s] *= 2  # the plan reads the buffer when it runs, not when it was made
        run()
        np.testing.assert_allclose(out, w @ stack[s], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", ["linear", "lstm", "conv", "gru"])
def test_layers_agree_with_the_route_on_and_off(mkl: None, layer: str) -> None:
    cr.manual_seed(0)
    if layer == "linear":
        model, x = nn.Linear(20, 7), cr.tensor(_rand(6, 20))
    elif layer == "conv":
        model, x = nn.Conv2d(3, 8, 3, padding=1), cr.tensor(_rand(2, 3, 9, 9))
    else:
        cls = nn.LSTM if layer == "lstm" else nn.GRU
        model, x = cls(6, 16, batch_first=True), cr.tensor(_rand(3, 11, 6))
    results = []
    for on in (True, False):
        backend.use_mkl(on)
        model.zero_grad()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
        results.append([out.numpy().copy()] + [np.array(p.grad) for p in model.parameters()])
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


def test_numpy_blas_runs_one_thread_while_the_route_is_on(mkl: None) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def openblas() -> list[int]:
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["internal_api"] == "openblas"]

    if not openblas():
        pytest.skip("NumPy's BLAS is not OpenBLAS here")
    assert set(openblas()) == {1}
    backend.use_mkl(False)
    before = openblas()
    backend.use_mkl(True)
    backend.set_num_threads(2)  # MKL gets 2; NumPy's OpenBLAS stays at 1
    assert set(openblas()) == {1}
    backend.use_mkl(False)  # and gets the 2 asked for when the route goes off
    assert openblas() == [2] * len(before)
    backend.set_num_threads(max(before))  # as the other tests found it


def test_small_products_stay_with_numpy(mkl: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_gemm, "_MIN_WORK", 1 << 20)
    calls = []
    monkeypatch.setattr(_gemm, "_sgemm", lambda *args: calls.append(args))
    a, b = _rand(32, 16), _rand(16, 16, seed=1)
    np.testing.assert_allclose(_gemm.matmul(a, b), a @ b, rtol=1e-6)
    assert calls == []


def test_attention_agrees_with_the_route_on_and_off(mkl: None) -> None:
    from chainrule.ops.attention import scaled_dot_product_attention

    arrays = [_rand(2, 3, 7, 4, seed=s) for s in range(3)]
    results = []
    for on in (True, False):
        backend.use_mkl(on)
        q, k, v = (cr.tensor(a, requires_grad=True) for a in arrays)
        out = scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(cr.tensor(_rand(*out.shape, seed=9)))
        results.append([out.numpy().copy()] + [np.array(t.grad) for t in (q, k, v)])
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


def test_a_missing_library_warns_once_and_keeps_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_gemm, "_sgemm", None)  # as in a process that never loaded it
    monkeypatch.setattr(_gemm, "enabled", False)
    monkeypatch.setattr(_gemm, "matmul", np.matmul)
    monkeypatch.setattr(_gemm, "_warned", False)
    monkeypatch.setenv("CHAINRULE_MKL_RT", "/nonexistent/libmkl_rt.so")
    with pytest.warns(RuntimeWarning, match="MKL route off"):
        assert backend.use_mkl() is False
    assert _gemm.matmul is np.matmul and _gemm.status() == "numpy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backend.use_mkl() is False  # no second warning

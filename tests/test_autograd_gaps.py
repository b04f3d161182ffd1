"""torch.autograd names added for issue 12 (gradcheck, gradgradcheck, set_detect_anomaly,
Variable), plus set_printoptions and the ``dtype`` type. No torch needed."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import Function
from chainrule.diagnostics.gradcheck import GradcheckError as DiagnosticsGradcheckError


class WrongBackward(Function):
    """2x whose backward claims 3: gradcheck must catch it."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.saved = None
        return 2 * x

    def backward(self, g: np.ndarray) -> np.ndarray:
        return 3 * g


# ---- gradcheck ----------------------------------------------------------------------------

def test_gradcheck_passes_for_correct_ops_and_returns_true() -> None:
    x = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    w = cr.randn(4, 2, dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradcheck(lambda a, b: (a @ b).tanh(), (x, w)) is True
    assert cr.autograd.gradcheck(lambda a: a.cumprod(1), x) is True  # a bare tensor
    assert cr.autograd.gradcheck(lambda a, b: (a.sin(), (a @ b).exp()), [x, w]) is True
    idx = cr.tensor([[0, 1, 2, 3]])
    assert cr.autograd.gradcheck(lambda a, i: a.gather(1, i.expand(3, 4)), (x, idx))


def test_gradcheck_failure_is_both_torch_and_chainrule_error() -> None:
    x = cr.randn(5, dtype=cr.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="gradcheck FAILED") as info:
        cr.autograd.gradcheck(WrongBackward.apply, (x,))
    err = info.value
    assert isinstance(err, AssertionError)
    assert isinstance(err, DiagnosticsGradcheckError)
    assert isinstance(err, cr.autograd.GradcheckError)
    assert err.result.inputs[0].analytic == pytest.approx(1.5 * err.result.inputs[0].numeric)
    assert cr.autograd.gradcheck(WrongBackward.apply, (x,), raise_exception=False) is False


def test_gradcheck_tolerances_are_used() -> None:
    # float32 arithmetic inside fn: differences of order 1e-7 relative, caught by a tight
    # rtol and passed by the default
    x = cr.randn(4, dtype=cr.float64, requires_grad=True)

    def fn(t):
        return (t.float() * 3.0).double()

    assert cr.autograd.gradcheck(fn, (x,), eps=1e-3)
    assert not cr.autograd.gradcheck(fn, (x,), eps=1e-3, atol=0.0, rtol=1e-12,
                                     raise_exception=False)


def test_gradcheck_leaves_inputs_untouched() -> None:
    x = cr.randn(3, requires_grad=True)  # float32: checked on a float64 copy
    before = x.numpy().copy()
    assert cr.autograd.gradcheck(lambda t: t * t, (x,))
    assert x.grad is None and x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy(), before)


def test_gradcheck_argument_errors() -> None:
    x = cr.randn(3, dtype=cr.float64)
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        cr.autograd.gradcheck(lambda t: t * 2, (x,))
    x.requires_grad_()
    with pytest.raises(NotImplementedError, match="check_forward_ad"):
        cr.autograd.gradcheck(lambda t: t * 2, (x,), check_forward_ad=True)
    with pytest.raises(NotImplementedError, match="check_batched_grad"):
        cr.autograd.gradcheck(lambda t: t * 2, (x,), check_batched_grad=True)
    assert cr.autograd.gradcheck(lambda t: t * 2, (x,), fast_mode=True, nondet_tol=0.0)


def test_gradgradcheck_says_there_is_no_double_backward() -> None:
    x = cr.randn(3, dtype=cr.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="no double backward"):
        cr.autograd.gradgradcheck(lambda t: t * t, (x,))


# ---- anomaly detection switch -------------------------------------------------------------

def test_set_detect_anomaly_as_call_and_as_context() -> None:
    assert not cr.autograd.is_anomaly_enabled()
    with cr.autograd.set_detect_anomaly(True):
        assert cr.autograd.is_anomaly_enabled()
        with pytest.raises(cr.AnomalyError, match="Log"):
            cr.tensor([-1.0], requires_grad=True).log()
        with cr.autograd.set_detect_anomaly(False):
            assert not cr.autograd.is_anomaly_enabled()
            cr.tensor([-1.0], requires_grad=True).log()  # no error when off
        assert cr.autograd.is_anomaly_enabled()
    assert not cr.autograd.is_anomaly_enabled()
    try:
        cr.autograd.set_detect_anomaly(True)  # a plain call switches it on for good
        assert cr.autograd.is_anomaly_enabled()
    finally:
        cr.autograd.set_detect_anomaly(False)
    assert not cr.autograd.is_anomaly_enabled()


def test_set_detect_anomaly_restores_after_an_error() -> None:
    with pytest.raises(ZeroDivisionError):
        with cr.autograd.set_detect_anomaly(True):
            raise ZeroDivisionError
    assert not cr.autograd.is_anomaly_enabled()


# ---- Variable -----------------------------------------------------------------------------

def test_variable_is_the_tensor_itself() -> None:
    x = cr.tensor([1.0, 2.0])
    assert cr.autograd.Variable(x) is x and not x.requires_grad
    v = cr.autograd.Variable(x, requires_grad=True)
    assert v is x and x.requires_grad
    assert isinstance(x, cr.autograd.Variable) and not isinstance(2.0, cr.autograd.Variable)
    assert cr.autograd.Variable([1.0]).tolist() == [1.0]


# ---- printing and dtype -------------------------------------------------------------------

@pytest.fixture
def default_print():
    yield
    cr.set_printoptions(profile="default")


def test_set_printoptions_changes_repr(default_print) -> None:
    x = cr.tensor([1.23456789, 2.0])
    assert repr(x) == "tensor([1.2346, 2.    ])"
    cr.set_printoptions(precision=2)
    assert repr(x) == "tensor([1.23, 2.  ])"
    cr.set_printoptions(sci_mode=True)
    assert "e+00" in repr(x)
    cr.set_printoptions(profile="default")
    assert repr(x) == "tensor([1.2346, 2.    ])"
    big = cr.arange(2000)
    assert "..." in repr(big)
    cr.set_printoptions(threshold=5000)
    assert "..." not in repr(big)
    cr.set_printoptions(profile="short")
    assert repr(cr.tensor([1.23456])) == "tensor([1.23])"
    assert repr(big).count(",") < 10  # 2 items at each end
    cr.set_printoptions(profile="full")
    assert "..." not in repr(cr.arange(5000))
    cr.set_printoptions(profile="default", linewidth=20)
    assert repr(cr.arange(10)).count("\n") >= 1
    cr.set_printoptions(profile="default", sci_mode=False)
    assert repr(cr.tensor([1e-8, 1e9], dtype=cr.float64)) == (
        "tensor([         0.0000, 1000000000.0000], dtype=float64)")


def test_set_printoptions_errors(default_print) -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        cr.set_printoptions(profile="long")
    with pytest.raises(ValueError, match="precision must be >= 0"):
        cr.set_printoptions(precision=-1)


def test_dtype_is_the_type_of_dtype_names() -> None:
    assert cr.dtype is np.dtype
    for name in (cr.float32, cr.float64, cr.long, cr.bool, cr.zeros(2).dtype):
        assert isinstance(name, cr.dtype)
    assert not isinstance("float32", cr.dtype)

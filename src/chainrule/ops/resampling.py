"""``interpolate``: resizing (N, C, L) and (N, C, H, W) maps by nearest-neighbour or
(bi)linear interpolation, with PyTorch's coordinate rules, and its backward.

Every mode is separable: each output element along an axis reads at most two input
elements, ``y[o] = λ₀[o]·x[i₀[o]] + λ₁[o]·x[i₁[o]]`` (nearest: one, weight 1), and a 2-d
resize is the resize along W followed by the resize along H, the order PyTorch's kernel
computes in. So forward is one or two gathers per axis; backward applies the transposed
map, ``∂E/∂x = ∂E/∂y · A`` with A the (out, in) interpolation matrix of each axis (a
GEMM; its repeated columns are what sums the gradient of every output an input fed).

Where each output samples (PyTorch's ``area_pixel_compute_source_index`` and
``nearest_idx``), with ``r`` the input/output ratio (``1/scale_factor`` when a scale
factor is given and not recomputed, else ``in/out``):

    linear, align_corners=False:  src = max(r·(o + ½) − ½, 0)
    linear, align_corners=True:   src = o·(in − 1)/(out − 1)
                                  i₀ = ⌊src⌋, i₁ = i₀ + 1 (clamped), λ₁ = src − i₀
    nearest:                      i = min(⌊o·r⌋, in − 1)   (in float32, like PyTorch)
    nearest-exact:                i = min(⌊(o + ½)·r⌋, in − 1)

Mode ``'area'`` is adaptive average pooling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.pooling import adaptive_avg_pool1d, adaptive_avg_pool2d
from chainrule.tensor import Tensor

# One axis of a resize: (i0, i1, l0, l1) for linear modes, (i0, None, None, None) for
# nearest ones, None where the axis keeps its size (PyTorch copies it unchanged).
AxisPlan = tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None] | None

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "area")


# ---- where each output samples ---------------------------------------------------------------

def _nearest_plan(size: int, out: int, scale: float | None, exact: bool) -> AxisPlan:
    """PyTorch's nearest source index (and its exact variant), in float32 as its CPU
    kernel computes it (float64 would round some ``o·r`` landing on an integer down)."""
    o = np.arange(out, dtype=np.float32)
    ratio = (np.float32(1.0 / scale) if scale is not None and scale > 0
             else np.float32(size) / np.float32(out))
    src = np.floor((o + np.float32(0.5)) * ratio if exact else o * ratio)
    return np.minimum(src.astype(np.int64), size - 1), None, None, None


def _linear_plan(size: int, out: int, scale: float | None, align_corners: bool,
                 dtype: np.dtype) -> AxisPlan:
    """PyTorch's ``compute_source_index_and_lambda``, in the input's precision."""
    if out == size:
        return None
    t = dtype.type
    if align_corners:
        ratio = t(size - 1) / t(out - 1) if out > 1 else t(0)
    else:
        ratio = t(1.0 / scale) if scale is not None and scale > 0 else t(size) / t(out)
    o = np.arange(out, dtype=dtype)
    if align_corners:
        src = ratio * o
    else:
        src = np.maximum(ratio * (o + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    l1 = np.clip(src - i0, 0, 1).astype(dtype)
    i1 = np.minimum(i0 + 1, size - 1)
    return i0, i1, (1 - l1).astype(dtype), l1


def _matrix(plan: AxisPlan, size: int, dtype: np.dtype) -> np.ndarray:
    """The (out, in) matrix of one axis's resize (for backward)."""
    i0, i1, l0, l1 = plan
    rows = np.arange(len(i0))
    a = np.zeros((len(i0), size), dtype)
    if i1 is None:
        a[rows, i0] = 1
    else:
        np.add.at(a, (rows, i0), l0)
        np.add.at(a, (rows, i1), l1)
    return a


# ---- the op ----------------------------------------------------------------------------------

class Resample(Function):
    """Resize the trailing axes of x (N, C, *spatial) one at a time, last axis first, by
    the per-axis plans (see the module docstring)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, *, plans: tuple[AxisPlan, ...]) -> np.ndarray:
        first = x.ndim - len(plans)
        y = x
        for axis in reversed(range(len(plans))):
            plan = plans[axis]
            if plan is None:
                continue
            i0, i1, l0, l1 = plan
            ax = first + axis
            if i1 is None:
                y = np.take(y, i0, axis=ax)
                continue
            shape = [1] * y.ndim
            shape[ax] = -1
            y = np.take(y, i0, axis=ax) * l0.reshape(shape) + \
                np.take(y, i1, axis=ax) * l1.reshape(shape)
        self.saved = (x.shape, plans)
        return y if y is not x else x.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        x_shape, plans = self.saved
        first = len(x_shape) - len(plans)
        for axis in range(len(plans)):  # the reverse of forward's order
            plan = plans[axis]
            if plan is None:
                continue
            ax = first + axis
            a = _matrix(plan, x_shape[ax], g.dtype)
            g = np.moveaxis(np.moveaxis(g, ax, -1) @ a, -1, ax)
        return np.ascontiguousarray(g)


# ---- functional wrapper ----------------------------------------------------------------------

def _per_axis(name: str, value: Any, nd: int, label: str, spatial: tuple[int, ...]) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) != nd:
            raise ValueError(f"{name}: {label} {tuple(value)} must have one entry per spatial "
                             f"axis of the input (spatial size {spatial})")
        return tuple(value)
    return (value,) * nd


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False
                ) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) maps (PyTorch's ``F.interpolate``).

    Args:
        input: (N, C, L) for ``'linear'``, (N, C, H, W) for ``'bilinear'``; either for
            ``'nearest'``, ``'nearest-exact'`` and ``'area'``.
        size: the output's spatial size (int or one per axis); or
        scale_factor: multiplier per axis (float or one per axis); the output size is
            ``⌊in·scale_factor⌋``. Give exactly one of the two.
        mode: ``'nearest'`` (PyTorch's default, which floors ``o·in/out``),
            ``'nearest-exact'`` (samples pixel centres), ``'linear'``, ``'bilinear'``,
            or ``'area'`` (adaptive average pooling).
        align_corners: linear modes only (default False): True maps the corner pixels'
            centres onto each other, ``src = o·(in − 1)/(out − 1)``; False maps the
            corners' edges, ``src = (o + ½)·r − ½``.
        recompute_scale_factor: with ``scale_factor``, sample with ratio ``in/out`` of the
            rounded output size instead of ``1/scale_factor`` (PyTorch's default, None,
            uses the given factor).
        antialias: not supported (must be False).

    Returns:
        (N, C, *output size), the input's dtype.

    Example:
        >>> import chainrule as cr
        >>> x = cr.tensor([[[1.0, 2.0, 4.0]]])
        >>> interpolate(x, scale_factor=2).tolist()
        [[[1.0, 1.0, 2.0, 2.0, 4.0, 4.0]]]
        >>> interpolate(x, size=5, mode="linear", align_corners=True).tolist()
        [[[1.0, 1.5, 2.0, 3.0, 4.0]]]
    """
    name = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if mode not in _MODES:
        raise ValueError(f"{name}: mode must be one of {', '.join(_MODES)} (bicubic, "
                         f"trilinear and lanczos are not supported), got {mode!r}")
    x = input._data
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected input of shape (N, C, L) or (N, C, H, W), got "
                         f"{input.shape}")
    if x.dtype.kind != "f":
        raise ValueError(f"{name}: expected a floating-point input, got dtype {x.dtype}")
    nd = x.ndim - 2
    if mode == "linear" and nd != 1 or mode == "bilinear" and nd != 2:
        want = "3-D (N, C, L)" if mode == "linear" else "4-D (N, C, H, W)"
        raise ValueError(f"{name}: mode {mode!r} needs {want} input, got shape {input.shape}")
    if antialias:
        raise ValueError(f"{name}: antialias=True is not supported")
    linear = mode in ("linear", "bilinear")
    if not linear and align_corners is not None:
        raise ValueError(f"{name}: align_corners can only be set with the interpolating "
                         f"modes linear | bilinear, not {mode!r}")
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{name}: give exactly one of size and scale_factor, got size="
                         f"{size!r}, scale_factor={scale_factor!r}")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"{name}: recompute_scale_factor is not meaningful with an "
                         f"explicit size")
    if size is not None:
        out = tuple(int(s) for s in _per_axis(name, size, nd, "size", spatial))
        scales: tuple = (None,) * nd
    else:
        factors = tuple(float(f) for f in _per_axis(name, scale_factor, nd, "scale_factor",
                                                    spatial))
        out = tuple(int(np.floor(n * f)) for n, f in zip(spatial, factors))
        scales = (None,) * nd if recompute_scale_factor or mode == "area" else factors
    if min(out) < 1 or min(spatial) < 1:
        raise ValueError(f"{name}: input and output sizes must be positive, got input "
                         f"{input.shape} and output size {out}")
    if mode == "area":
        return adaptive_avg_pool1d(input, out) if nd == 1 else adaptive_avg_pool2d(input, out)
    if linear:
        plans = tuple(_linear_plan(n, o, s, bool(align_corners), x.dtype)
                      for n, o, s in zip(spatial, out, scales))
    else:
        plans = tuple(_nearest_plan(n, o, s, mode == "nearest-exact")
                      for n, o, s in zip(spatial, out, scales))
    return Resample.apply(input, plans=plans)


__all__ = ["interpolate"]


# ---- PyTorch's deprecated aliases of interpolate (gapsnn) -----------------------------------

def _deprecated(name: str) -> None:
    import warnings

    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", UserWarning, stacklevel=3)


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None,  # noqa: A002
             mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """``interpolate(input, size, scale_factor, mode, align_corners)``, with PyTorch's
    deprecation warning.

    Example:
        >>> import warnings
        >>> import chainrule as cr
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     upsample(cr.ones(1, 1, 2), scale_factor=2).shape
        (1, 1, 4)
    """
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None,  # noqa: A002
                     scale_factor: Any = None) -> Tensor:
    """``interpolate(input, size, scale_factor, mode='nearest')``, deprecated as in
    PyTorch."""
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None,  # noqa: A002
                      scale_factor: Any = None) -> Tensor:
    """``interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)``,
    deprecated as in PyTorch (note align_corners=True)."""
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


__all__ += ["upsample", "upsample_bilinear", "upsample_nearest"]

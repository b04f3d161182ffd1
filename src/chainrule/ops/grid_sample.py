"""Spatial transformers' sampling: ``affine_grid`` and ``grid_sample`` (PyTorch's
``F.affine_grid`` and ``F.grid_sample``, 2-d; Jaderberg et al. 2015).

``grid`` holds, for every output pixel, where to read the input, as normalised
coordinates (x, y) in [−1, 1] (x along W, y along H). They become pixel coordinates by

    align_corners=True:   i = (g + 1)/2 · (size − 1)      (−1, 1: the corner pixels' centres)
    align_corners=False:  i = ((g + 1)·size − 1)/2        (−1, 1: the corners' outer edges)

and then, by ``padding_mode``: ``'zeros'`` reads 0 outside the image; ``'border'`` clips
i into [0, size − 1]; ``'reflection'`` mirrors i at the borders (the pixel centres with
align_corners, else the edges) and clips.

``'bilinear'`` blends the four pixels around (i_x, i_y) with weights
``(1 − λx)(1 − λy), λx(1 − λy), (1 − λx)λy, λxλy`` (λ = i − ⌊i⌋); ``'nearest'`` reads
the pixel at round-half-to-even (i_x, i_y), PyTorch's rounding. Derivatives:

    ∂E/∂input: each output's gradient scatter-added into the pixels it read, by weight;
    ∂E/∂i_x = Σ_c g · [(1 − λy)(v₀₁ − v₀₀) + λy(v₁₁ − v₁₀)]   (v_yx: the four pixels)
    ∂E/∂i_y = Σ_c g · [(1 − λx)(v₁₀ − v₀₀) + λx(v₁₁ − v₀₁)]
    ∂E/∂grid = ∂E/∂i · ∂i/∂g (the scale above, times ±1 or 0 from reflection/clipping);

nearest sampling gives the grid no gradient, as in PyTorch.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.einsum import einsum
from chainrule.ops.shape import reshape
from chainrule.tensor import Tensor

_MODES = ("bilinear", "nearest")
_PADDING = ("zeros", "border", "reflection")


def _align_warning(name: str) -> None:
    warnings.warn(f"{name}: the default align_corners is False (PyTorch's since 1.3.0, with "
                  "this warning); pass align_corners=True for the old behaviour, or False "
                  "to silence this", UserWarning, stacklevel=3)


# ---- normalised coordinates → pixel coordinates, with d(pixel)/d(normalised) -------------

def _reflect(i: np.ndarray, twice_low: float, twice_high: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Mirror i into [twice_low/2, twice_high/2] as often as needed; (result, ±1)."""
    if twice_low == twice_high:
        return np.zeros_like(i), np.zeros_like(i)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    d = i - low
    sign = np.where(d < 0, -1.0, 1.0).astype(i.dtype)
    d = np.abs(d)
    extra = np.fmod(d, span)
    even = np.floor(d / span) % 2 == 0
    return (np.where(even, extra + low, span - extra + low).astype(i.dtype),
            np.where(even, sign, -sign).astype(i.dtype))


def _clip(i: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    inside = (i > 0) & (i < size - 1)
    return np.clip(i, 0, size - 1).astype(i.dtype), inside.astype(i.dtype)


def _source(g: np.ndarray, size: int, padding: str, align: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of normalised coordinates g along an axis of ``size``, and the
    derivative of each with respect to its g."""
    if align:
        i = (g + 1) * ((size - 1) / 2)
        scale = (size - 1) / 2
    else:
        i = ((g + 1) * size - 1) / 2
        scale = size / 2
    d = np.full(g.shape, scale, g.dtype)
    if padding == "border":
        i, dc = _clip(i, size)
        d *= dc
    elif padding == "reflection":
        i, dr = _reflect(i, 0.0, 2.0 * (size - 1)) if align else _reflect(i, -1.0,
                                                                          2.0 * size - 1)
        i, dc = _clip(i, size)
        d *= dr * dc
    return i.astype(g.dtype, copy=False), d


class GridSample2d(Function):
    """input (N, C, H, W), grid (N, Ho, Wo, 2) → (N, C, Ho, Wo)."""

    __slots__ = ()

    def forward(self, x: np.ndarray, grid: np.ndarray, mode: str, padding: str,
                align: bool) -> np.ndarray:
        n, c, h, w = x.shape
        ho, wo = grid.shape[1:3]
        ix, dix = _source(grid[..., 0], w, padding, align)
        iy, diy = _source(grid[..., 1], h, padding, align)
        flat = x.reshape(n, c, h * w)
        if mode == "nearest":
            xs, ys = np.rint(ix), np.rint(iy)  # round half to even, as PyTorch
            taps = [(ys, xs, None)]
        else:
            x0 = np.floor(ix)
            y0 = np.floor(iy)
            lx, ly = ix - x0, iy - y0
            taps = [(y0, x0, (1 - lx) * (1 - ly)), (y0, x0 + 1, lx * (1 - ly)),
                    (y0 + 1, x0, (1 - lx) * ly), (y0 + 1, x0 + 1, lx * ly)]
        plans, values = [], []
        for ty, tx, weight in taps:
            valid = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
            # indices only where valid: NaN or huge coordinates never reach an int cast
            index = np.where(valid, np.nan_to_num(ty) * w + np.nan_to_num(tx), 0).astype(
                np.int64).reshape(n, 1, ho * wo)
            v = np.take_along_axis(flat, index, axis=2) * valid.reshape(n, 1, ho * wo)
            plans.append((index, valid, weight))
            values.append(v)
        if mode == "nearest":
            out = values[0]
        else:
            out = sum(v * wt.reshape(n, 1, ho * wo) for v, (_, _, wt) in zip(values, plans))
            lxy = (lx.reshape(n, 1, -1), ly.reshape(n, 1, -1))
        keep_values = values if (mode == "bilinear" and self.needs_input_grad[1]) else None
        self.saved = (x.shape, plans, keep_values,
                      lxy if keep_values is not None else None, dix, diy, mode)
        return out.reshape(n, c, ho, wo).astype(x.dtype, copy=False)

    def backward(self, g: np.ndarray) -> tuple:
        shape, plans, values, lxy, dix, diy, mode = self.saved
        n, c, h, w = shape
        ho, wo = g.shape[2:]
        g3 = g.reshape(n, c, ho * wo)
        gx = ggrid = None
        if self.needs_input_grad[0]:
            acc = np.zeros((c, n * h * w), g.dtype)
            batch = (np.arange(n) * (h * w)).reshape(n, 1, 1)
            for index, valid, weight in plans:
                contrib = g3 * valid.reshape(n, 1, -1)
                if weight is not None:
                    contrib = contrib * weight.reshape(n, 1, -1)
                where = np.broadcast_to(index + batch, (n, 1, ho * wo)).reshape(-1)
                cols = contrib.transpose(1, 0, 2).reshape(c, -1)
                np.add.at(acc, (slice(None), where), cols)
            gx = acc.reshape(c, n, h, w).transpose(1, 0, 2, 3)
        if self.needs_input_grad[1]:
            ggrid = np.zeros((n, ho, wo, 2), g.dtype)
            if values is not None:
                v00, v01, v10, v11 = values
                lx, ly = lxy
                d_ix = ((1 - ly) * (v01 - v00) + ly * (v11 - v10)) * g3
                d_iy = ((1 - lx) * (v10 - v00) + lx * (v11 - v01)) * g3
                ggrid[..., 0] = d_ix.sum(axis=1).reshape(n, ho, wo) * dix
                ggrid[..., 1] = d_iy.sum(axis=1).reshape(n, ho, wo) * diy
        return gx, ggrid


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",  # noqa: A002
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` at the positions ``grid`` gives (PyTorch's ``F.grid_sample``, 2-d).

    Args:
        input: (N, C, H, W).
        grid: (N, Ho, Wo, 2), normalised (x, y) in [−1, 1] (values outside read the
            padding), e.g. from :func:`affine_grid`.
        mode: ``'bilinear'`` (default) or ``'nearest'`` (``'bicubic'`` is not supported).
        padding_mode: ``'zeros'`` (default), ``'border'`` or ``'reflection'``.
        align_corners: whether −1 and 1 are the corner pixels' centres (True) or their
            outer edges (False, the default; leaving it None warns as PyTorch does).

    Returns:
        (N, C, Ho, Wo), differentiable in ``input`` and (bilinear) in ``grid``.

    Example:
        >>> import chainrule as cr
        >>> x = cr.arange(4.0).reshape(1, 1, 2, 2)
        >>> g = cr.tensor([[[[0.0, 0.0]]]])  # the centre of the image
        >>> grid_sample(x, g, align_corners=False).tolist()
        [[[[1.5]]]]
    """
    name = "grid_sample"
    if mode not in _MODES:
        raise ValueError(f"{name}: mode must be one of {', '.join(_MODES)} (bicubic is not "
                         f"supported), got {mode!r}")
    if padding_mode not in _PADDING:
        raise ValueError(f"{name}: padding_mode must be one of {', '.join(_PADDING)}, got "
                         f"{padding_mode!r}")
    if align_corners is None:
        _align_warning(name)
        align_corners = False
    x, gr = input._data, grid._data
    if x.ndim != 4:
        raise ValueError(f"{name}: only 4-D (N, C, H, W) input is supported (5-D volumes "
                         f"are not), got {input.shape}")
    if gr.ndim != 4 or gr.shape[-1] != 2 or gr.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: grid must be (N, H_out, W_out, 2) with N = {x.shape[0]} "
                         f"for input {input.shape}, got {grid.shape}")
    if x.dtype.kind != "f" or gr.dtype.kind != "f":
        raise ValueError(f"{name}: input and grid must be floating, got {x.dtype} and "
                         f"{gr.dtype}")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{name}: input {input.shape} has an empty spatial dimension")
    if gr.dtype != x.dtype:
        from chainrule.ops.arithmetic import cast

        grid = cast(grid, x.dtype)
    return GridSample2d.apply(input, grid, mode=mode, padding=padding_mode,
                              align=bool(align_corners))


def _base_axis(n: int, align: bool, dtype: np.dtype) -> np.ndarray:
    """Normalised coordinates of n pixel centres (PyTorch's ``linspace_from_neg_one``)."""
    if n <= 1:
        return np.zeros(max(n, 1), dtype)
    r = np.linspace(-1, 1, n, dtype=np.float64)
    if not align:
        r = r * (n - 1) / n
    return r.astype(dtype)


def affine_grid(theta: Tensor, size: Any, align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps (PyTorch's ``F.affine_grid``), for
    :func:`grid_sample`.

    Args:
        theta: (N, 2, 3) maps from output to input normalised coordinates (2-d), or
            (N, 3, 4) (3-d).
        size: the output size (N, C, H, W), or (N, C, D, H, W) for 3-d.
        align_corners: as in :func:`grid_sample` (use the same value there); None warns
            and means False, as in PyTorch.

    Returns:
        (N, H, W, 2) (or (N, D, H, W, 3)): ``theta @ (x, y, 1)`` for the normalised
        centre (x, y) of every output pixel; differentiable in ``theta``.

    Example:
        >>> import chainrule as cr
        >>> identity = cr.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> affine_grid(identity, (1, 1, 2, 2), align_corners=True)[0, :, :, 0].tolist()
        [[-1.0, 1.0], [-1.0, 1.0]]
    """
    name = "affine_grid"
    if align_corners is None:
        _align_warning(name)
        align_corners = False
    t = theta._data
    if t.dtype.kind != "f":
        raise ValueError(f"{name}: expected theta to have a floating point type, got "
                         f"{t.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        want = (2, 3)
    elif len(size) == 5:
        want = (3, 4)
    else:
        raise ValueError(f"{name}: supports 4-D and 5-D sizes, for 2-d and 3-d affine "
                         f"transforms respectively, got size {size}")
    if t.ndim != 3 or t.shape[1:] != want or t.shape[0] != size[0]:
        raise ValueError(f"{name}: expected a batch of affine matrices of shape "
                         f"({size[0]}, {want[0]}, {want[1]}) for size {size}, got "
                         f"{theta.shape}")
    if min(size) <= 0:
        raise ValueError(f"{name}: expected a positive output size, got {size}")
    spatial = size[2:]
    axes = [_base_axis(n, bool(align_corners), t.dtype) for n in reversed(spatial)]  # x, y(, z)
    mesh = list(np.meshgrid(*axes[::-1], indexing="ij"))[::-1]  # each of shape spatial
    base = np.stack(mesh + [np.ones(spatial, t.dtype)], axis=-1).reshape(-1, want[1])
    grid = einsum("pk,nik->npi", base, theta)
    return reshape(grid, (size[0], *spatial, want[0]))


__all__ = ["affine_grid", "grid_sample"]

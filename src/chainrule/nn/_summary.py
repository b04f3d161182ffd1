"""``Module.summary()`` and ``Module._repr_html_``: a model's layers as a table.

Each row is one layer under its qualified name (``encoder.0.conv``, the ``state_dict``
prefix), its one-line description and its parameter count; given an input size (or
inputs), one forward pass in eval mode, without a graph, adds each layer's output shape,
as torchinfo does. The text is a ``str`` (``ModelSummary``) that also carries the rows
and renders itself as an HTML table in a notebook.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chainrule.nn.module import Module

TYPE_WIDTH = 60  # the layer-description column of the text table is cut at this width


class ModelSummary(str):
    """The text table ``Module.summary()`` returns, with the numbers behind it.

    It is a ``str`` (``print(model.summary())``, ``"Linear" in model.summary()``), and its
    ``repr`` is the table itself, so a notebook cell or the REPL shows it laid out; in
    Jupyter it renders as an HTML table (``_repr_html_``).

    Attributes:
        rows: one dict per layer: ``name`` (qualified), ``layer`` (one-line description),
            ``output_shape`` (text, ``None`` without a forward pass) and ``parameters``.
        input_size: the input shape(s) of the forward pass, or ``None``.
        output_shape: the model's output shape (text), or ``None``.
        total, trainable: parameter counts.
        title: the model's class name.
    """

    rows: list[dict[str, Any]]
    input_size: Any
    output_shape: str | None
    total: int
    trainable: int
    title: str

    def __repr__(self) -> str:
        return str.__str__(self)

    def _repr_html_(self) -> str:
        return summary_html(self)


def _shape_text(value: Any) -> str:
    """``(1, 256)`` for a tensor or array, ``[(1, 5, 16), [(1, 1, 16), ...]]`` nested."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and not isinstance(value, (tuple, list)):
        return _tuple_text(shape)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_shape_text(v) for v in value) + "]"
    if value is None:
        return "None"
    return type(value).__name__


def _tuple_text(shape: Any) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _inputs(module: Module, input_size: Any, input_data: Any, dtypes: Any) -> list[Any]:
    """The forward pass's positional arguments: ``input_data`` as given, else zeros of
    ``input_size`` (zeros: no random numbers are drawn, so a seeded script's stream is
    unchanged by asking for a summary)."""
    from chainrule.tensor import Tensor

    if input_data is not None:
        if isinstance(input_data, (list, tuple)) and not _is_shape(input_data):
            return list(input_data)
        return [input_data]
    sizes = [input_size] if _is_shape(input_size) else list(input_size)
    for s in sizes:
        if not _is_shape(s):
            raise TypeError(f"summary(input_size=...) takes a shape such as (1, 64) (batch "
                            f"dimension included) or a list of shapes, got {input_size!r}")
    if dtypes is None or isinstance(dtypes, (str, type, np.dtype)):
        dtypes = [dtypes] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: {len(dtypes)} dtypes for {len(sizes)} input sizes")
    floating = next((p._data.dtype for p in module.parameters()
                     if p._data.dtype.kind == "f"), None)
    if floating is None:
        from chainrule.backend import get_default_dtype

        floating = np.dtype(get_default_dtype())
    out = []
    for s, dt in zip(sizes, dtypes):
        dtype = np.dtype(dt) if dt is not None else floating
        out.append(Tensor(np.zeros(tuple(int(d) for d in s), dtype), dtype=dtype))
    return out


def _is_shape(value: Any) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) > 0
            and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                    for d in value))


def _output_shapes(module: Module, args: list[Any]) -> tuple[dict[int, list[str]], str]:
    """Run ``module(*args)`` once in eval mode without a graph; the output shape of every
    sub-module (by id, one entry per call) and of the whole model."""
    from chainrule.autograd import no_grad

    seen: dict[int, list[str]] = {}
    removers = []
    for _, m in module.named_modules():
        def hook(mod: Any, inputs: tuple, out: Any) -> None:
            seen.setdefault(id(mod), []).append(_shape_text(out))
        removers.append(m.register_forward_hook(hook))
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        # the values do not matter, only the shapes: a model built under meta_init()
        # (zeros for every weight) divides by zero in its Standardize layer, say
        with no_grad(), np.errstate(all="ignore"):
            out = module(*args)
    finally:
        for remove in removers:
            remove()
        for m, mode in modes:
            m.__dict__["training"] = mode
    return seen, _shape_text(out)


def summarize(module: Module, input_size: Any = None, input_data: Any = None,
              dtypes: Any = None) -> ModelSummary:
    """The ``ModelSummary`` of ``module`` (see ``Module.summary``)."""
    shapes: dict[int, list[str]] | None = None
    out_shape = None
    if input_size is not None or input_data is not None:
        args = _inputs(module, input_size, input_data, dtypes)
        shapes, out_shape = _output_shapes(module, args)
        input_size = [tuple(int(d) for d in getattr(a, "shape", ())) for a in args]
        input_size = input_size[0] if len(input_size) == 1 else input_size
    rows = []
    for name, m in module.named_modules():
        own = sum(p._data.size for p in m._parameters.values() if p is not None)
        if name and (own or not m._modules):
            shape = None
            if shapes is not None:
                calls = shapes.get(id(m), [])
                shape = "-" if not calls else calls[0] + (
                    f" x{len(calls)}" if len(calls) > 1 and len(set(calls)) == 1 else
                    " ..." if len(calls) > 1 else "")
            rows.append({"name": name, "layer": m._one_line(), "output_shape": shape,
                         "parameters": int(own)})
    total = module.num_parameters()
    trainable = module.num_parameters(trainable_only=True)
    text = _text(rows, total, trainable, input_size, out_shape)
    summary = ModelSummary(text)
    summary.rows, summary.input_size, summary.output_shape = rows, input_size, out_shape
    summary.total, summary.trainable = total, trainable
    summary.title = type(module).__name__
    return summary


def _text(rows: list[dict[str, Any]], total: int, trainable: int, input_size: Any,
          out_shape: str | None) -> str:
    with_shapes = out_shape is not None
    head = ("layer", "type") + (("output shape",) if with_shapes else ()) + ("parameters",)
    table = [head] + [(r["name"], r["layer"]) + ((r["output_shape"],) if with_shapes else ())
                      + (f"{r['parameters']:,}",) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    widths[1] = min(widths[1], TYPE_WIDTH)
    widths[-1] = max(widths[-1], len(f"{total:,}"))
    def cell(text: str, width: int, right: bool) -> str:
        text = text if len(text) <= width else text[:width - 3] + "..."
        return text.rjust(width) if right else text.ljust(width)

    lines = ["  ".join(cell(c, w, i == len(head) - 1) for i, (c, w) in enumerate(zip(r, widths)))
             .rstrip() for r in table]
    rule = "-" * max(len(line) for line in lines)
    lines.insert(1, rule)
    lines.append(rule)
    if with_shapes:
        lines.append(f"input {_sizes_text(input_size)} -> output {out_shape}")
    lines.append(f"total parameters: {total:,} (trainable: {trainable:,})")
    return "\n".join(lines)


def _sizes_text(input_size: Any) -> str:
    """``(1, 64)`` for one input size, ``[(1, 5), (1, 3)]`` for several."""
    if _is_shape(input_size):
        return _tuple_text(input_size)
    return "[" + ", ".join(_sizes_text(s) for s in input_size) + "]"


def summary_html(summary: ModelSummary) -> str:
    """The summary as an HTML ``<table>`` (every string escaped), for notebooks and the
    run report."""
    esc = html.escape
    shapes = summary.output_shape is not None
    head = "<th>layer</th><th>type</th>" + ("<th>output shape</th>" if shapes else "") + \
        "<th style=\"text-align:right\">parameters</th>"
    body = []
    for r in summary.rows:
        cells = f"<td><code>{esc(r['name'])}</code></td><td>{esc(r['layer'])}</td>"
        if shapes:
            cells += f"<td><code>{esc(r['output_shape'])}</code></td>"
        cells += f"<td style=\"text-align:right\">{r['parameters']:,}</td>"
        body.append(f"<tr>{cells}</tr>")
    foot = f"{summary.total:,} parameters ({summary.trainable:,} trainable)"
    if shapes:
        foot = (f"input <code>{esc(_sizes_text(summary.input_size))}</code> "
                f"&rarr; output <code>{esc(summary.output_shape or '')}</code>; " + foot)
    return (f"<div class=\"chainrule-summary\"><strong>{esc(summary.title)}</strong>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p>{foot}</p></div>")


__all__ = ["ModelSummary", "summarize", "summary_html"]

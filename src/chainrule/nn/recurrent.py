"""Recurrent layers with PyTorch's constructors, parameter names and shapes:
``RNN`` (tanh or relu), ``LSTM`` and ``GRU`` over whole sequences, and the single-step
cells ``RNNCell``, ``LSTMCell`` and ``GRUCell`` (one time step of the same fused ops).

Each layer and direction runs its whole sequence as one fused graph node (see
``chainrule.ops.recurrent``), so backpropagation through time is one backward call per
layer. Truncated BPTT is the usual recipe: carry the final state into the next chunk
with ``.detach()`` so gradients stop at the chunk boundary::

    h = None
    for chunk in chunks:                  # (T_chunk, B, I) pieces of one long sequence
        out, h = lstm(chunk, h)
        loss = criterion(head(out), ...)
        loss.backward(); opt.step(); opt.zero_grad()
        h = tuple(s.detach() for s in h)  # for RNN/GRU: h = h.detach()
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from chainrule.backend import Generator, get_default_dtype
from chainrule.devices import check_device
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.activations import dropout as _dropout
from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer
from chainrule.ops.shape import concatenate, getitem, squeeze, stack, unsqueeze
from chainrule.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_REVERSE = slice(None, None, -1)


class _RNNBase(Module):
    """Shared constructor, parameters and layer/direction loop of RNN, LSTM and GRU."""

    mode = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None, mode: str | None = None) -> None:
        super().__init__()
        self.mode = mode or type(self).mode
        name = type(self).__name__
        check_device(device, name)
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{name} needs positive sizes, got input_size={input_size}, "
                             f"hidden_size={hidden_size}")
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be at least 1, got {num_layers}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between layers and does nothing "
                          "with num_layers=1", UserWarning, stacklevel=2)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.generator = generator
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        gates = _GATES[self.mode] * hidden_size
        directions = 2 if bidirectional else 1
        bound = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * directions
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (gates, layer_in)), ("weight_hh", (gates, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for pname, shape in shapes:  # PyTorch's order, each from U(±1/√hidden)
                    p = Parameter(np.empty(shape, dt), dtype=dt)
                    init.uniform_(p, -bound, bound, generator)
                    setattr(self, pname + sfx, p)

    def flatten_parameters(self) -> None:
        """Does nothing (PyTorch compacts cuDNN weights here); kept for familiar code."""

    # ---- forward -------------------------------------------------------------------
    def _layer_params(self, layer: int, direction: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        get = self.__dict__.get
        return (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
                get("bias_hh" + sfx))

    def _run(self, x: Tensor, states: list[Tensor | None], layer: int, direction: int,
             batch_first: bool) -> tuple[Tensor, list[Tensor]]:
        """One layer in one direction; returns its outputs in forward time order and its
        final states."""
        params = self._layer_params(layer, direction)
        flip = (slice(None), _REVERSE) if batch_first else _REVERSE
        if direction:
            x = getitem(x, flip)
        if self.mode == "LSTM":
            y, h, c = lstm_layer(x, states[0], states[1], *params, batch_first=batch_first)
            finals = [h, c]
        elif self.mode == "GRU":
            y, h = gru_layer(x, states[0], *params, batch_first=batch_first)
            finals = [h]
        else:
            y, h = rnn_layer(x, states[0], *params, batch_first=batch_first,
                             nonlinearity="relu" if self.mode == "RNN_RELU" else "tanh")
            finals = [h]
        if direction:
            y = getitem(y, flip)
        return y, finals

    def _forward(self, x: Tensor, hx: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x._data.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input of shape (seq_len, batch, "
                             f"{self.input_size}) (or batch first, or unbatched "
                             f"(seq_len, {self.input_size})), got {x.shape}")
        if x._data.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x._data.shape[-1]} features in its last "
                             f"axis but input_size is {self.input_size} (shape {x.shape})")
        unbatched = x._data.ndim == 2
        batch_first = self.batch_first and not unbatched  # the ops take either layout
        if unbatched:
            x = unsqueeze(x, 1)
        directions = 2 if self.bidirectional else 1
        batch = x._data.shape[0 if batch_first else 1]
        expected = (self.num_layers * directions, batch, self.hidden_size)
        if hx is not None:
            checked = []
            for h in hx:
                h = h if isinstance(h, Tensor) else Tensor(h)
                if unbatched and h._data.ndim == 2:
                    h = unsqueeze(h, 1)
                if h._data.shape != expected:
                    want = (expected[0], expected[2]) if unbatched else expected
                    raise ValueError(f"{name}: initial state must have shape {want}, got "
                                     f"{h.shape}")
                checked.append(h)
            hx = checked
        finals: list[list[Tensor]] = []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = _dropout(x, self.dropout, True, generator=self.generator)
            outs = []
            for d in range(directions):
                k = layer * directions + d
                states = [None, None] if hx is None else [getitem(h, k) for h in hx]
                y, fin = self._run(x, states, layer, d, batch_first)
                outs.append(y)
                finals.append(fin)
            x = outs[0] if directions == 1 else concatenate(outs, axis=2)
        h_n = []
        for s in range(len(finals[0])):
            parts = [f[s] for f in finals]
            h_n.append(unsqueeze(parts[0], 0) if len(parts) == 1 else stack(parts, axis=0))
        if unbatched:
            x = squeeze(x, 1)
            h_n = [squeeze(h, 1) for h in h_n]
        return x, h_n

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            text += ", nonlinearity='relu'"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(_RNNBase):
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or relu).

    Parameters per layer k (``_reverse`` suffix for the backward direction):
    ``weight_ih_lk`` (H, in), ``weight_hh_lk`` (H, H), ``bias_ih_lk``, ``bias_hh_lk`` (H,),
    all from U(±1/√H) as in PyTorch.

    Args:
        input_size: features per time step; hidden_size: H.
        num_layers: stacked layers; nonlinearity: ``'tanh'`` or ``'relu'``.
        bias: learn biases; batch_first: input/output are (B, T, ·) instead of (T, B, ·).
        dropout: dropout on the outputs of every layer but the last (training only).
        bidirectional: also run each layer backwards in time and concatenate.
        device: must name the CPU (``"cpu"``, ``chainrule.device("cpu")`` or None).
        dtype: parameter dtype (default: the global default, float32).
        generator: random source for the initial weights and the dropout masks.

    Shapes: input (T, B, in) → ``(output (T, B, D·H), h_n (D·num_layers, B, H))``.

    Example:
        >>> import chainrule as cr
        >>> rnn = cr.nn.RNN(3, 5, num_layers=2)
        >>> out, h = rnn(cr.ones(7, 2, 3))
        >>> out.shape, h.shape
        ((7, 2, 5), (2, 2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None, *, generator: Generator | None = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, generator=generator,
                         mode="RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU")
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h_n = self._forward(input, None if hx is None else [hx])
        return out, h_n[0]


class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's equations and gate order (i, f, g, o)::

        i, f, o = σ(W_i· x_t + b_i· + W_h· h_{t-1} + b_h·)
        g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        c_t = f ⊙ c_{t-1} + i ⊙ g,    h_t = o ⊙ tanh(c_t)

    Parameters per layer k: ``weight_ih_lk`` (4H, in), ``weight_hh_lk`` (4H, H),
    ``bias_ih_lk``, ``bias_hh_lk`` (4H,), all from U(±1/√H) as in PyTorch.

    Args: as ``RNN`` (without ``nonlinearity``), plus ``proj_size``: only 0 (PyTorch's
    projected hidden state, ``proj_size > 0``, is not implemented and raises).

    Shapes: input (T, B, in), optional ``(h0, c0)`` each (D·num_layers, B, H) →
    ``(output (T, B, D·H), (h_n, c_n))``.

    Example:
        >>> import chainrule as cr
        >>> lstm = cr.nn.LSTM(3, 5, batch_first=True)
        >>> out, (h, c) = lstm(cr.ones(2, 7, 3))
        >>> out.shape, h.shape, c.shape
        ((2, 7, 5), (1, 2, 5), (1, 2, 5))
    """

    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None, *, generator: Generator | None = None) -> None:
        if proj_size != 0:
            raise NotImplementedError(
                f"LSTM: proj_size={proj_size} (a projected hidden state) is not supported "
                "yet; use proj_size=0 and, if needed, a Linear layer on the outputs")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, generator=generator)
        self.proj_size = 0

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTM: hx must be a tuple (h0, c0)")
        out, (h_n, c_n) = self._forward(input, None if hx is None else list(hx))
        return out, (h_n, c_n)


class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's equations and gate order (r, z, n)::

        r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

    Parameters per layer k: ``weight_ih_lk`` (3H, in), ``weight_hh_lk`` (3H, H),
    ``bias_ih_lk``, ``bias_hh_lk`` (3H,), all from U(±1/√H) as in PyTorch.

    Args: as ``RNN`` (without ``nonlinearity``).

    Shapes: input (T, B, in) → ``(output (T, B, D·H), h_n (D·num_layers, B, H))``.

    Example:
        >>> import chainrule as cr
        >>> out, h = cr.nn.GRU(3, 5)(cr.ones(7, 2, 3))
        >>> h.shape
        (1, 2, 5)
    """

    mode = "GRU"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h_n = self._forward(input, None if hx is None else [hx])
        return out, h_n[0]


# ---- single-step cells -----------------------------------------------------------------

class _RNNCellBase(Module):
    """Shared constructor and state handling of RNNCell, LSTMCell and GRUCell."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{name} needs positive sizes, got input_size={input_size}, "
                             f"hidden_size={hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        rows = self.gates * hidden_size
        shapes = [("weight_ih", (rows, input_size)), ("weight_hh", (rows, hidden_size))]
        if bias:
            shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        bound = 1 / math.sqrt(hidden_size)
        for pname, shape in shapes:  # PyTorch's order, each from U(±1/√hidden)
            p = Parameter(np.empty(shape, dt), dtype=dt)
            init.uniform_(p, -bound, bound, generator)
            setattr(self, pname, p)

    def _step_input(self, x: Any, states: list[Any]) -> tuple[Tensor, list[Tensor | None],
                                                              bool]:
        """x as a one-step sequence (1, B, I) and each state as (B, H); True when the
        input is unbatched (I,)."""
        name = type(self).__name__
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x._data.ndim not in (1, 2) or x._data.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        unbatched = x._data.ndim == 1
        want = (self.hidden_size,) if unbatched else (x._data.shape[0], self.hidden_size)
        checked: list[Tensor | None] = []
        for h in states:
            if h is not None:
                h = h if isinstance(h, Tensor) else Tensor(h)
                if h._data.shape != want:
                    raise ValueError(f"{name}: hidden state must have shape {want} for input "
                                     f"of shape {x.shape}, got {h.shape}")
                if unbatched:
                    h = unsqueeze(h, 0)
            checked.append(h)
        if unbatched:
            x = unsqueeze(x, 0)
        return unsqueeze(x, 0), checked, unbatched

    def _params(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text


class RNNCell(_RNNCellBase):
    """One step of an Elman RNN, PyTorch's ``nn.RNNCell``:
    ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu).

    Parameters: ``weight_ih`` (H, in), ``weight_hh`` (H, H), ``bias_ih``, ``bias_hh``
    (H,), from U(±1/√H).

    Call: ``cell(input, hx=None)`` with input (B, in) or (in,), hx (B, H) or (H,)
    (zeros when None) → h' of hx's shape.

    Example:
        >>> import chainrule as cr
        >>> cell = cr.nn.RNNCell(3, 5)
        >>> h = None
        >>> for x in cr.ones(4, 2, 3):      # loop over time yourself
        ...     h = cell(x, h)
        >>> h.shape
        (2, 5)
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None, *,
                 generator: Generator | None = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device, dtype, generator=generator)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._step_input(input, [hx])
        _, h = rnn_layer(x, h, *self._params(), nonlinearity=self.nonlinearity)
        return squeeze(h, 0) if unbatched else h


class LSTMCell(_RNNCellBase):
    """One step of an LSTM, PyTorch's ``nn.LSTMCell`` (gate order i, f, g, o; equations
    as ``LSTM``).

    Parameters: ``weight_ih`` (4H, in), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh``
    (4H,), from U(±1/√H).

    Call: ``cell(input, hx=None)`` with input (B, in) or (in,) and ``hx = (h, c)``, each
    (B, H) or (H,) (zeros when None) → ``(h', c')``.

    Example:
        >>> import chainrule as cr
        >>> cell = cr.nn.LSTMCell(3, 5)
        >>> h, c = cell(cr.ones(2, 3))
        >>> h, c = cell(cr.ones(2, 3), (h, c))
        >>> h.shape, c.shape
        ((2, 5), (2, 5))
    """

    gates = 4

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTMCell: hx must be a tuple (h, c)")
        x, (h, c), unbatched = self._step_input(input, [None, None] if hx is None
                                                 else list(hx))
        _, h, c = lstm_layer(x, h, c, *self._params())
        return (squeeze(h, 0), squeeze(c, 0)) if unbatched else (h, c)


class GRUCell(_RNNCellBase):
    """One step of a GRU, PyTorch's ``nn.GRUCell`` (gate order r, z, n; equations as
    ``GRU``).

    Parameters: ``weight_ih`` (3H, in), ``weight_hh`` (3H, H), ``bias_ih``, ``bias_hh``
    (3H,), from U(±1/√H).

    Call: ``cell(input, hx=None)`` with input (B, in) or (in,), hx (B, H) or (H,) →
    h' of hx's shape.

    Example:
        >>> import chainrule as cr
        >>> cr.nn.GRUCell(3, 5)(cr.ones(3)).shape
        (5,)
    """

    gates = 3

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._step_input(input, [hx])
        _, h = gru_layer(x, h, *self._params())
        return squeeze(h, 0) if unbatched else h

"""How tensors print: ``set_printoptions``, PyTorch's function, read by ``Tensor.__repr__``.

The options are process-wide, as in PyTorch. The text itself is NumPy's
``array2string`` inside ``tensor(...)``, so it follows PyTorch's layout only roughly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# PyTorch's profiles; None leaves an option at NumPy's default (NumPy's 75-character lines
# rather than PyTorch's 80, which keeps chainrule's existing output unchanged).
_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": None, "edgeitems": None, "linewidth": None},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": None},
    "full": {"precision": 4, "threshold": np.inf, "edgeitems": None, "linewidth": None},
}
_OPTIONS: dict[str, Any] = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print, like ``torch.set_printoptions``.

    Args:
        precision: digits after the decimal point (default 4).
        threshold: print at most this many elements in full; larger tensors are
            summarised with ``...`` (default 1000).
        edgeitems: elements shown at each end of a summarised axis (default 3).
        linewidth: characters per line before wrapping.
        profile: ``"default"``, ``"short"`` or ``"full"`` (PyTorch's presets), applied
            first; the other arguments then override it.
        sci_mode: True always scientific notation, False never, None (default) as NumPy
            decides.

    Example:
        >>> import chainrule as cr
        >>> cr.set_printoptions(precision=2)
        >>> cr.tensor([1.23456])
        tensor([1.23])
        >>> cr.set_printoptions(profile="default")
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}; known: "
                             f"{', '.join(_PROFILES)}")
        _OPTIONS.update(_PROFILES[profile], sci_mode=None)
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            if value < 0:
                raise ValueError(f"set_printoptions: {name} must be >= 0, got {value}")
            _OPTIONS[name] = value
    if sci_mode is not None or profile is not None:
        _OPTIONS["sci_mode"] = sci_mode


def _fixed_width(array: np.ndarray, digits: int, scientific: bool) -> Any:
    """A formatter writing every float with ``digits`` decimals in scientific or plain
    notation (NumPy switches by itself otherwise), right-aligned to a common width."""
    def text(v: Any) -> str:
        if scientific:
            return np.format_float_scientific(v, precision=digits, unique=False)
        return np.format_float_positional(v, precision=digits, unique=False, trim="k")

    width = max((len(text(v)) for v in array.reshape(-1)[:10_000]), default=0)
    return lambda v: text(v).rjust(width)


def array_to_string(array: np.ndarray, prefix: str) -> str:
    """``array`` as ``np.array2string`` writes it under the current print options."""
    opts = _OPTIONS
    kwargs: dict[str, Any] = {"precision": opts["precision"]}
    if opts["threshold"] is not None:
        kwargs["threshold"] = opts["threshold"] if opts["threshold"] != np.inf else \
            np.iinfo(np.int64).max
    if opts["edgeitems"] is not None:
        kwargs["edgeitems"] = opts["edgeitems"]
    if opts["linewidth"] is not None:
        kwargs["max_line_width"] = opts["linewidth"]
    if opts["sci_mode"] is not None and array.dtype.kind == "f":
        kwargs["formatter"] = {"float_kind": _fixed_width(array, opts["precision"],
                                                          opts["sci_mode"])}
    return np.array2string(array, separator=", ", prefix=prefix, **kwargs)


__all__ = ["set_printoptions"]

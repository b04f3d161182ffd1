"""Exact JSON for checkpoint metadata: the Python values a trainer keeps, losslessly.

Plain JSON loses tuples (they come back as lists), integer dict keys (they come back as
strings), NumPy arrays and NumPy scalars. A resumed run needs all of them back exactly
(a NumPy bit-generator state holds 128-bit ints and, for MT19937, a uint32 array), so
those values are written as small tagged objects:

    {"__tuple__": [...]}                 a tuple
    {"__dict__": [[key, value], ...]}    a dict whose keys are not all plain strings
    {"__ndarray__": {"dtype", "shape", "data" (base64)}}   an array, bit-exact
    {"__numpy__": {"dtype", "data" (base64)}}              a NumPy scalar, bit-exact
    {"__bytes__": "<base64>"}            bytes
    {"__tensor__": "<key>"}              an array stored as a tensor of the file

Python ints of any size and floats (``repr`` round-trips them) are native JSON. Nothing
here ever constructs an object other than these plain types: decoding runs no code.

Reading is hardened against hostile text: nesting deeper than ``MAX_DEPTH`` and
duplicate keys in an object are ``ValueError``s (never a ``RecursionError``), and a
malformed tag is a ``ValueError`` naming it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np

# Deepest nesting of arrays/objects accepted when reading. What chainrule writes stays
# far below (a checkpoint's optimizer state is about 8 levels); the cap keeps the
# recursive decoder and architecture builder well inside Python's recursion limit.
MAX_DEPTH = 200

TAGS = ("__tuple__", "__dict__", "__ndarray__", "__numpy__", "__bytes__", "__tensor__")

# Given an array and where it sits, return a tensor key to store it under, or None to
# write it inline.
ArraySink = Callable[[np.ndarray, tuple], "str | None"]


def _where(root: str, path: tuple) -> str:
    return root + "".join(f"[{p!r}]" for p in path)


def _array_payload(arr: np.ndarray, root: str, path: tuple) -> dict:
    if arr.dtype.hasobject or arr.dtype.fields is not None:
        raise ValueError(f"{_where(root, path)}: cannot store an array of dtype "
                         f"{arr.dtype} (object and structured arrays are not supported)")
    data = arr.tobytes()  # C order, whatever the strides
    return {"dtype": arr.dtype.str, "shape": list(arr.shape),
            "data": base64.b64encode(data).decode("ascii")}


def encode(obj: Any, root: str, sink: ArraySink | None = None, path: tuple = ()) -> Any:
    """``obj`` as plain JSON values, with the tags above where JSON would lose information.

    ``root`` names the value in error messages (``"extra"``); ``sink`` may divert arrays
    into the file's tensors.
    """
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, np.ndarray):
        if sink is not None:
            key = sink(obj, path)
            if key is not None:
                return {"__tensor__": key}
        return {"__ndarray__": _array_payload(obj, root, path)}
    if isinstance(obj, np.generic):
        payload = _array_payload(np.asarray(obj), root, path)
        return {"__numpy__": {"dtype": payload["dtype"], "data": payload["data"]}}
    if isinstance(obj, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, root, sink, path + (i,)) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, root, sink, path + (i,)) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        plain = all(type(k) is str for k in obj) and not any(k in TAGS for k in obj)
        if plain:
            return {k: encode(v, root, sink, path + (k,)) for k, v in obj.items()}
        return {"__dict__": [[encode(k, root, None, path + (k,)),
                              encode(v, root, sink, path + (k,))] for k, v in obj.items()]}
    if isinstance(obj, (int, float, str)):  # subclasses such as IntEnum
        base = next(t for t in (bool, int, float, str) if isinstance(obj, t))
        return base(obj)
    hint = " (store its .numpy() array)" if hasattr(obj, "_data") and hasattr(obj, "grad") else ""
    raise ValueError(f"{_where(root, path)}: cannot store a {type(obj).__name__}{hint}; "
                     "use None, bool, int, float, str, list, tuple, dict, bytes, NumPy "
                     "arrays or NumPy scalars")


def _array_from_payload(payload: Any, what: str) -> np.ndarray:
    try:
        if not isinstance(payload, dict) or not isinstance(payload.get("dtype"), str):
            raise ValueError("expected an object with a 'dtype' string")
        dtype = np.dtype(payload["dtype"])
        if dtype.hasobject or dtype.fields is not None:
            raise ValueError(f"dtype {dtype} is not allowed")
        raw = base64.b64decode(payload["data"], validate=True)
        shape = tuple(int(n) for n in payload.get("shape", ()))
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"malformed {what} entry: {err}") from None


def decode(obj: Any, tensors: dict[str, np.ndarray] | None = None) -> Any:
    """Invert :func:`encode`; ``tensors`` resolves ``__tensor__`` references."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, value), = obj.items()
        if tag == "__tuple__":
            return tuple(decode(v, tensors) for v in _tag_list(tag, value))
        if tag == "__dict__":
            pairs = _tag_list(tag, value)
            if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                raise ValueError("malformed __dict__ entry: expected [key, value] pairs")
            return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in pairs}
        if tag == "__ndarray__":
            return _array_from_payload(value, "array")
        if tag == "__numpy__":
            return _array_from_payload(value, "NumPy scalar")[()]
        if tag == "__bytes__":
            if not isinstance(value, str):
                raise ValueError("malformed __bytes__ entry: expected a base64 string")
            try:
                return base64.b64decode(value, validate=True)
            except ValueError as err:
                raise ValueError(f"malformed __bytes__ entry: {err}") from None
        if tag == "__tensor__":
            if not isinstance(value, str):
                raise ValueError("malformed __tensor__ entry: expected a tensor name")
            if tensors is None or value not in tensors:
                raise ValueError(f"the file refers to tensor {value!r}, which it does not hold")
            return tensors[value]
    return {k: decode(v, tensors) for k, v in obj.items()}


def _tag_list(tag: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ValueError(f"malformed {tag} entry: expected a list, got "
                         f"{type(value).__name__}")
    return value


def _hashable(key: Any) -> Any:
    if isinstance(key, (list, dict, np.ndarray)):  # cannot come from encode
        raise ValueError(f"malformed dict key {str(key)[:80]!r}")
    return key


def dumps(obj: Any, root: str, sink: ArraySink | None = None) -> str:
    """``json.dumps(encode(obj))``; NaN and ±inf floats are written as JSON5-style tokens,
    which Python's ``json`` reads back."""
    return json.dumps(encode(obj, root, sink), allow_nan=True, separators=(",", ":"))


def parse(text: str) -> Any:
    """``json.loads(text)``, refusing duplicate keys and nesting deeper than
    ``MAX_DEPTH`` with a ``ValueError`` (``json.JSONDecodeError`` is one too)."""
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    _check_depth(obj)
    return obj


def loads(text: str, tensors: dict[str, np.ndarray] | None = None) -> Any:
    """Invert :func:`dumps` (through :func:`parse`, so hostile text is a ValueError)."""
    return decode(parse(text), tensors)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:80]!r} in a JSON object")
            seen.add(key)
    return out


def _check_depth(obj: Any) -> None:
    # Iterative, so that checking cannot itself overflow the stack.
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict)
                                                 else node))


"""Turn the ways a caller can name a random source into a ``numpy.random.Generator``.

``chainrule.data`` accepts a seed (int), a NumPy ``Generator``, or any object with an
``rng`` attribute holding one (``chainrule.Generator``), so it never imports the rest of
the package to know about random state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RandomSource = Any
"""An ``int`` seed, ``None`` (fresh entropy), ``numpy.random.Generator`` or an object
with an ``rng`` attribute such as ``chainrule.Generator``."""


def as_rng(source: RandomSource) -> np.random.Generator:
    """A NumPy generator for ``source``; a generator passed in is shared, not copied."""
    if isinstance(source, np.random.Generator):
        return source
    rng = getattr(source, "rng", None)
    if isinstance(rng, np.random.Generator):
        return rng
    if source is None or (isinstance(source, (int, np.integer)) and not isinstance(source, bool)):
        return np.random.Generator(np.random.PCG64(None if source is None else int(source)))
    raise TypeError(f"expected a seed (int), numpy.random.Generator or chainrule.Generator, "
                    f"got {type(source).__name__}")

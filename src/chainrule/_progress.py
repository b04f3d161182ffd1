"""Progress bars for long work: tqdm's text bar on a terminal, its widget in Jupyter.

``progress_bar(total, ...)`` is on when asked (``enabled=True``), off when asked
(``False``: quiet flags), and by default on only where a person watches: a terminal on
``stderr`` or a Jupyter notebook, so logs redirected to files and the captured output of
tests never get one. In Jupyter the bar is ``tqdm.notebook``'s widget when ``ipywidgets``
is installed and tqdm's text bar otherwise (without tqdm's warning about it).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import IO, Any


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel that draws HTML (not a console frontend).

    Example:
        >>> in_notebook()
        False
    """
    if "ipykernel.zmqshell" not in sys.modules:
        return False
    if any(k == "QT_API" or k.startswith("SPYDER") for k in os.environ):
        return False  # qtconsole and Spyder show text only
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def tqdm_class() -> Any:
    """``tqdm.notebook.tqdm`` in a notebook with ipywidgets, else ``tqdm.std.tqdm``."""
    if in_notebook():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from tqdm.notebook import IProgress
                from tqdm.notebook import tqdm as notebook_tqdm
            if IProgress is not None:
                return notebook_tqdm
        except Exception:  # noqa: BLE001 - any broken widget stack: fall back to text
            pass
    from tqdm.std import tqdm

    return tqdm


def wanted(enabled: bool | None, file: IO[str] | None = None) -> bool:
    """``enabled``, or when None: ``file`` (default stderr) is a terminal, or a notebook."""
    if enabled is not None:
        return bool(enabled)
    out = sys.stderr if file is None else file
    try:
        tty = bool(out.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tty or in_notebook()


def progress_bar(total: int | None, desc: str, unit: str = "it",
                 enabled: bool | None = None, file: IO[str] | None = None,
                 **kwargs: Any) -> Any:
    """A tqdm bar (rate and time left) or, when not wanted, tqdm's silent no-op bar.

    Args:
        total: the units of work, for the estimate.
        desc, unit: the bar's label and unit.
        enabled: True, False, or None for ``wanted``'s choice.
        file: where a text bar goes (default ``sys.stderr``).
        kwargs: more tqdm options (``delay=1`` shows nothing for work under a second).

    Example:
        >>> bar = progress_bar(10, "work", enabled=False)
        >>> bar.update(3); bar.close()
    """
    on = wanted(enabled, file)
    cls = tqdm_class() if on else None
    if cls is None:
        from tqdm.std import tqdm as cls
    options = {"leave": False, "dynamic_ncols": True, "mininterval": 0.5}
    options.update(kwargs)
    return cls(total=total, desc=desc, unit=unit, disable=not on,
               file=sys.stderr if file is None else file, **options)


__all__ = ["in_notebook", "progress_bar", "tqdm_class", "wanted"]

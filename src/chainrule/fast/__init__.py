"""The optional compiled path: numba kernels where NumPy cannot fuse element-wise work.

NumPy runs every element-wise operation as its own pass over memory, so an Adam step is a
dozen passes and an LSTM step a score of small calls. With ``pip install "chainrule[fast]"``
and the path switched on, chainrule runs those as single compiled loops (numba). The NumPy
code stays the reference: each kernel is tested against it (bit for bit where stated), and
anything the kernels do not cover (float64, odd layouts) still runs on NumPy.

Switch it on with ``chainrule.backend.use_fast()``, ``CHAINRULE_FAST=1`` in the environment
or ``chainrule train --fast``. A plain ``import chainrule`` never imports numba.

Failures never stop a run: numba missing, a kernel that fails to compile or a cache folder
that cannot be written all end in one warning and the NumPy path.

Compiled kernels are cached on disk so a later process starts in about a second instead of
compiling again: in ``$NUMBA_CACHE_DIR`` when the user set it, else
``$CHAINRULE_CACHE/numba`` (default ``~/.cache/chainrule/numba``), else a folder in the
system's temporary directory; with none writable, kernels compile in memory every run.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Hashable
from pathlib import Path
from types import ModuleType
from typing import Any

# The call sites test this one module attribute (a dict lookup) before anything else, so a
# run on the NumPy path pays nothing else for the fast path's existence.
enabled = False

_kernels: dict[Hashable, Any] = {}
_warned = False
_cache: str | None = None  # the folder numba caches in, or None (in memory only)

INSTALL_HINT = 'pip install "chainrule[fast]"  (numba)'


def use_fast(on: bool = True) -> bool:
    """Switch the compiled (numba) kernels on or off for the whole process.

    Args:
        on: True to use them where they exist, False for the NumPy path everywhere.

    Returns:
        Whether the fast path is now on: False when numba cannot be imported (one warning
        says so and how to install it).

    Example:
        >>> from chainrule import fast
        >>> fast.use_fast(False)
        False
    """
    global enabled
    if not on:
        enabled = False
        return False
    if enabled:
        return True
    if _import_numba() is None:
        return False
    enabled = True
    return True


def status() -> str:
    """One line for banners and reports: which path runs, and why."""
    if enabled:
        import numba

        where = _cache or "memory only (no writable cache folder)"
        return f"fast (numba {numba.__version__}, cache: {where})"
    return "numpy"


def kernel(name: Hashable, build: Callable[[], Callable[..., Any]]
           ) -> Callable[..., Any] | None:
    """The compiled kernel ``name``, made by ``build()`` on first use; None when the fast
    path is off or the kernel cannot be built (then one warning, and the path goes off).

    ``build`` imports numba and returns the jitted function; it runs once per process.
    ``name`` may be a tuple such as ``("adam", amsgrad, ...)`` for a kernel compiled per set
    of options (a tuple of constants hashes faster than a formatted string).
    """
    fn = _kernels.get(name)
    if fn is None:
        if not enabled:
            return None
        try:
            fn = build()
        except Exception as exc:  # noqa: BLE001 - any failure means: use NumPy instead
            fail(f"building kernel {name!r} failed ({type(exc).__name__}: {exc})")
            return None
        _kernels[name] = fn
    return fn


def call(fn: Callable[..., Any], *args: Any) -> bool:
    """Run a kernel; True when it ran. A compile error (numba compiles on the first call
    for each new set of argument types) switches the path off with one warning and returns
    False, so the caller runs its NumPy code. Kernels check nothing at run time that could
    fail half-way: they raise only while compiling, before writing anything."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - numba's errors have no common base we can name
        if type(exc).__module__.split(".")[0] != "numba":
            raise
        fail(f"a kernel failed to compile ({type(exc).__name__}: {str(exc)[:200]})")
        return False
    return True


def fail(why: str) -> None:
    """Turn the fast path off for the rest of the process, warning once."""
    global enabled, _warned
    enabled = False
    _kernels.clear()
    if not _warned:
        _warned = True
        warnings.warn(f"chainrule fast path off, using NumPy: {why}", RuntimeWarning,
                      stacklevel=3)


def _import_numba() -> ModuleType | None:
    global _cache
    # numba reads its cache folder from the environment at import
    _cache = _choose_cache_dir()
    if _cache is not None:  # replaces a user's folder only when that one is unwritable
        os.environ["NUMBA_CACHE_DIR"] = _cache
    try:
        import numba
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken llvmlite
        fail(f"numba is not importable ({type(exc).__name__}: {exc}); {INSTALL_HINT}")
        return None
    if _cache is not None and numba.config.CACHE_DIR != _cache:
        # numba was imported earlier (by the user's code, another library or pytest's
        # importorskip) and read the environment then: without this every kernel would
        # compile again in every process (measured: 0.33 s each instead of 3 ms).
        # reload_config re-reads the environment, as numba's compiler does itself.
        try:
            numba.core.config.reload_config()
        except Exception:  # noqa: BLE001 - a numba without it: compile in memory instead
            pass
        if numba.config.CACHE_DIR != _cache:
            _cache = None
    return numba


def cache_enabled() -> bool:
    """Whether kernels may be cached on disk (a writable folder was found)."""
    return _cache is not None


def _choose_cache_dir() -> str | None:
    user = os.environ.get("NUMBA_CACHE_DIR")
    candidates = [user] if user else []
    base = os.environ.get("CHAINRULE_CACHE")
    candidates.append(str(Path(base) / "numba") if base else
                      str(Path.home() / ".cache" / "chainrule" / "numba"))
    candidates.append(str(Path(tempfile.gettempdir()) / f"chainrule-numba-{os.getuid()}"
                          if hasattr(os, "getuid") else
                          Path(tempfile.gettempdir()) / "chainrule-numba"))
    for folder in candidates:
        if _writable(folder):
            return folder
    return None


def _writable(folder: str) -> bool:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


if os.environ.get("CHAINRULE_FAST", "0") not in ("", "0"):
    use_fast()

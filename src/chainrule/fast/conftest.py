"""pytest runs the package's docstring examples (``--doctest-modules``), which imports every
module here. The kernel modules import numba at the top (they are only ever imported
once the fast path is on), so without the ``[fast]`` extra they are left out of the
collection instead of failing it; ``__init__`` never imports numba and is always run."""

from importlib.util import find_spec

collect_ignore_glob = [] if find_spec("numba") else ["[!_]*.py"]

"""pytest's root settings that pyproject.toml cannot express."""

import importlib.util

# --doctest-modules imports every module under src/chainrule; the compiled kernels of
# chainrule.fast import numba at the top, which is an optional extra (chainrule[fast]).
collect_ignore_glob = [] if importlib.util.find_spec("numba") else ["src/chainrule/fast/[!_]*.py"]

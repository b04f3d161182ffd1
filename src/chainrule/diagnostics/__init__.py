"""Make learning visible: gradient checks, gradient-flow monitoring, NaN origin, the
chain-rule explainer and computational-graph export.

- ``gradcheck`` / ``check_gradients``: analytic gradients against finite differences.
- ``GradientMonitor``: per-layer gradient norms, update ratios, dead ReLUs, with detectors
  for vanishing/exploding gradients, NaN, dead layers and stalled learning (a plain object
  for hand-written loops, or a ``Trainer`` callback).
- ``explain``: one training step of a small network with real numbers, the chain rule
  factor by factor, next to autograd and finite differences.
- ``to_dot``: the graph behind a tensor as Graphviz DOT.
- ``detect_anomaly`` / ``find_nan_origin``: the first op that produced NaN/Inf.
- ``profile``: where a training step's time goes, op by op, forward and backward.
"""

from chainrule.diagnostics.anomaly import AnomalyError, detect_anomaly, find_nan_origin
from chainrule.diagnostics.explain import (
    Explanation,
    Factor,
    GradientRow,
    NeuronStep,
    default_network,
    explain,
)
from chainrule.diagnostics.gradcheck import (
    GradcheckError,
    GradcheckResult,
    InputCheck,
    ParamCheck,
    check_gradients,
    format_report,
    gradcheck,
    numerical_gradient,
)
from chainrule.diagnostics.graph import save_dot, to_dot
from chainrule.diagnostics.monitor import REMEDIES, Finding, GradientMonitor, MonitorHistory
from chainrule.diagnostics.plot import plot_grad_norms, plot_layer_bars
from chainrule.diagnostics.profiler import OpTime, Profiler, profile

__all__ = [
    "REMEDIES", "AnomalyError", "Explanation", "Factor", "Finding", "GradcheckError",
    "GradcheckResult", "GradientMonitor", "GradientRow", "InputCheck", "MonitorHistory",
    "NeuronStep", "OpTime", "ParamCheck", "Profiler", "check_gradients", "default_network",
    "detect_anomaly", "explain", "find_nan_origin", "format_report", "gradcheck",
    "numerical_gradient", "plot_grad_norms", "plot_layer_bars", "profile", "save_dot",
    "to_dot",
]

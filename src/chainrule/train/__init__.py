"""Training: the ``Trainer`` loop, callbacks, metrics, history, plots and whole runs.

- ``Trainer(model, loss, optimizer, metrics=..., callbacks=...)`` with ``fit``,
  ``evaluate``, ``predict``; checkpoints resume a killed run bit for bit.
- Callbacks: ``ProgressBar``, ``EarlyStopping``, ``ModelCheckpoint``,
  ``LRSchedulerCallback``, ``CSVLogger``, ``LambdaCallback``, ``TensorBoard`` (with
  tensorboardX), and any object with some of the hook methods, such as
  ``chainrule.diagnostics.GradientMonitor``.
- Metrics: ``Accuracy``, ``TopKAccuracy``, ``ConfusionMatrix``, ``MeanAbsoluteError``,
  ``R2Score`` and the plain functions ``accuracy``, ``top_k_accuracy``,
  ``confusion_matrix``, ``mean_absolute_error``, ``r2_score``.
- ``History``: per-epoch records, ``to_json``/``to_csv``/``from_json``.
- ``TrainConfig`` and ``run_training``: what ``chainrule train`` does.
- ``predict(model, X)``: a model's outputs for raw inputs, as ``chainrule predict``;
  ``TerminateOnNaN`` stops a diverging run (on by default in ``chainrule train``).

Example:
    >>> import chainrule as cr
    >>> from chainrule import nn, optim
    >>> from chainrule.train import Trainer, EarlyStopping
    >>> model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    >>> trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), lr=1e-2),
    ...                   metrics=["accuracy"], callbacks=[EarlyStopping(patience=5)])
"""

from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)
from chainrule.train.config import TrainConfig
from chainrule.train.history import History
from chainrule.train.inference import predict
from chainrule.train.metrics import (
    Accuracy,
    ConfusionMatrix,
    MeanAbsoluteError,
    Metric,
    R2Score,
    TopKAccuracy,
    accuracy,
    confusion_matrix,
    mean_absolute_error,
    r2_score,
    top_k_accuracy,
)
from chainrule.train.run import RunResult, run_training
from chainrule.train.tensorboard import TensorBoard  # tensorboardX: only when one is made
from chainrule.train.trainer import Trainer

# isort: split
# report: the run report (report.html), chainrule report RUN_DIR
from chainrule.train.report import write_report

__all__ = [
    "Accuracy", "CSVLogger", "Callback", "ConfusionMatrix", "EarlyStopping", "History",
    "LRSchedulerCallback", "LambdaCallback", "MeanAbsoluteError", "Metric", "ModelCheckpoint",
    "ProgressBar", "R2Score", "RunResult", "TopKAccuracy", "TrainConfig", "Trainer",
    "accuracy", "confusion_matrix", "mean_absolute_error", "r2_score", "run_training",
    "top_k_accuracy",
]
__all__ += ["TerminateOnNaN", "predict"]
__all__ += ["write_report"]
__all__ += ["TensorBoard"]

"""Optimizers, learning-rate schedules and gradient clipping.

The training step reads ``zero_grad → forward → loss → backward → clip → step``::

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs)
    ...
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
    opt.step()
    ...
    sched.step()  # once per epoch
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.adadelta import Adadelta
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.adamax import Adamax
from chainrule.optim.asgd import ASGD
from chainrule.optim.clip import clip_grad_norm_, clip_grad_value_, grad_norm
from chainrule.optim.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LinearWarmup,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from chainrule.optim.nadam import NAdam
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.radam import RAdam
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.rprop import Rprop
from chainrule.optim.sgd import SGD

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
    "LinearWarmup", "MultiStepLR", "OneCycleLR", "Optimizer", "RMSprop", "ReduceLROnPlateau",
    "StepLR", "clip_grad_norm_", "clip_grad_value_", "grad_norm", "lr_scheduler",
]
__all__ += [  # lossoptim: schedules
    "ChainedScheduler", "ConstantLR", "CosineAnnealingWarmRestarts", "CyclicLR", "LambdaLR",
    "LinearLR", "MultiplicativeLR", "PolynomialLR", "SequentialLR",
]
__all__ += ["Adadelta", "Adamax", "NAdam", "RAdam"]  # lossoptim: optimizers
__all__ += ["ASGD", "Rprop"]

"""Alias of ``chainrule.functional`` (``import chainrule.nn.functional as F``)."""

from chainrule.functional import *  # noqa: F401,F403
from chainrule.functional import __all__  # noqa: F401

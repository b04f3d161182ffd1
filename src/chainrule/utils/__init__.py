"""PyTorch's ``torch.utils`` spelling: ``chainrule.utils.data`` holds the data pipeline."""

from chainrule.utils import data

__all__ = ["data"]

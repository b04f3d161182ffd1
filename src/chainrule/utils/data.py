"""``chainrule.utils.data``: the names of ``torch.utils.data``, from ``chainrule.data``.

So ``from torch.utils.data import DataLoader, TensorDataset`` ports by changing the package
name only.

Example:
    >>> from chainrule.utils.data import DataLoader, TensorDataset
    >>> import chainrule as cr
    >>> xb, yb = next(iter(DataLoader(TensorDataset(cr.ones(4, 2), cr.zeros(4)), batch_size=2)))
    >>> xb.shape
    (2, 2)
"""

from chainrule.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    get_worker_info,
    random_split,
)
from chainrule.data.loader import DataLoader, default_collate
from chainrule.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = ["BatchSampler", "ChainDataset", "DistributedSampler", "IterableDataset", "StackDataset",
           "get_worker_info", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler",
           "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "default_collate", "random_split"]

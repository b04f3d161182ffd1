"""Data for training: datasets, the ``DataLoader``, splits, scaling and data set loaders.

Public surface::

    Dataset, TensorDataset, Subset, ConcatDataset, IterableDataset, ChainDataset,
    StackDataset, random_split,
    train_val_test_split                                                (dataset)
    DataLoader, default_collate                                         (loader)
    Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
    WeightedRandomSampler, BatchSampler, DistributedSampler             (sampler)
    Standardizer, MinMaxScaler, one_hot                                 (transforms)
    make_xor, make_moons, make_spirals, make_circles,
    make_regression_curve                                               (synthetic)
    load_digits                                                         (digits)
    load_csv, load_csv_features                                         (csv)
    read_idx, write_idx, load_idx_dir                                   (idx)
    DataBundle, load_dataset                                            (bundle, registry)
    load, cache_dir, DownloadError      public sets by name, downloaded once (public, download)
    read_wav, write_wav, resample, load_spoken_digits, SpokenDigits     (audio)
    mel_spectrogram, log_mel_spectrogram, melscale_fbanks               (spectrogram)

Example:
    >>> from chainrule.data import DataLoader, TensorDataset, make_moons
    >>> X, y = make_moons(100, seed=0)
    >>> xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=0)))
    >>> xb.shape, yb.dtype
    ((16, 2), dtype('int64'))
"""

from chainrule.data.bundle import DataBundle
from chainrule.data.csv import load_csv, load_csv_features
from chainrule.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
    train_val_test_split,
)
from chainrule.data.digits import load_digits
from chainrule.data.download import DownloadError, cache_dir
from chainrule.data.idx import load_idx_dir, read_idx, write_idx
from chainrule.data.loader import DataLoader, default_collate
from chainrule.data.public import load
from chainrule.data.registry import load_dataset
from chainrule.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from chainrule.data.synthetic import (
    make_circles,
    make_moons,
    make_regression_curve,
    make_spirals,
    make_xor,
)
from chainrule.data.transforms import MinMaxScaler, Standardizer, one_hot

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "IterableDataset", "StackDataset",
    "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler",
    "SubsetRandomSampler", "WeightedRandomSampler", "default_collate",
    "DataBundle", "DataLoader", "Dataset", "MinMaxScaler", "Standardizer", "Subset",
    "TensorDataset", "load_csv", "load_csv_features", "load_dataset", "load_digits",
    "load_idx_dir", "make_circles", "make_moons", "make_regression_curve", "make_spirals",
    "make_xor", "one_hot", "random_split", "read_idx", "train_val_test_split", "write_idx",
]
__all__ += ["DownloadError", "cache_dir", "load"]  # public data sets by name

# ---- speech: WAV files, spoken-digit folders, the log-mel front end ----
from chainrule.data.audio import (  # noqa: E402
    SpokenDigits,
    load_spoken_digits,
    read_wav,
    resample,
    write_wav,
)
from chainrule.data.spectrogram import (  # noqa: E402
    log_mel_spectrogram,
    mel_spectrogram,
    melscale_fbanks,
)

__all__ += ["SpokenDigits", "load_spoken_digits", "log_mel_spectrogram", "mel_spectrogram",
            "melscale_fbanks", "read_wav", "resample", "write_wav"]

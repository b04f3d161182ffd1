"""Public image data sets by name, as ``torchvision.datasets`` and ``keras.datasets`` offer
them: ``load("mnist")``, ``load("fashion-mnist")``, ``load("cifar10")``.

Each is downloaded on first use into ``cache_dir() / <name>`` (``$CHAINRULE_CACHE``, else
``~/.cache/chainrule``) by ``chainrule.data.download.fetch``: mirrors tried in turn,
resumed when cut off, and kept only when its size and SHA-256 are the published ones.
Later calls read the cache and need no network.

==============  =========================  =====================  ===========
name            images                     train / test           classes
==============  =========================  =====================  ===========
mnist           1×28×28 grey handwritten   60,000 / 10,000        digits 0-9
fashion-mnist   1×28×28 grey clothing      60,000 / 10,000        10 (``CLASSES``)
cifar10         3×32×32 colour photos      50,000 / 10,000        10 (``CLASSES``)
==============  =========================  =====================  ===========

The SHA-256 digests and sizes below are the published files'; the same values are
recorded in TensorFlow Datasets' checksum lists (``url_checksums/mnist.txt``,
``fashion_mnist.txt``, ``cifar10.txt``) and in other projects that pin these files. The
MD5s that torchvision and the data sets' own pages publish are in the comments.

MNIST: LeCun, Cortes & Burges; Fashion-MNIST: Xiao, Rasul & Vollgraf 2017 (MIT licence);
CIFAR-10: Krizhevsky 2009. chainrule does not redistribute any of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.data import cifar
from chainrule.data.download import (
    CACHE_ENV,
    DownloadError,
    RemoteFile,
    cache_dir,
    fetch,
    tried,
)
from chainrule.data.idx import read_idx

_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",        # torchvision's first mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist/",   # TensorFlow's
    "http://yann.lecun.com/exdb/mnist/",                     # the original page
)
_FASHION_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
_CIFAR_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)

_IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _files(mirrors: tuple[str, ...], table: tuple[tuple[str, int, str], ...]
           ) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, size, sha, tuple(m + name for m in mirrors))
                 for name, size, sha in table)


MNIST_FILES = _files(_MNIST_MIRRORS, (
    # name, bytes, SHA-256                                                    (MD5)
    ("train-images-idx3-ubyte.gz", 9_912_422,
     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),  # f68b3c2d…
    ("train-labels-idx1-ubyte.gz", 28_881,
     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),  # d53e105e…
    ("t10k-images-idx3-ubyte.gz", 1_648_877,
     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),  # 9fb629c4…
    ("t10k-labels-idx1-ubyte.gz", 4_542,
     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),  # ec29112d…
))
FASHION_MNIST_FILES = _files(_FASHION_MIRRORS, (
    ("train-images-idx3-ubyte.gz", 26_421_880,
     "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),  # 8d4fb7e6…
    ("train-labels-idx1-ubyte.gz", 29_515,
     "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),  # 25c81989…
    ("t10k-images-idx3-ubyte.gz", 4_422_102,
     "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),  # bef4ecab…
    ("t10k-labels-idx1-ubyte.gz", 5_148,
     "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),  # bb300cfd…
))
CIFAR10_FILES = _files(_CIFAR_MIRRORS, (
    ("cifar-10-binary.tar.gz", 170_052_171,
     "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),  # c32a1d4a…
))

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class PublicDataset:
    """A data set known by name: its files, how to read them, and its facts.

    Attributes:
        name: the name ``load`` takes, e.g. ``'mnist'``.
        files: the published files (``RemoteFile``: name, size, SHA-256, mirrors).
        read: reads the checked files (their paths, in ``files``' order) into
            ``(X_train, y_train, X_test, y_test)``, images uint8 ``(N, C, H, W)``.
        image_shape: one image, ``(C, H, W)``.
        classes: the class names, by label.
        source: where it comes from, for ``DataBundle.info``.
    """

    name: str
    files: tuple[RemoteFile, ...]
    read: Callable[[list[Path]], Arrays]
    image_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    source: str


def _read_idx_set(paths: list[Path], image_shape: tuple[int, int, int],
                  classes: int) -> Arrays:
    """MNIST-style IDX files (images, labels, test images, test labels) → uint8 images
    ``(N, 1, H, W)`` and int64 labels, checked against the data set's shape."""
    out: list[np.ndarray] = []
    for images_path, labels_path in (paths[0:2], paths[2:4]):
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.dtype != np.uint8 or images.shape[1:] != image_shape[1:]:
            raise ValueError(f"{images_path}: expected uint8 images of {image_shape[1:]}, got "
                             f"{images.dtype} of shape {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"{labels_path}: expected {len(images)} uint8 labels (one per "
                             f"image of {images_path.name}), got {labels.dtype} of shape "
                             f"{labels.shape}")
        if labels.size and labels.max() >= classes:
            i = int(np.argmax(labels >= classes))
            raise ValueError(f"{labels_path}: label {int(labels[i])} at position {i}; this "
                             f"data set's labels are 0-{classes - 1}")
        out += [images[:, None], labels.astype(np.int64)]
    return out[0], out[1], out[2], out[3]


def _read_cifar(paths: list[Path]) -> Arrays:
    return cifar.read_cifar10_binary(paths[0])


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")

DATASETS: dict[str, PublicDataset] = {
    "mnist": PublicDataset(
        "mnist", MNIST_FILES, lambda p: _read_idx_set(p, (1, 28, 28), 10), (1, 28, 28),
        tuple(str(d) for d in range(10)),
        "MNIST handwritten digits (LeCun, Cortes & Burges), "
        "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": PublicDataset(
        "fashion-mnist", FASHION_MNIST_FILES, lambda p: _read_idx_set(p, (1, 28, 28), 10),
        (1, 28, 28), FASHION_CLASSES,
        "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), MIT licence, "
        "https://github.com/zalandoresearch/fashion-mnist"),
    "cifar10": PublicDataset(
        "cifar10", CIFAR10_FILES, _read_cifar, cifar.IMAGE_SHAPE, cifar.CLASSES,
        "CIFAR-10 (Krizhevsky 2009), https://www.cs.toronto.edu/~kriz/cifar.html"),
}
"""The data sets ``load`` knows, by canonical name."""

_ALIASES = {"fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}


def canonical_name(name: str) -> str | None:
    """The canonical name of a public data set (``'Fashion_MNIST'`` → ``'fashion-mnist'``),
    or None when it is not one.

    Example:
        >>> canonical_name("CIFAR-10"), canonical_name("digits")
        ('cifar10', None)
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in DATASETS else None


def dataset_info(name: str) -> PublicDataset:
    """The ``PublicDataset`` called ``name`` (any spelling ``canonical_name`` accepts).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    key = canonical_name(name) if isinstance(name, str) else None
    if key is None:
        raise ValueError(f"unknown public data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key]


def _by_hand(spec: PublicDataset, folder: Path) -> str:
    files = "; ".join(f"{f.name} ({f.size:,} bytes, SHA-256 {f.sha256}) from "
                      f"{f.urls[0] if f.urls else '?'}" for f in spec.files)
    return (f"To place the files by hand, download them on a machine with network access "
            f"and save them in {folder} (the cache; ${CACHE_ENV} moves it): {files}.")


def load(name: str, root: str | os.PathLike | None = None, *, download: bool = True,
         progress: bool | None = None, scale: bool = False
         ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load a public image data set by name, downloading it on first use.

    Args:
        name: ``'mnist'``, ``'fashion-mnist'`` or ``'cifar10'`` (case and ``-``/``_``
            spellings such as ``'CIFAR-10'`` or ``'fashion_mnist'`` are accepted).
        root: the folder holding this data set's files (default ``cache_dir() / name``:
            ``$CHAINRULE_CACHE/<name>`` or ``~/.cache/chainrule/<name>``). Files put
            there by hand are used when their SHA-256 matches.
        download: fetch missing files (False: only read ``root``).
        progress: a progress bar while downloading: True, False, or None (only when
            stderr is a terminal or in Jupyter).
        scale: float32 pixels in ``[0, 1]`` instead of the files' uint8 values.

    Returns:
        ``((X_train, y_train), (X_test, y_test))`` as ``keras.datasets`` returns them,
        but with images in PyTorch's layout ``(N, C, H, W)``: MNIST and Fashion-MNIST
        ``(N, 1, 28, 28)``, CIFAR-10 ``(N, 3, 32, 32)``; uint8 (float32 with ``scale``);
        labels int64 ``(N,)`` in 0-9 (``dataset_info(name).classes`` names them).

    Raises:
        ValueError: an unknown name, or files that are not what they should be.
        DownloadError: no mirror delivered a file (the message names the URLs tried,
            the cache folder, and how to place the files by hand).
        FileNotFoundError: ``download=False`` and a file is missing.

    Example:
        >>> # (X, y), (X_test, y_test) = load("mnist")     # 4 files, 11 MB, once
        >>> # X.shape, X.dtype, y[:5] -> (60000, 1, 28, 28), dtype('uint8'), [5 0 4 1 9]
    """
    spec = dataset_info(name)
    folder = Path(root).expanduser() if root is not None else cache_dir() / spec.name
    try:
        paths = [fetch(f, folder, progress=progress, download=download) for f in spec.files]
    except DownloadError as e:
        # placing files by hand: say at once every file the set needs, not one per error
        raise DownloadError(f"could not download {spec.name}'s {e.file.name if e.file else ''}"
                            f" from any mirror: {tried(e.attempts)}. {e.notes}"
                            f"{_by_hand(spec, folder)}", e.file, e.target, e.attempts,
                            e.notes) from None
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} {_by_hand(spec, folder)}") from None
    X_train, y_train, X_test, y_test = spec.read(paths)
    if scale:
        X_train, X_test = (np.divide(X, 255, dtype=np.float32) for X in (X_train, X_test))
    return (X_train, y_train), (X_test, y_test)


__all__ = ["CIFAR10_FILES", "DATASETS", "FASHION_MNIST_FILES", "MNIST_FILES", "PublicDataset",
           "canonical_name", "dataset_info", "load"]

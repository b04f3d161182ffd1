"""``load_dataset(spec)``: every data set chainrule knows, by name, split and ready to train.

Specs::

    digits                      bundled 8×8 digits, stratified 70/10/20 split
    xor                         the 4-point XOR truth table (train = val = test)
    moons, spirals, circles     1,000 synthetic 2-D points, stratified 70/10/20 split
    regression                  1,000 noisy points of sin(x), 70/10/20 split
    csv:PATH                    a CSV file (target = last column), 70/10/20 split,
                                features standardised with statistics of the train part;
                                its task from ``task`` or, with 'auto', by
                                ``chainrule.data.csv.TASK_RULE``
    idx:DIR                     MNIST-style IDX files; 10% of train becomes validation
    mnist, fashion-mnist,       public image sets, downloaded once into the cache
    cifar10                     (``chainrule.data.public``); the published test split, 10%
                                of train (stratified) becomes validation; pixels / 255
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.data.bundle import DataBundle
from chainrule.data.csv import TASKS, load_csv
from chainrule.data.dataset import train_val_test_split
from chainrule.data.digits import load_digits
from chainrule.data.idx import load_idx_dir
from chainrule.data.public import DATASETS as PUBLIC_DATASETS
from chainrule.data.public import canonical_name, dataset_info
from chainrule.data.public import load as load_public
from chainrule.data.synthetic import (
    make_circles,
    make_moons,
    make_regression_curve,
    make_spirals,
    make_xor,
)
from chainrule.data.transforms import Standardizer

VAL_FRACTION = 0.1
TEST_FRACTION = 0.2
SYNTHETIC_SIZE = 1000

_SYNTHETIC: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], dict[str, Any]]] = {
    "moons": (make_moons, {"n": SYNTHETIC_SIZE, "noise": 0.15}),
    "spirals": (make_spirals, {"n": SYNTHETIC_SIZE, "classes": 2, "noise": 0.05}),
    "circles": (make_circles, {"n": SYNTHETIC_SIZE, "noise": 0.05, "factor": 0.5}),
    "regression": (make_regression_curve, {"n": SYNTHETIC_SIZE, "noise": 0.1}),
}
NAMES = ("digits", "xor", *_SYNTHETIC, *PUBLIC_DATASETS, "csv:PATH", "idx:DIR")


def _bundle(name: str, X: np.ndarray, y: np.ndarray, task: str, seed: int,
            info: dict[str, Any], val: float = VAL_FRACTION, test: float = TEST_FRACTION,
            **extra: Any) -> DataBundle:
    """Split ``(X, y)`` (stratified for classification) into a ``DataBundle``."""
    strat = y if task == "classification" else None
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train_val_test_split(X, y, val=val, test=test,
                                                              seed=seed, stratify=strat)
    return _assemble(name, (Xtr, ytr, Xva, yva, Xte, yte), task, seed, info, **extra)


def _assemble(name: str, parts: tuple[np.ndarray, ...], task: str, seed: int,
              info: dict[str, Any], num_classes: int | None = None,
              image_shape: tuple[int, ...] | None = None) -> DataBundle:
    Xtr, ytr, Xva, yva, Xte, yte = parts
    if task == "classification" and num_classes is None:
        num_classes = int(max(ytr.max(), yva.max(initial=0), yte.max(initial=0))) + 1
    info = {"spec": name, "seed": seed, **info,
            "split": {"train": len(Xtr), "val": len(Xva), "test": len(Xte)}}
    return DataBundle(X_train=Xtr, y_train=ytr, X_val=Xva, y_val=yva, X_test=Xte, y_test=yte,
                      task=task, num_classes=num_classes,
                      num_features=int(np.prod(Xtr.shape[1:])), input_shape=Xtr.shape[1:],
                      name=name, info=info, image_shape=image_shape)


def _digits(seed: int) -> DataBundle:
    X, y = load_digits()
    info = {"source": "UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak "
                      "1998), CC BY 4.0", "classes": list(range(10))}
    return _bundle("digits", X, y, "classification", seed, info, num_classes=10,
                   image_shape=(1, 8, 8))


def _xor(seed: int) -> DataBundle:
    X, y = make_xor()
    info = {"classes": [0, 1],
            "note": "the XOR truth table; val and test are the same four points"}
    parts = (X, y, X.copy(), y.copy(), X.copy(), y.copy())
    return _assemble("xor", parts, "classification", seed, info, num_classes=2)


def _synthetic(name: str, seed: int) -> DataBundle:
    make, params = _SYNTHETIC[name]
    X, y = make(seed=seed, **params)
    task = "regression" if y.dtype.kind == "f" else "classification"
    info: dict[str, Any] = {"generator": make.__name__, "params": dict(params)}
    if task == "classification":
        info["classes"] = list(range(int(y.max()) + 1))
    return _bundle(name, X, y, task, seed, info)


def _csv(path: str, seed: int, target: str | None, task: str) -> DataBundle:
    X, y, info = load_csv(path, target=target, task=task)
    bundle = _bundle(f"csv:{path}", X, y, info["task"], seed, info,
                     num_classes=len(info["classes"]) if info["classes"] else None)
    scaler = Standardizer().fit(bundle.X_train)
    bundle.X_train = scaler.transform(bundle.X_train)
    bundle.X_val = scaler.transform(bundle.X_val)
    bundle.X_test = scaler.transform(bundle.X_test)
    bundle.info["standardizer"] = scaler.state_dict()
    return bundle


def _idx(directory: str, seed: int) -> DataBundle:
    X, y, X_test, y_test = load_idx_dir(directory)
    (Xtr, ytr), (Xva, yva), _ = train_val_test_split(X, y, val=VAL_FRACTION, test=0, seed=seed,
                                                     stratify=y)
    side = int(round(np.sqrt(X.shape[1])))
    image_shape = (1, side, side) if side * side == X.shape[1] else None
    info = {"path": os.fspath(directory)}
    return _assemble(f"idx:{directory}", (Xtr, ytr, Xva, yva, X_test, y_test),
                     "classification", seed, info, image_shape=image_shape)


def _public(name: str, seed: int) -> DataBundle:
    """A public image set (downloaded on first use): the published test split, 10% of
    the training split (stratified) for validation, flattened pixels / 255 as float32."""
    spec = dataset_info(name)
    (X, y), (X_test, y_test) = load_public(spec.name)
    (Xtr, ytr), (Xva, yva), _ = train_val_test_split(X, y, val=VAL_FRACTION, test=0, seed=seed,
                                                     stratify=y)
    Xtr, Xva, X_test = (np.divide(a.reshape(len(a), -1), 255, dtype=np.float32)
                        for a in (Xtr, Xva, X_test))
    info = {"source": spec.source, "classes": list(range(len(spec.classes))),
            "class_names": list(spec.classes),
            "files": {f.name: f"sha256:{f.sha256}" for f in spec.files}}
    return _assemble(spec.name, (Xtr, ytr, Xva, yva, X_test, y_test), "classification", seed,
                     info, num_classes=len(spec.classes), image_shape=spec.image_shape)


def _named(kind: str, seed: int) -> DataBundle | None:
    """A data set known by name alone, or None."""
    public = canonical_name(kind)
    if public is not None:
        return _public(public, seed)
    if kind == "digits":
        return _digits(seed)
    if kind == "xor":
        return _xor(seed)
    if kind in _SYNTHETIC:
        return _synthetic(kind, seed)
    return None


def load_dataset(spec: str, seed: int = 0, *, target: str | None = None,
                 task: str = "auto") -> DataBundle:
    """Load a data set by spec and split it into train, validation and test parts.

    Args:
        spec: ``'digits'``, ``'xor'``, ``'moons'``, ``'spirals'``, ``'circles'``,
            ``'regression'``, ``'mnist'``, ``'fashion-mnist'``, ``'cifar10'`` (downloaded
            on first use), ``'csv:PATH'`` or ``'idx:DIR'`` (see the module docstring).
        seed: seed of the generated data and of the split.
        target: for ``csv:`` specs, the target column (default: the last one).
        task: ``'auto'``, ``'classification'`` or ``'regression'``. For ``csv:`` specs it
            decides how the target is read (``'auto'``: by ``TASK_RULE`` of
            ``chainrule.data.csv``); any other data set has its own task, and naming a
            different one is an error.

    Returns:
        a ``DataBundle``. For CSV data ``X`` is standardised with the training part's
        statistics, kept in ``info['standardizer']`` (``Standardizer.from_state_dict``
        rebuilds the scaler for prediction); class labels are in ``info['classes']``.

    Raises:
        ValueError: unknown spec (the message lists the known ones), bad data, or a
            ``task`` the data does not have.
        FileNotFoundError: a ``csv:``/``idx:`` path that does not exist.
        DownloadError: a public data set that is not cached and cannot be downloaded.

    Example:
        >>> b = load_dataset("moons", seed=1)
        >>> b.X_train.shape, b.num_classes, b.task
        ((700, 2), 2, 'classification')
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"dataset spec must be a non-empty string, got {spec!r}; "
                         f"known: {', '.join(NAMES)}")
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.lower()
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if sep and kind in ("csv", "idx"):
        if not arg:
            raise ValueError(f"dataset spec {spec!r} needs a path after '{kind}:'")
        if kind == "csv":
            return _csv(arg, seed, target, task)
    if not sep:
        bundle = _named(kind, seed)
    else:
        bundle = _idx(arg, seed) if kind == "idx" else None
    if bundle is None:
        raise ValueError(f"unknown dataset spec {spec!r}; known: {', '.join(NAMES)}")
    if task not in ("auto", bundle.task):
        raise ValueError(f"{spec} is a {bundle.task} data set; task {task!r} does not apply "
                         "to it (the task can be chosen for csv: data only)")
    return bundle

"""Using a trained model file: evaluate it, predict from a CSV, describe it.

These are what ``chainrule evaluate``, ``predict`` and ``info`` call. A model written by
``chainrule train`` takes raw data itself (its first layer standardises the features, a
regression model's last layer gives the target's units) and carries the metadata to read
it (class labels, feature names, input shape); ``predict(model, X)`` is the in-memory
equivalent. A model saved by hand with ``chainrule.io.save`` works too, with fewer
conveniences.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.train.run import LEGACY_METADATA_FORMAT, METADATA_FORMAT


def _load(path: str | os.PathLike, verify: bool = True) -> tuple[Any, dict[str, Any]]:
    from chainrule import io

    if not Path(path).exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    return io.load_with_metadata(path, verify=verify)


def check_writable(path: str | os.PathLike, *inputs: str | os.PathLike) -> None:
    """Fail early, naming the file, when ``path`` cannot be written (no such folder), or
    must not be: text written there would destroy one of ``inputs``, or a model file or
    checkpoint (``*.safetensors``: a slip of ``-o``)."""
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {parent} does not exist")
    if Path(path).is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    for given in inputs:
        if Path(given).exists() and Path(path).resolve() == Path(given).resolve():
            raise ValueError(f"cannot write {path}: it is the input file {given}, which "
                             "the output would destroy; choose another -o")
    if Path(path).suffix.lower() == ".safetensors" and Path(path).exists():
        raise ValueError(f"cannot write {path}: it is a model file or checkpoint, which the "
                         "output would destroy; choose another -o")


def _scaler(state: dict[str, Any] | None) -> Any:
    if not state:
        return None
    from chainrule.data import Standardizer

    return Standardizer.from_state_dict(state)


def predict(model: Any, X: Any, batch_size: int = 1024) -> np.ndarray:
    """The outputs of ``model`` for inputs ``X``, as ``chainrule predict`` computes them.

    Runs in eval mode (dropout off, batch-norm running statistics), in batches, without
    recording a graph, and puts the model's mode back. A model trained by ``chainrule
    train`` carries its preprocessing, so ``X`` holds raw values (CSV values as in the
    file, digit pixels 0-16) and a regression model answers in the target's units; for a
    classifier the outputs are logits (softmax gives the ``prob_*`` columns of
    ``chainrule predict``, argmax its ``prediction``).

    Args:
        model: a ``Module`` (e.g. ``chainrule.io.load("runs/x/model.safetensors")``).
        X: array-like or ``Tensor`` of shape ``(N, *input_shape)``; floats are taken in
            the model's default dtype (float32).
        batch_size: samples per forward pass.

    Returns:
        a NumPy array ``(N, *output_shape)``.

    Example:
        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Standardize(mean=[1.0, 1.0], std=[2.0, 2.0]),
        ...                        cr.nn.Linear(2, 1))
        >>> predict(net, [[1.0, 3.0], [5.0, 1.0]]).shape
        (2, 1)
    """
    from chainrule.autograd import no_grad
    from chainrule.backend import get_default_dtype
    from chainrule.tensor import Tensor

    arr = np.asarray(X._data if isinstance(X, Tensor) else X)
    if arr.dtype.kind in "biu":
        arr = arr.astype(get_default_dtype())
    elif arr.dtype.kind == "f" and arr.dtype != get_default_dtype():
        arr = arr.astype(get_default_dtype())
    if arr.ndim == 0 or len(arr) == 0:
        raise ValueError(f"predict: X needs at least one sample, got shape {arr.shape}")
    if batch_size < 1:
        raise ValueError(f"predict: batch_size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    outs = []
    try:
        with no_grad():
            for start in range(0, len(arr), batch_size):
                chunk = np.ascontiguousarray(arr[start:start + batch_size])
                outs.append(np.asarray(model(Tensor._make(chunk, False, None))._data))
    finally:
        model.train(was_training)
    return np.concatenate(outs)


def _predict_checked(model: Any, X: np.ndarray, path: str | os.PathLike,
                     batch_size: int = 1024) -> np.ndarray:
    """``predict``, with one warning naming the file when outputs are NaN/inf (weights or
    preprocessing that are not finite, a zero scale) in place of NumPy's anonymous ones."""
    try:
        with np.errstate(all="ignore"):
            out = predict(model, X, batch_size)
    except MemoryError as err:  # a layer that grows its input (Upsample), a large batch
        raise MemoryError(f"{path}: out of memory computing the model's outputs ({err}); "
                          "a smaller --batch-size may help") from None
    except (ValueError, TypeError) as err:  # layers that do not fit each other
        raise ValueError(f"{path}: the model cannot compute its outputs: {err}") from None
    bad = int(np.count_nonzero(~np.isfinite(out).reshape(len(out), -1).all(axis=1)))
    if bad:
        warnings.warn(f"{path}: the model gives NaN or inf for {bad} of {len(out)} samples "
                      "(its weights or preprocessing are not finite, or divide by zero)",
                      RuntimeWarning, stacklevel=3)
    return out


def _shape_inputs(X: np.ndarray, meta: dict[str, Any], where: str) -> np.ndarray:
    shape = tuple(meta.get("input_shape") or X.shape[1:])
    if int(np.prod(shape)) != int(np.prod(X.shape[1:])):
        raise ValueError(f"{where}: the model takes {int(np.prod(shape))} features per sample "
                         f"(input shape {shape}), the data has {int(np.prod(X.shape[1:]))}")
    return np.ascontiguousarray(X.reshape((len(X), *shape)), dtype=np.float32)


@np.errstate(invalid="ignore", over="ignore")  # NaN/inf outputs were warned about once
def _probabilities(out: np.ndarray) -> np.ndarray:
    if out.ndim == 2 and out.shape[1] > 1:
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    p1 = 1 / (1 + np.exp(-out.reshape(-1)))
    return np.stack([1 - p1, p1], axis=1)


# Model files of chainrule.run/1 kept the preprocessing in their metadata for the reader
# to apply; they still work: these two functions do what those models' readers did.

def _legacy_inputs(X: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    if meta.get("format") != LEGACY_METADATA_FORMAT:
        return X
    if meta.get("input_scale"):
        X = X * np.float32(meta["input_scale"])
    if meta.get("standardizer"):
        X = _scaler(meta["standardizer"]).transform(X)
    return X


def _legacy_outputs(out: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    scaler = _scaler(meta.get("target_standardizer"))
    if meta.get("format") != LEGACY_METADATA_FORMAT or scaler is None:
        return out
    return scaler.inverse_transform(out.reshape(len(out), -1))


def _is_run_model(meta: dict[str, Any]) -> bool:
    return meta.get("format") in (METADATA_FORMAT, LEGACY_METADATA_FORMAT)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# what each entry of a run model's metadata may hold (None: absent, always allowed)
_RUN_METADATA = {
    "task": ("'classification' or 'regression'",
             lambda v: v in ("classification", "regression")),
    "data": ("a data spec", lambda v: isinstance(v, str)),
    "target": ("a column name", lambda v: isinstance(v, str)),
    "seed": ("a whole number", _is_int),
    "num_classes": ("a whole number", lambda v: _is_int(v) and v >= 0),
    "num_outputs": ("a whole number", lambda v: _is_int(v) and v >= 1),
    "classes": ("a list of labels", lambda v: isinstance(v, list) and all(
        isinstance(c, str) or _is_number(c) for c in v)),
    "feature_names": ("a list of column names", lambda v: isinstance(v, list) and all(
        isinstance(c, str) for c in v)),
    "input_shape": ("a list of sizes >= 1", lambda v: isinstance(v, list) and all(
        _is_int(n) and n >= 1 for n in v)),
    "input_scale": ("a number", _is_number),
    "config": ("an object of settings", lambda v: isinstance(v, dict) and (
        v.get("loss") is None or isinstance(v["loss"], str)) and (
        v.get("label_smoothing") is None or _is_number(v["label_smoothing"]))),
    "standardizer": ("an object", lambda v: isinstance(v, dict)),
    "target_standardizer": ("an object", lambda v: isinstance(v, dict)),
}


def _check_run_metadata(meta: dict[str, Any], path: str | os.PathLike) -> None:
    """A run model's metadata is used to read data for it: entries of the wrong type
    (a damaged or hand-edited file) are an error naming the file and the entry, not a
    TypeError from deep inside."""
    from chainrule.io import ModelFileError

    for key, (what, fits) in _RUN_METADATA.items():
        value = meta.get(key)
        if value is not None and not fits(value):
            shown = json.dumps(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ModelFileError(path, f"damaged run metadata: {key!r} should be {what}, it "
                                 f"holds {shown}")
    for key in ("standardizer", "target_standardizer"):  # chainrule.run/1 files
        try:
            _scaler(meta.get(key))
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise ModelFileError(path, f"damaged run metadata: {key!r} cannot be read "
                                 f"({err})") from None


# ---- evaluate ----------------------------------------------------------------------------

def _columns_by_name(X: np.ndarray, bundle: Any, meta: dict[str, Any], model_path: Any,
                     spec: str) -> np.ndarray:
    """``X``'s columns in the order the model was trained on, matched by name."""
    wanted = list(meta.get("feature_names") or [])
    have = bundle.info.get("feature_names")
    if have is None or not wanted:  # data without column names: same count, same order
        need = int(np.prod(meta["input_shape"])) if meta.get("input_shape") else None
        if need is not None and need != bundle.num_features:
            raise ValueError(f"{model_path} takes {need} features per sample but {spec} has "
                             f"{bundle.num_features}")
        return X
    missing = [n for n in wanted if n not in have]
    if missing:
        raise ValueError(f"{spec}: missing feature column(s) "
                         f"{', '.join(repr(n) for n in missing[:8])}"
                         f"{' ...' if len(missing) > 8 else ''} that {model_path} was "
                         f"trained on; the data has {', '.join(have[:12])}")
    return X[:, [have.index(n) for n in wanted]]


def _labels_as_model_classes(y: np.ndarray, bundle: Any, meta: dict[str, Any],
                             spec: str) -> np.ndarray:
    """Class indices of the data mapped to the model's, by label (not by position)."""
    ours, theirs = meta.get("classes"), bundle.info.get("classes")
    if not ours or not theirs or list(ours) == list(theirs):
        return y
    unknown = [lab for lab in theirs if lab not in ours]
    if unknown:
        raise ValueError(f"{spec}: class label(s) {', '.join(map(repr, unknown[:8]))} are "
                         f"not among the model's classes {ours}")
    return np.asarray([ours.index(lab) for lab in theirs], np.int64)[y]


def evaluate_file(model_path: str | os.PathLike, data: str | None = None,
                  target: str | None = None, split: str = "test",
                  batch_size: int = 1024, verify: bool = True) -> dict[str, Any]:
    """Loss and metrics of a saved model on one split of a data set.

    Features are matched to the model's by column name (``csv:`` data; other columns are
    ignored) and class labels by value, so a file with its columns in another order
    evaluates correctly; a target other than the model's is refused.

    Args:
        model_path: a model file (``chainrule train`` writes ``model.safetensors``).
        data: a data spec; default the one the model was trained on (same seed, so the
            same test split).
        target: the target column of ``csv:`` data (default and only choice: the model's).
        split: ``'train'``, ``'val'`` or ``'test'``.
        verify: check the model file's checksums (``False``: a file another tool changed).

    Returns:
        ``{"data", "split", "samples", "loss", "accuracy" | "mae", "r2", ...}``.

    Example:
        >>> # evaluate_file("runs/x/model.safetensors")["accuracy"]
    """
    from chainrule.data import load_dataset
    from chainrule.tensor import Tensor
    from chainrule.train.metrics import accuracy, mean_absolute_error, r2_score
    from chainrule.train.run import StandardizedTargetLoss, build_loss, raw_features

    model, meta = _load(model_path, verify)
    ours = _is_run_model(meta)
    if ours:
        _check_run_metadata(meta, model_path)
    spec = data or (meta.get("data") if ours else None)
    if spec is None:
        raise ValueError(f"{model_path} has no record of its training data: give --data")
    seed = int(meta.get("seed", 0)) if ours else 0
    trained_on = meta.get("target") if ours else None
    if target is not None and trained_on is not None and target != trained_on:
        raise ValueError(f"{model_path} was trained to predict {trained_on!r}; it cannot be "
                         f"evaluated against --target {target!r}")
    if target is None and trained_on is not None and spec.lower().startswith("csv:"):
        target = trained_on
    # csv: data is read with the task the model was trained for, not guessed again
    task = str(meta.get("task") or "auto") if ours and spec.lower().startswith("csv:") else "auto"
    bundle = load_dataset(spec, seed=seed, target=target, task=task)
    [X], _ = raw_features(bundle, (split,))
    y = bundle.split(split)[1]
    X = _columns_by_name(X, bundle, meta, model_path, spec) if ours else X
    if ours and meta.get("task") and bundle.task != meta["task"]:
        raise ValueError(f"{model_path} is a {meta['task']} model but {spec} is a "
                         f"{bundle.task} data set")
    if bundle.task == "classification" and ours:
        y = _labels_as_model_classes(y, bundle, meta, spec)
    X = _shape_inputs(_legacy_inputs(X, meta), meta if ours else {}, str(model_path))
    out = _predict_checked(model, X, model_path, batch_size)
    task = bundle.task
    config = meta.get("config") or {}
    smoothing = config.get("label_smoothing")
    if smoothing is None:  # run/1 files wrote null for their default of 0.1
        smoothing = 0.1 if meta.get("format") == LEGACY_METADATA_FORMAT else 0.0
    loss_fn = build_loss(config.get("loss"), task, smoothing if task == "classification"
                         else 0.0)
    num_outputs = bundle.num_outputs
    if out.shape[1:] != (num_outputs,):
        raise ValueError(f"{model_path}: the model has outputs of shape {out.shape[1:]} but "
                         f"{spec} needs {num_outputs} ({task})")
    # outputs already warned about as NaN/inf: no NumPy warnings for each step of the loss
    quiet = np.errstate(all="ignore") if not np.isfinite(out).all() else contextlib.nullcontext()
    with quiet:
        legacy_scaler = (_scaler(meta.get("target_standardizer"))
                         if meta.get("format") == LEGACY_METADATA_FORMAT else None)
        output_layer = getattr(model, "output", None)
        if legacy_scaler is not None:  # run/1: outputs were standardised predictions
            loss = loss_fn(Tensor._make(out, False, None), legacy_scaler.transform(y))
        elif output_layer is not None and getattr(output_layer, "invert", False):
            loss = StandardizedTargetLoss(loss_fn, output_layer)(Tensor._make(out, False, None),
                                                                 y)
        else:
            loss = loss_fn(Tensor._make(out, False, None), y)
        results: dict[str, Any] = {"data": spec, "split": split, "samples": int(len(y)),
                                   "loss": float(loss.item())}
        if task == "classification":
            results["accuracy"] = accuracy(out, y)
        else:
            pred = _legacy_outputs(out, meta)
            results["mae"] = mean_absolute_error(pred, y)
            results["r2"] = r2_score(pred, y)
    return results


def format_results(results: dict[str, Any]) -> str:
    """One readable line per result."""
    lines = []
    for k, v in results.items():
        if isinstance(v, float):
            shown = f"{v:.4f}" + (f" ({v:.2%})" if k == "accuracy" else "")
        else:
            shown = str(v)
        lines.append(f"{k:<9} {shown}")
    return "\n".join(lines)


# ---- predict -----------------------------------------------------------------------------

def _read_features(path: str | os.PathLike, names: list[str] | None) -> np.ndarray:
    from chainrule.data import load_csv_features

    if not Path(path).exists():
        raise FileNotFoundError(f"input file {path} does not exist")
    with open(path, encoding="utf-8-sig") as f:
        first = next((line for line in f if line.strip()), None)
    if first is None:
        raise ValueError(f"{path}: the file is empty")
    fields = next(csv.reader([first]))
    try:
        [float(v) for v in fields]
        header = False  # the first line is data: columns are taken in training order
    except ValueError:
        header = True
    if names is None:
        if header:
            names = [c.strip() for c in fields]
        else:
            names = [f"x{i + 1}" for i in range(len(fields))]
    return load_csv_features(path, names, header=header)


def predict_file(model_path: str | os.PathLike, input_path: str | os.PathLike,
                 output_path: str | os.PathLike | None = None, verify: bool = True) -> int:
    """Predict for every row of a CSV of features; write CSV to ``output_path`` (stdout
    when None). Returns the number of rows.

    Features are raw values as in the training data's files: CSV columns by name (or in
    training order without a header); for the bundled digits 64 pixel values 0-16, for IDX
    images the pixel values 0-255. The model applies its own preprocessing (its ``input``
    layer), so this is ``predict(chainrule.io.load(model_path), X)`` written as CSV.

    Classification: a ``prediction`` column with the original class label and one
    ``prob_<label>`` column per class. Regression: the predicted value(s), in the
    target's original units, named after the target.

    Example:
        >>> # predict_file("runs/x/model.safetensors", "new.csv", "predictions.csv")
    """
    if output_path is not None:
        check_writable(output_path, model_path, input_path)
    model, meta = _load(model_path, verify)
    ours = _is_run_model(meta)
    if ours:
        _check_run_metadata(meta, model_path)
    X = _read_features(input_path, meta.get("feature_names") if ours else None)
    X = _shape_inputs(_legacy_inputs(X, meta), meta if ours else {}, str(input_path))
    out = _predict_checked(model, X, model_path)
    header: list[str]
    rows: list[list[Any]]
    if ours and meta.get("task") == "classification":
        probs = _probabilities(out)
        labels = meta.get("classes") or list(range(probs.shape[1]))
        header = ["prediction"] + [f"prob_{lab}" for lab in labels]
        picked = probs.argmax(axis=1)
        rows = [[labels[k]] + [f"{p:.6g}" for p in row] for k, row in zip(picked, probs)]
    else:
        values = _legacy_outputs(out, meta).reshape(len(out), -1)
        name = (meta.get("target") if ours else None) or "prediction"
        header = [name] if values.shape[1] == 1 else [f"{name}_{i + 1}"
                                                      for i in range(values.shape[1])]
        rows = [[f"{v:.6g}" for v in row] for row in values]
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if output_path is None:
        sys.stdout.write(buf.getvalue())
    else:
        from chainrule.io import atomic_write

        with atomic_write(output_path, "w") as f:
            f.write(buf.getvalue())
    return len(rows)


# ---- info --------------------------------------------------------------------------------

def describe_file(path: str | os.PathLike, as_json: bool = False,
                  verify: bool = True) -> str:
    """Architecture with per-layer parameter counts, and the metadata, of a model file or
    checkpoint (read from the file; a checkpoint's model is rebuilt from its spec).

    The file is verified first (``chainrule.io.verify_file``: checksums, the
    architecture against the tensors), so a file that would not load is an error here
    too, never a description of something broken. ``verify=False`` skips only the
    checksums (a file another tool changed on purpose).
    """
    from chainrule import io
    from chainrule.nn.init import meta_init

    if not Path(path).exists():
        raise FileNotFoundError(f"file {path} does not exist")
    info = io.verify_file(path, checksums=verify)
    if info.kind == "foreign":
        raise ValueError(f"{path}: a safetensors file not written by chainrule (it has no "
                         "architecture)")
    model = None
    if info.architecture:
        with meta_init():  # verified to match the file's tensors: shapes only, no memory
            model = io.from_spec(info.architecture)
    layers = []
    if model is not None:
        for name, m in model.named_modules():
            own = sum(p._data.size for p in m._parameters.values() if p is not None)
            if name and (own or not m._modules):
                layers.append({"name": name, "layer": m._one_line(), "parameters": own})
    metadata = dict(info.metadata)
    if info.kind == "checkpoint":
        history = metadata.pop("history", None)
        for key in ("rng", "loader", "running", "callbacks", "callback_arrays"):
            metadata.pop(key, None)
        if history is not None:
            metadata["epochs_recorded"] = len(history.get("records", []))
    tensors = {k: list(shape) for k, (dtype, shape) in info.tensors.items()}
    if as_json:
        return json.dumps({"file": str(path), "kind": info.kind,
                           "chainrule_version": info.chainrule_version,
                           "parameters": model.num_parameters() if model is not None else None,
                           "layers": layers, "metadata": _jsonable(metadata),
                           "tensors": tensors}, indent=1)
    written = ("written by chainrule.save" if info.kind == "saved" else
               f"chainrule {info.chainrule_version or '(version not recorded)'}")
    lines = [f"file      {path}", f"kind      {info.kind} ({written})"]
    if model is not None:
        lines += ["", _summary_with_shapes(model, metadata)]
    else:
        lines.append(f"tensors   {len(info.tensors)} ({info.num_parameters:,} values); no "
                     "architecture recorded")
    if metadata:
        lines += ["", "metadata"]
        for k, v in metadata.items():
            text = json.dumps(_jsonable(v))
            lines.append(f"  {k}: {text if len(text) <= 200 else text[:197] + '...'}")
    return "\n".join(lines)


# a forward pass on a placeholder model copies each weight once: only for small models
SHAPES_MAX_PARAMETERS = 20_000_000


def _summary_with_shapes(model: Any, metadata: dict[str, Any]) -> str:
    """``model.summary()`` with output shapes when the file records its input shape (a run
    of ``chainrule train``) and the model is small; without them otherwise."""
    shape = metadata.get("input_shape")
    if (isinstance(shape, list) and all(isinstance(d, int) and d > 0 for d in shape)
            and model.num_parameters() <= SHAPES_MAX_PARAMETERS):
        try:
            return model.summary(input_size=(1, *shape))
        except (ValueError, TypeError, IndexError):
            pass  # an input shape the architecture does not take: the table without shapes
    return model.summary()


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


__all__ = ["check_writable", "describe_file", "evaluate_file", "format_results", "predict",
           "predict_file"]

"""Read tabular data from CSV files into float32 features and a target.

Errors name the file, the line (1-based, as an editor shows it), the column and the
offending value, so a bad cell in a large file is found at once. Only the standard
library's ``csv`` module is used.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_AUTO_CLASSES = 20
"""``task='auto'``: an integer-valued target with at most this many values is a class."""

TASKS = ("auto", "classification", "regression")

FEATURE_RULE = "every feature must be numeric; missing values are not supported"


class _Table:
    """The cells of a CSV file as strings, with the line number of every row."""

    def __init__(self, path: str, names: list[str], rows: list[list[str]],
                 lines: list[int]) -> None:
        self.path, self.names, self.rows, self.lines = path, names, rows, lines

    def column(self, j: int) -> list[str]:
        return [row[j].strip() for row in self.rows]

    def numbers(self, j: int, rule: str = FEATURE_RULE) -> np.ndarray:
        """Column ``j`` as float64; a cell that is not a finite number raises ValueError."""
        cells = self.column(j)
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            values = None
        if values is not None and np.all(np.isfinite(values)):
            return values
        out = np.empty(len(cells))
        for i, cell in enumerate(cells):  # slow path: says where the bad cell is
            try:
                out[i] = float(cell)
            except ValueError:
                out[i] = np.nan
            if not np.isfinite(out[i]):
                what = "an empty value" if cell == "" else f"{cell!r}"
                raise ValueError(f"{self.path}, line {self.lines[i]}, column "
                                 f"'{self.names[j]}': cannot read {what} as a finite number "
                                 f"({rule})")
        return out


def _read_table(path: str | os.PathLike, delimiter: str, header: bool) -> _Table:
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"CSV file not found: {p}")
    if os.path.isdir(p):
        raise IsADirectoryError(f"expected a CSV file but {p} is a directory")
    names: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    with open(p, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank line
                if names is None:
                    names = ([c.strip() for c in row] if header
                             else [f"column_{j + 1}" for j in range(len(row))])
                    if header:
                        _check_names(p, names)
                        continue
                if len(row) != len(names):
                    raise ValueError(f"{p}, line {reader.line_num}: expected {len(names)} "
                                     f"values (one per column: {', '.join(names)}), found "
                                     f"{len(row)}")
                rows.append(row)
                lines.append(reader.line_num)
        except csv.Error as e:
            raise ValueError(f"{p}, line {reader.line_num}: malformed CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{p}: not a UTF-8 text file ({e})") from None
    if names is None:
        raise ValueError(f"{p}: the file is empty (expected a header line and data rows)")
    if not rows:
        raise ValueError(f"{p}: the file has a header but no data rows")
    return _Table(p, names, rows, lines)


def _check_names(path: str, names: list[str]) -> None:
    for j, name in enumerate(names):
        if not name:
            raise ValueError(f"{path}, line 1: column {j + 1} has an empty name in the header")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{path}, line 1: column name '{name}' appears twice in the "
                             "header")
        seen.add(name)


def _target_index(table: _Table, target: str | int | None) -> int:
    names = table.names
    if target is None:
        return len(names) - 1
    if isinstance(target, int) and not isinstance(target, bool):
        if not -len(names) <= target < len(names):
            raise ValueError(f"{table.path}: target column index {target} is out of range "
                             f"for {len(names)} columns")
        return target % len(names)
    if target not in names:
        raise ValueError(f"{table.path}: target column '{target}' not found; available "
                         f"columns: {', '.join(names)}")
    return names.index(target)


def _label_value(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _target(table: _Table, j: int, task: str) -> tuple[np.ndarray, str, list[Any] | None]:
    """``(y, task, classes)`` from target column ``j``."""
    cells = table.column(j)
    values: np.ndarray | None
    if task == "regression":
        values = table.numbers(j, "a regression target must be numeric")
    else:
        try:
            values = table.numbers(j)
        except ValueError:
            values = None  # text labels
    if values is None:  # text labels: classes in sorted order
        classes_s, codes = np.unique(np.array(cells), return_inverse=True)
        for i, cell in enumerate(cells):
            if cell == "":
                raise ValueError(f"{table.path}, line {table.lines[i]}, column "
                                 f"'{table.names[j]}': empty target value")
        return codes.astype(np.int64), "classification", [str(c) for c in classes_s]
    distinct = np.unique(values)
    if task == "auto":
        integral = bool(np.all(distinct == np.round(distinct)))
        task = ("classification" if integral and len(distinct) <= MAX_AUTO_CLASSES
                else "regression")
    if task == "regression":
        return values.astype(np.float32).reshape(-1, 1), task, None
    codes = np.searchsorted(distinct, values)
    return codes.astype(np.int64), task, [_label_value(v) for v in distinct]


def load_csv(path: str | os.PathLike, target: str | int | None = None, task: str = "auto",
             delimiter: str = ",",
             header: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Load a CSV file of numeric features and one target column.

    Args:
        path: the CSV file (UTF-8; a byte-order mark and blank lines are ignored).
        target: name (or index) of the target column; default the last column.
        task: ``'classification'``, ``'regression'`` or ``'auto'``: a non-numeric target,
            or an integer-valued one with at most ``MAX_AUTO_CLASSES`` (20) distinct
            values, is classification; any other numeric target is regression.
        delimiter: field separator.
        header: whether the first line holds column names (otherwise the columns are
            called ``column_1``, ``column_2``, ...).

    Returns:
        ``X`` float32 ``(N, F)``; ``y`` int64 class indices ``(N,)`` for classification
        (labels mapped to ``0..k-1`` in sorted order) or float32 ``(N, 1)`` for
        regression; ``info``, a JSON-serialisable dict with ``path``, ``feature_names``,
        ``target``, ``task``, ``classes`` (original label of each class index, or
        ``None``) and ``num_rows``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: empty file, unknown target column, a row with the wrong number of
            values, or a feature value that is not a number (file, line, column, value).

    Example:
        >>> # X, y, info = load_csv("iris.csv", target="species")
        >>> # info["classes"] -> ['setosa', 'versicolor', 'virginica']
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    table = _read_table(path, delimiter, header)
    t = _target_index(table, target)
    features = [j for j in range(len(table.names)) if j != t]
    if not features:
        raise ValueError(f"{table.path}: only the target column '{table.names[t]}' was "
                         "found; at least one feature column is needed")
    y, task, classes = _target(table, t, task)
    X = np.stack([table.numbers(j) for j in features], axis=1).astype(np.float32)
    info = {
        "path": table.path,
        "feature_names": [table.names[j] for j in features],
        "target": table.names[t],
        "task": task,
        "classes": classes,
        "num_rows": len(table.rows),
    }
    return X, y, info


def load_csv_features(path: str | os.PathLike, feature_names: Sequence[str],
                      delimiter: str = ",", header: bool = True) -> np.ndarray:
    """Load the feature columns a model was trained on, e.g. to predict.

    Args:
        path: the CSV file.
        feature_names: the training features (``info["feature_names"]`` of ``load_csv``).
            With a header they are looked up by name, in this order; other columns (such
            as the target) are ignored. Without a header the file must have exactly these
            columns, in this order.
        delimiter, header: as for ``load_csv``.

    Returns:
        ``X`` float32 of shape ``(N, len(feature_names))``.

    Example:
        >>> # X_new = load_csv_features("new.csv", info["feature_names"])
    """
    names = list(feature_names)
    table = _read_table(path, delimiter, header)
    if header:
        missing = [n for n in names if n not in table.names]
        if missing:
            raise ValueError(f"{table.path}: missing feature column(s) "
                             f"{', '.join(repr(n) for n in missing)}; the file has columns "
                             f"{', '.join(table.names)}")
        index = [table.names.index(n) for n in names]
    else:
        if len(table.names) != len(names):
            raise ValueError(f"{table.path}: without a header the file must have exactly "
                             f"{len(names)} columns ({', '.join(names)}), found "
                             f"{len(table.names)}")
        table.names = names
        index = list(range(len(names)))
    if not index:
        raise ValueError("feature_names is empty")
    return np.stack([table.numbers(j) for j in index], axis=1).astype(np.float32)

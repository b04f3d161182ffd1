"""Read tabular data from CSV files into float32 features and a target.

Errors name the file, the line (1-based, as an editor shows it), the column and the
offending value, so a bad cell in a large file is found at once. Only the standard
library's ``csv`` module is used.

The file is streamed: rows are parsed a chunk at a time straight into a preallocated
float32 array (its row count bounded from above by the file's line count, trimmed in place
at the end), so reading takes little more memory than the arrays it returns.

Cells are read as follows:

- every feature cell must be a finite number that fits float32; an empty cell, ``nan``,
  ``inf`` or ``1e39`` is an error naming the cell (missing values are not supported: fill
  or drop them before training);
- a target cell must not be empty, and a target that reads as a number must be finite;
- quotes, surrounding spaces, a byte-order mark, CRLF line endings and blank lines
  (including rows whose every cell is empty) are accepted;
- the header must name every column, once; a header made only of numbers is taken for a
  data row and refused (pass ``header=False`` for a file without a header).

The target's task (``task='auto'``) follows ``TASK_RULE``.
"""

from __future__ import annotations

import csv
import itertools
import operator
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

MAX_AUTO_CLASSES = 20
"""``task='auto'``: a whole-number target with at most this many values is a class."""

MAX_TEXT_CLASSES = 65_536
"""A text target with more distinct values than this is refused (an id column, not a class)."""

TASKS = ("auto", "classification", "regression")

TASK_RULE = (
    "task 'auto': a target whose every cell is text (not a number: 'setosa', 'yes', 'true') "
    "is classification; a target whose every cell is a number is classification when all "
    f"values are whole numbers (3 or 3.0) and there are at most {MAX_AUTO_CLASSES} distinct "
    "values, regression otherwise; numbers mixed with text are an error (name the task to "
    "decide). 'regression' needs every cell to be a number; 'classification' takes text "
    "labels (every value of a column that holds any text is a text label) or whole numbers, "
    "and refuses numbers with a fractional part"
)

FEATURE_RULE = "every feature must be a finite number; missing values are not supported"

_CHUNK_CELLS = 1 << 14  # cells parsed per chunk: bounds the temporary Python strings
_F32_MAX = float(np.finfo(np.float32).max)


# ---- streaming the rows ------------------------------------------------------------------

class _Rows:
    """A CSV file's header and its data rows, streamed in chunks with their line numbers.

    Use as a context manager; ``names`` is ready after construction, ``chunks()`` yields
    ``(rows, lines)`` lists. ``capacity`` is an upper bound on the number of data rows.
    """

    def __init__(self, path: str | os.PathLike, delimiter: str, header: bool) -> None:
        p = os.fspath(path)
        if not os.path.exists(p):
            raise FileNotFoundError(f"CSV file not found: {p}")
        if os.path.isdir(p):
            raise IsADirectoryError(f"expected a CSV file but {p} is a directory")
        self.path = p
        self._file = open(p, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed in close)
        try:
            self._records = self._read(csv.reader(self._file, delimiter=delimiter))
            first = next(self._records, None)
            if first is None:
                raise ValueError(f"{p}: the file is empty (expected a header line and data "
                                 "rows)")
            row, line = first
            self._pending: tuple[list[str], int] | None = None
            if header:
                self.names = [c.strip() for c in row]
                _check_names(p, line, self.names)
            else:
                self.names = [f"column_{j + 1}" for j in range(len(row))]
                self._pending = first
            self.capacity = _row_bound(p, len(self.names))
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> _Rows:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._file.close()

    def _read(self, reader: Any) -> Iterator[tuple[list[str], int]]:
        """Non-blank rows with the line each ends on; parse errors become ValueErrors."""
        try:
            for row in reader:
                # blank: no cells, or only empty ones (a spreadsheet's trailing ",,,")
                if not row or (not row[0].strip() and all(not c.strip() for c in row)):
                    continue
                yield row, reader.line_num
        except csv.Error as e:
            raise ValueError(f"{self.path}, line {reader.line_num}: malformed CSV ({e})"
                             ) from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{self.path}: not a UTF-8 text file ({e})") from None

    def chunks(self) -> Iterator[tuple[list[list[str]], list[int]]]:
        """Data rows, about ``_CHUNK_CELLS`` cells at a time; a ragged row raises."""
        width = len(self.names)
        size = max(1, _CHUNK_CELLS // width)
        records = self._records
        if self._pending is not None:
            records = itertools.chain([self._pending], records)
        rows: list[list[str]] = []
        lines: list[int] = []
        for row, line in records:
            if len(row) != width:
                raise ValueError(f"{self.path}, line {line}: expected {width} values (one per "
                                 f"column: {', '.join(self.names)}), found {len(row)}")
            rows.append(row)
            lines.append(line)
            if len(rows) == size:
                yield rows, lines
                rows, lines = [], []
        if rows:
            yield rows, lines


def _row_bound(path: str, width: int) -> int:
    """An upper bound on the data rows: one per line ending, and no row is shorter than its
    ``width - 1`` delimiters and line ending (bounds the allocation for a file of newlines)."""
    size = os.path.getsize(path)
    newlines = returns = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            newlines += block.count(b"\n")
            returns += block.count(b"\r")  # old Mac files end lines with '\r' alone
    return max(1, min(max(newlines, returns) + 1, size // max(1, width) + 1))


def _check_names(path: str, line: int, names: list[str]) -> None:
    for j, name in enumerate(names):
        if not name:
            raise ValueError(f"{path}, line {line}: column {j + 1} has an empty name in the "
                             "header")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{path}, line {line}: column name '{name}' appears twice in the "
                             "header")
        seen.add(name)
    if all(_is_number(name) for name in names):
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise ValueError(f"{path}, line {line}: the header holds only numbers ({shown}): it "
                         "looks like a data row; add a header line naming the columns (or "
                         "pass header=False)")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Growing:
    """Rows appended into a preallocated array; grows by half if the bound was wrong (the
    file changed while read), trimmed in place at the end."""

    def __init__(self, capacity: int, width: int | None, dtype: Any) -> None:
        shape = (capacity,) if width is None else (capacity, width)
        self.array = np.empty(shape, dtype)
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        k = len(block)
        if self.n + k > len(self.array):
            rows = max(self.n + k, len(self.array) * 3 // 2 + 1)
            self.array.resize((rows, *self.array.shape[1:]), refcheck=False)
        self.array[self.n:self.n + k] = block
        self.n += k

    def result(self) -> np.ndarray:
        if self.n != len(self.array):
            self.array.resize((self.n, *self.array.shape[1:]), refcheck=False)
        return self.array


# ---- features ----------------------------------------------------------------------------

def _features(rows: list[list[str]], lines: list[int], columns: list[int], names: list[str],
              path: str) -> np.ndarray:
    """The cells ``columns`` of ``rows`` as float32 ``(len(rows), len(columns))``."""
    if len(columns) == 1:
        j = columns[0]
        cells: list[str] = [r[j] for r in rows]
    else:
        cells = list(itertools.chain.from_iterable(map(operator.itemgetter(*columns), rows)))
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None:
        with np.errstate(over="ignore"):
            block = values.astype(np.float32)
        if np.isfinite(block).all():
            return block.reshape(len(rows), len(columns))
    for i, cell in enumerate(cells):  # slow path: says where the bad cell is
        problem = _feature_problem(cell)
        if problem:
            r, c = divmod(i, len(columns))
            raise ValueError(f"{path}, line {lines[r]}, column '{names[columns[c]]}': "
                             f"{problem} ({FEATURE_RULE})")
    raise AssertionError("unreachable: a cell failed to convert but none is bad")


def _feature_problem(cell: str) -> str | None:
    """Why ``cell`` is not a feature value, or None when it is one."""
    what = "an empty value" if not cell.strip() else repr(cell.strip())
    try:
        v = float(cell)
    except ValueError:
        return f"cannot read {what} as a finite number"
    if not np.isfinite(v):
        return f"cannot read {what} as a finite number"
    if abs(v) > _F32_MAX:
        return f"{what} is outside the float32 range (largest {_F32_MAX:.4g})"
    return None


# ---- the target --------------------------------------------------------------------------

class _Target:
    """Accumulates the target column: its numeric value (NaN for text) and a code per
    distinct text, and the first cell of each kind, to decide the task and name cells."""

    def __init__(self, path: str, name: str, capacity: int) -> None:
        self.path, self.name = path, name
        self.values = _Growing(capacity, None, np.float64)
        self.codes: _Growing | None = _Growing(capacity, None, np.int32)
        self.labels: dict[str, int] | None = {}
        self.text = self.numbers = 0
        # (line, cell) of the first text cell, number, fractional number, float32 overflow
        self.first: dict[str, tuple[int, str]] = {}

    def where(self, kind: str) -> str:
        line, cell = self.first[kind]
        return f"{self.path}, line {line}, column '{self.name}': target value {cell!r}"

    def add(self, rows: list[list[str]], lines: list[int], j: int) -> None:
        cells = [r[j].strip() for r in rows]
        if "" in cells:
            i = cells.index("")
            raise ValueError(f"{self.path}, line {lines[i]}, column '{self.name}': empty "
                             "target value (every row needs a target)")
        try:
            values = np.array(cells, dtype=np.float64)
            is_text = None
        except ValueError:
            values, is_text = _numbers_or_nan(cells)
        finite = np.isfinite(values)
        if is_text is not None:
            finite |= is_text
        if not finite.all():
            i = int(np.argmin(finite))
            raise ValueError(f"{self.path}, line {lines[i]}, column '{self.name}': target "
                             f"value {cells[i]!r} is not a finite number (remove the row or "
                             "fill in the value)")
        n_text = 0 if is_text is None else int(is_text.sum())
        self._note("text", n_text, is_text, lines, cells)
        number = None if is_text is None else ~is_text
        self._note("number", len(cells) - n_text, number, lines, cells)
        self.text += n_text
        self.numbers += len(cells) - n_text
        with np.errstate(invalid="ignore"):
            fraction = values != np.floor(values)  # NaN (text) compares unequal: mask it
            huge = np.abs(values) > _F32_MAX
        if is_text is not None:
            fraction &= ~is_text
        self._note("fraction", int(fraction.sum()), fraction, lines, cells)
        self._note("huge", int(huge.sum()), huge, lines, cells)
        self.values.append(values)
        if self.labels is not None and self.codes is not None:
            labels = self.labels
            codes = [labels.setdefault(c, len(labels)) for c in cells]
            if len(labels) > MAX_TEXT_CLASSES:  # numbers need no codes; text this varied is
                self.labels = self.codes = None  # no class label (checked in result)
            else:
                self.codes.append(np.array(codes, np.int32))

    def _note(self, kind: str, count: int, mask: np.ndarray | None, lines: list[int],
              cells: list[str]) -> None:
        if count and kind not in self.first:
            i = 0 if mask is None else int(np.argmax(mask))
            self.first[kind] = (lines[i], cells[i])

    def result(self, task: str) -> tuple[np.ndarray, str, list[Any] | None]:
        """``(y, task, classes)`` under ``task`` (see ``TASK_RULE``)."""
        values = self.values.result()
        n = len(values)
        if self.text and self.numbers:
            if task == "auto":
                if self.text >= self.numbers:
                    few, what, others = "number", "a number", f"{self.text} others are text"
                else:
                    few, what, others = "text", "text", f"{self.numbers} others are numbers"
                raise ValueError(f"{self.where(few)} is {what} but {others}: fix the cell, "
                                 "or name the task (--task classification takes every value "
                                 "as a class label)")
        if self.text and task == "regression":
            raise ValueError(f"{self.where('text')} is text: a regression target must be "
                             "numeric (use --task classification for class labels)")
        if self.text:
            return self._text_classes(n)
        distinct = np.unique(values)
        if len(distinct) == 1:
            raise ValueError(f"{self.path}: target column '{self.name}' has the same value "
                             f"({_label_value(distinct[0])}) in all {n} rows: there is "
                             "nothing to learn; is it the right column?")
        whole = "fraction" not in self.first
        if task == "auto":
            task = ("classification" if whole and len(distinct) <= MAX_AUTO_CLASSES
                    else "regression")
        if task == "regression":
            if "huge" in self.first:
                raise ValueError(f"{self.where('huge')} is outside the float32 range "
                                 f"(largest {_F32_MAX:.4g})")
            return values.astype(np.float32).reshape(-1, 1), task, None
        if not whole:
            raise ValueError(f"{self.where('fraction')} is not a whole number: class labels "
                             "must be whole numbers or text (use --task regression for a "
                             "continuous target)")
        codes = np.searchsorted(distinct, values)
        return codes.astype(np.int64), task, [_label_value(v) for v in distinct]

    def _text_classes(self, n: int) -> tuple[np.ndarray, str, list[Any]]:
        if self.labels is None or self.codes is None:
            raise ValueError(f"{self.path}: target column '{self.name}' has more than "
                             f"{MAX_TEXT_CLASSES} distinct values; that is not a set of "
                             "class labels: is it the right column?")
        names = sorted(self.labels)
        if len(names) == 1:
            raise ValueError(f"{self.path}: target column '{self.name}' has the same value "
                             f"({names[0]!r}) in all {n} rows: there is nothing to learn; is it "
                             "the right column?")
        rank = np.empty(len(names), np.int64)  # first-seen code -> sorted class index
        rank[[self.labels[s] for s in names]] = np.arange(len(names))
        return rank[self.codes.result()], "classification", names


def _numbers_or_nan(cells: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each cell as a float (NaN where it is text) and the mask of text cells."""
    values = np.empty(len(cells))
    text = np.zeros(len(cells), bool)
    for i, cell in enumerate(cells):
        try:
            values[i] = float(cell)
        except ValueError:
            values[i], text[i] = np.nan, True
    return values, text


def _label_value(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _target_index(path: str, names: list[str], target: str | int | None) -> int:
    if target is None:
        return len(names) - 1
    if isinstance(target, int) and not isinstance(target, bool):
        if not -len(names) <= target < len(names):
            raise ValueError(f"{path}: target column index {target} is out of range for "
                             f"{len(names)} columns")
        return target % len(names)
    if target not in names:
        raise ValueError(f"{path}: target column '{target}' not found; available columns: "
                         f"{', '.join(names)}")
    return names.index(target)


# ---- public ------------------------------------------------------------------------------

def load_csv(path: str | os.PathLike, target: str | int | None = None, task: str = "auto",
             delimiter: str = ",",
             header: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Load a CSV file of numeric features and one target column.

    Args:
        path: the CSV file (UTF-8; a byte-order mark and blank lines are ignored).
        target: name (or index) of the target column; default the last column.
        task: ``'classification'``, ``'regression'`` or ``'auto'``, by ``TASK_RULE``: with
            ``'auto'`` an all-text target, or one of whole numbers with at most
            ``MAX_AUTO_CLASSES`` (20) distinct values, is classification; any other numeric
            target is regression; numbers mixed with text are an error.
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
        ValueError: empty file, unknown target column (the message lists the columns), a
            row with the wrong number of values, a feature that is not a finite float32
            number, an empty or non-finite target, a target that does not fit ``task``, or
            one with a single value (each names file, line, column and value).

    Example:
        >>> # X, y, info = load_csv("iris.csv", target="species")
        >>> # info["classes"] -> ['setosa', 'versicolor', 'virginica']
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    with _Rows(path, delimiter, header) as rows:
        names = rows.names
        t = _target_index(rows.path, names, target)
        features = [j for j in range(len(names)) if j != t]
        if not features:
            raise ValueError(f"{rows.path}: only the target column '{names[t]}' was found; "
                             "at least one feature column is needed")
        X = _Growing(rows.capacity, len(features), np.float32)
        y = _Target(rows.path, names[t], rows.capacity)
        for chunk, lines in rows.chunks():
            X.append(_features(chunk, lines, features, names, rows.path))
            y.add(chunk, lines, t)
        if X.n == 0:
            raise ValueError(f"{rows.path}: the file has a header but no data rows")
        X_out = X.result()
        y_out, task, classes = y.result(task)
    info = {
        "path": rows.path,
        "feature_names": [names[j] for j in features],
        "target": names[t],
        "task": task,
        "classes": classes,
        "num_rows": int(len(X_out)),
    }
    return X_out, y_out, info


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
    wanted = list(feature_names)
    if not wanted:
        raise ValueError("feature_names is empty")
    with _Rows(path, delimiter, header) as rows:
        if header:
            missing = [n for n in wanted if n not in rows.names]
            if missing:
                raise ValueError(f"{rows.path}: missing feature column(s) "
                                 f"{', '.join(repr(n) for n in missing)}; the file has "
                                 f"columns {', '.join(rows.names)}")
            index = [rows.names.index(n) for n in wanted]
        else:
            if len(rows.names) != len(wanted):
                raise ValueError(f"{rows.path}: without a header the file must have exactly "
                                 f"{len(wanted)} columns ({', '.join(wanted)}), found "
                                 f"{len(rows.names)}")
            rows.names = wanted
            index = list(range(len(wanted)))
        X = _Growing(rows.capacity, len(index), np.float32)
        for chunk, lines in rows.chunks():
            X.append(_features(chunk, lines, index, rows.names, rows.path))
        if X.n == 0:
            raise ValueError(f"{rows.path}: the file has a header but no data rows")
        return X.result()

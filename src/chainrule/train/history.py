"""``History``: what happened in each epoch of a ``fit`` (losses, metrics, lr, wall time)."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _atomic_write(path: str | os.PathLike, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _json_number(v: Any) -> Any:
    # JSON has no NaN/inf; null keeps the file readable by any parser
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class History:
    """Per-epoch records of a training run, Keras-style: ``history["val_loss"]`` is a list
    with one value per epoch (``None`` where an epoch has no such value).

    Columns: ``epoch`` (1-based), ``loss`` and the training metrics, ``val_*`` for the
    validation set, ``lr`` (the learning rate the epoch started with) and ``time``
    (seconds of wall time the epoch took).

    Example:
        >>> h = History()
        >>> h.append({"epoch": 1, "loss": 0.5, "val_loss": 0.6})
        >>> h["val_loss"], h.best("val_loss")
        ([0.6], (1, 0.6))
    """

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = []
        for r in records or []:
            self.append(r)

    # ---- building -------------------------------------------------------------------
    def append(self, logs: dict[str, Any]) -> None:
        """Add one epoch's logs (scalar values only)."""
        self.records.append({k: (float(v) if isinstance(v, (int, float)) and k != "epoch"
                                 else v) for k, v in logs.items()})

    # ---- reading --------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """Every key seen in any epoch, in first-seen order."""
        seen: dict[str, None] = {}
        for r in self.records:
            for k in r:
                seen.setdefault(k, None)
        return list(seen)

    @property
    def history(self) -> dict[str, list[Any]]:
        """Column name → one value per epoch (Keras' ``History.history``)."""
        return {c: [r.get(c) for r in self.records] for c in self.columns}

    def __getitem__(self, key: str) -> list[Any]:
        if key not in self.columns:
            raise KeyError(f"history has no column {key!r}; it has {self.columns}")
        return [r.get(key) for r in self.records]

    def __contains__(self, key: str) -> bool:
        return key in self.columns

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    @property
    def epochs(self) -> int:
        return len(self.records)

    def last(self, key: str, default: Any = None) -> Any:
        """The latest epoch's value of ``key`` (``default`` when absent)."""
        return self.records[-1].get(key, default) if self.records else default

    def best(self, key: str, mode: str = "auto") -> tuple[int, float]:
        """``(epoch, value)`` of the best epoch for ``key``.

        Args:
            mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy-like names, else min).
        """
        mode = infer_mode(key) if mode == "auto" else mode
        rows = [(r["epoch"], r[key]) for r in self.records
                if r.get(key) is not None and not math.isnan(r[key])]
        if not rows:
            raise KeyError(f"history has no values for {key!r}")
        pick = max if mode == "max" else min
        return pick(rows, key=lambda er: er[1])

    # ---- files ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"records": [{k: _json_number(v) for k, v in r.items()}
                            for r in self.records]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        records = data["records"] if isinstance(data, dict) else data
        return cls([{k: (float("nan") if v is None else v) for k, v in r.items()}
                    for r in records])

    def to_json(self, path: str | os.PathLike) -> None:
        """Write ``{"records": [...]}`` (NaN/inf as null), atomically."""
        _atomic_write(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> History:
        """Read a file written by ``to_json``."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a history JSON file ({err})") from None
        return cls.from_dict(data)

    def to_csv(self, path: str | os.PathLike) -> None:
        """One row per epoch, one column per key (empty where missing), atomically."""
        import io

        buf = io.StringIO()
        cols = self.columns
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in self.records:
            writer.writerow(["" if r.get(c) is None else repr(r[c]) if isinstance(r[c], float)
                             else r[c] for c in cols])
        _atomic_write(path, buf.getvalue())

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> History:
        """Read a file written by ``to_csv`` (numbers back as floats, ``epoch`` as int)."""
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        records = []
        for row in rows:
            rec: dict[str, Any] = {}
            for k, v in row.items():
                if v == "":
                    continue
                try:
                    rec[k] = int(v) if k == "epoch" else float(v)
                except ValueError:
                    rec[k] = v
            records.append(rec)
        return cls(records)

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, columns={self.columns})"

    def _repr_html_(self) -> str:
        """Jupyter's view: one row per epoch (the first 5 and last 10 of a long run) and
        the best epoch of the main validation figure."""
        from chainrule import _html

        if not self.records:
            return _html.paragraph("History: no epochs yet.")
        cols = self.columns
        shown: list[dict[str, Any] | None] = list(self.records)
        if len(shown) > 20:
            shown = shown[:5] + [None] + shown[-10:]
        rows = [[_html_cell(c, r.get(c)) for c in cols] if r is not None else ["…"] * len(cols)
                for r in shown]
        caption = f"History: {len(self)} epoch{'s' if len(self) != 1 else ''}"
        watch = next((k for k in ("val_accuracy", "val_loss", "loss") if k in self), None)
        if watch is not None:
            try:
                epoch, value = self.best(watch)
                caption += f"; best {watch} {value:.4g} (epoch {epoch})"
            except KeyError:
                pass
        return ('<div class="chainrule-history">'
                + _html.table(cols, rows, caption=caption, left=0) + "</div>")


def _html_cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "epoch" or not isinstance(value, float):
        return str(value)
    if key == "time":
        return f"{value:.2f} s"
    return f"{value:.4g}" if key == "lr" else f"{value:.4f}" if abs(value) >= 1e-3 \
        else f"{value:.3g}"


def infer_mode(key: str) -> str:
    """``'max'`` for names where higher is better (accuracy, r2, …), else ``'min'``."""
    k = key.lower()
    return "max" if any(w in k for w in ("acc", "r2", "auc", "f1", "precision", "recall")) \
        else "min"


__all__ = ["History", "infer_mode"]

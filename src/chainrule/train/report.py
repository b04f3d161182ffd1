"""The run report: ``report.html``, one self-contained page a person opens in a browser.

``chainrule train`` writes it into every run folder (``write_report``) and
``chainrule report RUN_DIR`` rebuilds it from the folder's files alone: ``config.json``,
``summary.json``, ``history.json`` and ``model.safetensors`` (the model, for its summary
and the misclassified examples; the test split is reloaded from the recorded data spec
and seed), with the checkpoint's history and monitor samples as fall-backs for runs that
ended before writing those.

The page holds, as far as the run has them: the outcome (and why the run stopped: all
epochs, early stopping, a divergence caught by ``TerminateOnNaN``), loss and metric curves
for train and validation, the learning rate, the confusion matrix and a grid of the
misclassified test images (image classification), the gradient-flow charts and the
monitor's diagnosis (``--monitor``), the model's layers with output shapes and parameter
counts, the data, the configuration, timing and the environment.

Everything is inline: charts are SVG written from the numbers (``chainrule.train.svg``; no
matplotlib needed), images are PNG ``data:`` URIs, there is no script, and a
Content-Security-Policy forbids fetching anything, so the file opens offline and shows
the same everywhere. Every string that comes from data or settings (a CSV column named
``<script>``, a class label) is escaped.
"""

from __future__ import annotations

import base64
import json
import math
import os
import platform
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.train.history import History, _atomic_write
from chainrule.train.svg import Series, bar_chart, esc, fmt, heatmap, line_chart

REPORT_FILE = "report.html"
MAX_EXAMPLES = 32        # misclassified images shown
MAX_MONITOR_POINTS = 200  # gradient-flow samples kept in summary.json (evenly thinned)
MAX_CONFUSION_CLASSES = 60


# ---- what a report is made of ----------------------------------------------------------

@dataclass
class RunRecord:
    """Everything the report shows, gathered from a run folder and/or live objects."""

    folder: Path
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    history: History = field(default_factory=History)
    metadata: dict[str, Any] = field(default_factory=dict)
    model_summary: Any = None           # a ModelSummary, or None
    model_note: str | None = None       # where the summary's model came from, if unusual
    data_info: dict[str, Any] | None = None
    examples: dict[str, Any] | None = None  # misclassified test images
    monitor: dict[str, Any] | None = None   # findings, summary text, series
    environment: dict[str, Any] | None = None
    diverged: str | None = None
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why


def describe_data(data: Any) -> dict[str, Any]:
    """A JSON-safe summary of a run's ``PreparedData``: name, task, split sizes, input
    and image shapes, classes with their counts in the training split (or the target's
    statistics), feature names and the preprocessing, as the report shows it."""
    from chainrule.train.run import _describe_preprocessing

    bundle, meta = data.bundle, data.metadata
    y = np.asarray(data.train[1])
    info: dict[str, Any] = {
        "name": bundle.name, "task": bundle.task,
        "split": {"train": len(data.train[0]), "val": len(data.val[0]),
                  "test": len(data.test[0])},
        "input_shape": [int(d) for d in data.input_shape],
        "image_shape": (None if getattr(bundle, "image_shape", None) is None
                        else [int(d) for d in bundle.image_shape]),
        "num_features": int(bundle.num_features),
        "feature_names": list(meta.get("feature_names") or [])[:200],
        "target": meta.get("target"),
        "num_classes": bundle.num_classes,
        "classes": meta.get("classes"),
        "input_scale": meta.get("input_scale"),
        "preprocessing": _describe_preprocessing(data),
    }
    if bundle.task == "classification" and y.ndim == 1 and bundle.num_classes:
        info["train_class_counts"] = np.bincount(y.astype(np.int64),
                                                 minlength=bundle.num_classes).tolist()
    elif y.size:
        yf = y.astype(np.float64).reshape(len(y), -1)
        info["target_stats"] = {"mean": float(yf.mean()), "sd": float(yf.std()),
                                "min": float(yf.min()), "max": float(yf.max())}
    return info


def monitor_series(samples: list[dict[str, Any]],
                   max_points: int = MAX_MONITOR_POINTS) -> dict[str, Any]:
    """The gradient monitor's samples (``GradientMonitor.state_dict()["samples"]``) as
    per-layer series for charts, thinned evenly to at most ``max_points`` (the last
    sample always kept); non-finite values become ``None``.

    Example:
        >>> s = monitor_series([{"step": 10, "grad_norm": {"0": 0.5}, "update_ratio": {}},
        ...                     {"step": 20, "grad_norm": {"0": None}, "update_ratio": {}}])
        >>> s["steps"], s["grad_norm"]["0"]
        ([10, 20], [0.5, None])
    """
    n = len(samples)
    if n > max_points:
        keep = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
        samples = [samples[i] for i in keep]

    def num(v: Any) -> float | None:
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        return v if math.isfinite(v) else None

    layers: dict[str, None] = {}
    acts: dict[str, None] = {}
    for s in samples:
        layers.update(dict.fromkeys(s.get("grad_norm", {})))
        acts.update(dict.fromkeys(s.get("act", {})))
    series: dict[str, Any] = {"steps": [int(s["step"]) for s in samples],
                              "layers": list(layers), "activations": list(acts)}
    for key in ("grad_norm", "update_ratio", "weight_norm"):
        series[key] = {k: [num(s.get(key, {}).get(k)) for s in samples] for k in layers}
    dead = {k: [num((s.get("act", {}).get(k) or [None] * 3)[2]) for s in samples]
            for k in acts}
    series["dead_fraction"] = {k: v for k, v in dead.items() if any(x is not None for x in v)}
    return series


def run_environment() -> dict[str, Any]:
    """``backend.environment()`` (threads, versions, BLAS, CPU), the update kernels
    (``chainrule.fast.status()``), Python and the OS."""
    from chainrule import fast
    from chainrule.backend import environment

    env = dict(environment())
    env["kernels"] = fast.status()  # numpy, or the compiled path (chainrule.fast)
    env["python"] = platform.python_version()
    env["platform"] = platform.platform(terse=True)
    return env


def summary_extras(data: Any, monitor: Any = None) -> dict[str, Any]:
    """What ``run_training`` adds to ``summary.json`` so that ``chainrule report`` can
    rebuild the report from the folder alone: the data's description, the environment,
    the time the run finished, and the gradient monitor's thinned per-layer series."""
    extras: dict[str, Any] = {"data_summary": describe_data(data),
                              "environment": run_environment(),
                              "finished_at": datetime.now().isoformat(timespec="seconds")}
    if monitor is not None:
        extras["gradient_monitor_series"] = monitor_series(monitor.state_dict()["samples"])
    return extras


# ---- gathering ------------------------------------------------------------------------

def _read_json(path: Path, notes: list[str]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        notes.append(f"{path.name} could not be read: {' '.join(str(err).split())}")
        return None


def _checkpoint_extra(folder: Path, notes: list[str]) -> dict[str, Any]:
    from chainrule import io
    from chainrule.train.run import CHECKPOINT_FILE

    ckpt = folder / CHECKPOINT_FILE
    if not ckpt.exists():
        return {}
    try:
        return dict(io.read_metadata(ckpt))
    except (OSError, ValueError) as err:
        notes.append(f"{CHECKPOINT_FILE} could not be read: {' '.join(str(err).split())}")
        return {}


def _load_data(config: dict[str, Any], notes: list[str]) -> Any:
    """The run's data again (its data spec and seed from config.json), or None."""
    from chainrule.train.config import TrainConfig
    from chainrule.train.run import prepare_data

    try:
        cfg = TrainConfig().updated({k: v for k, v in config.items()
                                     if k in TrainConfig.__dataclass_fields__}, "config.json")
        return prepare_data(cfg)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as err:
        notes.append(f"the run's data ({config.get('data')}) could not be loaded again, so "
                     f"the report has no test examples: {' '.join(str(err).split())}")
        return None


def _misclassified(X: np.ndarray, y: np.ndarray, logits: np.ndarray,
                   image_shape: list[int], classes: list[Any] | None,
                   input_scale: float | None) -> dict[str, Any]:
    """The misclassified test images the model was surest of, as PNG data URIs."""
    logits = np.asarray(logits, np.float64).reshape(len(X), -1)
    if logits.shape[1] == 1:  # one logit: the probability of class 1
        p1 = 1 / (1 + np.exp(-logits[:, 0]))
        probs = np.stack([1 - p1, p1], axis=1)
    else:
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    truth = np.asarray(y).astype(np.int64).reshape(-1)
    wrong = np.flatnonzero(pred != truth)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:MAX_EXAMPLES]
    top = 1 / input_scale if input_scale else None

    def label(k: int) -> str:
        return str(classes[k]) if classes and 0 <= k < len(classes) else str(k)

    items = []
    for i in order:
        img = np.asarray(X[i], np.float64).reshape(image_shape)
        items.append({"index": int(i), "true": label(int(truth[i])),
                      "pred": label(int(pred[i])), "prob": float(probs[i, pred[i]]),
                      "png": png_data_uri(_to_pixels(img, top))})
    return {"count": int(len(wrong)), "total": int(len(X)), "items": items}


def _to_pixels(img: np.ndarray, top: float | None) -> np.ndarray:
    """(C, H, W) values → uint8 (H, W) grey or (H, W, 3) colour, ink dark on light."""
    if img.ndim == 2:
        img = img[None]
    if img.shape[0] not in (1, 3):
        img = img[:1]
    lo, hi = (0.0, top) if top else (float(np.nanmin(img)), float(np.nanmax(img)))
    scaled = np.clip((img - lo) / ((hi - lo) or 1.0), 0, 1)
    scaled = np.nan_to_num(scaled)
    if img.shape[0] == 1:
        return (255 * (1 - scaled[0])).round().astype(np.uint8)  # grey: ink dark
    return (255 * scaled.transpose(1, 2, 0)).round().astype(np.uint8)


def png_data_uri(pixels: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI of a uint8 (H, W) grey or (H, W, 3) image,
    encoded here (zlib and CRC32 from the standard library).

    Example:
        >>> png_data_uri(np.zeros((2, 2), np.uint8))[:30]
        'data:image/png;base64,iVBORw0K'
    """
    a = np.ascontiguousarray(pixels, np.uint8)
    h, w = a.shape[:2]
    colour = 2 if a.ndim == 3 else 0
    rows = b"".join(b"\x00" + a[r].tobytes() for r in range(h))  # filter 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour,
                                                            0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def collect(run_dir: str | os.PathLike, *, model: Any = None, data: Any = None,
            test_logits: Any = None, history: Any = None, monitor: Any = None,
            diverged: str | None = None) -> RunRecord:
    """Gather what the report shows. The live objects of a run that just trained
    (``model``, ``data``, ``test_logits``, ``history``, ``monitor``) are used when given;
    anything missing is read from the folder's files (see the module docstring)."""
    from chainrule.train.run import CONFIG_FILE, MODEL_FILE

    folder = Path(run_dir)
    rec = RunRecord(folder=folder, diverged=diverged)
    notes = rec.notes
    rec.config = _read_json(folder / CONFIG_FILE, notes) or {}
    if diverged is None:
        rec.summary = _read_json(folder / "summary.json", notes)
    extra: dict[str, Any] | None = None

    def ckpt() -> dict[str, Any]:
        nonlocal extra
        if extra is None:
            extra = _checkpoint_extra(folder, notes)
        return extra

    # history: live, else history.json, else the checkpoint's
    if history is not None:
        rec.history = history
    elif (folder / "history.json").is_file():
        try:
            rec.history = History.from_json(folder / "history.json")
        except (OSError, ValueError, KeyError) as err:
            notes.append(f"history.json could not be read: {err}")
    elif ckpt().get("history"):
        rec.history = History.from_dict(ckpt()["history"])
        notes.append("the curves come from the checkpoint (no history.json)")

    # the model, its metadata
    if model is None and (folder / MODEL_FILE).is_file() and diverged is None:
        from chainrule import io

        try:
            model, rec.metadata = io.load_with_metadata(folder / MODEL_FILE)
        except (OSError, ValueError) as err:
            notes.append(f"{MODEL_FILE} could not be loaded: {' '.join(str(err).split())}")
    elif data is not None:
        rec.metadata = dict(data.metadata)

    s = rec.summary or {}
    rec.data_info = s.get("data_summary")
    task = s.get("task") or (rec.data_info or {}).get("task") or rec.metadata.get("task")
    image = (rec.data_info or {}).get("image_shape")
    wants_examples = (task == "classification" and diverged is None
                      and (rec.data_info is None or image is not None))
    if data is None and (rec.data_info is None or wants_examples or model is None) \
            and rec.config:
        data = _load_data(rec.config, notes)
    if data is not None and rec.data_info is None:
        rec.data_info = describe_data(data)
    if data is not None and not rec.metadata:
        rec.metadata = dict(data.metadata)
    if model is None and data is not None and rec.config:
        try:
            from chainrule.train.config import TrainConfig
            from chainrule.train.run import build_run_model

            cfg = TrainConfig().updated({k: v for k, v in rec.config.items()
                                         if k in TrainConfig.__dataclass_fields__}, "config")
            model = build_run_model(cfg, data)
            rec.model_note = ("rebuilt from config.json (the folder has no trained model "
                              "file): the layers and shapes, not trained weights")
        except (ValueError, TypeError, KeyError) as err:
            notes.append(f"the model could not be rebuilt from config.json: {err}")

    # the model's summary with output shapes
    if model is not None:
        shape = (rec.data_info or {}).get("input_shape") or rec.metadata.get("input_shape")
        try:
            rec.model_summary = (model.summary(input_size=(1, *shape)) if shape
                                 else model.summary())
        except (ValueError, TypeError, IndexError) as err:
            notes.append(f"the model's output shapes could not be computed: {err}")
            rec.model_summary = model.summary()

    # misclassified test images
    info = rec.data_info or {}
    if (task == "classification" and diverged is None and info.get("image_shape")
            and data is not None and model is not None):
        X, y = data.test
        if test_logits is None:
            from chainrule.train.inference import predict

            test_logits = predict(model, X)
        rec.examples = _misclassified(X, y, test_logits, info["image_shape"],
                                      info.get("classes"), info.get("input_scale"))

    # the gradient monitor: live, else summary.json, else the checkpoint's samples
    if monitor is not None:
        rec.monitor = {"findings": [_finding(f) for f in monitor.findings],
                       "summary": monitor.summary(),
                       "series": monitor_series(monitor.state_dict()["samples"])}
    elif "gradient_monitor" in s:
        gm = s["gradient_monitor"]
        rec.monitor = {"findings": [{"message": str(f)} for f in gm.get("findings", [])],
                       "summary": gm.get("summary"),
                       "series": s.get("gradient_monitor_series")}
    # older summaries have no series, and an unfinished run has no summary: the
    # checkpoint holds the monitor's samples
    if ((rec.monitor is not None and not rec.monitor.get("series"))
            or (rec.monitor is None and rec.config.get("monitor") and rec.summary is None)):
        for key, state in (ckpt().get("callbacks") or {}).items():
            if key.endswith(":GradientMonitor") and isinstance(state, dict):
                rec.monitor = rec.monitor or {
                    "findings": [{"message": f.get("message", ""), "kind": f.get("kind"),
                                  "step": f.get("step")} for f in state.get("findings", [])],
                    "summary": None}
                rec.monitor["series"] = monitor_series(state.get("samples", []))

    rec.environment = s.get("environment") or (run_environment() if diverged else
                                                 ckpt().get("environment"))
    return rec


def _finding(f: Any) -> dict[str, Any]:
    return {"kind": f.kind, "step": f.step, "layers": list(f.layers), "message": f.message}


# ---- rendering --------------------------------------------------------------------------

CSS = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#f3f4f7;color:#1c2230;
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
header{background:#1c2230;color:#fff;padding:18px 32px 14px}
header h1{margin:0;font-size:22px;font-weight:600}
header .sub{color:#b8c0d0;font-size:13px;margin-top:4px;word-break:break-all}
nav{background:#262e3f;padding:6px 32px;font-size:13px}
nav a{color:#cfe0ff;margin-right:16px;text-decoration:none}
main{max-width:1200px;margin:0 auto;padding:8px 24px 48px}
section{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:16px 20px;
 margin:16px 0}
h2{font-size:17px;margin:0 0 12px}
h3{font-size:14px;margin:14px 0 8px;color:#3a4254}
.banner{padding:10px 14px;border-radius:6px;margin:0 0 14px}
.ok{background:#e7f5ec;border:1px solid #9fd3ae}
.warn{background:#fff5dc;border:1px solid #efc064}
.bad{background:#fdeceb;border:1px solid #efa39b}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
.card{border:1px solid #e2e5eb;border-radius:6px;padding:8px 12px;background:#fafbfc}
.card .v{font-size:22px;font-weight:600}
.card .k{font-size:12px;color:#5a6376}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}
svg.chart{width:100%;height:auto;display:block}
svg.heatmap{margin:0 auto}
table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
th{color:#4a5366;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12.5px}
.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:0 20px}
.kv div{padding:3px 0;border-bottom:1px solid #eceef2;font-size:13px}
.kv .k{color:#4a5366;display:inline-block;min-width:110px}
.kv .changed .k,.kv .changed code{font-weight:700;color:#1c2230}
.mis{display:grid;grid-template-columns:repeat(auto-fill,minmax(96px,1fr));gap:10px}
.mis figure{margin:0;text-align:center;font-size:12px}
.mis img{width:84px;height:84px;image-rendering:pixelated;border:1px solid #c9ced8;
 background:#fff}
.mis .p{color:#b3261e;font-weight:600}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:18px;
 align-items:start}
pre{background:#f6f7f9;border:1px solid #e6e8ec;padding:10px;overflow-x:auto;font-size:12px}
.muted{color:#687186}
ul.findings li{margin:4px 0}
"""

# nothing may be fetched or run: inline styles and data: images only
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _card(value: str, key: str) -> str:
    return f'<div class="card"><div class="v">{esc(value)}</div><div class="k">{esc(key)}' \
           '</div></div>'


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) \
        else str(v)


def _seconds(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    if v < 0.1:
        return f"{v * 1000:.0f} ms"
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min"


def _status(rec: RunRecord) -> str:
    s, cfg = rec.summary, rec.config
    if rec.diverged is not None:
        why = rec.diverged.removeprefix("training diverged: ")
        return (f'<div class="banner bad"><strong>Stopped by TerminateOnNaN: training '
                f'diverged</strong>: {esc(why)}</div>')
    if s is None:
        return ('<div class="banner warn"><strong>This run did not finish</strong>: the folder '
                'has no summary.json (the run was interrupted, or stopped by TerminateOnNaN '
                'when its loss or weights became NaN/Inf). The curves show the epochs its '
                'checkpoint recorded.</div>')
    parts = []
    epochs, planned = s.get("epochs"), s.get("epochs_planned")
    if s.get("stopped_early"):
        text = (f"<strong>Stopped early</strong> by EarlyStopping after epoch {epochs} of "
                f"{planned}: val_loss had not improved for {esc(cfg.get('patience'))} "
                "epochs")
        try:
            best_epoch, best = rec.history.best("val_loss")
            text += (f"; the model holds the weights of epoch {best_epoch}, the best "
                     f"val_loss ({best:.4g})")
        except KeyError:
            pass
        parts.append(('warn', text + "."))
    else:
        parts.append(("ok", f"<strong>Finished</strong>: {epochs} of {planned} epochs in "
                            f"{esc(_seconds(s.get('train_seconds')))}."))
    if s.get("resumed_after_epoch") is not None:
        parts.append(("ok", f"Resumed after epoch {s['resumed_after_epoch']} from the "
                            "checkpoint."))
    losses = [v for v in (rec.history["loss"] if "loss" in rec.history else [])
              if isinstance(v, float)]
    if any(not math.isfinite(v) for v in losses):
        parts.append(("bad", "Some epochs' losses are NaN/Inf: the run was allowed to go on "
                             "(--allow-nonfinite)."))
    kind = "bad" if any(k == "bad" for k, _ in parts) else \
        "warn" if any(k == "warn" for k, _ in parts) else "ok"
    return f'<div class="banner {kind}">' + " ".join(t for _, t in parts) + "</div>"


def _outcome(rec: RunRecord) -> str:
    s = rec.summary or {}
    cards = []
    test = s.get("test") or {}
    task = s.get("task") or (rec.data_info or {}).get("task")
    if task == "classification" and "accuracy" in test:
        cards.append(_card(f"{test['accuracy']:.2%}", "test accuracy"))
    for key in ("r2", "mae"):
        if key in test:
            cards.append(_card(_num(test[key]), f"test {key}"))
    if "loss" in test:
        cards.append(_card(_num(test["loss"]), "test loss" + (" (standardised)"
                                                               if "loss_scale" in s else "")))
    best = s.get("best") or {}
    if best.get("value") is not None:
        v = best["value"]
        shown = f"{v:.2%}" if "acc" in best.get("metric", "") else _num(v)
        cards.append(_card(shown, f"best {best['metric']} (epoch {best.get('epoch')})"))
    epochs = s.get("epochs", len(rec.history))
    planned = s.get("epochs_planned") or rec.config.get("epochs")
    cards.append(_card(f"{epochs} / {planned}" if planned else str(epochs), "epochs"))
    if "train_seconds" in s:
        cards.append(_card(_seconds(s["train_seconds"]), "training time"))
    params = s.get("parameters") or (rec.model_summary.total if rec.model_summary else None)
    if params is not None:
        cards.append(_card(f"{params:,}", "parameters"))
    body = _status(rec) + f'<div class="cards">{"".join(cards)}</div>'
    if rec.notes:
        body += "<h3>Not shown</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in rec.notes) \
            + "</ul>"
    return _section("outcome", "Outcome", body)


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{esc(title)}</h2>{body}</section>'


def _curves(rec: RunRecord) -> str:
    h = rec.history
    if not len(h):
        return _section("curves", "Training curves",
                        '<p class="muted">No epoch was recorded.</p>')
    epochs = h["epoch"] if "epoch" in h else list(range(1, len(h) + 1))
    marks = []
    s = rec.summary or {}
    if s.get("resumed_after_epoch"):
        marks.append((s["resumed_after_epoch"] + 0.5, "resumed"))
    if s.get("stopped_early") and "val_loss" in h:
        try:
            marks.append((h.best("val_loss")[0], "best val_loss (kept)"))
        except KeyError:
            pass
    charts = []
    skip = {"epoch", "lr", "time"}
    keys = [c for c in h.columns if c not in skip and not c.startswith("val_")]
    keys += [c[4:] for c in h.columns if c.startswith("val_") and c[4:] not in keys]
    for key in keys:
        series = []
        if key in h:
            series.append(Series(f"train {key}", epochs, _floats(h[key])))
        if f"val_{key}" in h:
            series.append(Series(f"validation {key}", epochs, _floats(h[f"val_{key}"]),
                                 dashed=True))
        charts.append(line_chart(series, title=key, ylabel=key, vlines=marks))
    if "lr" in h and len({v for v in h["lr"] if v is not None}) > 1:
        charts.append(line_chart([Series("learning rate", epochs, _floats(h["lr"]),
                                         color="#7F3C8D")], title="learning rate",
                                 ylabel="lr", log_y=False))
    if "time" in h:
        charts.append(line_chart([Series("seconds per epoch", epochs, _floats(h["time"]),
                                         color="#999999")], title="time per epoch",
                                 ylabel="seconds", log_y=False, y_zero=True))
    return _section("curves", "Training curves",
                    f'<div class="charts">{"".join(charts)}</div>')


def _floats(values: list[Any]) -> list[float | None]:
    return [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
            for v in values]


def _test_results(rec: RunRecord) -> str:
    s = rec.summary or {}
    test = s.get("test") or {}
    left, right = [], []
    rows = "".join(f"<tr><td>{esc(k)}</td><td class=\"num\">{esc(_num(v, 6))}</td></tr>"
                   for k, v in test.items() if not isinstance(v, (list, dict)))
    if rows:
        left.append(f"<h3>Final metrics (test split)</h3><table>{rows}</table>"
                    + _final_val(s))
    cm = test.get("confusion_matrix")
    if cm and len(cm) <= MAX_CONFUSION_CLASSES:
        classes = (rec.data_info or {}).get("classes") or rec.metadata.get("classes") \
            or list(range(len(cm)))
        labels = [str(c) for c in classes][:len(cm)]
        labels += [str(k) for k in range(len(labels), len(cm))]
        if len(cm) <= 30:
            left.append(_per_class(cm, labels))
        right.append(heatmap(cm, labels, title="confusion matrix (test)")
                     + '<p class="muted">rows: true class, columns: predicted; shade: share '
                     "of the row, counts in the cells.</p>")
    elif cm:
        left.append(f'<p class="muted">The confusion matrix has {len(cm)} classes; '
                    "it is in summary.json.</p>")
    parts = [f"<div>{''.join(col)}</div>" for col in (left, right) if col]
    body = f'<div class="two">{"".join(parts)}</div>' if parts else ""
    if rec.examples is not None:
        ex = rec.examples
        figs = "".join(
            f'<figure><img alt="test example {it["index"]}: true {esc(it["true"])}, '
            f'predicted {esc(it["pred"])}" src="{it["png"]}">'
            f'<figcaption><b>{esc(it["true"])}</b> &rarr; <span class="p">'
            f'{esc(it["pred"])}</span><br><span class="muted">{_percent(it["prob"])} '
            f'&middot; #{it["index"]}</span></figcaption></figure>'
            for it in ex["items"])
        shown = len(ex["items"])
        head = (f"Misclassified test examples: {ex['count']} of {ex['total']}"
                + (f", the {shown} the model was surest of" if ex["count"] > shown else ""))
        body += f"<h3>{esc(head)}</h3>" + (
            '<p class="muted">Under each image: its true label &rarr; the predicted label, '
            "the probability the model gave the predicted label, and the example's index "
            f'in the test split, surest first.</p><div class="mis">{figs}</div>' if figs
            else '<p class="muted">None: every test example is classified correctly.</p>')
    if not body:
        return ""
    return _section("test", "Test results", body)


def _percent(p: float) -> str:
    """``87%``; ``99.7%`` near certainty, where a rounded 100% would be untrue."""
    return f"{p:.0%}" if p < 0.995 else f"{min(p, 0.999):.1%}"


def _per_class(cm: list[list[int]], labels: list[str]) -> str:
    """Precision, recall and support of each class, from the confusion matrix."""
    m = np.asarray(cm, np.float64)
    rows = []
    for k, label in enumerate(labels):
        support, predicted, hit = m[k].sum(), m[:, k].sum(), m[k, k]
        prec = f"{hit / predicted:.3f}" if predicted else "-"
        rec = f"{hit / support:.3f}" if support else "-"
        rows.append(f"<tr><td>{esc(label)}</td><td class=\"num\">{prec}</td>"
                    f"<td class=\"num\">{rec}</td><td class=\"num\">{int(support)}</td></tr>")
    return ("<h3>Per class (test split)</h3><table><tr><th>class</th><th class=\"num\">"
            "precision</th><th class=\"num\">recall</th><th class=\"num\">support</th></tr>"
            + "".join(rows) + "</table>")


def _final_val(s: dict[str, Any]) -> str:
    final = s.get("final") or {}
    if not final:
        return ""
    rows = "".join(f"<tr><td>{esc(k)}</td><td class=\"num\">{esc(_num(v, 6))}</td></tr>"
                   for k, v in final.items())
    return f"<h3>Last epoch (validation split)</h3><table>{rows}</table>"


def _gradient_flow(rec: RunRecord) -> str:
    m = rec.monitor
    if m is None:
        return ""
    findings = m.get("findings") or []
    if findings:
        items = "".join(f"<li>{esc(_finding_text(f))}</li>" for f in findings)
        body = (f'<div class="banner warn"><strong>The gradient monitor found '
                f'{len(findings)} problem(s):</strong><ul class="findings">{items}</ul></div>')
    else:
        body = ('<div class="banner ok"><strong>The gradient monitor found no gradient-flow '
                "problems</strong> (vanishing or exploding gradients, NaN/Inf, dead ReLU "
                "units, stalled learning).</div>")
    series = m.get("series") or {}
    steps = series.get("steps") or []
    charts = []
    kinds = {r["name"]: r["layer"].split("(", 1)[0] for r in
             (rec.model_summary.rows if rec.model_summary is not None else [])}

    def name(layer: str) -> str:
        return f"{layer} ({kinds[layer]})" if layer in kinds else f"layer {layer}"

    if steps:
        layers = series.get("layers", [])
        charts.append(line_chart([Series(name(k), steps, series["grad_norm"][k])
                                  for k in layers], title="gradient norm per layer",
                                 xlabel="step", ylabel="‖∂E/∂w‖", log_y=True))
        ratio = series.get("update_ratio", {})
        if any(v is not None for k in layers for v in ratio.get(k, [])):
            charts.append(line_chart([Series(name(k), steps, ratio.get(k, []))
                                      for k in layers], title="update / weight per layer",
                                     xlabel="step", ylabel="‖Δw‖/‖w‖", log_y=True,
                                     hline=(1e-3, "1e-3: healthy")))
        last = [next((v for v in reversed(series["grad_norm"][k]) if v is not None), None)
                for k in layers]
        charts.append(bar_chart([name(k) for k in layers], last,
                                title=f"gradient norm by depth (last sample, step {steps[-1]})"))
        dead = series.get("dead_fraction") or {}
        if dead:
            charts.append(line_chart([Series(name(k), steps, v) for k, v in dead.items()],
                                     title="dead ReLU units (fraction)", xlabel="step",
                                     ylabel="fraction", log_y=False))
        body += f'<div class="charts">{"".join(charts)}</div>'
    else:
        body += '<p class="muted">No per-layer samples were recorded.</p>'
    if m.get("summary"):
        body += ("<details><summary>The monitor's last sample, per layer</summary>"
                 f"<pre>{esc(m['summary'])}</pre></details>")
    return _section("gradient-flow", "Gradient flow (--monitor)", body)


def _finding_text(f: dict[str, Any]) -> str:
    where = f"step {f['step']}, {f['kind']}: " if f.get("kind") else ""
    return where + str(f.get("message", ""))


def _model(rec: RunRecord) -> str:
    ms = rec.model_summary
    if ms is None:
        return ""
    from chainrule.nn._summary import summary_html

    note = f'<p class="muted">The model was {esc(rec.model_note)}.</p>' if rec.model_note \
        else ""
    spec = rec.config.get("model") or (rec.summary or {}).get("model")
    head = f"<p>Model <code>{esc(spec)}</code>.</p>" if spec else ""
    return _section("model", "Model", head + note + summary_html(ms))


def _data(rec: RunRecord) -> str:
    d = rec.data_info
    if d is None:
        return ""
    split = d.get("split") or {}
    rows = [("data", f"<code>{esc(rec.config.get('data', d.get('name')))}</code> "
                     f"({esc(d.get('name'))})"),
            ("task", esc(d.get("task"))),
            ("samples", esc(", ".join(f"{v:,} {k}" for k, v in split.items()))),
            ("input shape", f"<code>{esc(tuple(d.get('input_shape') or ()))}</code>")]
    if d.get("image_shape"):
        rows.append(("images", f"<code>{esc(tuple(d['image_shape']))}</code> "
                               "(channels, height, width)"))
    if d.get("target"):
        rows.append(("target", f"<code>{esc(d['target'])}</code>"))
    names = d.get("feature_names") or []
    generic = all(str(n) == f"x{i + 1}" for i, n in enumerate(names))
    if names and not generic:
        shown = ", ".join(esc(n) for n in names[:40]) + (
            f", … ({d.get('num_features')} in all)" if len(names) > 40 else "")
        rows.append(("features", shown))
    elif d.get("num_features"):
        rows.append(("features", esc(f"{d['num_features']:,}")))
    rows.append(("preprocessing", esc(d.get("preprocessing", ""))))
    if d.get("target_stats"):
        t = d["target_stats"]
        rows.append(("target (train)", esc(f"mean {fmt(t['mean'])}, sd {fmt(t['sd'])}, "
                                           f"range {fmt(t['min'])} to {fmt(t['max'])}")))
    table = "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + \
        "</table>"
    counts = d.get("train_class_counts")
    chart = ""
    if counts and len(counts) <= MAX_CONFUSION_CLASSES:
        classes = d.get("classes") or list(range(len(counts)))
        chart = bar_chart([f"class {c}" for c in classes][:len(counts)], counts,
                          title="training examples per class", log_x=False)
    return _section("data", "Data", f'<div class="two"><div>{table}</div>'
                                    f"<div>{chart}</div></div>")


def _config(rec: RunRecord) -> str:
    if not rec.config:
        return ""
    from dataclasses import fields

    from chainrule.train.config import TrainConfig

    defaults = {f.name: f.default for f in fields(TrainConfig)}
    items = []
    for k, v in rec.config.items():
        changed = k in defaults and defaults[k] != v
        cls = ' class="changed"' if changed else ""
        items.append(f"<div{cls}><span class=\"k\">{esc(k)}</span> <code>"
                     f"{esc(json.dumps(v))}</code></div>")
    return _section("config", "Configuration",
                    '<p class="muted">From config.json (<code>chainrule train --config '
                    'config.json</code> reruns the run); settings that differ from the '
                    'defaults are in bold.</p><div class="kv">' + "".join(items) + "</div>")


def _environment(rec: RunRecord) -> str:
    s = rec.summary or {}
    rows = []
    for key, label in (("train_seconds", "training"), ("total_seconds", "whole run "
                                                        "(data, training, test, files)")):
        if key in s:
            rows.append((label, _seconds(s[key])))
    times = [v for v in (rec.history["time"] if "time" in rec.history else [])
             if isinstance(v, float) and math.isfinite(v)]
    if times:
        rows.append(("per epoch", f"{sum(times) / len(times):.3f} s on average "
                                  f"({min(times):.3f} to {max(times):.3f})"))
    if s.get("finished_at"):
        rows.append(("finished", s["finished_at"]))
    env = rec.environment or {}
    labels = {"threads": "BLAS threads", "chainrule": "chainrule", "numpy": "NumPy",
              "blas": "BLAS", "machine": "CPU architecture", "kernels": "update kernels",
              "python": "Python", "platform": "platform"}
    for k, v in env.items():
        rows.append((labels.get(k, k), str(v)))
    if not env:
        rows.append(("environment", "not recorded"))
    rows.append(("report written", datetime.now().isoformat(timespec="seconds")))
    table = "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>"
                                for k, v in rows) + "</table>"
    return _section("environment", "Timing and environment", table)


def _files(rec: RunRecord) -> str:
    try:
        entries = sorted(p for p in rec.folder.iterdir() if p.is_file()
                         and not p.name.startswith("."))
    except OSError:
        return ""
    rows = "".join(f"<tr><td><code>{esc(p.name)}</code></td><td class=\"num\">"
                   f"{p.stat().st_size:,} bytes</td></tr>" for p in entries
                   if p.name != REPORT_FILE)
    rows += f"<tr><td><code>{REPORT_FILE}</code></td><td>this page</td></tr>"
    return _section("files", "Files in the run folder", f"<table>{rows}</table>")


def render(rec: RunRecord) -> str:
    """The report page of ``rec`` as HTML5 text."""
    cfg, s = rec.config, rec.summary or {}
    data = cfg.get("data") or s.get("data") or "?"
    model = cfg.get("model") or s.get("model") or "?"
    title = f"chainrule run: {data} · {model}"
    sections = [_outcome(rec), _curves(rec), _test_results(rec), _gradient_flow(rec),
                _model(rec), _data(rec), _config(rec), _environment(rec), _files(rec)]
    nav_items = [("outcome", "Outcome"), ("curves", "Curves"), ("test", "Test results"),
                 ("gradient-flow", "Gradient flow"), ("model", "Model"), ("data", "Data"),
                 ("config", "Configuration"), ("environment", "Environment"),
                 ("files", "Files")]
    body = "".join(sections)
    nav = "".join(f'<a href="#{i}">{t}</a>' for i, t in nav_items if f'id="{i}"' in body)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{esc(title)}</h1><div class=\"sub\">{esc(rec.folder)}</div>"
            f"</header>\n<nav>{nav}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


def build_report(run_dir: str | os.PathLike, **live: Any) -> str:
    """The report of the run in ``run_dir`` as HTML text (see ``write_report``)."""
    return render(collect(run_dir, **live))


def write_report(run_dir: str | os.PathLike, output: str | os.PathLike | None = None,
                 **live: Any) -> Path:
    """Write the run report of ``run_dir`` (default ``run_dir/report.html``, atomically).

    Args:
        run_dir: a run folder of ``chainrule train``.
        output: where to write it instead.
        **live: the live objects of a run that just trained (``model``, ``data``,
            ``test_logits``, ``history``, ``monitor``; ``diverged``: the message of a run
            stopped by ``TerminateOnNaN``), so nothing is computed twice; without them
            everything is read from the folder.

    Returns:
        the path written.

    Example:
        >>> # write_report("runs/digits")  ->  runs/digits/report.html
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    from chainrule.train.run import CONFIG_FILE

    if not (folder / CONFIG_FILE).is_file() and not live:
        raise FileNotFoundError(f"{run_dir} is not a run folder of chainrule train: it has "
                                f"no {CONFIG_FILE}")
    path = Path(output) if output is not None else folder / REPORT_FILE
    _atomic_write(path, build_report(folder, **live))
    return path


__all__ = ["REPORT_FILE", "RunRecord", "build_report", "collect", "describe_data",
           "monitor_series", "png_data_uri", "render", "run_environment", "summary_extras",
           "write_report"]

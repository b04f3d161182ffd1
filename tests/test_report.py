"""The run report (``report.html``): written by ``chainrule train``, rebuilt by
``chainrule report``, self-contained, escaped; its SVG and PNG helpers; the screenshot."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from chainrule.train import TrainConfig, run_training
from chainrule.train.report import monitor_series, png_data_uri
from chainrule.train.run import TrainingDivergedError
from chainrule.train.svg import Series, bar_chart, esc, heatmap, line_chart, nice_ticks

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("outcome", "curves", "test", "gradient-flow", "model", "data", "config",
            "environment", "files")


def chainrule(*args: str | os.PathLike, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("CHAINRULE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


# ---- what a report must be: HTML5, self-contained, escaped ------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
SVG_EMPTY = {"line", "rect", "circle", "polyline", "path"}  # written as <x .../> here


class _Checker(HTMLParser):
    """Collects tags, attribute URLs and nesting errors of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "data") and value:
                self.urls.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_page(html: str) -> _Checker:
    """Assert ``html`` is a whole, balanced HTML5 page that can fetch nothing."""
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert '<meta charset="utf-8">' in html and "Content-Security-Policy" in html
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], checker.stack
    assert "script" not in checker.tags and "link" not in checker.tags
    assert "http://" not in html and "https://" not in html
    for url in checker.urls:  # in-page anchors and inline images only
        assert url.startswith(("#", "data:image/png;base64,")), url[:60]
        assert not url.startswith("//")
    return checker


# ---- a CLI run: CNN on the digits with the gradient monitor -----------------------------

@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "cnn"
    ok(chainrule("train", "--model", "cnn:4", "--epochs", "3", "--monitor", "--no-plots",
                 "-q", "--out", out))
    return out


def test_train_writes_a_report_with_every_section(cnn_run: Path) -> None:
    html = (cnn_run / "report.html").read_text(encoding="utf-8")
    page = check_page(html)
    for ident in SECTIONS:
        assert f'<section id="{ident}">' in html, ident
    summary = json.loads((cnn_run / "summary.json").read_text())
    assert "report.html" in summary["files"]
    # the outcome's numbers are the run's
    assert f"{summary['test']['accuracy']:.2%}" in html
    assert f"{summary['parameters']:,}" in html
    # curves, confusion matrix, gradient-flow charts: inline SVG
    assert html.count("<svg") >= 6 and page.tags.count("polyline") >= 4
    assert "confusion matrix (test)" in html and "gradient norm per layer" in html
    cm = np.array(summary["test"]["confusion_matrix"])
    for count in set(cm.ravel().tolist()) - {0}:
        assert f">{count}</text>" in html
    # the misclassified grid: as many as the confusion matrix has off its diagonal
    wrong, total = int(cm.sum() - np.trace(cm)), int(cm.sum())
    assert f"Misclassified test examples: {wrong} of {total}" in html
    assert html.count('src="data:image/png;base64,') == min(wrong, 32)
    assert html.count("&rarr; <span class=\"p\">") == min(wrong, 32)  # true -> predicted
    # the model's output shapes (Standardize, Conv2d(1, 4), pool, flatten, Linear)
    for shape in ("(1, 1, 8, 8)", "(1, 4, 8, 8)", "(1, 4, 4, 4)", "(1, 64)", "(1, 10)"):
        assert shape in html, shape
    # the monitor's diagnosis, timing and environment
    assert "gradient monitor found" in html and "update / weight per layer" in html
    assert "BLAS threads" in html and "NumPy" in html and np.__version__ in html
    assert "Finished" in html and "3 of 3 epochs" in html


def test_chainrule_report_rebuilds_an_old_run_folder(cnn_run: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(cnn_run, old)
    (old / "report.html").unlink()
    # a summary.json as an older chainrule wrote it: none of the report's own keys
    summary = json.loads((old / "summary.json").read_text())
    for key in ("data_summary", "environment", "finished_at", "gradient_monitor_series"):
        summary.pop(key)
    summary["files"].remove("report.html")
    (old / "summary.json").write_text(json.dumps(summary))
    stdout = ok(chainrule("report", old))
    assert "report.html" in stdout
    html = (old / "report.html").read_text(encoding="utf-8")
    check_page(html)
    for ident in SECTIONS:
        assert f'<section id="{ident}">' in html, ident
    # the data came back from config.json, the monitor's samples from the checkpoint,
    # the environment from the checkpoint
    cm = np.array(summary["test"]["confusion_matrix"])
    assert f"{int(cm.sum() - np.trace(cm))} of {int(cm.sum())}" in html
    assert "1,258 train, 180 val, 359 test" in html
    assert "gradient norm per layer" in html and "(1, 4, 8, 8)" in html
    assert np.__version__ in html
    # -o writes elsewhere; a folder that is not a run is refused in one line
    ok(chainrule("report", old, "-o", tmp_path / "elsewhere.html"))
    assert (tmp_path / "elsewhere.html").read_text(encoding="utf-8").startswith("<!DOCTYPE")
    done = chainrule("report", tmp_path)
    assert done.returncode == 1 and "not a run folder" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# ---- in-process runs: hostile names, regression, early stopping, divergence -------------

def _hostile_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 2))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "<img src=x onerror=alert(1)>", "cat&dog")
    path.write_text('<script>alert(1)</script>,"say ""hi""",kind</td>\n' + "".join(
        f'{a:.4f},{b:.4f},"{lab}"\n' for (a, b), lab in zip(X, labels)), encoding="utf-8")
    return path


def test_strings_from_data_and_settings_are_escaped(tmp_path: Path) -> None:
    data = _hostile_csv(tmp_path / "<b>data&.csv")
    result = run_training(TrainConfig(data=f"csv:{data}", target="kind</td>",
                                      model="mlp:8", epochs=2, plots=False, quiet=True,
                                      out=str(tmp_path / "run")), stream=None)
    html = (result.out_dir / "report.html").read_text(encoding="utf-8")
    page = check_page(html)
    assert "<script>" not in html and "<img src=x" not in html and "<b>data" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the column name, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html     # the class label, as text
    assert "cat&amp;dog" in html and "kind&lt;/td&gt;" in html
    assert "&lt;b&gt;data&amp;.csv" in html
    assert page.tags.count("img") == 0  # tabular data: no image grid
    text = "".join(page.text)
    assert "<script>alert(1)</script>" in text  # shown to the reader as written


def test_regression_report_has_its_metrics_and_no_confusion_matrix(tmp_path: Path) -> None:
    result = run_training(TrainConfig(data="regression", model="linear", epochs=3,
                                      plots=False, quiet=True, out=str(tmp_path / "reg")),
                          stream=None)
    html = (result.out_dir / "report.html").read_text(encoding="utf-8")
    check_page(html)
    assert "confusion matrix" not in html and 'id="gradient-flow"' not in html
    r2 = result.summary["test"]["r2"]
    assert "test r2" in html and f"{r2:.4g}" in html
    assert "target (train)" in html  # the target's statistics in the data section


def test_an_early_stopped_run_says_so(tmp_path: Path) -> None:
    result = run_training(TrainConfig(data="moons", model="mlp:64,64", lr=0.05, epochs=60,
                                      patience=0, plots=False, quiet=True,
                                      out=str(tmp_path / "es")), stream=None)
    assert result.summary["stopped_early"]
    html = (result.out_dir / "report.html").read_text(encoding="utf-8")
    check_page(html)
    epoch = result.history.best("val_loss")[0]
    assert "Stopped early" in html and f"the weights of epoch {epoch}" in html
    assert f"after epoch {result.summary['epochs']} of 60" in html
    assert "best val_loss (kept)" in html  # the mark on the curves


def test_a_diverged_run_leaves_a_report_that_says_why(tmp_path: Path) -> None:
    out = tmp_path / "div"
    with pytest.raises(TrainingDivergedError) as info:
        run_training(TrainConfig(data="moons", model="mlp:16", optimizer="sgd", lr=1e6,
                                 epochs=5, plots=False, quiet=True, monitor=True,
                                 out=str(out)), stream=None)
    assert not (out / "model.safetensors").exists()
    html = (out / "report.html").read_text(encoding="utf-8")
    check_page(html)
    assert "TerminateOnNaN" in html and "diverged" in html
    assert esc(str(info.value).removeprefix("training diverged: ")) in html
    assert "Non-finite values" in html  # the monitor's finding
    assert "output shape" in html       # the model's summary, from the live model


# ---- the building blocks ----------------------------------------------------------------

def test_png_data_uri_is_a_valid_png_of_the_pixels() -> None:
    pixels = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    raw = base64.b64decode(png_data_uri(pixels).split(",", 1)[1])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(raw):
        (n,) = struct.unpack(">I", raw[pos:pos + 4])
        kind, body = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", raw[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = body
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (w, h, depth, colour) == (6, 4, 8, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(4, 7)
    assert (rows[:, 0] == 0).all() and np.array_equal(rows[:, 1:], pixels)
    colour = np.zeros((2, 3, 3), np.uint8)
    assert base64.b64decode(png_data_uri(colour).split(",", 1)[1])[25] == 2  # RGB


def test_svg_charts_escape_and_draw_what_they_are_given() -> None:
    svg = line_chart([Series("<b>train</b>", [1, 2, 3, 4], [1.0, None, 0.5, 0.25]),
                      Series("val & co", [1, 2, 3, 4], [1.2, 0.9, float("nan"), 0.3],
                             dashed=True)], title="a <title>", ylabel="loss")
    assert "<b>" not in svg and "&lt;b&gt;train&lt;/b&gt;" in svg and "val &amp; co" in svg
    assert "a &lt;title&gt;" in svg and "stroke-dasharray" in svg
    # None and NaN break the lines: train is a lone point then a line, val a line then a
    # lone point
    assert svg.count("<polyline") == 2
    assert "(log scale)" not in svg  # a factor of 5: linear
    assert "(log scale)" in line_chart([Series("x", [1, 2], [1.0, 1e-4])], ylabel="y")
    assert "no finite values" in line_chart([Series("x", [1], [float("nan")])])
    cm = heatmap([[5, 1], [0, 7]], ["<a>", "b"], title="cm")
    assert ">5</text>" in cm and ">7</text>" in cm and "&lt;a&gt;" in cm and "<a>" not in cm
    bars = bar_chart(["a", "b"], [1e-3, None], title="t")
    assert "not measured" in bars and "<rect" in bars
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_monitor_series_thins_and_keeps_the_last_sample() -> None:
    samples = [{"step": 10 * i, "grad_norm": {"0": float(i), "2": None},
                "update_ratio": {"0": 1e-3}, "act": {"1": [0.0, 1.0, 0.25]}}
               for i in range(500)]
    s = monitor_series(samples, max_points=50)
    assert len(s["steps"]) == 50 and s["steps"][0] == 0 and s["steps"][-1] == 4990
    assert s["layers"] == ["0", "2"] and s["grad_norm"]["2"] == [None] * 50
    assert s["grad_norm"]["0"][-1] == 499.0 and s["dead_fraction"]["1"][0] == 0.25
    json.dumps(s, allow_nan=False)  # JSON without NaN: summary.json stays standard


# ---- the screenshot ----------------------------------------------------------------------

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_screenshot_script_renders_the_report(tmp_path: Path) -> None:
    result = run_training(TrainConfig(data="digits", model="mlp:16", epochs=2, plots=False,
                                      quiet=True, out=str(tmp_path / "run")), stream=None)
    png = tmp_path / "shot.png"
    done = subprocess.run(["sh", str(ROOT / "scripts" / "screenshot_report.sh"),
                           str(result.out_dir), str(png), "900", "1400"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (900, 1400)
    assert len(data) > 30_000  # a page of charts and tables, not a blank window
    missing = subprocess.run(["sh", str(ROOT / "scripts" / "screenshot_report.sh"),
                              str(tmp_path), str(tmp_path / "x.png")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "chainrule report" in missing.stderr
    assert re.search(r"no report at", missing.stderr)


def test_idx_images_appear_in_the_misclassified_grid(tmp_path: Path) -> None:
    from chainrule.data import load_dataset, write_idx

    # MNIST-style files: the bundled digits, twice the size, 0-255 pixels
    b = load_dataset("digits", seed=0)
    for name, X, y in (("train", b.X_train, b.y_train), ("t10k", b.X_test, b.y_test)):
        images = np.kron(np.rint(X.reshape(-1, 8, 8) * 255), np.ones((1, 2, 2)))
        write_idx(tmp_path / f"{name}-images-idx3-ubyte", images[:300].astype(np.uint8))
        write_idx(tmp_path / f"{name}-labels-idx1-ubyte", y[:300].astype(np.uint8))
    result = run_training(TrainConfig(data=f"idx:{tmp_path}", model="mlp:8", epochs=1,
                                      lr=1e-3, plots=False, quiet=True,
                                      out=str(tmp_path / "run")), stream=None)
    html = (result.out_dir / "report.html").read_text(encoding="utf-8")
    check_page(html)
    cm = np.array(result.summary["test"]["confusion_matrix"])
    wrong = int(cm.sum() - np.trace(cm))
    assert wrong > 0 and f"Misclassified test examples: {wrong} of " in html
    uri = re.search(r'src="(data:image/png;base64,[^"]+)"', html).group(1)
    png = base64.b64decode(uri.split(",", 1)[1])
    assert struct.unpack(">II", png[16:24]) == (16, 16)  # the image's own size
    assert "(1, 16, 16)" in html  # the images' shape in the data section

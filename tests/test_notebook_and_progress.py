"""Notebooks and long work: HTML views (``_repr_html_``) that are valid, escaped and hold
the numbers; progress bars that show where a person watches and nowhere else; the
explainer's HTML as a whole page."""

from __future__ import annotations

import html.parser
import io
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule._progress import in_notebook, progress_bar, tqdm_class
from chainrule.diagnostics import GradientMonitor, check_gradients, explain
from chainrule.losses import cross_entropy
from chainrule.train import History, ProgressBar, Trainer
from helpers import load_example

VOID = {"meta", "br", "hr", "img", "input", "link"}


class _Checker(html.parser.HTMLParser):
    """Fails on a closing tag that does not match the open one; keeps the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> _Checker:
    """Check that ``markup`` is well formed (every element closed, in order)."""
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert checker.stack == [], checker.stack
    return checker


# ---- History ------------------------------------------------------------------------------

def test_history_html_is_a_table_of_the_numbers() -> None:
    h = History()
    for epoch in range(1, 4):
        h.append({"epoch": epoch, "loss": 1.0 / epoch, "val_loss": 1.5 / epoch,
                  "val_accuracy": 0.5 + 0.1 * epoch, "lr": 3e-3, "time": 0.25})
    page = h._repr_html_()
    doc = parse(page)
    text = "".join(doc.text)
    assert doc.tags.count("tr") == 1 + 3 and doc.tags.count("th") == 6
    assert "0.5000" in text and "0.3333" in text and "0.003" in text and "0.25 s" in text
    assert "best val_accuracy 0.8 (epoch 3)" in text


def test_history_html_escapes_names_and_shortens_long_runs() -> None:
    h = History([{"epoch": e, "loss": 0.5, "<b>odd</b>": float(e)} for e in range(1, 41)])
    page = h._repr_html_()
    doc = parse(page)
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt;" in page
    assert doc.tags.count("tr") == 1 + 5 + 1 + 10  # header, first 5, "…", last 10
    assert "…" in "".join(doc.text) and "40 epochs" in "".join(doc.text)
    assert "no epochs" in History()._repr_html_()


# ---- the gradient monitor -----------------------------------------------------------------

def _sampled_monitor(**kwargs: float) -> GradientMonitor:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    monitor = GradientMonitor(model, every=1, verbose=False, **kwargs)
    x, y = cr.randn(16, 4), np.arange(16) % 3
    for step in range(3):
        model.zero_grad()
        cross_entropy(model(x), y).backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad.numpy()
        monitor.step(step)
    return monitor


def test_monitor_html_shows_its_findings_and_the_last_sample() -> None:
    monitor = _sampled_monitor(explode_norm=1e-3)  # any gradient is 'exploding' here
    page = monitor._repr_html_()
    doc = parse(page)
    text = "".join(doc.text)
    assert [f.kind for f in monitor.findings] == ["exploding"]
    assert "exploding (step 0)" in text and "Exploding gradients" in text
    last = monitor.history.grad_norm["2"][-1]
    assert f"{last:.2e}" in text  # the numbers of the text summary
    assert doc.tags.count("table") == 2  # layers, activations
    for row in ("0", "2", "Linear", "ReLU"):
        assert row in doc.text
    assert "'0'" not in page  # messages are escaped (quotes become &#x27;)


def test_monitor_html_before_and_without_findings() -> None:
    assert "nothing sampled" in GradientMonitor(nn.Linear(2, 2))._repr_html_()
    monitor = _sampled_monitor()
    assert "No problems detected." in monitor._repr_html_()
    parse(monitor._repr_html_())


# ---- explain --format html ------------------------------------------------------------------

def test_explain_html_is_a_whole_page(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from chainrule.cli import main

    out = tmp_path / "step.html"
    assert main(["explain", "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    doc = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert doc.tags[:4] == ["html", "head", "meta", "meta"] and "title" in doc.tags
    assert '<meta charset="utf-8">' in page and "<style>" in page
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched
    ex = explain()
    assert page.rstrip() == ex.html.rstrip()
    parse(ex.html_fragment)


# ---- progress bars -------------------------------------------------------------------------

def _deep(n: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [nn.Linear(3, 3), nn.Tanh()]
    return nn.Sequential(*layers)


def test_check_gradients_shows_a_bar_only_when_asked_or_watched(
        capsys: pytest.CaptureFixture) -> None:
    batch = (cr.randn(4, 3), cr.randn(4, 3))
    checks = check_gradients(_deep(), lambda p, t: ((p - t) ** 2).mean(), batch)
    assert all(c.passed for c in checks)
    assert capsys.readouterr().err == ""  # captured stderr is no terminal: no bar
    check_gradients(_deep(), lambda p, t: ((p - t) ** 2).mean(), batch, progress=True)
    err = capsys.readouterr().err
    assert "check_gradients" in err and "element" in err
    assert "48/48" in err or "element/s" in err  # 4 × (9 + 3) elements
    check_gradients(_deep(), lambda p, t: ((p - t) ** 2).mean(), batch, progress=False)
    assert capsys.readouterr().err == ""


def test_experiment_bar_counts_every_planned_step(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_example("experiments/learning_rate")
    stream = io.StringIO()
    bars = []

    def progress(total: int, name: str, enabled: bool):  # noqa: ANN202
        from tqdm.std import tqdm

        bars.append(tqdm(total=total, desc=name, file=stream, disable=not enabled,
                         mininterval=0))
        return bars[-1]

    monkeypatch.setattr(module.U, "progress", progress)
    results = module.run(quick=True)  # silent by default
    assert stream.getvalue() == ""
    results = module.run(quick=True, progress=True)
    bar = bars[-1]
    assert bar.n == bar.total == 150 * len(module.RATES)  # diverged rates skip their rest
    assert "learning_rate" in stream.getvalue() and "lr 100" in stream.getvalue()
    assert results[100.0]["verdict"] == "diverged"


def test_progress_bar_is_silent_unless_wanted() -> None:
    quiet = io.StringIO()
    bar = progress_bar(3, "work", file=quiet)  # not a terminal, not a notebook
    bar.update(3)
    bar.close()
    assert quiet.getvalue() == "" and not in_notebook()
    shown = io.StringIO()
    bar = progress_bar(3, "work", enabled=True, file=shown, mininterval=0)
    bar.update(3)
    bar.close()
    assert "work" in shown.getvalue()


# ---- notebooks: tqdm's widget when it can, its text bar otherwise -------------------------

@pytest.fixture
def fake_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Jupyter kernel as tqdm and chainrule detect one (no Jupyter needed)."""
    shell_class = type("ZMQInteractiveShell", (), {})
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell_class()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("zmqshell"))
    for key in [k for k in __import__("os").environ if k.startswith("SPYDER") or
                k == "QT_API"]:
        monkeypatch.delenv(key)


def test_without_ipywidgets_the_notebook_gets_the_text_bar(fake_notebook: None) -> None:
    import tqdm.notebook
    import tqdm.std

    assert in_notebook()
    if tqdm.notebook.IProgress is None:  # no ipywidgets (as in this test environment)
        assert tqdm_class() is tqdm.std.tqdm
    stream = io.StringIO()  # not a terminal: a bar only because this is a notebook
    X, y = cr.data.make_moons(64, seed=0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no tqdm warning about IProgress either
        Trainer(model, "cross_entropy", cr.optim.SGD(model.parameters(), lr=0.1),
                callbacks=[ProgressBar(stream=stream)]).fit((X, y), epochs=2, batch_size=16)
    text = stream.getvalue()
    assert "epoch 1/2:" in text and "/4 [" in text and "batch/s" in text  # the bar
    assert "epoch 2/2  loss" in text  # and the line per epoch


def test_with_ipywidgets_the_notebook_gets_the_widget(fake_notebook: None,
                                                      monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    import tqdm.notebook

    monkeypatch.setattr(tqdm.notebook, "IProgress", object)  # as if ipywidgets were there
    assert tqdm_class() is tqdm.notebook.tqdm


def test_a_tiny_notebook_runs_when_nbclient_is_installed(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = ("from chainrule.train import History\n"
            "h = History([{'epoch': 1, 'loss': 0.5}])\nh")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=120).execute()
    data = nb.cells[0].outputs[0]["data"]
    assert "0.5000" in data["text/html"] and "<table>" in data["text/html"]

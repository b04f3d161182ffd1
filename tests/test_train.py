"""Trainer: learning outcomes, the step's hook order, callbacks, history files."""

from __future__ import annotations

import io as _io
import math
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset, load_dataset
from chainrule.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
)


def _mlp(n_in: int, n_out: int, width: int = 64, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, width), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_out)]
    return nn.Sequential(*layers)


# ---- learning outcomes ---------------------------------------------------------------------

def test_fit_spirals_reaches_high_validation_accuracy() -> None:
    b = load_dataset("spirals", seed=0)
    cr.manual_seed(0)
    model = _mlp(2, 2, 64, dropout=0.05)
    trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), lr=1e-2),
                      metrics=["accuracy"])
    history = trainer.fit((b.X_train, b.y_train), validation=(b.X_val, b.y_val), epochs=60,
                          batch_size=64)
    assert len(history) == 60
    assert history.last("val_accuracy") >= 0.95, history["val_accuracy"][-5:]
    test = trainer.evaluate((b.X_test, b.y_test))
    assert test["accuracy"] >= 0.95
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert model.training  # fit leaves the model in training mode; evaluate restored it


def test_fit_regression_with_a_dataloader_reaches_high_r2() -> None:
    b = load_dataset("regression", seed=0)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 1))
    loader = DataLoader(TensorDataset(b.X_train, b.y_train), batch_size=32, shuffle=True,
                        seed=0)
    trainer = Trainer(model, "mse", optim.Adam(model.parameters(), lr=1e-2),
                      metrics=["mae", "r2"])
    history = trainer.fit(loader, validation=(b.X_val, b.y_val), epochs=40)
    assert history.last("val_r2") > 0.9, history["val_r2"][-3:]
    pred = trainer.predict(b.X_test)
    assert pred.shape == (len(b.X_test), 1) and pred.dtype == np.float32


def test_metrics_and_loss_are_exact_sample_weighted_means() -> None:
    # 10 samples in batches of 4: 4 + 4 + 2; the epoch loss weights by batch size
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3)).astype(np.float32)
    y = rng.integers(0, 2, 10)
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.0),
                      metrics=["accuracy"])
    seen: list[tuple[float, int]] = []
    trainer.callbacks.append(LambdaCallback(
        on_batch_end=lambda t, step, logs: seen.append((logs["loss"], logs["size"]))))
    history = trainer.fit((X, y), epochs=1, batch_size=4, shuffle=False)
    assert [n for _, n in seen] == [4, 4, 2]
    expected = sum(loss * n for loss, n in seen) / 10
    assert history["loss"][0] == pytest.approx(expected, rel=1e-12)
    # lr 0: the weights never moved, so the epoch's metrics equal a fresh evaluation
    assert trainer.evaluate((X, y))["accuracy"] == history["accuracy"][0]
    assert trainer.evaluate((X, y))["loss"] == pytest.approx(history["loss"][0], rel=1e-6)


# ---- the training step -------------------------------------------------------------------

class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.grad_norms: dict[str, float] = {}

    def on_train_begin(self, trainer):
        self.events.append("train_begin")

    def on_epoch_begin(self, trainer, epoch):
        self.events.append(f"epoch_begin {epoch}")

    def on_after_backward(self, trainer, step):
        self.events.append(f"after_backward {step}")
        self.grad_norms["after_backward"] = _grad_norm(trainer.model)
        self.weights = trainer.model.weight.numpy().copy()

    def on_before_step(self, trainer, step):
        self.events.append(f"before_step {step}")
        self.grad_norms["before_step"] = _grad_norm(trainer.model)
        assert np.array_equal(self.weights, trainer.model.weight.numpy())

    def on_after_step(self, trainer, step):
        self.events.append(f"after_step {step}")
        assert not np.array_equal(self.weights, trainer.model.weight.numpy())

    def on_batch_end(self, trainer, step, logs):
        self.events.append(f"batch_end {step}")

    def on_epoch_end(self, trainer, epoch, logs):
        self.events.append(f"epoch_end {epoch}")

    def on_train_end(self, trainer):
        self.events.append("train_end")


def _grad_norm(model: nn.Module) -> float:
    return math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum())
                         for p in model.parameters()))


def test_step_order_and_clipping_between_backward_and_step() -> None:
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(8, 4)) * 100).astype(np.float32)  # large inputs: large gradients
    y = rng.normal(size=(8, 2)).astype(np.float32)
    cr.manual_seed(0)
    model = nn.Linear(4, 2)
    rec = Recorder()
    trainer = Trainer(model, "mse", optim.SGD(model.parameters(), lr=1e-4), callbacks=[rec],
                      clip_norm=1.0)
    trainer.fit((X, y), epochs=2, batch_size=4, shuffle=False)
    per_step = ["after_backward {s}", "before_step {s}", "after_step {s}", "batch_end {s}"]
    expected = ["train_begin", "epoch_begin 0"]
    expected += [e.format(s=s) for s in (0, 1) for e in per_step] + ["epoch_end 0"]
    expected += ["epoch_begin 1"] + [e.format(s=s) for s in (2, 3) for e in per_step]
    expected += ["epoch_end 1", "train_end"]
    assert rec.events == expected
    assert rec.grad_norms["after_backward"] > 10  # the monitor sees the raw gradient...
    assert rec.grad_norms["before_step"] == pytest.approx(1.0, rel=1e-4)  # ...then clipped
    assert trainer.global_step == 4


def test_a_duck_typed_callback_works_and_a_no_op_subclass_costs_nothing() -> None:
    class Duck:
        calls = 0

        def on_after_step(self, trainer, step):
            Duck.calls += 1

    from chainrule.train.callbacks import implements

    assert not implements(Callback(), "on_batch_end")
    assert implements(Duck(), "on_after_step") and not implements(Duck(), "on_batch_end")
    assert implements(LRSchedulerCallback(optim.StepLR(
        optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0), 1), interval="batch"), "on_after_step")
    cr.manual_seed(0)
    model = nn.Linear(2, 2)
    X, y = np.zeros((6, 2), np.float32), np.zeros(6, np.int64)
    Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
            callbacks=[Duck()]).fit((X, y), epochs=1, batch_size=2)
    assert Duck.calls == 3


def test_gradient_monitor_runs_as_a_callback() -> None:
    diagnostics = pytest.importorskip("chainrule.diagnostics")
    b = load_dataset("moons", seed=0)
    cr.manual_seed(0)
    model = _mlp(2, 2, 16)
    monitor = diagnostics.GradientMonitor(model, every=5)
    trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), lr=1e-2),
                      callbacks=[monitor])
    trainer.fit((b.X_train, b.y_train), epochs=2, batch_size=64)
    assert isinstance(monitor.summary(), str) and monitor.summary()


# ---- callbacks ---------------------------------------------------------------------------

def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    b = load_dataset("moons", seed=0)
    cr.manual_seed(0)
    model = _mlp(2, 2, 64)
    # a learning rate this high makes val_loss wander: the best epoch is not the last
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.5,
                                                        momentum=0.9), metrics=["accuracy"])
    snapshots: dict[int, dict[str, np.ndarray]] = {}
    stopper = EarlyStopping("val_loss", patience=3, restore_best_weights=True)
    trainer.callbacks += [
        LambdaCallback(on_epoch_end=lambda t, e, logs: snapshots.__setitem__(
            e, {k: v.copy() for k, v in t.model.state_dict().items()})),
        stopper]
    history = trainer.fit((b.X_train, b.y_train), validation=(b.X_val, b.y_val), epochs=200,
                          batch_size=32)
    assert stopper.stopped_epoch is not None and len(history) < 200
    best_epoch, best_value = history.best("val_loss")
    assert stopper.best_epoch == best_epoch - 1 and stopper.best == best_value
    assert len(history) == best_epoch + 3 + 1  # patience 3: stop on the 4th bad epoch
    for k, v in model.state_dict().items():
        assert np.array_equal(v, snapshots[stopper.best_epoch][k]), k
    assert trainer.evaluate((b.X_val, b.y_val))["loss"] == pytest.approx(best_value, rel=1e-6)


def test_early_stopping_modes_and_bad_monitor() -> None:
    stop = EarlyStopping("val_accuracy", patience=0)
    assert stop.mode == "max"
    model = nn.Linear(2, 2)
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[EarlyStopping("val_loss")])
    X, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="pass validation data"):
        trainer.fit((X, y), epochs=2)


def test_model_checkpoint_writes_the_best_model(tmp_path: Path) -> None:
    from chainrule import io

    b = load_dataset("moons", seed=0)
    cr.manual_seed(0)
    model = _mlp(2, 2, 16)
    ckpt = ModelCheckpoint(tmp_path / "best.safetensors", monitor="val_accuracy",
                           metadata={"classes": ["a", "b"]})
    trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), lr=1e-2),
                      metrics=["accuracy"], callbacks=[ckpt])
    history = trainer.fit((b.X_train, b.y_train), validation=(b.X_val, b.y_val), epochs=8,
                          batch_size=64)
    loaded, meta = io.load_with_metadata(tmp_path / "best.safetensors")
    best_epoch, best_value = history.best("val_accuracy")
    assert meta["epoch"] == best_epoch and meta["val_accuracy"] == best_value
    assert meta["classes"] == ["a", "b"]
    again = Trainer(loaded, "cross_entropy", None, metrics=["accuracy"])
    assert again.evaluate((b.X_val, b.y_val))["accuracy"] == best_value


def test_scheduler_per_epoch_per_batch_and_plateau() -> None:
    X, y = np.zeros((8, 2), np.float32), np.zeros(8, np.int64)
    cr.manual_seed(0)
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=1.0)
    t = Trainer(model, "cross_entropy", opt, scheduler=optim.StepLR(opt, 1, gamma=0.5))
    h = t.fit((X, y), epochs=3, batch_size=4)
    assert h["lr"] == [1.0, 0.5, 0.25]  # the lr each epoch trained with

    opt = optim.SGD(model.parameters(), lr=1.0)
    t = Trainer(model, "cross_entropy", opt, scheduler=optim.StepLR(opt, 1, gamma=0.5),
                scheduler_interval="batch")
    t.fit((X, y), epochs=2, batch_size=4)  # 4 steps
    assert opt.param_groups[0]["lr"] == pytest.approx(1 / 16)

    opt = optim.SGD(model.parameters(), lr=1.0)
    plateau = optim.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    seen = []
    t = Trainer(model, "cross_entropy", opt, callbacks=[LRSchedulerCallback(plateau)])
    original = plateau.step
    plateau.step = lambda value=None: (seen.append(value), original(value))[1]
    h = t.fit((X, y), validation=(X, y), epochs=2, batch_size=4)
    assert seen == h["val_loss"]
    with pytest.raises(ValueError, match="once per epoch"):
        LRSchedulerCallback(plateau, interval="batch")


def test_progress_bar_lines_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    X, y = np.zeros((8, 2), np.float32), np.zeros(8, np.int64)
    model = nn.Linear(2, 2)
    stream = _io.StringIO()
    Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
            metrics=["accuracy"], callbacks=[ProgressBar(stream=stream)]).fit(
        (X, y), validation=(X, y), epochs=3, batch_size=4)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3")
    assert "val_accuracy" in lines[0]
    quiet = _io.StringIO()
    Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
            callbacks=[ProgressBar(quiet=True, stream=quiet)]).fit((X, y), epochs=2)
    assert quiet.getvalue() == ""
    bar = _io.StringIO()
    Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
            callbacks=[ProgressBar(stream=bar, force_bar=True)]).fit((X, y), epochs=1,
                                                                     batch_size=2)
    assert "epoch 1/1" in bar.getvalue()
    assert capsys.readouterr().err == ""


def test_csv_logger_and_history_files_round_trip(tmp_path: Path) -> None:
    b = load_dataset("moons", seed=0)
    cr.manual_seed(0)
    model = _mlp(2, 2, 16)
    trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), lr=1e-2),
                      metrics=["accuracy", "top1_accuracy"],
                      callbacks=[CSVLogger(tmp_path / "log.csv")])
    history = trainer.fit((b.X_train, b.y_train), validation=(b.X_val, b.y_val), epochs=3,
                          batch_size=128)
    assert history.columns == ["epoch", "loss", "accuracy", "top1_accuracy", "val_loss",
                               "val_accuracy", "val_top1_accuracy", "lr", "time"]
    assert history["accuracy"] == history["top1_accuracy"]
    history.to_json(tmp_path / "h.json")
    history.to_csv(tmp_path / "h.csv")
    assert History.from_json(tmp_path / "h.json").records == history.records
    assert History.from_csv(tmp_path / "h.csv").records == history.records  # floats exact
    assert History.from_csv(tmp_path / "log.csv").records == history.records


def test_history_nan_best_and_errors(tmp_path: Path) -> None:
    h = History([{"epoch": 1, "loss": float("nan"), "val_accuracy": 0.5},
                 {"epoch": 2, "loss": 1.0, "val_accuracy": 0.75},
                 {"epoch": 3, "loss": 2.0}])
    assert h.best("loss") == (2, 1.0) and h.best("val_accuracy") == (2, 0.75)
    h.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    assert math.isnan(back["loss"][0]) and back["val_accuracy"] == [0.5, 0.75, None]
    with pytest.raises(KeyError, match="no column"):
        h["val_loss"]
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="not a history JSON"):
        History.from_json(tmp_path / "bad.json")


# ---- inputs and errors -------------------------------------------------------------------

def test_float64_inputs_train_in_float32_and_predict_batches() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))          # float64 on purpose
    y = (X[:, 0] > 0).astype(np.int32)    # int32 on purpose
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    trainer = Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.5),
                      eval_batch_size=16)
    trainer.fit((X, y), epochs=5, batch_size=10)
    assert model.weight.dtype == np.float32
    out = trainer.predict(X)
    assert out.shape == (50, 2) and out.dtype == np.float32
    assert (out.argmax(1) == y).mean() > 0.8


def test_bad_arguments_raise_clear_errors() -> None:
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unknown loss"):
        Trainer(model, "hinge", opt)
    with pytest.raises(TypeError, match="Module"):
        Trainer("model", "mse", opt)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clip_norm"):
        Trainer(model, "mse", opt, clip_norm=0)
    t = Trainer(model, "cross_entropy", opt)
    with pytest.raises(ValueError, match="X has 3 samples but y has 2"):
        t.fit((np.zeros((3, 2)), np.zeros(2)), epochs=1)
    with pytest.raises(ValueError, match=r"give \(X, y\) arrays or a DataLoader"):
        t.fit((np.zeros((3, 2)),), epochs=1)
    with pytest.raises(ValueError, match="checkpoint_every"):
        t.fit((np.zeros((3, 2)), np.zeros(3)), epochs=1, checkpoint="x", checkpoint_every=0)
    with pytest.raises(ValueError, match="shape"):
        Trainer(model, "mse", opt).fit((np.zeros((4, 2)), np.zeros(4)), epochs=1)

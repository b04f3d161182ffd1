"""The TensorBoard callback: event files read back hold the expected tags, steps and
values, the model graph, and a resumed run continues the step numbers.

The event files are read with a small TFRecord reader below (checksums verified, events
parsed with tensorboardX's protocol buffers); TensorBoard's own reader, with its purge
semantics, is used too when the ``tensorboard`` package is installed.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.train import LambdaCallback, Trainer
from chainrule.train.tensorboard_graph import GraphRecorder

tbx = pytest.importorskip("tensorboardX")
from tensorboardX.proto.event_pb2 import Event, SessionLog  # noqa: E402

from chainrule.train import TensorBoard  # noqa: E402

# ---- reading event files ------------------------------------------------------------------


def _masked_crc(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c

    crc = crc32c(data) & 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_file(path: Path) -> list[Event]:
    """Every event of one TFRecord event file, checksums verified."""
    blob, events, pos = path.read_bytes(), [], 0
    while pos < len(blob):
        header = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        assert crc == _masked_crc(header), f"{path}: bad length checksum at {pos}"
        data = blob[pos + 12:pos + 12 + length]
        (crc,) = struct.unpack("<I", blob[pos + 12 + length:pos + 16 + length])
        assert crc == _masked_crc(data), f"{path}: bad data checksum at {pos}"
        events.append(Event.FromString(data))
        pos += 16 + length
    return events


def event_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("events.out.tfevents.*"))


class Logged:
    """What TensorBoard shows for a folder: scalars, histograms and texts by tag as
    ``[(step, value)]``, with earlier events at steps >= a purge marker's step dropped
    (TensorBoard's rule for a restarted run)."""

    def __init__(self, folder: Path) -> None:
        self.scalars: dict[str, list[tuple[int, float]]] = {}
        self.histograms: dict[str, list[tuple[int, Any]]] = {}
        self.texts: dict[str, list[tuple[int, str]]] = {}
        self.graphs: list[bytes] = []
        self.purges: list[int] = []
        for path in event_files(folder):
            for ev in read_file(path):
                self._add(ev)

    def _add(self, ev: Event) -> None:
        if ev.HasField("session_log") and ev.session_log.status == SessionLog.START:
            self.purges.append(ev.step)
            for table in (self.scalars, self.histograms, self.texts):
                for tag in table:
                    table[tag] = [(s, v) for s, v in table[tag] if s < ev.step]
        if ev.HasField("graph_def"):
            self.graphs.append(ev.graph_def)
        if not ev.HasField("summary"):
            return
        for v in ev.summary.value:
            if v.HasField("simple_value"):
                self.scalars.setdefault(v.tag, []).append((ev.step, v.simple_value))
            elif v.HasField("histo"):
                self.histograms.setdefault(v.tag, []).append((ev.step, v.histo))
            elif v.metadata.plugin_data.plugin_name == "text":
                text = v.tensor.string_val[0].decode("utf-8")
                self.texts.setdefault(v.tag, []).append((ev.step, text))

    def steps(self, tag: str) -> list[int]:
        return [s for s, _ in self.scalars[tag]]

    def values(self, tag: str) -> np.ndarray:
        return np.array([v for _, v in self.scalars[tag]])


# ---- a small run ----------------------------------------------------------------------------

EPOCHS, N, BATCH = 3, 96, 32   # 3 steps per epoch


def _data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    X, y = cr.data.make_moons(N + 48, noise=0.2, seed=0)
    return (X[:N], y[:N]), (X[N:], y[N:])


def _trainer(callbacks: list[Any], seed: int = 0) -> Trainer:
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return Trainer(model, "cross_entropy", opt, metrics=["accuracy"], callbacks=callbacks,
                   scheduler=sched, scheduler_interval="batch")


def test_a_short_run_writes_every_tag_at_the_right_steps(tmp_path: Path) -> None:
    from chainrule.diagnostics import GradientMonitor

    train, val = _data()
    losses: list[float] = []
    rates: list[float] = []
    keep = LambdaCallback(
        on_before_step=lambda tr, step: rates.append(tr.optimizer.param_groups[0]["lr"]),
        on_batch_end=lambda tr, step, logs: losses.append(logs["loss"]))
    monitor = GradientMonitor(every=2, verbose=False)
    board = TensorBoard(tmp_path / "tb", histogram_every=2, config={"lr": 0.1})
    trainer = _trainer([keep, monitor, board])
    history = trainer.fit(train, validation=val, epochs=EPOCHS, batch_size=BATCH)
    steps = EPOCHS * N // BATCH
    log = Logged(tmp_path / "tb")

    # per step: the batch's loss and the rate it was trained with (a per-batch schedule)
    for tag in ("step/loss", "step/lr", "step/accuracy"):
        assert log.steps(tag) == list(range(steps)), tag
    np.testing.assert_allclose(log.values("step/loss"), losses, rtol=1e-6)
    np.testing.assert_allclose(log.values("step/lr"), rates, rtol=1e-6)
    assert rates[0] == 0.1 and rates[2] == 0.05  # the schedule moved during the run
    assert all(0 <= a <= 1 for a in log.values("step/accuracy"))

    # per epoch, at the epoch's last step, equal to the history
    ends = [3 * e + 2 for e in range(EPOCHS)]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert log.steps(f"epoch/{key}") == ends, key
        np.testing.assert_allclose(log.values(f"epoch/{key}"), history[key], rtol=1e-6)
    assert log.values("epoch/number").tolist() == [1.0, 2.0, 3.0]
    assert (log.values("epoch/seconds") > 0).all()
    # the last batch's running accuracy is the epoch's accuracy
    np.testing.assert_allclose(log.values("step/accuracy")[2::3], history["accuracy"],
                               rtol=1e-6)

    # histograms every 2 steps, one per parameter, of every value
    params = dict(trainer.model.named_parameters())
    for name in params:
        for kind in ("weights", "gradients"):
            entries = log.histograms[f"{kind}/{name}"]
            assert [s for s, _ in entries] == list(range(0, steps, 2)), (kind, name)
            assert all(h.num == params[name].numpy().size
                       for _, h in entries)
    _, last = log.histograms["weights/3.weight"][-1]
    w = params["3.weight"].numpy()
    assert last.min == pytest.approx(w.min()) and last.max == pytest.approx(w.max())
    assert sum(last.bucket) == w.size

    # the gradient monitor's samples, per layer, at its own steps
    h = monitor.history
    for layer in ("0", "3"):
        assert log.steps(f"monitor/grad_norm/{layer}") == h.steps.tolist()
        np.testing.assert_allclose(log.values(f"monitor/grad_norm/{layer}"),
                                   h.grad_norm[layer], rtol=1e-6)
        assert log.steps(f"monitor/update_ratio/{layer}") == h.steps.tolist()
    assert "monitor/dead_fraction/1" in log.scalars

    # text: the model summary and the config; the graph; a purge marker at step 0
    (step, summary), = log.texts["model/summary/text_summary"]
    assert step == 0 and "Linear" in summary and "82 parameters" in summary
    assert '| lr | 0.1 |' in log.texts["config/text_summary"][0][1]
    assert len(log.graphs) == 1 and log.purges == [0]


def test_the_graph_has_one_scope_per_layer(tmp_path: Path) -> None:
    from tensorboardX.proto.graph_pb2 import GraphDef

    train, _ = _data()
    trainer = _trainer([TensorBoard(tmp_path, log_every=0, histogram_every=0)])
    trainer.fit(train, epochs=1, batch_size=BATCH)
    graph = GraphDef.FromString(Logged(tmp_path).graphs[0])
    nodes = {n.name: n for n in graph.node}
    assert nodes["0/Linear"].op == "Linear"
    assert list(nodes["0/Linear"].input) == ["batch", "0/weight", "0/bias"]
    assert list(nodes["1/ReLU"].input) == ["0/Linear"]
    assert list(nodes["3/Linear"].input) == ["2/Dropout", "3/weight", "3/bias"]
    dims = [d.size for d in nodes["3/Linear"].attr["_output_shapes"].list.shape[0].dim]
    assert dims == [BATCH, 2]
    assert nodes["0/weight"].op == "Parameter"


def test_graph_tracing_names_ops_after_their_innermost_layer() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Residual(nn.Sequential(nn.Tanh(),
                                                                     nn.Linear(4, 4))))
    found: list[Any] = []
    GraphRecorder(model, found.extend)
    model(cr.randn(5, 3))
    model(cr.randn(5, 3))  # hooks are gone after the first forward
    by_name = {n.name: n for n in found}
    assert len(found) == len(by_name) == 9
    assert by_name["1/fn/0/Tanh"].inputs == ["0/Linear"]
    assert by_name["1/fn/1/Linear"].inputs == ["1/fn/0/Tanh", "1/fn/1/weight", "1/fn/1/bias"]
    # the residual's own op: the sum of its input and its branch
    assert by_name["1/Add"].inputs == ["0/Linear", "1/fn/1/Linear"]
    assert by_name["1/Add"].shape == (5, 4)
    order = [n.name for n in found]
    assert all(order.index(i) < order.index(n.name) for n in found for i in n.inputs)
    assert not model.__dict__["_forward_hooks"]


def test_a_resumed_run_continues_the_steps_and_hides_the_lost_ones(tmp_path: Path) -> None:
    """Run A checkpoints every epoch; a copy of its checkpoint after epoch 2 stands for a
    run killed during epoch 3 (its epoch-3 events already written). B resumes from it into
    the same folder: the steps go on from 6, and what TensorBoard shows equals A's log."""
    from chainrule.diagnostics import GradientMonitor

    train, val = _data()
    ckpt, killed = tmp_path / "run.ckpt", tmp_path / "killed.ckpt"
    grab = LambdaCallback(on_epoch_end=lambda tr, e, logs: e == 2 and shutil.copy(ckpt,
                                                                                  killed))
    folder = tmp_path / "tb"
    a = _trainer([GradientMonitor(every=2, verbose=False), grab,
                  TensorBoard(folder, histogram_every="epoch")])
    a.fit(train, validation=val, epochs=EPOCHS, batch_size=BATCH, checkpoint=ckpt)
    full = Logged(folder)

    b = _trainer([GradientMonitor(every=2, verbose=False), LambdaCallback(),
                  TensorBoard(folder, histogram_every="epoch")], seed=1)
    b.fit(train, validation=val, epochs=EPOCHS, batch_size=BATCH, resume=killed)
    files = event_files(folder)
    assert len(files) == 2
    second = [e for e in read_file(files[1]) if e.HasField("summary")]
    assert min(e.step for e in second) == 6  # nothing before the resume point again
    assert [e.step for e in read_file(files[1])
            if e.session_log.status == SessionLog.START] == [6]

    seen = Logged(folder)
    assert seen.purges == [0, 6]
    assert len(seen.graphs) == 1  # written once per folder
    for tag in ("step/loss", "epoch/loss", "epoch/val_accuracy", "monitor/grad_norm/0"):
        assert seen.steps(tag) == full.steps(tag), tag
        # the resumed run repeats the lost epoch bit for bit
        np.testing.assert_array_equal(seen.values(tag), full.values(tag))
    assert seen.steps("step/loss") == list(range(9))
    assert [s for s, _ in seen.histograms["weights/0.weight"]] == [2, 5, 8]


def test_tensorboard_reader_sees_the_resumed_run(tmp_path: Path) -> None:
    """The same check with TensorBoard's own reader, when installed."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    train, _ = _data()
    ckpt, killed = tmp_path / "run.ckpt", tmp_path / "killed.ckpt"
    grab = LambdaCallback(on_epoch_end=lambda tr, e, logs: e == 2 and shutil.copy(ckpt,
                                                                                  killed))
    _trainer([grab, TensorBoard(tmp_path / "tb")]).fit(
        train, epochs=EPOCHS, batch_size=BATCH, checkpoint=ckpt)
    _trainer([LambdaCallback(), TensorBoard(tmp_path / "tb")]).fit(
        train, epochs=EPOCHS + 1, batch_size=BATCH, resume=killed)
    acc = accumulator.EventAccumulator(str(tmp_path / "tb"),
                                       size_guidance={accumulator.SCALARS: 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("step/loss")] == list(range(12))
    assert [e.step for e in acc.Scalars("epoch/loss")] == [2, 5, 8, 11]
    assert "weights/0.weight" in acc.Tags()["histograms"]
    assert "model/summary/text_summary" in acc.Tags()["tensors"]
    assert len(acc.Graph().node) > 5


def test_switched_off_parts_cost_nothing_per_batch(tmp_path: Path) -> None:
    from chainrule.train.callbacks import implements

    quiet = TensorBoard(tmp_path, log_every=0, histogram_every=0)
    for hook in ("on_batch_end", "on_after_step", "on_before_step", "on_after_backward"):
        assert not implements(quiet, hook), hook
    assert implements(TensorBoard(tmp_path), "on_batch_end")
    assert not implements(TensorBoard(tmp_path), "on_after_step")  # histograms per epoch
    assert implements(TensorBoard(tmp_path, histogram_every=10), "on_after_step")
    for bad in ({"log_every": -1}, {"histogram_every": "often"}, {"histogram_every": 1.5}):
        with pytest.raises(ValueError, match="TensorBoard"):
            TensorBoard(tmp_path, **bad)


def test_without_tensorboardx_the_error_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[tensorboard\]'"):
        TensorBoard(tmp_path)


def test_cli_tensorboard_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from chainrule.cli import main

    run = tmp_path / "run"
    args = ["--data", "moons", "--model", "mlp:8", "--batch-size", "100", "--scheduler",
            "none", "--no-plots", "-q"]
    assert main(["train", *args, "--epochs", "2", "--out", str(run), "--tensorboard"]) == 0
    out = capsys.readouterr().out
    assert f"events  {run / 'tensorboard'}" in out
    first = Logged(run / "tensorboard")
    per_epoch = len(first.steps("step/loss")) // 2
    assert "tensorboard" not in (run / "config.json").read_text()  # a runtime setting

    # resumed without the flag: a note says where it logged; nothing is written
    assert main(["train", "--resume", str(run), "--epochs", "3", "-q"]) == 0
    assert f"--tensorboard {run / 'tensorboard'}" in capsys.readouterr().out
    assert len(event_files(run / "tensorboard")) == 1
    # resumed with it: the steps go on where the checkpoint stands
    assert main(["train", "--resume", str(run), "--epochs", "4", "-q",
                 "--tensorboard", str(run / "tensorboard")]) == 0
    seen = Logged(run / "tensorboard")
    assert seen.purges == [0, 3 * per_epoch]
    assert seen.steps("epoch/loss") == [per_epoch - 1, 2 * per_epoch - 1,
                                        4 * per_epoch - 1]  # epoch 3 was not logged
    assert seen.steps("step/loss")[-per_epoch:] == list(range(3 * per_epoch,
                                                               4 * per_epoch))


def test_record_checksums_match_tensorboardx() -> None:
    from tensorboardX.crc32c import crc32c as reference

    from chainrule.train.tfrecord import crc32c

    rng = np.random.default_rng(0)
    for n in [*range(0, 70), 200, 1000, 4095, 4096, 9000]:  # both code paths, both ends
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c(data) == reference(data), n


def test_a_model_that_cannot_be_traced_still_trains_and_is_described(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.train import tensorboard_graph

    def broken(model: Any, calls: Any) -> Any:
        raise RuntimeError("an op this tracer does not know")

    monkeypatch.setattr(tensorboard_graph, "trace", broken)
    train, _ = _data()
    with pytest.warns(RuntimeWarning, match="could not trace the model graph"):
        history = _trainer([TensorBoard(tmp_path)]).fit(train, epochs=2, batch_size=BATCH)
    log = Logged(tmp_path)
    assert len(history) == 2 and log.graphs == []
    assert "Sequential" in log.texts["model/summary/text_summary"][0][1]
    assert log.steps("epoch/loss") == [2, 5]

"""chainrule.distributed in one process (no MPI needed): the process-group API, the
``DistributedSampler``, post-accumulate-grad hooks, the gradient buckets (against a fake
two-rank group), ``SyncBatchNorm`` (gradient check, PyTorch comparison, a simulated second
rank), ``DistributedDataParallel`` and ``Trainer(distributed=True)`` with one process.

The real 2-rank jobs are in ``test_distributed_mpi.py``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn, optim
from chainrule.data import DataLoader, DistributedSampler, TensorDataset
from chainrule.distributed.ddp import GradientReducer, make_buckets
from chainrule.distributed.group import Group, Work
from chainrule.ops.normalization import sync_batch_norm
from chainrule.train import Trainer
from helpers import check_grads


@pytest.fixture
def local_group():
    dist.init_process_group("local")
    yield
    dist.destroy_process_group()


# ---- the process group -----------------------------------------------------------------------

def test_local_group_api(local_group):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "local" and dist.is_main_process()
    t = cr.tensor([1.0, 4.0])
    assert dist.all_reduce(t, op=dist.ReduceOp.AVG) is None
    np.testing.assert_array_equal(t, [1.0, 4.0])
    work = dist.all_reduce(t, async_op=True)
    assert work.wait() and work.is_completed()
    dist.broadcast(t, src=0)
    dist.barrier()
    a = np.arange(6.0).reshape(2, 3).T  # not contiguous: reduced through a copy
    dist.all_reduce(a)
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3).T)
    with pytest.raises(ValueError, match="unknown reduce op"):
        dist.all_reduce(t, op="mean")
    with pytest.raises(ValueError, match="only rank 0"):
        dist.broadcast(t, src=1)
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group("local")


def test_without_a_group_the_errors_say_what_to_do():
    assert not dist.is_initialized() and dist.is_main_process()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="'mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="world_size=4"):
        dist.init_process_group("local", world_size=4)
    assert not dist.is_initialized()
    dist.destroy_process_group()  # a no-op without a group


def test_json_collectives_of_the_local_group():
    g = dist.group.LocalGroup()
    assert g.gather_json({"a": [1, 2]}) == [{"a": [1, 2]}]
    assert g.bcast_json([3, "x"]) == [3, "x"]
    arrays = [np.ones(3, np.float32), np.zeros((2, 2)), np.array(5)]
    g.bcast_arrays(arrays)
    assert arrays[2] == 5


# ---- DistributedSampler --------------------------------------------------------------------

@pytest.mark.parametrize("n, ranks, drop_last", [(10, 3, False), (10, 3, True), (8, 4, False),
                                                 (3, 4, False)])
def test_sampler_shards_are_disjoint_and_cover_the_epoch(n, ranks, drop_last):
    data = range(n)
    shards = [list(DistributedSampler(data, ranks, r, seed=7, drop_last=drop_last))
              for r in range(ranks)]
    assert len({len(s) for s in shards}) == 1  # every rank takes as many steps
    assert all(len(s) == len(DistributedSampler(data, ranks, 0, drop_last=drop_last))
               for s in shards)
    together = sum(shards, [])
    if drop_last:
        assert len(together) == len(set(together)) == n - n % ranks
    else:
        assert set(together) == set(range(n))  # all covered, a few padded twice
        assert len(together) == -(-n // ranks) * ranks
    if n % ranks == 0:
        assert sorted(together) == list(range(n))


def test_sampler_order_depends_on_seed_and_epoch_only():
    a, b = DistributedSampler(range(50), 2, 0, seed=3), DistributedSampler(range(50), 2, 0,
                                                                           seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(list(a) + list(DistributedSampler(
        range(50), 2, 1, seed=3))) != []
    other = DistributedSampler(range(50), 2, 1, seed=3)
    other.set_epoch(1)
    assert sorted(list(a) + list(other)) == list(range(50))
    assert list(DistributedSampler(range(50), 2, 0, seed=4)) != first
    assert a.state_dict()["epoch"] == 1


def test_sampler_checks_its_arguments():
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedSampler(range(4))
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    s = DistributedSampler(range(4), 2, 0, seed=1)
    with pytest.raises(ValueError, match="seed"):
        s.load_state_dict({"epoch": 0, "seed": 2, "num_replicas": 2})


def test_sampler_takes_the_group_by_default(local_group):
    s = DistributedSampler(range(5))
    assert (s.num_replicas, s.rank, len(s)) == (1, 0, 5)


def test_loader_with_distributed_sampler_resumes_mid_epoch():
    data = TensorDataset(np.arange(40.0, dtype=np.float32))

    def loader():
        return DataLoader(data, batch_size=3, sampler=DistributedSampler(data, 2, 1, seed=5))

    whole = loader()
    whole.sampler.set_epoch(2)
    expected = [xb.numpy().tolist() for (xb,) in whole]
    cut = loader()
    cut.sampler.set_epoch(2)
    it = iter(cut)
    got = [next(it)[0].numpy().tolist() for _ in range(3)]
    state = cut.state_dict()
    again = loader()
    again.load_state_dict(state)
    got += [xb.numpy().tolist() for (xb,) in again]
    assert got == expected and again.sampler.epoch == 2


def test_sampler_matches_torch_without_shuffle():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    for n, ranks, drop in [(10, 3, False), (10, 3, True), (3, 4, False)]:
        for r in range(ranks):
            ours = DistributedSampler(range(n), ranks, r, shuffle=False, drop_last=drop)
            theirs = TorchSampler(range(n), ranks, r, shuffle=False, drop_last=drop)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert torch is not None


def test_trainer_sets_the_epoch_of_the_loaders_sampler():
    data = TensorDataset(np.arange(12.0, dtype=np.float32)[:, None],
                         np.zeros(12, np.int64))
    sampler = DistributedSampler(data, 1, 0, seed=0)
    seen = []

    class Record(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 2)

        def forward(self, x):
            seen.append(x.numpy()[:, 0].tolist())
            return self.lin(x)

    model = Record()
    Trainer(model, "cross_entropy", optim.SGD(model.parameters(), 0.1)).fit(
        DataLoader(data, batch_size=12, sampler=sampler), epochs=2)
    assert sampler.epoch == 1 and seen[0] != seen[1] and sorted(seen[0]) == sorted(seen[1])


# ---- post-accumulate-grad hooks and queued callbacks ---------------------------------------

def test_post_accumulate_hooks_run_when_the_leaf_is_complete():
    events = []
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(
            lambda t, name=name: events.append((name, t.grad.numpy().copy())))
    x = cr.randn(5, 3)
    h = model[0](x)
    h.register_hook(lambda g: events.append(("h", None)))  # backward reaching layer 0
    (model[2](model[1](h)) * 2).sum().backward()
    names = [e[0] for e in events]
    # the last layer's parameters are complete, and their hooks run, before backward has
    # even reached the first layer's output
    assert names.index("2.weight") < names.index("h") < names.index("0.weight")
    assert sorted(names) == sorted(["0.weight", "0.bias", "2.weight", "2.bias", "h"])
    for name, grad in events:
        if grad is not None:
            np.testing.assert_array_equal(grad, dict(model.named_parameters())[name].grad)


def test_post_accumulate_hook_sees_the_sum_over_uses_and_can_be_removed():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.tolist()))
    (w * w + w * 3).sum().backward()  # three uses of w
    assert calls == [[5.0, 7.0]]
    (w * 1).sum().backward()  # accumulates: the hook sees the new total
    assert calls[-1] == [6.0, 8.0]
    cr.autograd.backward((w * 2).sum(), inputs=[w])
    assert calls[-1] == [8.0, 10.0]
    handle.remove()
    (w * 1).sum().backward()
    assert len(calls) == 3
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        cr.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)


def test_queued_callback_runs_after_every_grad_is_stored():
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([2.0], requires_grad=True)
    seen = []
    a.register_post_accumulate_grad_hook(
        lambda t: cr.autograd.queue_callback(lambda: seen.append(b.grad.tolist())))
    (a * b).sum().backward()
    assert seen == [[1.0]]
    with pytest.raises(RuntimeError, match="during backward"):
        cr.autograd.queue_callback(lambda: None)


# ---- buckets and the gradient reducer (against a fake second rank) ------------------------------

class TwinGroup(Group):
    """Two ranks where the other one always holds the same numbers: a sum doubles.
    Records when each allreduce starts."""

    backend, rank, size = "twin", 0, 2

    def __init__(self):
        self.started: list[int] = []

    def iallreduce(self, arr, op="sum"):
        self.started.append(arr.size)
        arr *= 2
        return Work()

    def allreduce(self, arr, op="sum"):
        arr *= 2


def test_buckets_take_parameters_last_first_and_split_by_size_and_dtype():
    ps = [cr.zeros(n, requires_grad=True) for n in (10, 300, 300, 20)]  # float32: 4 B each
    assert [[p.numel() for p in b] for b in make_buckets(ps, cap_mb=0.002, first_mb=0.0001)
            ] == [[20, 300], [300, 10]]
    assert len(make_buckets(ps, cap_mb=25)) == 1
    mixed = [cr.zeros(4, requires_grad=True), cr.zeros(4, dtype=cr.float64, requires_grad=True)]
    assert [[p.dtype for p in b] for b in make_buckets(mixed, 25)] == [[np.float64],
                                                                     [np.float32]]


def test_reducer_starts_buckets_during_backward_and_averages():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 3), nn.Linear(3, 3))
    group = TwinGroup()
    reducer = GradientReducer(model.parameters(), group, bucket_cap_mb=0.01)
    assert len(reducer.buckets) >= 2
    launched_during = []
    first = model[0].weight  # the last gradient backward produces
    first.register_post_accumulate_grad_hook(lambda t: launched_during.append(
        len(group.started)))
    loss = model(cr.randn(4, 8)).sum()
    # the gradients one process gets, for comparison
    grads = cr.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    expected = {id(p): g.numpy() for p, g in zip(model.parameters(), grads)}
    loss.backward()
    # buckets of later layers started before the first layer's gradient was complete
    assert launched_during and launched_during[0] >= 1
    assert len(group.started) == len(reducer.buckets)
    for p in model.parameters():  # (g + g) / 2 == g
        np.testing.assert_array_equal(p.grad, expected[id(p)])
    assert reducer.comm_seconds >= 0


def test_reducer_zero_fills_unused_parameters_and_honours_no_sync():
    model = nn.ModuleDict({"used": nn.Linear(2, 2), "unused": nn.Linear(2, 2)})
    group = TwinGroup()
    reducer = GradientReducer(model.parameters(), group)
    model["used"](cr.ones(1, 2)).sum().backward()
    assert not np.any(model["unused"].weight.grad.numpy())
    started = len(group.started)
    with reducer.no_sync():
        model["used"](cr.ones(1, 2)).sum().backward()
    assert len(group.started) == started  # no allreduce inside no_sync
    np.testing.assert_array_equal(model["used"].bias.grad, [2.0, 2.0])
    reducer.remove()


def test_ddp_wrapper_in_a_one_process_group(local_group):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ddp = dist.DistributedDataParallel(model)
    x = cr.randn(6, 3)
    out = ddp(x)
    np.testing.assert_array_equal(out, model(x))
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    out.sum().backward()
    assert model[0].weight.grad is not None
    with ddp.no_sync():
        pass
    ddp.finish_gradient_sync()
    with pytest.raises(ValueError, match="device_ids"):
        dist.DistributedDataParallel(model, device_ids=[0])
    assert cr.nn.parallel.DistributedDataParallel is dist.DistributedDataParallel


def test_ddp_needs_a_group():
    with pytest.raises(ValueError, match="init_process_group"):
        dist.DistributedDataParallel(nn.Linear(2, 2))


# ---- SyncBatchNorm -------------------------------------------------------------------------------

def _identity(a):
    return None


def test_sync_batch_norm_gradcheck_float64():
    cr.manual_seed(1)
    x = cr.randn(6, 3, 2, dtype=cr.float64, requires_grad=True)
    w = cr.randn(3, dtype=cr.float64, requires_grad=True)
    b = cr.randn(3, dtype=cr.float64, requires_grad=True)
    k = cr.randn(6, 3, 2, dtype=cr.float64)

    def f():
        return (sync_batch_norm(x, None, None, w, b, 0.1, 1e-5, _identity) * k).sum()

    check_grads(f, [x, w, b], rtol=1e-5, atol=1e-8)


def test_sync_batch_norm_with_a_simulated_second_rank():
    """The other rank holds the same batch (its sums equal ours: the allreduce doubles):
    the result must be BatchNorm over the batch twice, and the input gradient that of the
    sum of both ranks' losses."""
    cr.manual_seed(2)
    x = cr.randn(5, 3, dtype=cr.float64, requires_grad=True)
    w = cr.randn(3, dtype=cr.float64, requires_grad=True)
    k = cr.randn(5, 3, dtype=cr.float64)
    rm, rv = np.zeros(3), np.ones(3)

    def twin(a):
        a *= 2

    out = sync_batch_norm(x, rm, rv, w, None, 0.1, 1e-5, twin)
    (out * k).sum().backward()

    x2 = cr.tensor(np.concatenate([x.numpy(), x.numpy()]), requires_grad=True)
    w2 = cr.tensor(w.numpy().copy(), requires_grad=True)
    rm2, rv2 = np.zeros(3), np.ones(3)
    out2 = cr.nn.functional.batch_norm(x2, rm2, rv2, w2, None, True, 0.1, 1e-5)
    (out2 * cr.tensor(np.concatenate([k.numpy(), k.numpy()]))).sum().backward()
    np.testing.assert_allclose(out.numpy(), out2.numpy()[:5], rtol=1e-12)
    np.testing.assert_allclose(x.grad, x2.grad.numpy()[:5], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(2 * w.grad.numpy(), w2.grad, rtol=1e-12)  # local: half of it
    np.testing.assert_allclose(rm, rm2, rtol=1e-12)
    np.testing.assert_allclose(rv, rv2, rtol=1e-12)


def test_sync_batch_norm_without_a_group_is_batch_norm():
    cr.manual_seed(4)
    bn = nn.BatchNorm2d(3)
    sbn = nn.SyncBatchNorm(3)
    x = cr.randn(4, 3, 2, 2)
    np.testing.assert_array_equal(sbn(x), bn(x))
    np.testing.assert_array_equal(sbn.running_var, bn.running_var)
    with pytest.raises(ValueError, match="process_group"):
        nn.SyncBatchNorm(3, process_group=object())


def test_sync_batch_norm_in_a_one_rank_group_matches_torch(local_group):
    torch = pytest.importorskip("torch")
    cr.manual_seed(5)
    x = np.random.default_rng(0).normal(size=(6, 4, 3))
    ours = nn.SyncBatchNorm(4, dtype=cr.float64)
    theirs = torch.nn.BatchNorm1d(4, dtype=torch.float64)
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    k = np.random.default_rng(1).normal(size=x.shape)
    (theirs(xt) * torch.tensor(k)).sum().backward()
    (ours(xc) * k).sum().backward()
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_order():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2),
                          nn.Sequential(nn.Flatten(), nn.BatchNorm1d(8, affine=False)))
    model.eval()
    before = list(model.parameters())
    stats = model[1].running_mean
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model and [type(m).__name__ for m in model.modules()] == [
        "Sequential", "Conv2d", "SyncBatchNorm", "Sequential", "Flatten", "SyncBatchNorm"]
    assert all(a is b for a, b in zip(before, model.parameters()))
    assert model[1].running_mean is stats and not model[1].training
    assert model[2][1].weight is None
    alone = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3))
    assert type(alone) is nn.SyncBatchNorm
    spec = cr.io.to_spec(model)  # a model file can hold it
    assert "SyncBatchNorm" in str(spec)


# ---- the Trainer with one process ---------------------------------------------------------------

def _fit(distributed: bool):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 2))
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    trainer = Trainer(model, "cross_entropy", optim.Adam(model.parameters(), 1e-2),
                      metrics=["accuracy"], distributed=distributed)
    history = trainer.fit((X, y), validation=(X, y), epochs=3, batch_size=8)
    return model, history, trainer


def test_trainer_distributed_with_one_process_is_the_plain_trainer(local_group):
    model, history, trainer = _fit(True)
    assert (trainer.rank, trainer.world_size, trainer.is_main_process) == (0, 1, True)
    plain, plain_history, _ = _fit(False)
    for a, b in zip(model.parameters(), plain.parameters()):
        np.testing.assert_array_equal(a, b)
    assert [r["loss"] for r in history] == [r["loss"] for r in plain_history]


def test_distributed_without_mpi4py_says_how_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    assert not dist.is_mpi_available()
    with pytest.raises(ImportError, match=r'pip install "chainrule\[mpi\]"'):
        Trainer(nn.Linear(2, 2), "mse", optim.SGD(nn.Linear(2, 2).parameters(), 0.1),
                distributed=True)
    from chainrule.cli import main

    assert main(["train", "--distributed", "--data", "xor", "--epochs", "1",
                 "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mpi4py" in err and "chainrule[mpi]" in err
    assert not (tmp_path / "run").exists()


def test_sync_batch_norm_exports_to_onnx_as_batch_norm(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    cr.manual_seed(6)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(
        nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU()))
    model(cr.randn(8, 3))  # running statistics away from 0 and 1
    model.eval()
    path = tmp_path / "m.onnx"
    cr.io.export_onnx(model, cr.randn(2, 3), path)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    session = ort.InferenceSession(str(path))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model(cr.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_ranks_with_different_numbers_of_steps_are_refused():
    from chainrule.distributed.training import TrainerSync

    class OtherRankHasFive(Group):
        size = 2

        def allreduce(self, arr, op="sum"):
            assert op == "max"
            np.maximum(arr, [5.0, -5.0], out=arr)

    sync = TrainerSync.__new__(TrainerSync)
    sync.group = OtherRankHasFive()
    sync.check_steps(5)
    with pytest.raises(ValueError, match="4 to 5 batches per epoch.*DistributedSampler"):
        sync.check_steps(4)


def test_benchmark_scaling_model():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks",
                        "distributed.py")
    spec = importlib.util.spec_from_file_location("chainrule_bench_distributed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.ring_seconds(1e6, 1, 1e9, 1e-5) == 0
    # 2 ranks: each sends and receives half the gradient twice, plus two latencies
    assert bench.ring_seconds(1e6, 2, 1e9, 1e-5) == pytest.approx(2e-5 + 1e-3)
    # bandwidth term tends to 2 G / beta: many ranks cost little more than a few
    assert bench.ring_seconds(1e6, 1000, 1e9, 0) < 2e-3
    lines = bench.scaling_table("m", 2e6, 0.01)
    assert len(lines) == 2 + len(bench.LINKS) and "1 GbE" in lines[2]


def test_sync_batch_norm_flag_needs_batch_norm_and_is_plain_batch_norm_alone(tmp_path, capsys):
    from chainrule.cli import main

    base = ["train", "--data", "moons", "--model", "mlp:16", "--epochs", "2", "--quiet",
            "--no-plots"]
    assert main([*base, "--sync-batch-norm", "--out", str(tmp_path / "x")]) != 0
    assert "needs batch_norm (--batch-norm)" in capsys.readouterr().err
    assert not (tmp_path / "x" / "model.safetensors").exists()
    # one process reduces over itself: the same run as BatchNorm's
    assert main([*base, "--batch-norm", "--out", str(tmp_path / "bn")]) == 0
    assert main([*base, "--batch-norm", "--sync-batch-norm", "--out", str(tmp_path / "sync")]
                ) == 0
    summaries = [json.loads((tmp_path / name / "summary.json").read_text())
                 for name in ("bn", "sync")]
    assert summaries[0]["test"] == summaries[1]["test"]

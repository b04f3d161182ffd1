"""Files are checked before they are trusted (issue 11): a run never silently lies, loses
work or overwrites it.

Crafted files (huge declared layers, hostile headers, deep JSON), damage (bit flips),
wrong dtypes and NaN weights, damaged checkpoint state, ``chainrule info`` on files that
do not load, temporary files of killed writers, and full disks — each ends in the right
result or one clear line naming the file, through the library and through the CLI.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy

import chainrule as cr
from chainrule import nn
from chainrule.io import (
    ModelFileError,
    UnverifiedFileWarning,
    _file,
    _json,
    atomic,
    inspect_file,
    load,
    load_checkpoint,
    load_state_dict_file,
    load_with_metadata,
    remove_stale_temporaries,
    save,
    save_checkpoint,
    save_state_dict,
    verify_file,
)
from chainrule.nn.init import MetaBudgetError, is_placeholder, meta_init

SRC = Path(cr.__file__).resolve().parents[1]
TINY = ["--data", "moons", "--model", "mlp:8", "--epochs", "2", "--batch-size", "64",
        "--no-plots", "-q"]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("CHAINRULE_DEBUG", None)
    return env


def chainrule(*args: str | os.PathLike, preexec: Callable[[], None] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], env=_env(),
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def one_error_line(done: subprocess.CompletedProcess, *needles: str) -> str:
    """The run failed with exactly one line on stderr, mentioning every needle."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def recraft(src: Path, dst: Path, edit: Callable[[dict, dict], None]) -> Path:
    """Rewrite a chainrule file after ``edit(metadata, tensors)``, with valid checksums:
    what an attacker (or a buggy tool) can produce. Checksums detect damage, not intent,
    so these files must be refused on their contents."""
    header = _file.read_header(src)
    tensors = _file.read_tensors(header)
    meta = {k: v for k, v in header.metadata.items()
            if k not in (_file.DATA_SHA256, _file.HEADER_SHA256)}
    edit(meta, tensors)
    _file.write_tensors(dst, tensors, meta)
    return dst


def write_raw(path: Path, header: dict, data: bytes) -> Path:
    """A safetensors file with exactly this header and data (no checks)."""
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    return path


def set_arch(meta: dict, first_layer: dict) -> None:
    """Replace layer "0" (the first Linear of an ``mlp:`` model) by ``first_layer``."""
    arch = json.loads(meta["architecture"])
    children = arch["model"]["children"]
    children[[name for name, _ in children].index("0")][1] = first_layer
    meta["architecture"] = json.dumps(arch)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "run"
    done = chainrule("train", *TINY, "--out", out)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture()
def points(tmp_path: Path) -> Path:
    path = tmp_path / "points.csv"
    path.write_text("x1,x2\n0.5,0.2\n-1.0,0.3\n")
    return path


# ---- 1. crafted files declaring huge layers ---------------------------------------------

_PEAK = textwrap.dedent("""
    import resource, subprocess, sys
    done = subprocess.run([sys.executable, "-m", "chainrule", *sys.argv[1:]],
                          capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    sys.exit(done.returncode)
""")


def peak_rss_mb(*args: str | os.PathLike) -> tuple[float, subprocess.CompletedProcess]:
    """Peak resident memory (MB) of ``chainrule ARGS`` in a fresh process of its own."""
    done = subprocess.run([sys.executable, "-c", _PEAK, *map(str, args)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    return int(done.stdout.split()[-1]) / 1024, done


def test_a_14kb_file_declaring_a_2gb_layer_allocates_nothing(run: Path, tmp_path: Path,
                                                            points: Path) -> None:
    crafted = recraft(run / "model.safetensors", tmp_path / "big.safetensors",
                      lambda meta, t: set_arch(meta, {"type": "Linear", "kwargs": {
                          "in_features": 12000, "out_features": 12000, "bias": True}}))
    assert crafted.stat().st_size < 14_000
    honest_mb, done = peak_rss_mb("info", run / "model.safetensors")
    assert done.returncode == 0, done.stderr
    crafted_mb, done = peak_rss_mb("info", crafted)
    held = inspect_file(run / "model.safetensors").num_parameters
    one_error_line(done, str(crafted), f"declares far more weights than the {held:,} values")
    # Before: 2.2 GB (576 MB of weights drawn as float64 and converted). A margin of
    # 64 MB over the honest file leaves room for noise, not for one such layer.
    assert crafted_mb < honest_mb + 64, (crafted_mb, honest_mb)
    one_error_line(chainrule("evaluate", crafted), str(crafted), "declares far more")
    one_error_line(chainrule("predict", crafted, points), str(crafted), "declares far more")
    with pytest.raises(ModelFileError, match="declares far more weights"):
        load(crafted)


@pytest.mark.parametrize("layer", [
    {"type": "Linear", "kwargs": {"in_features": 10**9, "out_features": 10**9}},
    {"type": "Linear", "kwargs": {"in_features": 2**62, "out_features": 2**62}},
    {"type": "Linear", "kwargs": {"in_features": -3, "out_features": 2}},
    {"type": "Linear", "kwargs": {"in_features": "2", "out_features": 2}},
    {"type": "LayerNorm", "kwargs": {"normalized_shape": {"__tuple__": [70000, 70000]}}},
    {"type": "BatchNorm1d", "kwargs": {"num_features": 10**9}},
    {"type": "Embedding", "kwargs": {"num_embeddings": 10**12, "embedding_dim": 2}},
    {"type": "RNN", "kwargs": {"input_size": 2, "hidden_size": 2, "num_layers": 10**7}},
    {"type": "Conv2d", "kwargs": {"in_channels": 1, "out_channels": 1,
                                  "kernel_size": {"__tuple__": [10**5, 10**5]}}},
    {"type": "PositionalEmbedding", "kwargs": {"context": 10**6, "d_model": 10**6,
                                               "kind": "sinusoidal"}},
])
def test_hostile_architectures_are_refused_cheaply(run: Path, tmp_path: Path,
                                                  layer: dict) -> None:
    crafted = recraft(run / "model.safetensors", tmp_path / "evil.safetensors",
                      lambda meta, t: set_arch(meta, layer))
    tracemalloc.start()  # NumPy reports its buffers to tracemalloc
    try:
        with pytest.raises(ModelFileError, match=str(crafted)):
            load(crafted)
        with pytest.raises(ModelFileError, match=str(crafted)):
            verify_file(crafted)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak  # nothing built at the declared size


def test_a_near_miss_names_the_tensors_that_do_not_fit(run: Path, tmp_path: Path) -> None:
    crafted = recraft(run / "model.safetensors", tmp_path / "other.safetensors",
                      lambda meta, t: set_arch(meta, {"type": "Linear", "kwargs": {
                          "in_features": 2, "out_features": 9, "bias": True}}))
    with pytest.raises(ModelFileError, match=r"0\.weight.*needs shape \(9, 2\).*\(8, 2\)"):
        load(crafted)


def test_meta_init_builds_placeholders_without_drawing_random_numbers() -> None:
    state = cr.default_generator.get_state()
    with meta_init():
        net = nn.Sequential(nn.Linear(3000, 4000), nn.LayerNorm(4000), nn.Linear(4000, 2),
                            nn.PositionalEmbedding(16, 2, kind="sinusoidal"))
    assert cr.default_generator.get_state() == state
    assert net[0].weight.shape == (4000, 3000) and net[0].weight.dtype == np.float32
    assert is_placeholder(net[0].weight) and is_placeholder(net[1].weight)
    assert not any(net[0].weight.numpy().strides)
    assert not is_placeholder(net[3].weight)  # a computed table, not in the state dict
    assert np.abs(net[3].weight.numpy()).sum() > 0
    with pytest.raises(ValueError, match="placeholder"):
        save_state_dict(net.state_dict(), "/nonexistent/never-written.safetensors")
    real = {k: np.full(v.shape, 0.5, v.dtype) for k, v in net.state_dict().items()}
    net.load_state_dict(real, assign=True)
    assert not any(is_placeholder(t) for t in net.state_dict().values())
    assert net[0].weight.numpy() is real["0.weight"]
    with meta_init(max_elements=1000), pytest.raises(MetaBudgetError, match="1,000"):
        nn.Linear(100, 100)
    with meta_init(max_tensors=1), pytest.raises(MetaBudgetError, match="tensors"):
        nn.Linear(2, 2)


def test_meta_init_float64_spec_stays_a_placeholder(tmp_path: Path) -> None:
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    path = tmp_path / "f64.safetensors"
    save(net, path)
    with meta_init():
        rebuilt = cr.io.from_spec(cr.io.to_spec(net))
    assert rebuilt[0].weight.dtype == np.float64 and is_placeholder(rebuilt[0].weight)
    back = load(path)
    assert back[0].weight.dtype == np.float64
    np.testing.assert_array_equal(back[0].weight.numpy(), net[0].weight.numpy())


# ---- headers an attacker writes ---------------------------------------------------------

def _hostile_headers() -> list[tuple[str, dict, bytes, str]]:
    f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    return [
        ("negative dim", {"w": {**f32, "shape": [-2, -1]}}, b"\0" * 8, "bad entry"),
        ("product overflows int64", {"w": {**f32, "shape": [2**40, 2**40]}}, b"\0" * 8,
         "needs"),
        ("size does not match shape", {"w": {**f32, "shape": [3]}}, b"\0" * 8, "needs"),
        ("overlapping tensors", {"a": f32, "b": {**f32, "data_offsets": [4, 12]}},
         b"\0" * 12, "overlap"),
        ("a gap", {"a": f32, "b": {**f32, "data_offsets": [12, 20]}}, b"\0" * 20,
         "belong to no tensor"),
        ("unknown dtype", {"w": {**f32, "dtype": "F128"}}, b"\0" * 8, "unknown dtype"),
        ("offsets not ints", {"w": {**f32, "data_offsets": [0.0, 8.0]}}, b"\0" * 8,
         "bad entry"),
        ("bool shape", {"w": {**f32, "shape": [True, 2]}}, b"\0" * 8, "bad entry"),
        ("extra field", {"w": {**f32, "extra": 1}}, b"\0" * 8, "bad entry"),
        ("metadata not strings", {"__metadata__": {"format": 1}, "w": f32}, b"\0" * 8,
         "strings"),
    ]


@pytest.mark.parametrize("name,header,data,needle", _hostile_headers(),
                         ids=[c[0] for c in _hostile_headers()])
def test_hostile_headers_are_refused_before_reading(tmp_path: Path, name: str, header: dict,
                                                    data: bytes, needle: str) -> None:
    path = write_raw(tmp_path / "hostile.safetensors", header, data)
    for read in (load_state_dict_file, inspect_file, verify_file):
        with pytest.raises(ModelFileError, match=str(path) + ".*" + needle):
            read(path)


def test_duplicate_keys_anywhere_in_the_header(tmp_path: Path) -> None:
    entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    raw = ('{"w":' + entry + ',"w":' + entry + '}').encode()
    path = tmp_path / "dup.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + b"\0" * 4)
    with pytest.raises(ModelFileError, match="duplicate key 'w'"):
        load_state_dict_file(path)


# ---- 2. integrity: checksums, format tags ------------------------------------------------

def _flip(data: bytes, byte: int, bit: int) -> bytes:
    out = bytearray(data)
    out[byte] ^= 1 << bit
    return bytes(out)


@pytest.mark.parametrize("what", ["model", "checkpoint", "state_dict"])
def test_single_bit_flips_never_load_silently(tmp_path: Path, what: str) -> None:
    cr.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    good = tmp_path / "good.safetensors"
    if what == "model":
        save(net, good, metadata={"format": "chainrule.run/1", "input_scale": 0.0625})
        read: Callable[[Path], object] = load
    elif what == "checkpoint":
        opt = cr.optim.Adam(net.parameters(), lr=0.01)
        net(cr.tensor(np.ones((4, 3), np.float32))).sum().backward()
        opt.step()
        save_checkpoint(good, model=net, optimizer=opt, extra={"epoch": 3})
        read = load_checkpoint
    else:
        save_state_dict(net.state_dict(), good)
        read = load_state_dict_file
    data = good.read_bytes()
    bad = tmp_path / "flipped.safetensors"
    n_header = 8 + int.from_bytes(data[:8], "little")
    # Every byte of the first 64 and of the data section's ends, every 5th elsewhere,
    # each with a different bit: ~700 damaged files.
    positions = sorted(set(range(64)) | set(range(n_header - 16, n_header + 16))
                       | set(range(len(data) - 16, len(data))) | set(range(0, len(data), 5)))
    silent = []
    for pos in positions:
        bad.write_bytes(_flip(data, pos, pos % 8))
        try:
            read(bad)
        except ModelFileError as err:
            assert str(bad) in str(err)
        else:
            silent.append(pos)
    assert silent == []
    bad.write_bytes(_flip(data, len(data) - 3, 6))  # one weight
    with pytest.raises(ModelFileError, match="damaged: the tensor data does not match.*"
                                             "verify=False"):
        read(bad)


def test_verify_false_reads_a_file_another_tool_changed(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    path = tmp_path / "m.safetensors"
    save(net, path)
    data = path.read_bytes()
    path.write_bytes(_flip(data, len(data) - 1, 0))
    with pytest.raises(ModelFileError, match="damaged"):
        load(path)
    changed = load(path, verify=False)
    assert not np.array_equal(changed.bias.numpy(), net.bias.numpy())  # as the file now says
    assert load_state_dict_file(path, verify=False)["bias"].shape == (2,)


def test_checksums_are_what_the_format_says(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    path = tmp_path / "m.safetensors"
    save(net, path)
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8:8 + n])["__metadata__"]
    assert meta["data_sha256"] == hashlib.sha256(data[8 + n:]).hexdigest()
    assert len(meta["header_sha256"]) == 64
    assert (8 + n) % 8 == 0  # tensor data aligned, as safetensors writes it
    # still plain safetensors for every other reader
    tensors = safetensors.numpy.load_file(str(path))
    assert set(tensors) == set(net.state_dict())
    np.testing.assert_array_equal(tensors["0.weight"], net[0].weight.numpy())
    assert tensors["1.num_batches_tracked"].dtype == np.int64
    assert tensors["1.num_batches_tracked"].shape == ()


def test_a_flipped_run_format_tag_cannot_switch_off_input_scaling(
        run: Path, tmp_path: Path, points: Path) -> None:
    """`"format": "chainrule.run/1"` → `chaierule.run/1` made predict print raw logits."""
    data = (run / "model.safetensors").read_bytes()
    at = data.index(b"chainrule.run/")  # the run's metadata tag, chainrule.run/N
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(data[:at + 4] + b"e" + data[at + 5:])  # 'n' (0x6e) → 'e' (0x65)
    one_error_line(chainrule("predict", flipped, points), str(flipped), "damaged")
    one_error_line(chainrule("evaluate", flipped), str(flipped), "damaged")
    # A file from before checksums has no defence but the tag itself.
    legacy = tmp_path / "legacy.safetensors"
    header = _file.read_header(flipped, verify=False)
    meta = {k: v for k, v in header.metadata.items()
            if k not in (_file.DATA_SHA256, _file.HEADER_SHA256)}
    safetensors.numpy.save_file(_file.read_tensors(header, verify=False), str(legacy),
                                metadata=meta)
    with pytest.raises(ModelFileError, match="unknown format tag 'chaierule.run/"):
        load_with_metadata(legacy)


def test_users_own_format_tags_are_theirs(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    for tag in ("chainrule-based classifier", "ChainRule.run/1", "mine/3"):
        save(nn.Linear(2, 1), path, metadata={"format": tag})
        assert load_with_metadata(path)[1]["format"] == tag


def test_info_without_checksums_describes_a_changed_file(run: Path, tmp_path: Path) -> None:
    from chainrule.train.inference import describe_file

    data = (run / "model.safetensors").read_bytes()
    changed = tmp_path / "changed.safetensors"
    changed.write_bytes(_flip(data, len(data) - 10, 3))
    with pytest.raises(ModelFileError, match="damaged"):
        describe_file(changed)
    assert "parameters" in describe_file(changed, verify=False)


@pytest.mark.parametrize("tag", ["chainrule.checkpoinT", "chainrule.model/2", "chainrulf",
                                 "Chainrule", "chainrule.state-dict"])
def test_unknown_chainrule_format_tags_are_refused(tmp_path: Path, tag: str) -> None:
    path = tmp_path / "t.safetensors"
    safetensors.numpy.save_file({"w": np.ones(2, np.float32)}, str(path),
                                metadata={"format": tag})
    for read in (load, load_state_dict_file, load_checkpoint, inspect_file):
        with pytest.raises(ModelFileError, match="unknown format tag"):
            read(path)


def test_other_tools_tags_stay_foreign(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    safetensors.numpy.save_file({"w": np.ones(2, np.float32)}, str(path),
                                metadata={"format": "pt"})
    assert inspect_file(path).kind == "foreign"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unverified" warning: not ours to verify
        assert list(load_state_dict_file(path)) == ["w"]


def test_files_from_before_checksums_load_with_a_warning(tmp_path: Path) -> None:
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    meta = {"format": "chainrule", "chainrule_version": "0.1.0",
            "architecture": json.dumps(cr.io.to_spec(net)), "user": "{}"}
    legacy = tmp_path / "old.safetensors"
    safetensors.numpy.save_file(dict(net.state_dict()), str(legacy), metadata=meta)
    with pytest.warns(UnverifiedFileWarning, match="old.safetensors.*without checksums"):
        back = load(legacy)
    np.testing.assert_array_equal(back[2].weight.numpy(), net[2].weight.numpy())
    # a checksum entry whose name was damaged is not mistaken for an old file
    damaged = tmp_path / "damaged.safetensors"
    safetensors.numpy.save_file(dict(net.state_dict()), str(damaged),
                                metadata={**meta, "headeR_sha256": "0" * 64})
    with pytest.raises(ModelFileError, match="damaged.*headeR_sha256"):
        load(damaged)


# ---- 3. dtypes and non-finite weights ----------------------------------------------------

def test_load_state_dict_refuses_integer_and_boolean_values_for_float_layers() -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    state = {k: v.copy() for k, v in net.state_dict().items()}
    before = net[0].weight.numpy().copy()
    for bad in (np.ones((3, 2), np.int64), np.ones((3, 2), bool), np.ones((3, 2), np.uint8)):
        with pytest.raises(ValueError, match=rf"0\.weight: expected float32, got {bad.dtype}"):
            net.load_state_dict({**state, "0.weight": bad})
    with pytest.raises(ValueError, match=r"num_batches_tracked: expected int64, got float32"):
        net.load_state_dict({**state, "1.num_batches_tracked": np.float32(2.0)})
    np.testing.assert_array_equal(net[0].weight.numpy(), before)  # nothing changed
    net.load_state_dict({**state, "0.weight": np.full((3, 2), 0.25, np.float64)})
    assert net[0].weight.dtype == np.float32 and net[0].weight.numpy()[0, 0] == 0.25
    net.load_state_dict({**state, "0.bias": [1, 2, 3]})  # typed by hand: numbers
    assert net[0].bias.dtype == np.float32 and net[0].bias.numpy().tolist() == [1, 2, 3]


def test_non_finite_weights_load_with_a_warning_naming_them(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    state = {k: v.copy() for k, v in net.state_dict().items()}
    state["0.weight"][1, 1] = np.nan
    state["1.bias"][0] = np.inf
    with pytest.warns(RuntimeWarning, match=r"0\.weight, 1\.bias"):
        net.load_state_dict(state)
    path = tmp_path / "nan.safetensors"
    save(net, path)
    with pytest.warns(RuntimeWarning, match=r"nan\.safetensors.*0\.weight, 1\.bias"):
        load(path)
    big = np.full((3, 2), np.finfo(np.float64).max, np.float64)  # a float64 sum overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Linear(2, 3).double().load_state_dict({"weight": big, "bias": np.zeros(3)})


def test_a_file_with_integer_weights_is_refused_naming_key_and_dtypes(
        run: Path, tmp_path: Path) -> None:
    def to_int(meta: dict, tensors: dict) -> None:
        tensors["0.weight"] = tensors["0.weight"].astype(np.int32)

    crafted = recraft(run / "model.safetensors", tmp_path / "int.safetensors", to_int)
    with pytest.raises(ModelFileError, match=r"0\.weight: the architecture needs float32, "
                                             r"the file holds int32"):
        load(crafted)
    one_error_line(chainrule("info", crafted), str(crafted), "int32")


# ---- 4. deeply nested JSON ---------------------------------------------------------------

@pytest.mark.parametrize("entry", ["user", "architecture"])
def test_deeply_nested_metadata_is_a_model_file_error(run: Path, tmp_path: Path,
                                                     entry: str) -> None:
    def nest(meta: dict, tensors: dict) -> None:
        meta[entry] = "[" * 100_000 + "]" * 100_000

    crafted = recraft(run / "model.safetensors", tmp_path / "deep.safetensors", nest)
    with pytest.raises(ModelFileError, match=f"deep.safetensors.*'{entry}'.*nested"):
        load(crafted)
    one_error_line(chainrule("info", crafted), str(crafted), "nested")


def test_deeply_nested_checkpoint_state_is_a_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "c.ckpt.safetensors"
    save_checkpoint(path, model=nn.Linear(2, 2), extra={"epoch": 1})
    deep = recraft(path, tmp_path / "deep.ckpt.safetensors",
                   lambda meta, t: meta.update(extra='{"a":' * 5000 + "1" + "}" * 5000))
    with pytest.raises(ModelFileError, match="deep.ckpt.safetensors.*nested"):
        load_checkpoint(deep)


def test_json_depth_limit_is_exact() -> None:
    ok = "[" * _json.MAX_DEPTH + "]" * _json.MAX_DEPTH
    assert _json.loads(ok) is not None
    with pytest.raises(ValueError, match="nested more than"):
        _json.loads("[" + ok + "]")
    for bad in ('{"__tuple__": 5}', '{"__dict__": [1, 2]}', '{"__bytes__": 5}',
                '{"__ndarray__": "x"}', '{"__dict__": [[[1], 2]]}', '{"a": 1, "a": 2}'):
        with pytest.raises(ValueError):
            _json.loads(bad)


@pytest.mark.parametrize("entry,value", [("user", "[1, 2]"), ("user", '"text"'),
                                         ("architecture", "[]"), ("architecture", "5")])
def test_metadata_of_the_wrong_json_type(run: Path, tmp_path: Path, entry: str,
                                         value: str) -> None:
    crafted = recraft(run / "model.safetensors", tmp_path / "type.safetensors",
                      lambda meta, t: meta.update({entry: value}))
    with pytest.raises(ModelFileError, match="type.safetensors"):
        load(crafted)


# ---- 5. damaged checkpoint state ---------------------------------------------------------

@pytest.fixture(scope="module")
def resumable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resumable") / "run"
    done = chainrule("train", *TINY, "--scheduler", "none", "--out", out)  # can go on
    assert done.returncode == 0, done.stderr
    return out


def _damage_extra(key: str, value: object) -> Callable[[dict, dict], None]:
    def edit(meta: dict, tensors: dict) -> None:
        extra = json.loads(meta["extra"])
        extra[key] = value
        meta["extra"] = json.dumps(extra)
    return edit


@pytest.mark.parametrize("edit,part", [
    (_damage_extra("rng", 5), "trainer state"),
    (_damage_extra("history", [1]), "trainer state"),
    (lambda meta, t: meta.update(optimizer=json.dumps({"state": {}, "param_groups": [5]})),
     "optimizer state"),
    (lambda meta, t: meta.update(optimizer=json.dumps({"state": 5, "param_groups": []})),
     "optimizer state"),
])
def test_resuming_a_damaged_checkpoint_names_the_file_and_the_part(
        resumable: Path, tmp_path: Path, edit: Callable, part: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for f in resumable.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    ckpt = run / "checkpoint.ckpt.safetensors"
    recraft(ckpt, ckpt, edit)
    done = chainrule("train", "--resume", run, "--epochs", "4", "-q")
    line = one_error_line(done, str(ckpt), part)
    assert "'int' object" not in line or "damaged" in line


def test_restore_errors_name_the_file_and_part(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(cr.tensor(np.ones((1, 2), np.float32))).sum().backward()
    opt.step()
    path = tmp_path / "c.ckpt.safetensors"
    save_checkpoint(path, model=net, optimizer=opt)
    ckpt = load_checkpoint(path)
    ckpt.optimizer_state["param_groups"][0]["momentum"] = {"x": 1}
    with pytest.raises(ModelFileError, match="c.ckpt.safetensors: the checkpoint's optimizer "
                                             "state does not fit"):
        ckpt.restore(net, opt)
    ckpt = load_checkpoint(path)
    ckpt.model_state["weight"] = np.ones((2, 2), np.int64)
    with pytest.raises(ModelFileError, match="model state does not fit.*int64"):
        ckpt.restore(net)


def test_a_checkpoint_of_another_model_is_refused_by_info(tmp_path: Path) -> None:
    path = tmp_path / "c.ckpt.safetensors"
    save_checkpoint(path, model=nn.Sequential(nn.Linear(2, 3)))

    def other_arch(meta: dict, tensors: dict) -> None:
        meta["architecture"] = json.dumps(cr.io.to_spec(nn.Sequential(nn.Linear(2, 4))))

    crafted = recraft(path, tmp_path / "other.ckpt.safetensors", other_arch)
    one_error_line(chainrule("info", crafted), str(crafted), "do not fit")
    crafted = recraft(path, tmp_path / "keys.ckpt.safetensors",
                      lambda meta, t: meta.update(model_keys='["0.weight"]'))
    with pytest.raises(ModelFileError, match="model_keys"):
        load_checkpoint(crafted)


# ---- 6. `chainrule info` verifies what it describes --------------------------------------

def test_info_exits_1_on_files_that_do_not_load(run: Path, tmp_path: Path) -> None:
    good = run / "model.safetensors"
    assert "parameters" in chainrule("info", good).stdout
    data = good.read_bytes()
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(_flip(data, len(data) - 10, 3))
    one_error_line(chainrule("info", flipped), str(flipped), "damaged", "tensor data")
    shapes = recraft(good, tmp_path / "shapes.safetensors", lambda meta, t: t.update(
        {"0.weight": np.zeros((8, 3), np.float32)}))
    one_error_line(chainrule("info", shapes), str(shapes), "do not fit", "0.weight")
    ckpt = run / "checkpoint.ckpt.safetensors"
    cdata = ckpt.read_bytes()
    bad_ckpt = tmp_path / "bad.ckpt.safetensors"
    bad_ckpt.write_bytes(_flip(cdata, len(cdata) - 1, 7))
    one_error_line(chainrule("info", bad_ckpt), str(bad_ckpt), "damaged")
    assert chainrule("info", ckpt).returncode == 0


# ---- 7. temporary files of interrupted writes --------------------------------------------

def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _age(path: Path, seconds: float) -> Path:
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def test_remove_stale_temporaries_removes_only_abandoned_ones(tmp_path: Path) -> None:
    host = atomic._host()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            f".m.safetensors.pid{_dead_pid()}-{host}.abcd1234.tmp": (0, True),
            f".m.safetensors.pid{sleeper.pid}-{host}.abcd1234.tmp": (0, False),  # writing
            f".m.safetensors.pid{sleeper.pid}-{host}.efgh5678.tmp": (2 * 86400, True),
            f".m.safetensors.pid{os.getpid()}-{host}.abcd1234.tmp": (0, False),
            ".m.safetensors.pid1-otherhost.abcd1234.tmp": (60, False),
            ".m.safetensors.pid2-otherhost.abcd1234.tmp": (7200, True),
            ".checkpoint.ckpt.safetensors.k3j_x9ab.tmp": (60, False),  # earlier version
            ".checkpoint.ckpt.safetensors.q8w7e6r5.tmp": (7200, True),
            ".notes.tmp": (7200, False),  # not an atomic-write name
            "model.safetensors": (7200, False),
        }
        for name, (age, _) in names.items():
            (tmp_path / name).write_bytes(b"x")
            _age(tmp_path / name, age)
        (tmp_path / f".d.pid{_dead_pid()}-{host}.abcd1234.tmp").mkdir()  # a folder: kept
        removed = {p.name for p in remove_stale_temporaries(tmp_path)}
        assert removed == {n for n, (_, gone) in names.items() if gone}
        assert all((tmp_path / n).exists() for n, (_, gone) in names.items() if not gone)
        assert remove_stale_temporaries(tmp_path / "missing") == []
    finally:
        sleeper.kill()
        sleeper.wait()


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from chainrule.io import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        open(tmp, "wb").write(b"half a checkpoint")
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_killed_writers_temp_file_is_cleaned_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    save(nn.Linear(2, 2), target)
    before = target.read_bytes()
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], env=_env(),
                          capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and atomic._OURS.match(left[0]), left
    assert target.read_bytes() == before
    # the next process that writes into the folder removes it
    saver = "import sys, chainrule as cr; cr.io.save(cr.nn.Linear(2, 2), sys.argv[1])"
    subprocess.run([sys.executable, "-c", saver, str(tmp_path / "other.safetensors")],
                   env=_env(), check=True, timeout=60)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---- 8. full disks -----------------------------------------------------------------------

def _file_size_limit(limit: int) -> Callable[[], None]:
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # Python does too; be explicit
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


_SAVE_BIG = textwrap.dedent("""
    import sys, chainrule as cr
    try:
        cr.io.save(cr.nn.Linear(100, 100), sys.argv[1])
    except OSError as err:
        print(type(err).__name__, err.errno, err.filename)
        sys.exit(3)
""")


def test_a_write_past_the_file_size_limit_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    save(nn.Linear(2, 2), target)
    before = target.read_bytes()
    done = subprocess.run([sys.executable, "-c", _SAVE_BIG, str(target)], env=_env(),
                          capture_output=True, text=True, timeout=60,
                          preexec_fn=_file_size_limit(8192))
    assert done.returncode == 3, done.stderr
    assert done.stdout.split() == ["OSError", str(errno.EFBIG), str(target)]
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_train_on_a_full_disk_ends_in_one_line_and_keeps_the_checkpoint(
        resumable: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for f in resumable.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    ckpt = run / "checkpoint.ckpt.safetensors"
    before = ckpt.read_bytes()
    limit = ckpt.stat().st_size - 200  # room for the small files, not for a checkpoint
    done = chainrule("train", "--resume", run, "--epochs", "4", "-q",
                     preexec=_file_size_limit(limit))
    one_error_line(done, str(ckpt), "File too large", "unchanged")
    assert ckpt.read_bytes() == before
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []
    load_checkpoint(ckpt)

"""IDX reader/writer and load_idx_dir."""

import gzip
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from chainrule.data import load_idx_dir, read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    p = tmp_path / f"a-idx3{suffix}"
    write_idx(p, a)
    raw = p.read_bytes()
    assert raw[:2] == (b"\x1f\x8b" if suffix else b"\x00\x00")
    b = read_idx(p)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_header_is_big_endian(tmp_path):
    p = tmp_path / "x"
    write_idx(p, np.array([1, 256], dtype=np.int16))
    assert p.read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 1, 0])


def test_truncated_file(tmp_path):
    p = tmp_path / "t"
    write_idx(p, np.zeros((10, 5), np.uint8))
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"t: file is truncated.*62 bytes.*55 bytes"):
        read_idx(p)
    gz = tmp_path / "t.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    with pytest.raises(ValueError, match=r"t\.gz.*truncated.*decompressed size is 55"):
        read_idx(gz)
    broken = tmp_path / "broken.gz"
    write_idx(broken, np.zeros((100, 100), np.uint8) + np.arange(100, dtype=np.uint8))
    broken.write_bytes(broken.read_bytes()[:30])
    with pytest.raises(ValueError, match="broken.gz"):
        read_idx(broken)


def test_not_idx_and_bad_dtype(tmp_path):
    p = tmp_path / "junk"
    p.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(p)
    p.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="0x07"):
        read_idx(p)
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "y", np.zeros(3, np.int64))


def _mnist_like(folder, gz, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    s = ".gz" if gz else ""
    folder.mkdir()
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 4, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 4, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, a in arrays.items():
        write_idx(folder / (name + s), a)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dir(tmp_path, gz):
    arrays = _mnist_like(tmp_path / "mnist", gz)
    X, y, Xt, yt = load_idx_dir(tmp_path / "mnist")
    assert X.shape == (12, 16) and X.dtype == np.float32 and Xt.shape == (5, 16)
    assert y.dtype == np.int64 and y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_allclose(X * 255, arrays["train-images-idx3-ubyte"].reshape(12, 16),
                               atol=1e-4)
    X4, *_ = load_idx_dir(tmp_path / "mnist", flatten=False)
    assert X4.shape == (12, 1, 4, 4)


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_idx_dir(tmp_path / "nowhere")
    msg = str(e.value)
    assert "nowhere" in msg and "train-images-idx3-ubyte" in msg
    assert "t10k-labels-idx1-ubyte" in msg and "fashion-mnist" in msg
    folder = tmp_path / "partial"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match="missing train-labels-idx1-ubyte"):
        load_idx_dir(folder)


def test_count_mismatch(tmp_path):
    _mnist_like(tmp_path / "m", False)
    write_idx(tmp_path / "m" / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="5 images.*4 labels"):
        load_idx_dir(tmp_path / "m")


# ---- files that must be refused before they cost memory (issue 11) -----------------------

def _gzip_stream(header: bytes, zero_mib: int) -> bytes:
    """gzip of ``header`` followed by ``zero_mib`` MiB of zero bytes, built a MiB at a time."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(header)]
    block = bytes(1 << 20)
    parts += [z.compress(block) for _ in range(zero_mib)]
    return b"".join(parts) + z.flush()


def test_header_sizes_that_overflow_int64_are_refused_naming_the_file(tmp_path):
    # 65536**4 bytes is 2**64: an int64 product wraps to 0 and used to pass the size check
    header = bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *[65536] * 4)
    p = tmp_path / "wrap-idx4"
    p.write_bytes(header)
    with pytest.raises(ValueError, match=r"wrap-idx4: file is truncated.*"
                                         r"needs 18446744073709551636 bytes.*size is 20"):
        read_idx(p)
    gz = tmp_path / "wrap-idx4.gz"
    gz.write_bytes(gzip.compress(header))
    with pytest.raises(ValueError, match=r"wrap-idx4\.gz: header .* more than the limit"):
        read_idx(gz)


def test_gzip_bomb_stops_at_the_declared_size(tmp_path):
    # 10 labels declared, 64 MiB of zeros behind them (about 64 KiB compressed)
    bomb = tmp_path / "bomb-idx1.gz"
    bomb.write_bytes(_gzip_stream(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 10), 64))
    assert bomb.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb-idx1\.gz: file is longer than its header"):
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB while reading a 64 MiB bomb"


def test_declared_size_checked_against_limit_and_gzip_ratio(tmp_path):
    header = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 1 << 30)  # 1 GiB of labels
    gz = tmp_path / "big-idx1.gz"
    gz.write_bytes(_gzip_stream(header, 1))  # ~1 KiB of gzip cannot hold 1 GiB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"big-idx1\.gz: .*cannot inflate to more than"):
            read_idx(gz)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    p = tmp_path / "ok-idx1"
    write_idx(p, np.arange(100, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"ok-idx1: .*more than the limit of 50 bytes"):
        read_idx(p, max_bytes=50)
    assert read_idx(p, max_bytes=None).tolist() == list(range(100))


@pytest.mark.parametrize("labels, needle", [
    (np.array([1, -1, 2], np.int8), r"label -1 at position 1 is negative"),
    (np.array([0.0, 1.5, 2.0], np.float32), r"labels are stored as float32.*must be integers"),
    (np.array([0, 1, 2], np.float64), r"labels are stored as float64"),
    (np.array([0, 70000, 1], np.int32), r"label 70000 at position 1"),
])
def test_labels_must_be_non_negative_integers(tmp_path, labels, needle):
    _mnist_like(tmp_path / "m", False, n_train=3)
    write_idx(tmp_path / "m" / "train-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: " + needle):
        load_idx_dir(tmp_path / "m")


def test_float_images_must_be_finite(tmp_path):
    _mnist_like(tmp_path / "m", False, n_train=3)
    images = np.zeros((3, 4, 4), np.float32)
    images[2, 1, 3] = np.nan
    write_idx(tmp_path / "m" / "train-images-idx3-ubyte", images)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: pixel \(2, 1, 3\) is nan"):
        load_idx_dir(tmp_path / "m")

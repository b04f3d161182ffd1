"""IDX reader/writer and load_idx_dir."""

import gzip

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

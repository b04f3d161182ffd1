"""Downloads of public data sets against a local HTTP server on 127.0.0.1.

The server (``http.server`` in a thread) serves small files the tests make; the mirror
lists and checksums are patched to point at it. An autouse fixture refuses any
connection to a host other than 127.0.0.1, so no test here can reach the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.data import DownloadError, load, load_dataset, public, write_idx
from chainrule.data import download as dl
from chainrule.data.cifar import read_cifar10_binary, write_cifar10_binary
from chainrule.data.download import RemoteFile, fetch

# ---- no network: only the loopback server ---------------------------------------------


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.create_connection

    def guarded(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a test tried to reach {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


class Server:
    """Files by path; options per test; a log of (path, Range header, bytes sent)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.honour_range = True
        self.cut_first_after: int | None = None  # first response stops after this many bytes
        self.down = False  # every request gets 503
        self.log: list[tuple[str, str | None, int]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                data = server.files.get(self.path)
                want = self.headers.get("Range")
                if server.down:
                    server.log.append((self.path, want, 0))
                    self.send_error(503)
                    return
                if data is None:
                    server.log.append((self.path, want, 0))
                    self.send_error(404)
                    return
                start = 0
                if want and server.honour_range:
                    start = int(want.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_first_after is not None:
                    body = body[:server.cut_first_after]
                    server.cut_first_after = None
                    self.close_connection = True
                self.wfile.write(body)
                server.log.append((self.path, want, len(body)))

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def dead_url() -> str:
    """A URL on a loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.bin"


def remote(name: str, data: bytes, *urls: str) -> RemoteFile:
    return RemoteFile(name, len(data), hashlib.sha256(data).hexdigest(), tuple(urls))


PAYLOAD = bytes(np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8))


# ---- mirrors, checksums, resuming -----------------------------------------------------


def test_first_mirror_down_second_used(server: Server, tmp_path: Path) -> None:
    server.files["/b/data.bin"] = PAYLOAD
    f = remote("data.bin", PAYLOAD, dead_url(), server.url + "/a/data.bin",
               server.url + "/b/data.bin")
    path = fetch(f, tmp_path, progress=False)
    assert path == tmp_path / "data.bin" and path.read_bytes() == PAYLOAD
    assert [p for p, _, _ in server.log] == ["/a/data.bin", "/b/data.bin"]  # 404, then ok
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.bin.lock", "data.bin"]


def test_corrupted_file_is_rejected_and_never_cached(server: Server, tmp_path: Path) -> None:
    bad = bytearray(PAYLOAD)
    bad[123_456] ^= 0xFF  # same size, one byte flipped: only the checksum can tell
    server.files["/bad.bin"] = bytes(bad)
    f = remote("data.bin", PAYLOAD, server.url + "/bad.bin")
    with pytest.raises(DownloadError) as err:
        fetch(f, tmp_path, progress=False)
    assert "corrupt" in str(err.value) and f.sha256 in str(err.value)
    assert not (tmp_path / "data.bin").exists() and not (tmp_path / "data.bin.part").exists()
    # with a good mirror after it, the good copy is what lands in the cache
    server.files["/good.bin"] = PAYLOAD
    f = remote("data.bin", PAYLOAD, server.url + "/bad.bin", server.url + "/good.bin")
    assert fetch(f, tmp_path, progress=False).read_bytes() == PAYLOAD


def test_truncated_file_is_rejected(server: Server, tmp_path: Path) -> None:
    server.files["/short.bin"] = PAYLOAD[:-1000]  # a mirror with a truncated copy
    f = remote("data.bin", PAYLOAD, server.url + "/short.bin")
    with pytest.raises(DownloadError, match="sends 299,000 bytes, but data.bin is 300,000"):
        fetch(f, tmp_path, progress=False)
    assert not (tmp_path / "data.bin").exists()


def test_partial_download_is_resumed_with_a_range_request(server: Server,
                                                          tmp_path: Path) -> None:
    server.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:100_000])  # left by an earlier run
    f = remote("data.bin", PAYLOAD, server.url + "/data.bin")
    assert fetch(f, tmp_path, progress=False).read_bytes() == PAYLOAD
    assert server.log == [("/data.bin", "bytes=100000-", 200_000)]  # only the rest came
    assert not (tmp_path / "data.bin.part").exists()


def test_a_broken_off_transfer_resumes_where_it_stopped(server: Server,
                                                        tmp_path: Path) -> None:
    server.files["/data.bin"] = PAYLOAD
    server.cut_first_after = 120_000  # the connection drops after 120 kB
    f = remote("data.bin", PAYLOAD, server.url + "/data.bin")
    assert fetch(f, tmp_path, progress=False).read_bytes() == PAYLOAD
    assert server.log == [("/data.bin", None, 120_000), ("/data.bin", "bytes=120000-", 180_000)]


def test_a_partial_download_is_kept_when_all_fails_and_resumed_next_time(
        server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = PAYLOAD
    server.cut_first_after = 120_000
    f = remote("data.bin", PAYLOAD, server.url + "/data.bin")
    real_transfer = dl._transfer

    def then_down(*args: Any) -> int:
        got = real_transfer(*args)
        server.down = True  # the mirror fails after the first, broken-off response
        return got

    with pytest.MonkeyPatch.context() as m:
        m.setattr(dl, "_transfer", then_down)
        with pytest.raises(DownloadError, match=r"HTTP 503.*data.bin.part \(120,000 bytes\) "
                                                r"is kept and resumed next time"):
            fetch(f, tmp_path, progress=False)
    assert not (tmp_path / "data.bin").exists()
    assert (tmp_path / "data.bin.part").read_bytes() == PAYLOAD[:120_000]
    server.down = False  # the next run, the mirror is back
    assert fetch(f, tmp_path, progress=False).read_bytes() == PAYLOAD
    assert server.log[-1] == ("/data.bin", "bytes=120000-", 180_000)


def test_a_server_ignoring_range_restarts_the_file(server: Server, tmp_path: Path) -> None:
    server.files["/data.bin"] = PAYLOAD
    server.honour_range = False
    (tmp_path / "data.bin.part").write_bytes(b"\0" * 50_000)  # not even the right bytes
    f = remote("data.bin", PAYLOAD, server.url + "/data.bin")
    assert fetch(f, tmp_path, progress=False).read_bytes() == PAYLOAD
    assert server.log == [("/data.bin", "bytes=50000-", 300_000)]  # asked; got it all


def test_a_bad_partial_file_is_discarded_and_fetched_again(server: Server,
                                                           tmp_path: Path) -> None:
    server.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(b"\0" * 50_000)  # resumed, then fails its hash
    f = remote("data.bin", PAYLOAD, server.url + "/data.bin")
    assert fetch(f, tmp_path, progress=False).read_bytes() == PAYLOAD
    assert server.log == [("/data.bin", "bytes=50000-", 250_000), ("/data.bin", None, 300_000)]


def test_offline_error_names_the_urls_the_cache_and_how_to_place_files(tmp_path: Path) -> None:
    urls = (dead_url(), dead_url().replace("gone", "also-gone"))
    f = RemoteFile("data.bin", 10, "ab" * 32, urls)
    with pytest.raises(DownloadError) as err:
        fetch(f, tmp_path / "cache", progress=False)
    message = str(err.value)
    for needle in (*urls, "cannot connect", f"Cache folder: {tmp_path / 'cache'}",
                   f"save it as {tmp_path / 'cache' / 'data.bin'}", "ab" * 32, "10 bytes",
                   "CHAINRULE_CACHE"):
        assert needle in message, needle
    assert isinstance(err.value, OSError)


def test_cache_hit_needs_no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data.bin").write_bytes(PAYLOAD)

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the network was used")

    monkeypatch.setattr(urllib.request, "build_opener", no_network)
    f = remote("data.bin", PAYLOAD, dead_url())
    assert fetch(f, tmp_path) == tmp_path / "data.bin"
    assert fetch(f, tmp_path, download=False) == tmp_path / "data.bin"


def test_a_cached_file_that_fails_its_checksum_is_downloaded_again(server: Server,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(PAYLOAD[::-1])  # placed by hand, wrong file
    f = remote("data.bin", PAYLOAD, dead_url())
    with pytest.raises(FileNotFoundError, match="its SHA-256 is"):
        fetch(f, tmp_path, download=False)
    with pytest.raises(DownloadError, match="is not the published file"):
        fetch(f, tmp_path, progress=False)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD[::-1]  # left alone on failure
    server.files["/data.bin"] = PAYLOAD
    f = remote("data.bin", PAYLOAD, server.url + "/data.bin")
    assert fetch(f, tmp_path, progress=False).read_bytes() == PAYLOAD


def test_progress_bar_appears_only_when_asked(server: Server, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    server.files["/data.bin"] = PAYLOAD
    f = remote("data.bin", PAYLOAD, server.url + "/data.bin")
    fetch(f, tmp_path / "quiet", progress=False)
    fetch(f, tmp_path / "default")  # None: only on a terminal; captured stderr is not one
    assert capsys.readouterr().err == ""
    fetch(f, tmp_path / "shown", progress=True)
    err = capsys.readouterr().err
    assert "data.bin" in err and "100%" in err and "293k" in err  # 300,000 B in KiB


def test_cache_dir_follows_the_environment(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "c"))
    assert dl.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CHAINRULE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert dl.cache_dir() == tmp_path / "x" / "chainrule"


def test_published_checksums_are_well_formed() -> None:
    for spec in public.DATASETS.values():
        assert spec.files
        for f in spec.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.sha256 == f.sha256.lower()
            assert f.size > 1000 and f.urls
            assert all(u.startswith(("https://", "http://")) and u.endswith("/" + f.name)
                       for u in f.urls)
    assert public.CIFAR10_FILES[0].name == "cifar-10-binary.tar.gz"  # never the pickle one


# ---- the data sets by name, from the local server --------------------------------------


def _serve_idx_set(server: Server, tmp_path: Path, n_train: int = 60,
                   n_test: int = 20) -> tuple[np.ndarray, ...]:
    """Small MNIST-shaped IDX files on the server; the patched 'mnist' points there."""
    rng = np.random.default_rng(1)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              (np.arange(n_train) % 10).astype(np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              (np.arange(n_test) % 10).astype(np.uint8))
    files = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, arr in zip(public._IDX_NAMES, arrays):
        write_idx(tmp_path / name, arr)
        data = (tmp_path / name).read_bytes()
        server.files["/mnist/" + name] = data
        files.append(remote(name, data, dead_url(), f"{server.url}/mnist/{name}"))
    return arrays, tuple(files)


@pytest.fixture()
def small_mnist(server: Server, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, ...]:
    arrays, files = _serve_idx_set(server, tmp_path / "src")
    monkeypatch.setitem(public.DATASETS, "mnist",
                        dataclasses.replace(public.DATASETS["mnist"], files=files))
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "cache"))
    return arrays


def test_load_mnist_downloads_once_then_reads_the_cache(
        small_mnist: tuple[np.ndarray, ...], server: Server, tmp_path: Path) -> None:
    (X, y), (X_test, y_test) = load("mnist", progress=False)
    assert X.shape == (60, 1, 28, 28) and X.dtype == np.uint8 and y.dtype == np.int64
    assert np.array_equal(X[:, 0], small_mnist[0]) and np.array_equal(y_test, small_mnist[3])
    assert X_test.shape == (20, 1, 28, 28)
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").glob("*.gz")) == \
        sorted(public._IDX_NAMES)
    served = len(server.log)
    (Xs, _), _ = load("MNIST", scale=True)  # any spelling; from the cache
    assert len(server.log) == served
    assert Xs.dtype == np.float32 and float(Xs.max()) <= 1.0
    np.testing.assert_allclose(Xs * 255, X, atol=1e-4)


def test_load_dataset_mnist_is_a_split_bundle(small_mnist: tuple[np.ndarray, ...]) -> None:
    b = load_dataset("mnist", seed=0)
    assert b.image_shape == (1, 28, 28) and b.num_classes == 10
    assert (len(b.X_train), len(b.X_val), len(b.X_test)) == (54, 6, 20)
    assert b.X_train.shape == (54, 784) and b.X_train.dtype == np.float32
    assert float(b.X_test.max()) <= 1.0
    np.testing.assert_allclose(b.X_test * 255, small_mnist[2].reshape(20, -1), atol=1e-3)
    assert len(set(b.y_val.tolist())) == 6  # stratified: 6 of 60 takes no class twice
    assert b.info["classes"] == list(range(10)) and "LeCun" in b.info["source"]


def test_load_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="mnist, fashion-mnist, cifar10"):
        load("imagenet")


def test_load_offline_lists_every_file_the_set_needs(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    spec = public.DATASETS["fashion-mnist"]
    files = tuple(dataclasses.replace(f, urls=(dead_url(),)) for f in spec.files)
    monkeypatch.setitem(public.DATASETS, "fashion-mnist",
                        dataclasses.replace(spec, files=files))
    with pytest.raises(DownloadError) as err:
        load("fashion_mnist", root=tmp_path, progress=False)
    message = str(err.value)
    assert "could not download fashion-mnist's train-images-idx3-ubyte.gz" in message
    assert f"save them in {tmp_path}" in message
    for f in spec.files:
        assert f.name in message and f.sha256 in message


def test_train_and_evaluate_on_mnist_from_the_command(
        small_mnist: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    from chainrule.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", "mnist", "--model", "mlp:16", "--epochs", "1",
                 "--no-plots", "-q", "--out", str(out)]) == 0
    assert main(["evaluate", str(out / "model.safetensors"), "--data", "mnist"]) == 0


# ---- CIFAR-10's binary archive ---------------------------------------------------------


def test_cifar10_binary_round_trip_keeps_channels_and_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (25, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, 25)
    write_cifar10_binary(tmp_path / "c.tar.gz", X, y, X[:5], y[:5])
    X_train, y_train, X_test, y_test = read_cifar10_binary(tmp_path / "c.tar.gz")
    assert X_train.shape == (25, 3, 32, 32) and X_train.dtype == np.uint8
    assert np.array_equal(X_train, X) and np.array_equal(y_train, y)
    assert np.array_equal(X_test, X[:5]) and y_test.dtype == np.int64


def test_cifar10_record_layout_is_label_then_red_green_blue(tmp_path: Path) -> None:
    import io
    import tarfile

    # one record written by hand: label 7, red plane 1s, green 2s, blue 3s
    record = bytes([7]) + bytes([1]) * 1024 + bytes([2]) * 1024 + bytes([3]) * 1024
    with tarfile.open(tmp_path / "c.tar.gz", "w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(record)
            tar.addfile(info, io.BytesIO(record))
    X, y, _, _ = read_cifar10_binary(tmp_path / "c.tar.gz")
    assert y.tolist() == [7] * 5
    assert [int(X[0, c].min()) for c in range(3)] == [1, 2, 3]
    assert [int(X[0, c].max()) for c in range(3)] == [1, 2, 3]


def test_cifar10_archive_is_checked_before_it_is_trusted(tmp_path: Path) -> None:
    X = np.zeros((10, 3, 32, 32), np.uint8)
    write_cifar10_binary(tmp_path / "bad.tar.gz", X, np.full(10, 12), X, np.zeros(10))
    with pytest.raises(ValueError, match="label 12"):
        read_cifar10_binary(tmp_path / "bad.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a readable gzip tar archive"):
        read_cifar10_binary(tmp_path / "junk.tar.gz")


def test_load_cifar10_from_the_local_server(server: Server, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8)
    y = np.arange(40) % 10
    archive = tmp_path / "cifar-10-binary.tar.gz"
    write_cifar10_binary(archive, X, y, X[:10], y[:10])
    server.files["/kriz/cifar-10-binary.tar.gz"] = archive.read_bytes()
    f = remote("cifar-10-binary.tar.gz", archive.read_bytes(),
               server.url + "/kriz/cifar-10-binary.tar.gz")
    monkeypatch.setitem(public.DATASETS, "cifar10",
                        dataclasses.replace(public.DATASETS["cifar10"], files=(f,)))
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path / "cache"))
    (X_train, y_train), (X_test, _) = load("CIFAR-10", progress=False)
    assert np.array_equal(X_train, X) and np.array_equal(y_train, y)
    assert (tmp_path / "cache" / "cifar10" / "cifar-10-binary.tar.gz").is_file()
    b = load_dataset("cifar10")
    assert b.image_shape == (3, 32, 32) and b.X_train.shape == (36, 3072)
    assert b.info["class_names"][0] == "airplane"
    np.testing.assert_allclose(b.X_test.reshape(-1, 3, 32, 32) * 255, X[:10], atol=1e-3)

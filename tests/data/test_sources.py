"""The search order, and downloads from a loopback server: verified, atomic, with mirror fallback."""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request

import pytest

from cnnzoo.data import fetch, load_dataset
from cnnzoo.data.catalog import get_spec
from cnnzoo.data.sources import ChecksumMismatch, Progress, cache_root, find, search_places
from cnnzoo.errors import DataError

from .writers import write_cifar_archive, write_idx_dataset

MNIST_FILES = [f.name for f in get_spec("mnist").files]


def sha256(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def serve_mnist(server, mirror: str = "m1") -> dict[str, str]:
    """Put a small MNIST under ``/<mirror>/`` and return checksums for its files."""
    folder = write_idx_dataset(server.root / mirror, 40, 20)
    return {name: sha256(folder / name) for name in MNIST_FILES}


# ---------------------------------------------------------------------------------------------
# search order


def test_search_order_is_data_dir_env_cache_system(tmp_path, isolated, monkeypatch):
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path / "envdata"))
    places = [(label, p) for label, p in search_places(get_spec("fashion-mnist"), tmp_path / "dd")]
    labels = [label for label, _ in places]
    assert labels.index("--data-dir") < labels.index("$CNNZOO_DATA") < labels.index("cache") < labels.index("system")
    assert (("cache", isolated.cache / "fashion-mnist") in places
            and ("system", isolated.system / "fashion-mnist") in places
            and ("$CNNZOO_DATA", tmp_path / "envdata" / "fashion-mnist") in places)
    assert ("cache", isolated.cache / "FashionMNIST/raw") in places  # torchvision's layout


def test_first_complete_place_wins(tmp_path, isolated, monkeypatch):
    spec = get_spec("mnist")
    write_idx_dataset(isolated.system / "mnist", 10, 10)
    assert find(spec)[0].where == "system"
    write_idx_dataset(isolated.cache / "mnist", 10, 10)
    assert find(spec)[0].where == "cache"
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path / "env"))
    write_idx_dataset(tmp_path / "env" / "mnist", 10, 10)
    assert find(spec)[0].where == "$CNNZOO_DATA"
    write_idx_dataset(tmp_path / "mine", 20, 10)
    loc = find(spec, tmp_path / "mine")[0]
    assert (loc.where, loc.path) == ("--data-dir", tmp_path / "mine")
    ds = load_dataset("mnist", data_dir=tmp_path / "mine", offline=True)
    assert ds.source == str(tmp_path / "mine") and ds.found_in == "--data-dir"


def test_incomplete_folder_is_skipped_and_named(tmp_path, isolated):
    folder = write_idx_dataset(isolated.cache / "mnist", 10, 10)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    write_idx_dataset(isolated.system / "mnist", 10, 10)
    assert find(get_spec("mnist"))[0].where == "system"
    shutil.rmtree(isolated.system / "mnist")
    with pytest.raises(DataError) as e:
        load_dataset("mnist", offline=True)
    msg = str(e.value)
    assert "\n" not in msg and "offline" in msg
    assert f"{folder} (missing t10k-labels-idx1-ubyte.gz)" in msg
    assert str(isolated.system / "mnist") in msg and "cnnzoo data fetch mnist" in msg


def test_torchvision_layout_is_found(isolated):
    write_idx_dataset(isolated.cache / "KMNIST" / "raw", 20, 10, gz=False)
    assert load_dataset("kmnist", offline=True).source == str(isolated.cache / "KMNIST" / "raw")


def test_unknown_dataset_suggests(tmp_path):
    with pytest.raises(DataError, match=r"unknown dataset 'fashion-mnst' \(did you mean 'fashion-mnist'"):
        load_dataset("fashion-mnst", offline=True)


# ---------------------------------------------------------------------------------------------
# downloads


def test_download_success_is_verified_and_loadable(http_server, monkeypatch, isolated, capsys):
    sums = serve_mnist(http_server)
    monkeypatch.setenv("CNNZOO_MIRRORS", f"{http_server.url}/m1/")
    dest = fetch("mnist", checksums=sums, progress=False)
    assert dest == isolated.cache / "mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(MNIST_FILES)  # no temporary files left
    assert len(http_server.requests) == 4
    # fetching again re-uses the verified files
    fetch("mnist", checksums=sums, progress=False)
    assert len(http_server.requests) == 4
    assert capsys.readouterr().err == ""  # progress=False is quiet


def test_load_dataset_downloads_into_cache_when_missing(http_server, monkeypatch, isolated, tmp_path):
    sums = serve_mnist(http_server)
    table = tmp_path / "sums.json"
    table.write_text(json.dumps({"mnist": sums}))
    monkeypatch.setenv("CNNZOO_CHECKSUMS", str(table))
    monkeypatch.setenv("CNNZOO_MIRRORS", f"{http_server.url}/m1")
    ds = load_dataset("mnist", progress=False)
    assert (ds.found_in, ds.source) == ("download", str(isolated.cache / "mnist"))
    assert len(ds.train) + len(ds.val) == 40


def test_checksum_mismatch_leaves_nothing_behind(http_server, tmp_path):
    serve_mnist(http_server)
    dest = tmp_path / "new" / "mnist"
    with pytest.raises(ChecksumMismatch) as e:  # the pinned (official) md5s do not match our files
        fetch("mnist", dest, mirrors=[f"{http_server.url}/m1/"], progress=False)
    msg = str(e.value)
    assert "expected md5:f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg and "got md5:" in msg
    assert not (tmp_path / "new").exists()  # not even the folders it created


def test_checksum_mismatch_keeps_an_existing_folder_but_adds_nothing(http_server, tmp_path):
    serve_mnist(http_server)
    dest = tmp_path / "keep"
    dest.mkdir()
    with pytest.raises(DataError):
        fetch("mnist", dest, mirrors=[f"{http_server.url}/m1/"], progress=False)
    assert dest.is_dir() and list(dest.iterdir()) == []


def test_404_then_fallback_to_next_mirror(http_server, tmp_path, capsys):
    sums = serve_mnist(http_server, "good")
    (http_server.root / "empty").mkdir()
    mirrors = [f"{http_server.url}/empty/", f"{http_server.url}/good/"]
    fetch("mnist", tmp_path / "d", mirrors=mirrors, checksums=sums, progress=None)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == sorted(MNIST_FILES)
    assert http_server.requests[:2] == ["/empty/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]
    err = capsys.readouterr().err  # not a terminal: plain lines, no carriage returns
    assert "\r" not in err and "downloading" in err and "sha256 verified" in err


def test_all_mirrors_fail_one_line_naming_each(http_server, tmp_path):
    (http_server.root / "a").mkdir()
    with pytest.raises(DataError) as e:
        fetch("mnist", tmp_path / "d", mirrors=[f"{http_server.url}/a/", "http://127.0.0.1:9/"], progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "HTTP 404" in msg and "127.0.0.1:9" in msg and "CNNZOO_MIRRORS" in msg
    assert not (tmp_path / "d").exists()


def test_checksum_mismatch_on_first_mirror_falls_back(http_server, tmp_path):
    sums = serve_mnist(http_server, "good")
    bad = http_server.root / "bad"
    bad.mkdir()
    for name in MNIST_FILES:
        (bad / name).write_bytes(b"tampered")
    fetch("mnist", tmp_path / "d", mirrors=[f"{http_server.url}/bad/", f"{http_server.url}/good/"],
          checksums=sums, progress=False)
    assert all(sha256(tmp_path / "d" / n) == sums[n] for n in MNIST_FILES)


def test_offline_never_connects(http_server, monkeypatch):
    serve_mnist(http_server)
    monkeypatch.setenv("CNNZOO_MIRRORS", f"{http_server.url}/m1/")

    def no_network(*args, **kwargs):
        raise AssertionError("offline code called urlopen")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DataError, match="offline and not found"):
        load_dataset("mnist", offline=True)
    with pytest.raises(DataError, match="not found"):
        load_dataset("mnist", download=False)
    assert http_server.requests == []


def test_unreachable_network_is_a_dataerror_not_a_traceback(tmp_path, isolated):
    # the default test mirror is a closed loopback port: "connection refused", like an offline box
    with pytest.raises(DataError, match="could not download train-images-idx3-ubyte.gz.*refused"):
        load_dataset("mnist", progress=False)
    assert not (isolated.cache / "mnist").exists()


def test_bad_checksum_override_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="bad checksum 'sha256:xyz'"):
        fetch("mnist", tmp_path, checksums={"train-images-idx3-ubyte.gz": "sha256:xyz"})


def test_cifar_download_then_read_from_the_archive(http_server, tmp_path, monkeypatch):
    w = write_cifar_archive(http_server.root / "kriz", "cifar10", per_batch=3, n_test=4)
    monkeypatch.setenv("CNNZOO_MIRRORS", f"{http_server.url}/kriz/")
    dest = fetch("cifar10", tmp_path / "c", checksums={w["path"].name: sha256(w["path"])}, progress=False)
    ds = load_dataset("cifar10", data_dir=dest, offline=True, val_fraction=0)
    assert (len(ds.train), len(ds.test)) == (15, 4)


def test_progress_on_a_terminal_redraws_one_line():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    bar = Progress("file.gz", 2_000_000, stream=out)
    bar.last -= 1  # as if a redraw interval had passed
    bar.update(1_000_000)
    bar.close("md5 verified")
    text = out.getvalue()
    assert text.startswith("\rfile.gz   50%") and text.endswith("file.gz: 1.0 MB, md5 verified\n")


def test_cache_root_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "cnnzoo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "cnnzoo"


def test_unwritable_destination_is_a_local_error_not_a_mirror_failure(http_server, tmp_path, monkeypatch):
    import tempfile

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)  # as in a read-only folder (even for root)
    sums = serve_mnist(http_server)
    dest = tmp_path / "ro"
    with pytest.raises(DataError, match=f"cannot write in {dest}: Permission denied"):
        fetch("mnist", dest, mirrors=[f"{http_server.url}/m1/", f"{http_server.url}/m2/"], checksums=sums,
              progress=False)
    assert http_server.requests == [] and not dest.exists()


def test_a_recompressed_copy_is_accepted_by_its_pinned_content_hash(http_server, tmp_path):
    import gzip

    from cnnzoo.data.catalog import DatasetSpec, FileSpec

    content = bytes(range(256)) * 50
    official = gzip.compress(content, mtime=0)
    recompressed = gzip.compress(content, compresslevel=1, mtime=123)  # same content, other bytes
    assert recompressed != official
    spec = DatasetSpec("toy", "Toy", "", "", "idx", None, {}, False,
                       files=(FileSpec("toy.gz", hashlib.md5(official).hexdigest(),
                                       hashlib.sha256(content).hexdigest()),))
    (http_server.root / "toy.gz").write_bytes(recompressed)
    dest = fetch(spec, tmp_path / "ok", mirrors=[http_server.url], progress=False)
    assert (dest / "toy.gz").read_bytes() == recompressed
    assert (dest / "toy.gz").stat().st_mode & 0o777 == 0o666 & ~_current_umask()
    # different content under the same name is still refused
    (http_server.root / "toy.gz").write_bytes(gzip.compress(content[:-1]))
    with pytest.raises(ChecksumMismatch):
        fetch(spec, tmp_path / "bad", mirrors=[http_server.url], progress=False)
    assert not (tmp_path / "bad").exists()


def _current_umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_silent_mirror_times_out_and_the_next_one_is_used(http_server, tmp_path):
    import socket
    import time

    from cnnzoo.data.sources import download_file

    sums = serve_mnist(http_server, "good")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel completes the handshake; nobody ever answers
    try:
        t = time.monotonic()
        name = "t10k-labels-idx1-ubyte.gz"
        path = download_file(name, [f"http://127.0.0.1:{silent.getsockname()[1]}/", f"{http_server.url}/good/"],
                             tmp_path, sums[name], progress=False, timeout=0.3)
        assert path.read_bytes() == (http_server.root / "good" / name).read_bytes()
        assert time.monotonic() - t < 5
    finally:
        silent.close()

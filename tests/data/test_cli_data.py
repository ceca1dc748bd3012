"""``cnnzoo data list|info|fetch|verify``: output, JSON, exit codes and one-line errors."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil

import pytest

from .writers import make_folder, write_idx_dataset

SYSTEM_FASHION = "/usr/share/datasets/fashion-mnist"
HAVE_FASHION = os.path.isfile(f"{SYSTEM_FASHION}/train-images-idx3-ubyte.gz")
NEED_FASHION = pytest.mark.skipif(not HAVE_FASHION, reason=f"real Fashion-MNIST not installed in "
                                                           f"{SYSTEM_FASHION} (apt install dataset-fashion-mnist)")


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def one_warning(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1, err
    return lines[0]


def test_list_table_and_json(cli):
    code, out, _ = cli("data", "list")
    assert code == 0
    for name in ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "folder"):
        assert f"\n{name} " in out
    assert "60000/10000" in out and "50000/10000" in out
    code, out, _ = cli("data", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["cifar100"]["num_classes"] == 100 and rows["mnist"]["flip"] is False
    assert rows["cifar10"]["urls"] == ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"]


def test_info_text_and_json(cli, tmp_path):
    write_idx_dataset(tmp_path / "kmnist", 200, 50)
    code, out, err = cli("data", "info", "kmnist", "--data-dir", tmp_path, "--offline")
    assert code == 0, err
    assert "train 200, test 50" in out and "1x28x28" in out and str(tmp_path / "kmnist") in out
    assert "10: o, ki, su" in out and "flip" in out
    code, out, _ = cli("data", "info", "kmnist", "--data-dir", tmp_path, "--offline", "--json")
    info = json.loads(out)
    assert info["splits"] == {"train": 200, "test": 50} and info["image_shape"] == [1, 28, 28]
    assert info["found_in"] == "--data-dir" and len(info["mean"]) == len(info["std"]) == 1
    assert 0.45 < info["mean"][0] < 0.55  # uniform random pixels


def test_info_on_a_folder_path(cli, tmp_path, monkeypatch):
    make_folder(tmp_path / "pets", per_class=4)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("data", "info", "./pets", "--image-size", "16", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["classes"] == ["cat", "dog", "eel"] and info["splits"] == {"train": 12}
    assert info["image_shape"] == [3, 16, 16] and info["skipped"] == 6
    assert one_warning(err).startswith("warning: skipped 6 files in pets")
    code, out, _ = cli("data", "info", "folder", "--data-dir", "pets", "--image-size", "16")
    assert code == 0 and "train 12" in out and "skipped" in out


def test_unknown_name_and_missing_dataset_are_one_line(cli):
    code, _, err = cli("data", "info", "cifar-11", "--offline")
    assert code == 2 and "did you mean 'cifar10'" in one_error_line(err)
    code, _, err = cli("data", "info", "cifar100", "--offline")
    line = one_error_line(err)
    assert code == 2 and "offline and not found" in line and "cnnzoo data fetch cifar100" in line


def test_fetch_bad_checksum_exits_2_naming_both_checksums(cli, http_server, monkeypatch, tmp_path):
    write_idx_dataset(http_server.root / "m", 20, 10)
    monkeypatch.setenv("CNNZOO_MIRRORS", f"{http_server.url}/m/")
    code, out, err = cli("data", "fetch", "fashion-mnist", "--dest", tmp_path / "fm", "--quiet")
    line = one_error_line(err)
    got = hashlib.md5((http_server.root / "m" / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    assert code == 2 and out == ""
    assert "expected md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d" in line and f"got md5:{got}" in line
    assert not (tmp_path / "fm").exists()


def test_fetch_with_checksum_table_then_verify(cli, http_server, monkeypatch, tmp_path):
    folder = write_idx_dataset(http_server.root / "m", 20, 10)
    table = {name.name: "sha256:" + hashlib.sha256(name.read_bytes()).hexdigest() for name in folder.iterdir()}
    sums = tmp_path / "sums.json"
    sums.write_text(json.dumps({"mnist": table}))
    monkeypatch.setenv("CNNZOO_MIRRORS", f"{http_server.url}/m/")
    monkeypatch.setenv("CNNZOO_CHECKSUMS", str(sums))
    code, out, err = cli("data", "fetch", "mnist", "--dest", tmp_path / "got")
    assert code == 0, err
    assert f"verified in {tmp_path / 'got'}" in out and "downloading" in err
    code, out, err = cli("data", "verify", "mnist", "--data-dir", tmp_path / "got")
    assert code == 0, err
    assert out.count("  ok ") == 5 and "train 20, test 10 images of 1x28x28" in out
    # one tampered byte: a mismatch, exit 2 with one error line after the report
    p = tmp_path / "got" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    code, out, err = cli("data", "verify", "mnist", "--data-dir", tmp_path / "got")
    assert code == 2 and "mismatch   " in out and "verification failed" in one_error_line(err)
    assert "broken" in out  # and the gzip CRC no longer holds either


def test_verify_decompressed_files_are_unverified_but_pass(cli, tmp_path):
    write_idx_dataset(tmp_path / "mnist", 20, 10, gz=False)
    code, out, err = cli("data", "verify", "mnist", "--data-dir", tmp_path, "--json")
    report = json.loads(out)
    assert code == 0, err
    assert [f["status"] for f in report["files"]] == ["unverified"] * 4 and report["structure_ok"]


def test_verify_gz_that_is_not_the_official_archive_fails(cli, tmp_path):
    write_idx_dataset(tmp_path / "mnist", 20, 10)
    code, out, err = cli("data", "verify", "mnist", "--data-dir", tmp_path)
    assert code == 2 and out.count("mismatch") == 4 and "expected md5:f68b3c2d" in out
    one_error_line(err)


def test_verify_structure_error_exits_2(cli, tmp_path):
    folder = write_idx_dataset(tmp_path / "kmnist", 20, 10, gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x05abc")
    code, out, err = cli("data", "verify", "kmnist", "--data-dir", tmp_path)
    assert code == 2 and "broken     structure:" in out and "truncated" in out
    one_error_line(err)


def test_fetch_folder_is_refused(cli):
    code, _, err = cli("data", "fetch", "folder")
    assert code == 2 and "nothing to fetch" in one_error_line(err)


@NEED_FASHION
def test_info_fashion_mnist_offline_from_the_system_folder(cli, monkeypatch):
    monkeypatch.setenv("CNNZOO_SYSTEM_DATA", "/usr/share/datasets")
    code, out, err = cli("data", "info", "fashion-mnist", "--offline", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["splits"] == {"train": 60000, "test": 10000}
    assert info["source"] == SYSTEM_FASHION and info["found_in"] == "system"
    assert info["classes"][0] == "T-shirt/top" and info["image_shape"] == [1, 28, 28]
    assert info["mean"][0] == pytest.approx(0.2860, abs=1e-4) and info["std"][0] == pytest.approx(0.3530, abs=1e-4)


@NEED_FASHION
def test_verify_recognizes_debians_recompressed_fashion_mnist(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNZOO_SYSTEM_DATA", "/usr/share/datasets")
    code, out, err = cli("data", "verify", "fashion-mnist")
    assert code == 0, err
    assert out.count("sha256 of the decompressed content") == 4
    # the same content decompressed by hand is still recognized
    for f in os.listdir(SYSTEM_FASHION):
        with gzip.open(f"{SYSTEM_FASHION}/{f}") as src, open(tmp_path / f[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    code, out, _ = cli("data", "verify", "fashion-mnist", "--data-dir", tmp_path)
    assert code == 0 and out.count("  ok ") == 5


@NEED_FASHION
def test_cnnzoo_command_reports_system_fashion_mnist_offline(tmp_path):
    """The real entry point, in a fresh process, as a user runs it."""
    import subprocess
    import sys

    env = {**os.environ, "CNNZOO_SYSTEM_DATA": "/usr/share/datasets", "XDG_CACHE_HOME": str(tmp_path),
           "CNNZOO_MIRRORS": "http://127.0.0.1:9/"}
    env.pop("CNNZOO_DATA", None)
    proc = subprocess.run([sys.executable, "-m", "cnnzoo", "data", "info", "fashion-mnist", "--offline"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "train 60000, test 10000" in proc.stdout
    assert f"found in     {SYSTEM_FASHION} (system)" in proc.stdout

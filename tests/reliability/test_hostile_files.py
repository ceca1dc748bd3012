"""Guarantee: nothing a user receives from someone else runs code on their machine.

Checkpoints are safetensors + JSON; nothing is unpickled. A crafted pickle that would create a
marker file is refused (with a clean error) through eval, predict and resume, and the marker never
appears. CIFAR archives are read in place and refuse links and paths leaving their folder. A
download is checked against its pinned checksum before it is used.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from PIL import Image

from .conftest import assert_error_line, assert_one_line_error, run_cli


class Payload:
    """Unpickling this runs `touch <marker>` (the classic pickle attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_payloads(folder: Path, marker: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "evil.pkl"
    raw.write_bytes(pickle.dumps({"state_dict": Payload(marker)}))
    zipped = folder / "evil.pt"
    torch.save({"state_dict": Payload(marker)}, zipped)  # torch's zip container around the pickle
    as_safetensors = folder / "evil.safetensors"
    as_safetensors.write_bytes(pickle.dumps(Payload(marker)))
    return {"pkl": raw, "pt": zipped, "safetensors": as_safetensors}


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    m = tmp_path / "PWNED"
    assert not m.exists()
    return m


def test_the_payload_is_real(tmp_path, marker):
    """Sanity check of the attack itself: plain pickle.loads would run it."""
    files = write_payloads(tmp_path / "p", marker)
    pickle.loads(files["pkl"].read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("kind", ["pkl", "pt", "safetensors"])
def test_eval_and_predict_refuse_pickles(kind, tmp_path, marker, capsys):
    evil = write_payloads(tmp_path / "p", marker)[kind]
    img = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(img)
    code, _, err = run_cli(capsys, "eval", evil, "--offline")
    assert_one_line_error(code, err, str(evil))
    code, _, err = run_cli(capsys, "predict", evil, img)
    assert_one_line_error(code, err, str(evil))
    assert not marker.exists(), "a pickle was executed"


def test_resume_refuses_pickles_in_a_run(run_copy, marker, tmp_path, capsys):
    files = write_payloads(tmp_path / "p", marker)
    for name in ("last.safetensors", "last.state.safetensors", "best.safetensors"):
        (run_copy / "checkpoints" / name).write_bytes(files["pt"].read_bytes())
    code, _, err = run_cli(capsys, "train", "--resume", run_copy, "--epochs", "2")
    assert_one_line_error(code, err, "pickled PyTorch file", "never unpickles")
    code, _, err = run_cli(capsys, "eval", run_copy, "--offline")
    assert_one_line_error(code, err, "never unpickles")
    assert not marker.exists()


def test_no_pickle_loader_is_reachable():
    """No module of the package calls pickle.load(s) or torch.load without weights_only=True."""
    import re

    src = Path(__file__).resolve().parents[2] / "src" / "cnnzoo"
    offenders = []
    for path in src.rglob("*.py"):
        text = path.read_text()
        if re.search(r"\bpickle\.loads?\(|\bnp\.load\([^)]*allow_pickle\s*=\s*True", text):
            offenders.append(str(path))
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path}: {m.group(0)}")
    assert not offenders, offenders


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink", "hardlink"])
def test_cifar_archive_cannot_escape_its_folder(attack, tmp_path, capsys):
    folder = tmp_path / "cifar"
    folder.mkdir()
    outside = tmp_path / "outside.txt"
    record = bytes(1 + 3 * 32 * 32)
    members = []
    for i in range(1, 6):
        info = tarfile.TarInfo(f"cifar-10-batches-bin/data_batch_{i}.bin")
        info.size = len(record) * 2
        members.append((info, record * 2))
    names = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
    info = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
    info.size = len(names)
    members.append((info, names))
    if attack in ("dotdot", "absolute"):
        evil = tarfile.TarInfo("../outside.txt" if attack == "dotdot" else str(outside))
        evil.size = 4
        members.append((evil, b"evil"))
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(record)
        members.append((info, record))
    else:
        link = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        link.type = tarfile.SYMTYPE if attack == "symlink" else tarfile.LNKTYPE
        link.linkname = "/etc/passwd" if attack == "symlink" else "../../outside.txt"
        members.append((link, None))
    (folder / "cifar-10-binary.tar.gz").write_bytes(_tar_gz(members))
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli(capsys, "data", "info", "cifar10", "--data-dir", folder, "--offline")
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if attack in ("symlink", "hardlink"):
        assert_one_line_error(code, err, "link")
    else:
        # the stray member is never read: the dataset loads from the members it needs
        assert code == 0, err


def test_tampered_download_is_never_used(tmp_path, fashion_dir, monkeypatch, capsys):
    """A mirror serving altered files: the download fails on the checksum and leaves nothing."""
    served = tmp_path / "mirror"
    served.mkdir()
    for f in fashion_dir.iterdir():
        data = f.read_bytes()
        (served / f.name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("CNNZOO_MIRRORS", f"http://127.0.0.1:{server.server_address[1]}/")
        dest = tmp_path / "dest"
        code, _, err = run_cli(capsys, "data", "fetch", "fashion-mnist", "--dest", dest)
    finally:
        server.shutdown()
    assert_error_line(code, err, "checksum mismatch", "expected md5:")
    assert not dest.exists() or not any(dest.rglob("*-ubyte*"))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def test_gzip_bomb_like_idx_is_refused(tmp_path, capsys):
    """An IDX header claiming billions of images cannot make the reader allocate them."""
    folder = tmp_path / "fm"
    folder.mkdir()
    import struct

    header = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 2_000_000_000, 28, 28)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(100)))
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(gzip.compress(struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 1) + b"\x00"))
    code, _, err = run_cli(capsys, "data", "info", "fashion-mnist", "--data-dir", folder, "--offline")
    assert_one_line_error(code, err, "train-images")

"""A path of the wrong kind is one line naming the path and what was expected: never a fall-through
to another copy or a download, a hang (a named pipe blocks whoever opens it) or a traceback
(a symlink loop). Issue 14, items 4 and 5, and their neighbours."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from PIL import Image

from cnnzoo.data import sources

from .conftest import assert_error_line, assert_one_line_error, run_cli

pytestmark = pytest.mark.timeout(60)  # a regression here is a hang: fail instead


def make(kind: str, path: Path) -> Path:
    """A path of ``kind``: file, loop (symlink loop), fifo, socket, device."""
    if kind == "file":
        path.write_bytes(b"not a folder")
    elif kind == "loop":
        os.symlink(path.with_name(path.name + "-b"), path)
        os.symlink(path, path.with_name(path.name + "-b"))
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
    elif kind == "device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
        except PermissionError:
            pytest.skip("making a device node needs root")
    return path


KIND_WORDS = {"file": "is a file", "loop": "is a symlink loop", "fifo": "is a named pipe", "socket": "is a socket",
              "device": "is a device"}


@pytest.fixture
def no_download(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(sources, "fetch", refuse)
    monkeypatch.setattr(sources, "download_file", refuse)


# --- --data-dir -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "loop", "fifo"])
def test_data_dir_of_the_wrong_kind_is_refused_not_searched_past(kind, tmp_path, capsys, fashion_dir,
                                                                 monkeypatch, no_download):
    # a complete copy elsewhere in the search order must not be used instead
    (tmp_path / "elsewhere").mkdir()
    os.symlink(fashion_dir, tmp_path / "elsewhere" / "fashion-mnist")
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path / "elsewhere"))
    bad = make(kind, tmp_path / "data")
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", bad,
                           "--epochs", "1", "--out", tmp_path / "run")
    assert_one_line_error(code, err, f"--data-dir {bad} {KIND_WORDS[kind]} (for fashion-mnist)", "folder")
    assert not (tmp_path / "run").exists()


def test_data_dir_that_is_a_file_without_offline_does_not_download(tmp_path, capsys, no_download):
    bad = make("file", tmp_path / "data")
    code, _, err = run_cli(capsys, "data", "info", "fashion-mnist", "--data-dir", bad)
    assert_one_line_error(code, err, f"--data-dir {bad} is a file")
    code, _, err = run_cli(capsys, "data", "verify", "fashion-mnist", "--data-dir", bad)
    assert_one_line_error(code, err, f"--data-dir {bad} is a file")


def test_unreadable_data_dir_is_one_line(tmp_path, capsys, monkeypatch, no_download):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.scandir

    def scandir(path="."):
        if Path(path) == locked:  # what chmod 000 does for anyone but root
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", locked,
                           "--out", tmp_path / "run")
    assert_one_line_error(code, err, f"--data-dir {locked} cannot be read (Permission denied)")


@pytest.mark.parametrize("kind", ["loop", "fifo"])
def test_image_folder_root_of_the_wrong_kind(kind, tmp_path, capsys):
    bad = make(kind, tmp_path / "photos")
    code, _, err = run_cli(capsys, "train", "--dataset", "folder", "--data-dir", bad, "--out", tmp_path / "r")
    assert_one_line_error(code, err, f"{bad} is not a folder (it {KIND_WORDS[kind]})")
    code, _, err = run_cli(capsys, "data", "info", bad)
    assert_one_line_error(code, err, f"{bad} is not a folder (it {KIND_WORDS[kind]})")


# --- outputs, configs, runs, checkpoints, images --------------------------------------------------


@pytest.mark.parametrize("kind", ["loop", "fifo"])
def test_out_of_the_wrong_kind(kind, tmp_path, capsys, fashion_dir, small_run):
    bad = make(kind, tmp_path / "out")
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir",
                           fashion_dir, "--offline", "--out", bad)
    assert_one_line_error(code, err, f"--out {bad} {KIND_WORDS[kind]}", "folder")
    code, _, err = run_cli(capsys, "compare", small_run, "--out", bad)
    assert_one_line_error(code, err, f"--out {bad} {KIND_WORDS[kind]}", "folder")


@pytest.mark.parametrize("kind", ["loop", "fifo", "socket"])
def test_config_of_the_wrong_kind(kind, tmp_path, capsys):
    bad = make(kind, tmp_path / "recipe.yaml")
    code, _, err = run_cli(capsys, "train", "--config", bad)
    assert_one_line_error(code, err, f"{bad.name} {KIND_WORDS[kind]}", "YAML file")


@pytest.mark.parametrize("kind", ["file", "loop", "fifo"])
def test_resume_of_the_wrong_kind(kind, tmp_path, capsys):
    bad = make(kind, tmp_path / "run")
    code, _, err = run_cli(capsys, "train", "--resume", bad)
    assert_one_line_error(code, err, f"--resume {bad} {KIND_WORDS[kind]}", "not a run directory")


@pytest.mark.parametrize("kind", ["loop", "fifo", "device"])
@pytest.mark.parametrize("command", [["report"], ["visualize", "--what", "filters"], ["eval"], ["predict"]])
def test_run_argument_of_the_wrong_kind(kind, command, tmp_path, capsys, small_run):
    bad = make(kind, tmp_path / "run")
    image = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(image)
    argv = [command[0], bad, *command[1:]] + ([image] if command == ["predict"] else [])
    code, _, err = run_cli(capsys, *argv)
    assert_error_line(code, err, f"{bad} {KIND_WORDS[kind]}", "not a run directory")


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_checkpoint_file_of_the_wrong_kind_inside_a_run_is_not_opened(kind, run_copy, capsys, tmp_path):
    best = run_copy / "checkpoints" / "best.safetensors"
    if best.exists():
        best.unlink()
    make(kind, best)
    # best is no file: the run's last checkpoint is used, the pipe is never opened
    code, _, err = run_cli(capsys, "predict", run_copy, *_an_image(tmp_path))
    assert code == 0, err


def _an_image(tmp_path: Path) -> list[Path]:
    image = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(image)
    return [image]


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_predict_image_of_the_wrong_kind(kind, small_run, tmp_path, capsys):
    bad = make(kind, tmp_path / "shoe.png")
    code, _, err = run_cli(capsys, "predict", small_run, bad)
    assert_one_line_error(code, err, f"{bad} {KIND_WORDS[kind]}, not an image file")


# --- item 5: non-regular files in an image folder ---------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_non_regular_files_in_an_image_folder_are_skipped_not_opened(kind, tmp_path, capsys):
    root = tmp_path / "pets"
    for c, colour in (("cat", 40), ("dog", 200)):
        (root / c).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (12, 12), colour + i).save(root / c / f"{i}.png")
    odd = make(kind, root / "cat" / "odd.png")  # an image's name, but no image
    os.symlink(odd, root / "dog" / "link-to-odd.png")
    make(kind, root / "loose.png")  # beside the class folders
    code, _, err = run_cli(capsys, "data", "info", root, "--json")
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: skipped 3 files in {root}"), err
    assert "not regular files" in warnings[0] and "odd.png" in warnings[0]
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "folder", "--data-dir", root,
                           "--image-size", "12", "--epochs", "1", "--batch-size", "4", "--out", tmp_path / "run",
                           "--quiet", "--set", "output.plots=false", "data.val_fraction=0.25")
    assert code == 0, err
    assert "skipped 3 files" in err


@pytest.mark.parametrize("kind", ["fifo", "loop"])
def test_checksums_file_of_the_wrong_kind(kind, tmp_path, capsys, monkeypatch):
    bad = make(kind, tmp_path / "sums.json")
    monkeypatch.setenv("CNNZOO_CHECKSUMS", str(bad))
    code, _, err = run_cli(capsys, "data", "fetch", "mnist", "--dest", tmp_path / "d")
    # the environment module's one format for a variable's bad value: $NAME='value': expected ...
    assert_error_line(code, err, f"$CNNZOO_CHECKSUMS='{bad}'", f"JSON file, but it {KIND_WORDS[kind]}")


@pytest.mark.parametrize("kind", ["file", "loop", "fifo"])
def test_fetch_dest_of_the_wrong_kind(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sources, "download_file", lambda *a, **k: pytest.fail("a download was attempted"))
    bad = make(kind, tmp_path / "dest")
    code, _, err = run_cli(capsys, "data", "fetch", "mnist", "--dest", bad)
    assert_one_line_error(code, err, f"{bad} {KIND_WORDS[kind]}", "choose a folder")

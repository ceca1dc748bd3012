"""Guarantee: a user's mistake is one `error: ...` line on stderr and exit status 2, saying what was
wrong, where, and what to do; `--debug` shows the traceback."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image

from .conftest import assert_one_line_error, run_cli


def data_args(d: Path) -> list[str]:
    return ["--dataset", "fashion-mnist", "--data-dir", str(d), "--offline"]


@pytest.mark.parametrize("argv, fragments", [
    (["train", "--model", "resnet1888"], ["unknown model 'resnet1888'", "did you mean"]),
    (["train", "--dataset", "fashion_mnst", "--offline"], ["fashion-mnist"]),
    (["train", "--set", "optim.name=adamm"], ["'optim.name' must be one of", "did you mean 'adam'"]),
    (["train", "--set", "schedule.name=cosin"], ["'schedule.name'", "did you mean 'cosine'"]),
    (["train", "--set", "train.epochz=3"], ["unknown key 'train.epochz'", "did you mean 'train.epochs'"]),
    (["train", "--set", "data.batch_size=big"], ["'data.batch_size' must be an integer"]),
    (["train", "--set", "train.label_smoothing=0.9"], ["'train.label_smoothing' must be at most 0.5"]),
    (["train", "--set", "train.epochs"], ["needs the form key=value"]),
    (["train", "--batch-size", "0"], ["'data.batch_size' must be at least 1"]),
    (["train", "--lr", "-0.1"], ["'optim.lr' must be greater than 0"]),
    (["train", "--epochs", "-1"], ["'train.epochs' must be at least 1"]),
    (["train", "--model", "vgg11", "--image-size", "8"], ["vgg11 needs inputs of at least 16x16, got 8x8"]),
    (["train", "--device", "cuda"], ["no CUDA GPU is available"]),
    (["train", "--resume", "/nonexistent/run"], ["not a cnnzoo run directory"]),
    (["evaluate", "x"], ["unknown value 'evaluate'", "did you mean 'eval'"]),
    (["train", "--bogus-flag"], ["unrecognized arguments: --bogus-flag"]),
])
def test_cli_mistakes(argv, fragments, fashion_dir, tmp_path, capsys):
    if "--device" in argv and __import__("torch").cuda.is_available():
        pytest.skip("a GPU is present")
    extra = []
    if argv[0] == "train" and "--resume" not in argv:
        extra = (data_args(fashion_dir) if "--dataset" not in argv else []) + ["--out", str(tmp_path / "r")]
    code, _, err = run_cli(capsys, *argv, *extra)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "r").exists()


def test_config_file_mistakes_name_file_and_line(tmp_path, fashion_dir, capsys):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("train:\n  epochs: 3\n  seed: [1,\n")
    code, _, err = run_cli(capsys, "train", "--config", bad_yaml, *data_args(fashion_dir))
    assert_one_line_error(code, err, f"{bad_yaml}:", "invalid YAML")
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  name: cnn\noptim:\n  learning_rate: 0.1\n")
    code, _, err = run_cli(capsys, "train", "--config", typo, *data_args(fashion_dir))
    assert_one_line_error(code, err, f"{typo}:4", "unknown key 'optim.learning_rate'")


def _idx_header(kind: int, *dims: int) -> bytes:
    return struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("damage, fragment", [
    ("magic", "magic"),
    ("truncate", "truncated"),
    ("crc", "gzip"),
    ("count", "labels"),
])
def test_corrupt_dataset_files(damage, fragment, fashion_dir, tmp_path, capsys):
    d = tmp_path / "fm"
    shutil.copytree(fashion_dir, d)
    images = d / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    if damage == "magic":
        images.write_bytes(gzip.compress(b"\x00\x00\x09\x03" + raw[4:]))
    elif damage == "truncate":
        images.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    elif damage == "crc":
        blob = bytearray(gzip.compress(raw))
        blob[-8] ^= 0xFF  # the CRC32 in the gzip trailer
        images.write_bytes(bytes(blob))
    else:
        labels = d / "train-labels-idx1-ubyte.gz"
        lraw = gzip.decompress(labels.read_bytes())
        n = struct.unpack(">I", lraw[4:8])[0]
        labels.write_bytes(gzip.compress(_idx_header(8, n - 5) + lraw[8 : 8 + n - 5]))
    code, _, err = run_cli(capsys, "train", "--model", "cnn", *data_args(d), "--out", tmp_path / "r")
    assert_one_line_error(code, err, fragment)
    assert "train-" in err  # names the file


def test_missing_dataset_says_where_it_looked(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "kmnist", "--offline",
                           "--out", tmp_path / "r")
    assert_one_line_error(code, err, "kmnist", "offline")


def test_empty_and_single_class_folders(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "train", "--dataset", "folder", "--data-dir", empty, "--out", tmp_path / "r")
    assert_one_line_error(code, err, str(empty))
    one = tmp_path / "one" / "cats"
    one.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (12, 12), (i * 40, 0, 0)).save(one / f"{i}.png")
    code, _, err = run_cli(capsys, "train", "--dataset", "folder", "--data-dir", one.parent, "--out", tmp_path / "r")
    assert_one_line_error(code, err, "class")


def test_image_folder_that_does_not_exist_or_is_a_file(tmp_path, capsys):
    missing = tmp_path / "my_photos"
    code, _, err = run_cli(capsys, "train", "--dataset", "folder", "--data-dir", missing, "--out", tmp_path / "r")
    assert_one_line_error(code, err, f"{missing} does not exist")
    a_file = tmp_path / "photo.png"
    a_file.write_bytes(b"")
    code, _, err = run_cli(capsys, "train", "--dataset", "folder", "--data-dir", a_file, "--out", tmp_path / "r")
    assert_one_line_error(code, err, f"{a_file} is not a folder")
    assert not (tmp_path / "r").exists()


def test_predict_unreadable_and_missing_images(small_run, tmp_path, capsys):
    junk = tmp_path / "notes.png"
    junk.write_text("this is not a picture")
    code, _, err = run_cli(capsys, "predict", small_run, junk)
    assert_one_line_error(code, err, f"cannot read {junk}")
    code, _, err = run_cli(capsys, "predict", small_run, tmp_path / "missing.jpg")
    assert_one_line_error(code, err, "image not found")


def test_checkpoint_of_another_model_or_class_count(small_run, run_copy, fashion_dir, tmp_path, capsys):
    # another class count: evaluate a 10-class checkpoint on a 3-class folder
    folder = tmp_path / "three"
    for c in ("a", "b", "c"):
        (folder / c).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (28, 28), 60 * i).save(folder / c / f"{i}.png")
    code, _, err = run_cli(capsys, "eval", small_run, "--dataset", "folder", "--data-dir", folder)
    assert_one_line_error(code, err, "predicts 10 classes", "has 3")
    # another model: a resnet20 run resumed from a convnet checkpoint
    other = tmp_path / "other"
    code, _, err = run_cli(capsys, "train", "--model", "resnet20", *data_args(fashion_dir), "--epochs", "1",
                           "--out", other, "--quiet", "--set", "train.max_steps=2", "output.plots=false")
    assert code == 0, err
    for name in ("last.safetensors", "last.state.safetensors"):
        shutil.copy(run_copy / "checkpoints" / name, other / "checkpoints" / name)
    code, _, err = run_cli(capsys, "train", "--resume", other, "--epochs", "2")
    assert_one_line_error(code, err, "trained as convnet with 10 classes", "builds resnet20")


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty"])
def test_damaged_checkpoints(how, run_copy, capsys):
    ck = run_copy / "checkpoints" / "best.safetensors"
    data = ck.read_bytes()
    ck.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"\x13\x37" * 5000, "empty": b""}[how])
    code, _, err = run_cli(capsys, "eval", run_copy, "--offline")
    assert_one_line_error(code, err, str(ck), "not a valid checkpoint")
    code, _, err = run_cli(capsys, "predict", ck, __file__)
    assert_one_line_error(code, err, "not a valid checkpoint")
    last = run_copy / "checkpoints" / "last.state.safetensors"
    last.write_bytes(b"\x00" * 10)
    code, _, err = run_cli(capsys, "train", "--resume", run_copy, "--epochs", "2")
    assert_one_line_error(code, err, "last.state.safetensors", "not a valid checkpoint")


def test_existing_out_refused(small_run, fashion_dir, capsys):
    code, _, err = run_cli(capsys, "train", "--model", "cnn", *data_args(fashion_dir), "--out", small_run)
    assert_one_line_error(code, err, "already exists and is not empty", "--resume", "--overwrite")


def test_debug_shows_the_traceback(capsys):
    code, _, err = run_cli(capsys, "train", "--model", "nope", "--debug")
    assert code == 2 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("error: unknown model 'nope'")


def test_training_state_without_its_step_is_a_damaged_checkpoint(run_copy, capsys):
    from safetensors import safe_open
    from safetensors.torch import save_file

    for name in ("last.safetensors", "last.state.safetensors"):  # both untagged: they still "match"
        path = run_copy / "checkpoints" / name
        with safe_open(str(path), "pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = {k: v for k, v in (f.metadata() or {}).items() if k != "tag"}
        save_file(tensors, str(path), metadata=meta)
    code, _, err = run_cli(capsys, "train", "--resume", run_copy, "--epochs", "2")
    assert_one_line_error(code, err, "last.state.safetensors", "the file is damaged")

"""Guarantee: crashes lose nothing.

Checkpoints are written to a temporary file, flushed and renamed; a SIGKILL at any moment leaves
the previous or the new checkpoint, never a torn one, and `--resume` after the kill reaches
bit-identical final weights (CPU, deterministic mode). A full disk or a read-only folder stops the
run with one line and keeps the previous checkpoint.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnzoo.cli import main
from cnnzoo.engine import checkpoint
from cnnzoo.engine.checkpoint import load_training_state, load_weights

from .conftest import assert_one_line_error, run_cli


def same_weights(a: Path, b: Path) -> bool:
    wa, sa = load_weights(a)
    wb, sb = load_weights(b)
    return sa == sb and wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)


def recipe(fashion_dir: Path) -> list[str]:
    # 1080 training images / batch 32 = 33 steps per epoch; a mid-epoch checkpoint every 10 steps
    return ["--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir), "--offline",
            "--epochs", "3", "--batch-size", "32", "--set", "train.deterministic=true", "train.checkpoint_every=10",
            "output.plots=false"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion_dir) -> Path:
    out = tmp_path_factory.mktemp("full") / "run"
    assert main(["train", *recipe(fashion_dir), "--out", str(out), "--quiet"]) == 0
    return out


def _start(fashion_dir: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "cnnzoo", "train", *recipe(fashion_dir), "--out", str(out),
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL the process as soon as ready() is true; False if it finished first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return True
    proc.kill()
    raise AssertionError("the training process neither finished nor reached the kill point")


def _tmp_files(ck: Path) -> bool:
    try:
        return any(e.name.endswith(".tmp") for e in os.scandir(ck))
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("point", ["mid-epoch", "during-checkpoint-write", "after-epoch"])
def test_sigkill_then_resume_is_bit_identical(point, uninterrupted, fashion_dir, tmp_path):
    out = tmp_path / "run"
    ck = out / "checkpoints"
    proc = _start(fashion_dir, out)
    if point == "mid-epoch":
        # after the first mid-epoch checkpoint, before the end of epoch 1
        ready = lambda: (ck / "last.state.safetensors").is_file()  # noqa: E731
    elif point == "during-checkpoint-write":
        # a checkpoint exists and the next one is being written right now
        ready = lambda: (ck / "last.state.safetensors").is_file() and _tmp_files(ck)  # noqa: E731
    else:
        ready = lambda: (out / "metrics.jsonl").is_file()  # noqa: E731
    killed = _kill_when(proc, ready)
    if not killed:
        pytest.skip(f"the run finished before reaching {point}")
    # the checkpoint on disk is whole: the previous or the new one
    weights, spec, state = load_training_state(ck)
    assert state.tag == state.loop["step"] > 0 and spec.model == "convnet"
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert same_weights(out / "checkpoints" / "last.safetensors", uninterrupted / "checkpoints" / "last.safetensors")
    a = [json.loads(x) for x in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert ([(r["epoch"], r["train_loss"], r["val_acc"]) for r in a]
            == [(r["epoch"], r["train_loss"], r["val_acc"]) for r in b])


def test_torn_temporary_file_is_ignored(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    ck = run / "checkpoints"
    before = load_training_state(ck)[2].tag
    data = (ck / "last.safetensors").read_bytes()
    (ck / "last.safetensors.tmp").write_bytes(data[: len(data) // 2])  # a write cut short by a crash
    (ck / "last.state.safetensors.tmp").write_bytes(b"\x00" * 7)
    _, _, state = load_training_state(ck)
    assert state.tag == before


def test_crash_between_the_two_renames_is_repaired(small_run, tmp_path):
    """State already renamed, weights still in .tmp: the next load finishes the rename."""
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    ck = run / "checkpoints"
    weights, spec, state = load_training_state(ck)
    new_weights = {k: v + 1 if v.is_floating_point() else v for k, v in weights.items()}
    opt = {"state": {}, "param_groups": state.optimizer["param_groups"]}
    checkpoint.save_checkpoint(ck, "last", model_state=new_weights, spec=spec, tag=state.tag + 7,
                               optimizer_state=opt, loop=state.loop)
    # undo the last rename by hand, as a crash between the two renames would leave it
    os.replace(ck / "last.safetensors", ck / "last.safetensors.tmp")
    shutil.copy(small_run / "checkpoints" / "last.safetensors", ck / "last.safetensors")
    w, _, st = load_training_state(ck)
    assert st.tag == state.tag + 7
    assert all(w[k].equal(new_weights[k]) for k in w)
    assert not (ck / "last.safetensors.tmp").exists()


def test_disk_full_keeps_the_previous_checkpoint(fashion_dir, tmp_path, monkeypatch, capsys):
    """Writes start failing with ENOSPC in epoch 2: one line, exit 2, epoch 1's checkpoint intact."""
    real_open = open
    state = {"epoch_done": False}

    def full_disk(path, mode="r", *args, **kwargs):
        if state["epoch_done"] and any(c in mode for c in "wa") and "checkpoints" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    real_save = checkpoint.save_checkpoint

    def save_then_fill(*args, **kwargs):
        result = real_save(*args, **kwargs)
        state["epoch_done"] = True
        return result

    monkeypatch.setattr(checkpoint, "open", full_disk, raising=False)
    monkeypatch.setattr("cnnzoo.engine.trainer.save_checkpoint", save_then_fill)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", fashion_dir,
                           "--offline", "--epochs", "3", "--out", out, "--quiet", "--set", "output.plots=false")
    assert_one_line_error(code, err, "disk full while writing", "previous checkpoint is intact")
    _, _, st = load_training_state(out / "checkpoints")
    assert st.loop["epoch"] == 1
    assert not list((out / "checkpoints").glob("*.tmp"))


def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


def test_real_full_disk(fashion_dir, tmp_path, capsys):
    disk = tmp_path / "small-disk"
    if not _mount_tmpfs(disk, "size=4m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        out = disk / "run"
        code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir",
                               fashion_dir, "--offline", "--epochs", "1", "--out", out, "--quiet",
                               "--set", "output.plots=false")
        assert code == 0, err
        filler = disk / "filler"
        with open(filler, "wb") as f:  # take every free byte
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        code, _, err = run_cli(capsys, "train", "--resume", out, "--epochs", "2", "--quiet")
        assert_one_line_error(code, err, "disk full")
        _, _, st = load_training_state(out / "checkpoints")
        assert st.loop["epoch"] == 1
        filler.unlink()
        code, _, err = run_cli(capsys, "train", "--resume", out, "--epochs", "2", "--quiet")
        assert code == 0, err
    finally:
        _umount(disk)


def test_read_only_output_folder(fashion_dir, tmp_path, capsys):
    ro = tmp_path / "ro"
    mounted = _mount_tmpfs(ro, "ro,size=1m")
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("root ignores permissions and mount is not allowed here")
        ro.mkdir(exist_ok=True)
        ro.chmod(0o555)
    try:
        code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir",
                               fashion_dir, "--offline", "--epochs", "1", "--out", ro / "run", "--quiet")
        assert_one_line_error(code, err, str(ro / "run"), "read-only")
    finally:
        if mounted:
            _umount(ro)
        else:
            ro.chmod(0o755)


def test_out_of_memory_becomes_advice(fashion_dir, tmp_path, monkeypatch, capsys):
    import torch

    from cnnzoo.engine import trainer

    calls = {"n": 0}
    real = trainer.Trainer._loss

    def oom_on_third(self, out, y):
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, out, y)

    monkeypatch.setattr(trainer.Trainer, "_loss", oom_on_third)
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", fashion_dir,
                           "--offline", "--epochs", "1", "--batch-size", "64", "--out", tmp_path / "r", "--quiet")
    assert_one_line_error(code, err, "out of memory", "--batch-size", "(e.g. 32)")

"""Optional TensorBoard logging: a clear error without the extra, the calls the trainer makes, real
event files where TensorBoard is installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from cnnzoo.cli import main
from cnnzoo.report.tensorboard import INSTALL_HINT, TensorBoardHook

from .conftest import one_error_line


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(data), "--offline",
            "--epochs", "2", "--batch-size", "128", "--out", str(out), "--quiet",
            "--set", "train.max_steps=10", "output.tensorboard=true", "output.plots=false", *extra]


def test_missing_tensorboard_fails_at_start_with_the_install_command(fashion_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    out = tmp_path / "run"
    assert main(train_args(fashion_dir, out)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert INSTALL_HINT in line and "output.tensorboard" in line
    assert not out.exists()  # stopped before the run directory was made


class FakeWriter:
    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.images: list[tuple[str, tuple, int]] = []
        self.texts: list[str] = []
        self.closed = False
        self.flushes = 0

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_images(self, tag, images, step, dataformats):
        assert dataformats == "NCHW" and images.dtype == torch.uint8
        self.images.append((tag, tuple(images.shape), step))

    def add_text(self, tag, text, step):
        self.texts.append(text)

    def flush(self):
        self.flushes += 1

    def close(self):
        self.closed = True


def test_hook_logs_each_epoch_images_once_and_the_test_at_the_end(tmp_path):
    writers: list[FakeWriter] = []
    hook = TensorBoardHook(True, writer_factory=lambda d: writers.append(FakeWriter(d)) or writers[-1])
    split = type("Split", (), {"images": torch.zeros(100, 1, 28, 28, dtype=torch.uint8)})
    for epoch in (1, 2):
        hook.log_epoch(tmp_path, {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": 0.5, "val_loss": None,
                                  "val_acc": 0.6, "lr": 0.1, "epoch_time_s": 2.0, "samples_per_s": 500.0}, split)
    hook.close(tmp_path, {"epochs": 2, "test_acc": 0.7, "test_loss": 0.9, "per_class_acc": {"a": 1.0}})
    (w,) = writers
    assert w.log_dir == str(tmp_path / "tensorboard") and w.closed and w.flushes == 2
    assert ("loss/train", 0.5, 2) in w.scalars and ("accuracy/val", 0.6, 1) in w.scalars
    assert not [s for s in w.scalars if s[0] == "loss/val"]  # None is left out, not logged as 0
    assert ("accuracy/test", 0.7, 2) in w.scalars and ("loss/test", 0.9, 2) in w.scalars
    assert w.images == [("images/train", (64, 1, 28, 28), 1)]
    assert '"test_acc": 0.7' in w.texts[0] and "per_class_acc" not in w.texts[0]


def test_hook_off_does_nothing_and_needs_no_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    hook = TensorBoardHook(False)
    hook.log_epoch(tmp_path, {"epoch": 1, "val_acc": 0.5})
    hook.close(tmp_path, {"epochs": 1})
    assert not (tmp_path / "tensorboard").exists()


def test_training_writes_event_files_tensorboard_can_read(fashion_dir, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed "
                                              "(pip install 'cnnzoo[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(train_args(fashion_dir, out)) == 0
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 4})
    acc.Reload()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    val = acc.Scalars("accuracy/val")
    assert [e.step for e in val] == [1, 2]
    assert [e.value for e in val] == pytest.approx([r["val_acc"] for r in rows])
    summary = json.loads((out / "summary.json").read_text())
    assert acc.Scalars("accuracy/test")[0].value == pytest.approx(summary["test_acc"])
    assert "images/train" in acc.Tags()["images"]

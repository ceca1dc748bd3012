"""A recipe under torchrun trains like the recipe in one process: `data.batch_size` is the global
batch, and 2 ranks take half of it each.

Each test trains the same recipe (only the data, its length, fp32 and one thread per process
changed) on 2 gloo ranks and in one process, and compares them epoch by epoch. These recipes all
use BatchNorm, so the runs are not bit-identical: each rank normalizes its 64 images with their own
mean and variance where one process uses all 128 (PyTorch runs SyncBatchNorm only on CUDA), and
the running statistics that evaluation uses come from rank 0's halves. Everything else is the same:
the same steps, the same images in each step with the same crops, the same learning rate, and DDP's
average of the two half-batch gradients is the gradient of the whole batch. The tolerances below
are set from that (see ``close``). With per-rank batches (before this was the global batch) the
2 ranks took half the steps, and the step check fails.

The default recipe (ResNet) is marked slow: `pytest -m slow tests/distributed/test_global_batch.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnzoo.cli import main

from .launch import torchrun


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def train_both(recipe: str, fashion_dir: Path, tmp_path: Path, epochs: int = 3) -> tuple[Path, Path, str]:
    args = ["train", "--model", recipe, "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir), "--offline",
            "--epochs", str(epochs), "--device", "cpu", "--set", "train.precision=fp32", "train.threads=1",
            "output.plots=false"]
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    launch = torchrun([*args, "--out", str(ddp)], cwd=tmp_path)
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert main([*args, "--out", str(single), "--quiet"]) == 0
    return ddp, single, launch.stdout


def close(ddp: Path, single: Path) -> None:
    """The same steps; per epoch, train loss within 10% (relative); at the end, test loss within 10%
    and test accuracy within 5 points (10 of the 200 test images). Measured (2 busy cores, torch
    2.13 CPU), the 2-rank losses differed from one process's by at most 0.9% per epoch (batchnorm;
    cnn 0.2%) and 0.1% in test loss, the accuracies not at all; even cnn before its gradient clip,
    whose first epoch blew up to a mean loss of 4.6, stayed within 1.1% and 3.4%. 10% leaves room
    for other machines' float sums, while 2 ranks at twice the batch (the per-rank batches of
    before) take half the steps and fail the step check outright."""
    d, s = rows(ddp), rows(single)
    assert [r["step"] for r in d] == [r["step"] for r in s]  # the same steps per epoch: the same schedule
    for a, b in zip(d, s, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.10), (a, b)
    sd, ss = (json.loads((run / "summary.json").read_text()) for run in (ddp, single))
    assert sd["world_size"] == 2 and ss["world_size"] == 1
    assert sd["test_loss"] == pytest.approx(ss["test_loss"], rel=0.10), (sd["test_loss"], ss["test_loss"])
    assert abs(sd["test_acc"] - ss["test_acc"]) <= 0.05, (sd["test_acc"], ss["test_acc"])


@pytest.mark.parametrize("recipe", ["cnn", "batchnorm", pytest.param("resnet", marks=pytest.mark.slow)])
def test_two_ranks_reproduce_the_single_process_run_of_a_recipe(recipe, fashion_dir, tmp_path):
    ddp, single, out = train_both(recipe, fashion_dir, tmp_path)
    close(ddp, single)
    assert "steps of 64 per rank (128 in all)" in out  # the recipes' batch of 128, shared


def test_a_global_batch_that_does_not_divide_among_the_ranks_stops_every_rank_with_one_line(fashion_dir, tmp_path):
    launch = torchrun(["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir),
                       "--offline", "--epochs", "1", "--device", "cpu", "--batch-size", "99",
                       "--out", str(tmp_path / "run")], cwd=tmp_path)
    assert launch.returncode != 0
    assert launch.error_lines() == ["error: [all 2 ranks] data.batch_size 99 is the global batch and does not divide "
                                    "among 2 ranks; use a multiple of 2, e.g. --batch-size 98 or 100"], launch.stderr
    assert not (tmp_path / "run").exists()

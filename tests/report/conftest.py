"""Fixtures for the report tests: one small compare (two models, a few steps each) shared by all.

The runs are trained through the real `cnnzoo compare --models` path on the tiny learnable
Fashion-MNIST-format dataset of tests/conftest.py, stopped after ten steps so that the models are
decent but not perfect: the report then has mistakes to show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnzoo.cli import main

MODELS = "cnn,batchnorm"


def compare_args(data: Path, out: Path, *extra: str, models: str = MODELS) -> list[str]:
    return ["compare", "--models", models, "--dataset", "fashion-mnist", "--data-dir", str(data), "--offline",
            "--epochs", "2", "--batch-size", "128", "--set", "train.max_steps=10",
            # without cnn's gradient clip: with it, ten steps learn these easy images perfectly
            "optim.grad_clip=null", "--out", str(out), "--quiet", *extra]


@pytest.fixture(scope="session")
def compared(tmp_path_factory: pytest.TempPathFactory, fashion_dir: Path) -> Path:
    """A compare folder with finished runs of cnn and batchnorm (LeNet-5 with BatchNorm)."""
    out = tmp_path_factory.mktemp("compare") / "cmp"
    assert main(compare_args(fashion_dir, out)) == 0
    return out


@pytest.fixture(scope="session")
def cnn_run(compared: Path) -> Path:
    return compared / "runs" / "cnn"


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]

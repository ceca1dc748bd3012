"""A half-set torchrun environment (RANK and WORLD_SIZE left exported in a shell, the rest missing) is
one line naming the missing variables, who sets them and how to run in one process; never a
traceback from torch.distributed (issue 14, item 11)."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from .conftest import assert_one_line_error, run_cli

ALL_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT",
            "TORCHELASTIC_ERROR_FILE")


@pytest.fixture
def env(monkeypatch):
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)

    def set_env(**values: str) -> None:
        for k, v in values.items():
            monkeypatch.setenv(k, v)

    return set_env


def _train(capsys, fashion_dir, out):
    return run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", fashion_dir,
                   "--offline", "--epochs", "1", "--device", "cpu", "--out", out, "--quiet",
                   "--set", "train.max_steps=1")


@pytest.mark.parametrize("given, missing", [
    ({"RANK": "0", "WORLD_SIZE": "2"}, "LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "MASTER_ADDR, MASTER_PORT are not set"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_PORT": "29500"}, "MASTER_ADDR is not set"),
    ({"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}, "RANK, LOCAL_RANK are not set"),
])
def test_half_set_environment_names_the_missing_variables(env, given, missing, capsys, fashion_dir, tmp_path):
    env(**given)
    code, _, err = _train(capsys, fashion_dir, tmp_path / "run")
    stray = " ".join(v for v in ALL_VARS if v in given)
    assert_one_line_error(code, err, missing, "torchrun", f"unset {stray}")
    assert not dist.is_initialized()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("given, fragment", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({"WORLD_SIZE": "2", "RANK": "x", "LOCAL_RANK": "0"}, "RANK='x' is not an integer"),
    ({"WORLD_SIZE": "2", "RANK": "5", "LOCAL_RANK": "0"}, "RANK=5 is not below WORLD_SIZE=2"),
    ({"WORLD_SIZE": "2", "RANK": "-1", "LOCAL_RANK": "0"}, "RANK=-1 must be at least 0"),
    ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "2"},
     "LOCAL_RANK=3 is not below LOCAL_WORLD_SIZE=2"),
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "http"},
     "MASTER_PORT='http' is not an integer"),
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "70000"},
     "MASTER_PORT=70000 is not a TCP port"),
])
def test_malformed_torchrun_variables_are_named(env, given, fragment, capsys, fashion_dir, tmp_path):
    env(**given)
    code, _, err = _train(capsys, fashion_dir, tmp_path / "run")
    assert_one_line_error(code, err, fragment, "torchrun")
    assert not dist.is_initialized()


def test_stray_world_size_of_one_is_one_process(env, capsys, fashion_dir, tmp_path):
    env(WORLD_SIZE="1", RANK="0")
    code, _, err = _train(capsys, fashion_dir, tmp_path / "run")
    assert code == 0, err

"""The distributed plumbing that needs no second process: reading torchrun's environment,
device choice per rank, refusals before any process group exists, and the error lines."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist

from cnnzoo.cli import main
from cnnzoo.engine.distributed import DistContext, PeerError, error_line, everywhere, rank_share
from cnnzoo.errors import CnnzooError, ConfigError

TORCHRUN_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "TORCHELASTIC_ERROR_FILE")


@pytest.fixture
def rank_env(monkeypatch):
    """Pretend to be one rank of a torchrun job (nothing connects: no process group is made)."""
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)

    def set_rank(rank: int, local_rank: int, world_size: int = 2, local_world_size: int = 2) -> None:
        monkeypatch.setenv("WORLD_SIZE", str(world_size))
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(local_rank))
        monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world_size))
        monkeypatch.setenv("GROUP_RANK", str(rank // local_world_size))

    return set_rank


def test_context_from_torchrun_environment(rank_env, monkeypatch):
    assert not DistContext.from_env().enabled  # no torchrun: one process
    rank_env(rank=3, local_rank=1, world_size=4, local_world_size=2)
    ctx = DistContext.from_env()
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.local_world_size, ctx.node) == (3, 4, 1, 2, "1")
    assert ctx.enabled and not ctx.is_main
    monkeypatch.delenv("RANK")
    with pytest.raises(ConfigError, match="start with torchrun"):
        DistContext.from_env()


def test_each_rank_gets_a_device_it_can_use():
    ctx = DistContext(rank=1, world_size=2, local_rank=1, local_world_size=2)
    with pytest.raises(ConfigError, match="CUDA_VISIBLE_DEVICES"):
        ctx.device_name("cuda:0")  # two processes would share one GPU
    with pytest.raises(ConfigError, match="not on mps"):
        ctx.device_name("mps")
    assert ctx.device_name("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert ctx.device_name("auto") == "cpu"  # and so gloo
    assert DistContext().device_name("cuda:0") == "cuda:0"  # a single process is left alone


def test_sync_batchnorm_on_cpu_is_refused_before_joining():
    ctx = DistContext(rank=0, world_size=2, local_world_size=2)
    with pytest.raises(ConfigError, match="train.sync_bn.*CUDA"):
        ctx.init(torch.device("cpu"), sync_bn=True)
    assert not dist.is_initialized()


def test_error_lines_name_the_rank_once_per_machine(rank_env):
    assert error_line(CnnzooError("boom")) == "error: boom"  # not under torchrun
    rank_env(rank=1, local_rank=1)
    assert error_line(CnnzooError("boom")) == "error: [rank 1] boom"
    # an error every rank raised alike (e.g. a NaN loss): local rank 0 of each machine prints it
    assert error_line(everywhere(CnnzooError("nan"))) is None
    # a rank that stops because another failed on this machine: that rank's own line says why
    assert error_line(PeerError("stopped because a rank failed", show=False)) is None
    rank_env(rank=0, local_rank=0)
    assert error_line(everywhere(CnnzooError("nan"))) == "error: [all 2 ranks] nan"


def test_torchrun_failure_summary_shows_the_error(rank_env, tmp_path, monkeypatch):
    """torchrun reads a failed worker's reason from TORCHELASTIC_ERROR_FILE; parsed by torch's own
    classes, the summary must carry our line."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    rank_env(rank=1, local_rank=1)
    path = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(path))
    line = error_line(CnnzooError("data not found"))
    assert line == "error: [rank 1] data not found" and json.loads(path.read_text())
    failure = ProcessFailure(local_rank=1, pid=123, exitcode=2, error_file=str(path))
    assert line in ChildFailedError("cnnzoo", {1: failure}).format_msg()


def test_cli_prints_one_rank_tagged_line(rank_env, capsys):
    rank_env(rank=1, local_rank=1)
    assert main(["train", "--set", "train.epochz=3"]) == 2  # fails before any process group
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: [rank 1] ") and "train.epochs" in err and "\n" not in err


@pytest.mark.parametrize(("batch", "ranks", "share"), [(128, 1, 128), (128, 2, 64), (96, 3, 32), (7, 7, 1)])
def test_each_rank_takes_an_equal_share_of_the_global_batch(batch, ranks, share):
    assert rank_share(batch, ranks) == share


@pytest.mark.parametrize(("batch", "ranks", "nearest"), [(100, 3, "99 or 102"), (130, 4, "128 or 132"),
                                                         (2, 3, "3")])
def test_a_global_batch_the_ranks_cannot_share_is_one_line_naming_the_nearest_that_divide(batch, ranks, nearest):
    with pytest.raises(ConfigError) as e:
        rank_share(batch, ranks)
    msg = str(e.value)
    assert "\n" not in msg and f"data.batch_size {batch}" in msg and f"among {ranks} ranks" in msg
    assert msg.endswith(f"--batch-size {nearest}")

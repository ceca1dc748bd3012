"""Data parallelism with PyTorch's own engine: torchrun + DistributedDataParallel.

``torchrun --nproc_per_node=N -m cnnzoo train ...`` starts N copies of the same command and sets
RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE and the rendezvous address in each one's
environment. Each process (a *rank*) builds the same model from the same seed, takes a disjoint
shard of every epoch's shuffled data, and DDP averages the gradients across ranks during the
backward pass, so every rank applies the same update and the weights stay identical.

Batch size is *per rank*: with N ranks the global batch is N x ``data.batch_size``. Averaged
gradients over a global batch N times larger call for a larger learning rate; cnnzoo does not
rescale it for you (the linear scaling rule, lr x N, is a starting point — see the README).

Backend: NCCL between GPUs, gloo on CPUs. Only rank 0 prints and writes the run directory.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistContext:
        env = os.environ
        if "WORLD_SIZE" not in env or int(env.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        try:
            return cls(rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"]),
                       local_rank=int(env.get("LOCAL_RANK", "0")),
                       local_world_size=int(env.get("LOCAL_WORLD_SIZE", "1")))
        except (KeyError, ValueError) as e:
            raise ConfigError(f"distributed environment is incomplete ({e}); start with torchrun") from None

    def device_name(self, requested: str) -> str:
        """Under torchrun each process drives the GPU of its local rank."""
        if self.enabled and requested in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return requested

    def init(self, device: torch.device) -> None:
        if not self.enabled or dist.is_initialized():
            return
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        # A rank that fails makes torchrun stop the others; the timeout bounds any hang before that.
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))

    def wrap(self, model: torch.nn.Module, device: torch.device, sync_bn: bool) -> torch.nn.Module:
        if not self.enabled:
            return model
        if sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def all_reduce(self, t: torch.Tensor, op: Any = None) -> torch.Tensor:
        """Sum (or ``op``) a tensor over all ranks, in place; a no-op in a single process."""
        if self.enabled:
            dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
        return t

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank if ``flag`` is true on any rank (a collective: all ranks must call)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def shutdown(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DDP and torch.compile wrappers."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model

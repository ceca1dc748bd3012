"""Data parallelism with PyTorch's own engine: torchrun + DistributedDataParallel.

``torchrun --nproc_per_node=N -m cnnzoo train ...`` starts N copies of the same command and sets
RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK and the rendezvous address in each
one's environment. Each process (a *rank*) builds the same model from the same seed, takes a
disjoint shard of every epoch's shuffled data, and DDP averages the gradients across ranks during
the backward pass, so every rank applies the same update and the weights stay identical.

Batch size is *global*: ``data.batch_size`` is the batch of one optimizer step, whatever the number
of ranks, and each of N ranks takes ``batch_size / N`` of it (:func:`rank_share`). So a recipe keeps
its steps per epoch, its learning-rate schedule and its training dynamics when ranks are added:
rank r's batch b holds positions r, r + N, ... of the single-process batch b, with the same crops
and flips (:mod:`cnnzoo.data.batching`), DDP averages the ranks' mean losses' gradients, which is
the gradient of the global mean, and N ranks end where one process ends, up to the order of float
sums (tests/distributed checks it). Only BatchNorm differs: each rank normalizes its own share
(``train.sync_bn`` on CUDA). To train with a larger batch, raise ``data.batch_size`` and the
learning rate yourself: docs/distributed.md has the linear scaling rule and warm-up.

Backend: NCCL between GPUs, gloo on CPUs. Only rank 0 prints and writes the run directory.

Failures. A rank that exits makes torchrun stop the others, but a rank blocked in a collective
cannot tell why its peer vanished, and on another machine nobody sees that rank's message. So:

* Setup (data, model, run directory) is one :meth:`DistContext.fail_together` region: a rank that
  fails there tells the others at the next meeting point, and every rank stops with one line that
  names the failing rank and its message. The ranks also check there that they loaded the same
  data and model (a machine that finds another copy of the dataset would otherwise deadlock the
  run a few hundred steps later, when its epoch ends at another step).
* After setup, a collective that fails because a rank vanished (or that waits longer than the
  timeout) becomes a :class:`PeerError` (one line, no traceback): :meth:`DistContext.peer_errors`.
* :func:`error_line` decides what the CLI prints, so that each failure shows once per machine,
  as ``error: [rank N] ...``, and writes it where torchrun's failure summary looks for it.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import gc
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist

from .. import env
from ..errors import CnnzooError, ConfigError, DeviceError

# How long a rank waits in a collective for the others (also while rank 0 alone evaluates and
# writes the run directory). A crashed rank makes torchrun stop the others at once; the timeout
# bounds the rest: a rank stuck without crashing, or a machine that vanished from the network.
TIMEOUT_ENV = env.DIST_TIMEOUT.name
DEFAULT_TIMEOUT_S: int = env.DIST_TIMEOUT.default  # 600: NCCL's own; evaluation on rank 0 takes seconds on a GPU
_LOST = re.compile(r"gloo|nccl|connection (closed|reset)|timed out|broken pipe", re.IGNORECASE)


# What cnnzoo (the rank layout) and torch.distributed's env:// rendezvous (the address) need under
# torchrun; torchrun sets them all.
TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _incomplete(world: int) -> ConfigError:
    """The one line for a half-set torchrun environment: which variables are missing, who sets them,
    and how to get back to one process."""
    env = os.environ
    missing = [v for v in TORCHRUN_VARS if not env.get(v, "").strip()]
    stray = [v for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
                         "MASTER_PORT") if v in env]
    return ConfigError(
        f"distributed environment is incomplete: WORLD_SIZE={world} but {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not set; start with torchrun, which sets them all "
        f"(torchrun --nproc_per_node=N -m cnnzoo train ...), or run in one process: unset {' '.join(stray)}")


def _int_var(name: str, value: str, lowest: int | None = 0) -> int:
    """An integer environment variable of torchrun's; a one-line ConfigError naming it otherwise."""
    try:
        n = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer; it is torchrun's variable: start with "
                          f"torchrun, or unset {name}") from None
    if lowest is not None and n < lowest:
        raise ConfigError(f"{name}={n} must be at least {lowest}; it is torchrun's variable: start with "
                          f"torchrun, or unset {name}")
    return n


class PeerError(CnnzooError):
    """This rank stops because another rank failed or vanished. ``show`` is False where the failing
    rank's own line already appears on this machine's terminal (see :func:`error_line`)."""

    def __init__(self, message: str, *, show: bool = True) -> None:
        super().__init__(message)
        self.show = show


def timeout_s() -> int:
    """``$CNNZOO_DIST_TIMEOUT`` seconds (checked by cnnzoo.env: a bad value is one ConfigError line)."""
    return env.DIST_TIMEOUT.read()


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node: str = "0"  # which machine: torchrun's GROUP_RANK, else the host name

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistContext:
        """The rank layout torchrun exported; a single process when WORLD_SIZE is unset or 1.

        A half-set environment (WORLD_SIZE > 1 left over in a shell without RANK or LOCAL_RANK) is a
        one-line ConfigError naming every missing variable; the rendezvous address (MASTER_ADDR,
        MASTER_PORT) is checked the same way by :meth:`init`, before torch.distributed would fail
        with a traceback."""
        env = os.environ
        world = _int_var("WORLD_SIZE", env.get("WORLD_SIZE", "1"), lowest=None)
        if world <= 1:
            return cls()
        if any(not env.get(v, "").strip() for v in ("RANK", "LOCAL_RANK")):
            raise _incomplete(world)
        rank = _int_var("RANK", env["RANK"])
        local_rank = _int_var("LOCAL_RANK", env["LOCAL_RANK"])
        local_world = _int_var("LOCAL_WORLD_SIZE", env.get("LOCAL_WORLD_SIZE", "1"), lowest=1)
        if rank >= world:
            raise ConfigError(f"RANK={rank} is not below WORLD_SIZE={world}; start with torchrun, which sets both")
        if local_rank >= local_world:
            raise ConfigError(f"LOCAL_RANK={local_rank} is not below LOCAL_WORLD_SIZE={local_world}; "
                              "start with torchrun, which sets both")
        return cls(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world,
                   node=env.get("GROUP_RANK") or socket.gethostname())

    # ---------------------------------------------------------------------------------------------
    # Start-up

    def device_name(self, requested: str) -> str:
        """Under torchrun each process drives the GPU of its local rank (or the CPU)."""
        if not self.enabled:
            return requested
        if requested == "mps":
            raise ConfigError("distributed training runs on CUDA GPUs (nccl) or CPUs (gloo), not on mps; "
                              "use --device cpu")
        if requested.startswith("cuda:") and self.local_world_size > 1:
            raise ConfigError(f"--device {requested}: under torchrun every process drives the GPU of its "
                              "local rank; use --device cuda (choose GPUs with CUDA_VISIBLE_DEVICES)")
        if requested in ("auto", "cuda") and torch.cuda.is_available():
            gpus = torch.cuda.device_count()
            if self.local_world_size > gpus:
                raise DeviceError(f"torchrun started {self.local_world_size} processes on this machine but "
                                  f"it has {gpus} GPU(s); use --nproc_per_node={gpus}")
            return f"cuda:{self.local_rank}"
        if requested == "auto":
            return "cpu"
        return requested

    def init(self, device: torch.device, *, sync_bn: bool = False) -> None:
        """Join the process group (nccl for GPUs, gloo for CPUs); a no-op in a single process."""
        if not self.enabled or dist.is_initialized():
            return
        if device.type not in ("cuda", "cpu"):
            raise ConfigError(f"distributed training runs on CUDA GPUs or CPUs, not on {device.type}")
        if sync_bn and device.type != "cuda":
            raise ConfigError("train.sync_bn: PyTorch's SyncBatchNorm runs only on CUDA GPUs; "
                              "drop it (--set train.sync_bn=false) for CPU runs")
        if any(not os.environ.get(v, "").strip() for v in TORCHRUN_VARS):
            raise _incomplete(self.world_size)  # env:// would fail with a traceback, after a wait
        port = _int_var("MASTER_PORT", os.environ["MASTER_PORT"], lowest=1)
        if port > 65535:
            raise ConfigError(f"MASTER_PORT={port} is not a TCP port (1..65535); start with torchrun, which sets it")
        seconds = timeout_s()
        timeout = datetime.timedelta(seconds=seconds)
        atexit.register(gc.collect)  # after an error the trainer, and its DDP, are freed only by then
        try:
            if device.type == "cuda":
                torch.cuda.set_device(device)
                dist.init_process_group(backend="nccl", timeout=timeout, device_id=device)
            else:
                dist.init_process_group(backend="gloo", timeout=timeout)
        except dist.DistError as e:
            raise PeerError(f"the {self.world_size} ranks did not all join within {seconds} s ({_one_line(e)}); "
                            "a rank failed before joining (its own error line, on its machine, says why)",
                            show=self.local_rank == 0) from None

    def wrap(self, model: torch.nn.Module, device: torch.device, sync_bn: bool) -> torch.nn.Module:
        """DDP around ``model`` (its BatchNorms made SyncBatchNorm on request). Parameters and buffers
        stay the same tensors, so an optimizer built on ``model`` before wrapping still fits.
        DDP broadcasts rank 0's parameters now and rank 0's BatchNorm buffers at every forward."""
        if not self.enabled:
            return model
        if sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    # ---------------------------------------------------------------------------------------------
    # Collectives: every rank must call each one, in the same order

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
        """Leave the process group. DDP keeps itself alive in reference cycles, and a DDP (or the
        group) that is freed only while Python exits makes gloo abort the process now and then
        ('terminate called without an active exception', exit -6 after a good run): collect it now."""
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
            gc.collect()

    # ---------------------------------------------------------------------------------------------
    # Failing together

    @contextlib.contextmanager
    def fail_together(self) -> Iterator[None]:
        """Run a block that may fail on some ranks only (data missing on one machine, a run
        directory rank 0 cannot create). It ends with a meeting of all ranks; a rank that fails
        inside goes to the next meeting with its error instead, so that every rank stops, each
        with a line naming the rank that failed, rather than waiting for it in a collective.
        The block may hold meetings of its own (:meth:`check_same`); all ranks must hold the same."""
        if not self.enabled:
            yield
            return
        try:
            yield
        except PeerError:
            self.shutdown()
            raise  # learnt at a meeting: everyone knows already
        except Exception as e:
            try:
                failures = self._meet(None, e)
            except Exception:  # the group itself is broken: torchrun will stop the others
                raise e from None
            if len(failures) == self.world_size and len({text for _, _, text in failures}) == 1:
                everywhere(e)  # the same error on every rank: print it once per machine
            self.shutdown()
            raise
        self._meet(None, None)

    def check_same(self, facts: dict[str, Any], where: dict[str, Any] | None = None) -> None:
        """A meeting inside :meth:`fail_together`: every rank must have the same ``facts`` (the data
        and model it loaded); ``where`` (not compared) helps the message say why they differ."""
        if not self.enabled:
            return
        seen = self._meet((facts, where or {}), None)
        first = seen[0][0]
        odd = [r for r, (f, _) in enumerate(seen) if f != first]
        if odd:
            def show(r: int) -> str:
                f, w = seen[r]
                return f"rank {r}: " + ", ".join(f"{k} {v}" for k, v in {**f, **w}.items())

            raise everywhere(ConfigError(
                "the ranks did not load the same data and model, so their epochs would not line up "
                f"({show(0)}; {show(odd[0])}); every machine must see the same dataset, e.g. the same files "
                "at the same --data-dir"))

    def _meet(self, facts: Any, error: BaseException | None) -> Any:
        """All ranks exchange (facts or their error). Raises PeerError on the ranks that did not
        fail if any did; returns the list of facts, or (on a failing rank) the failures."""
        mine = (self.rank, self.node, None if error is None else _one_line(error), facts)
        everyone: list[Any] = [None] * self.world_size
        dist.all_gather_object(everyone, mine)
        failures = [(r, node, text) for r, node, text, _ in everyone if text is not None]
        if error is not None:
            return failures
        if failures:
            named = "; ".join(f"rank {r}: {text}" for r, _, text in failures)
            here = any(node == self.node for _, node, _ in failures)
            raise PeerError(f"stopped because {'a rank' if len(failures) == 1 else 'ranks'} failed ({named})",
                            show=not here and self.local_rank == 0)
        return [f for _, _, _, f in everyone]

    @contextlib.contextmanager
    def peer_errors(self) -> Iterator[None]:
        """Turn a collective that failed because another rank vanished (or did not answer within
        the timeout) into a one-line :class:`PeerError`, and leave the process group on any error
        (a process that exits while still in it aborts with 'terminate called...')."""
        if not self.enabled:
            yield
            return
        try:
            yield
        except Exception as e:
            # gloo reports a vanished peer or a timeout as a plain RuntimeError
            lost = isinstance(e, dist.DistError) or isinstance(e, RuntimeError) and _LOST.search(str(e))
            self.shutdown()
            if not lost:
                raise
            raise PeerError(f"lost contact with the other ranks ({_one_line(e)}); another rank failed or was "
                            f"stopped (its own error line says why) or did not answer within {timeout_s()} s "
                            f"({TIMEOUT_ENV})", show=self.local_rank == 0) from None
        except BaseException:
            self.shutdown()
            raise


E = TypeVar("E", bound=BaseException)


def rank_share(batch_size: int, world_size: int) -> int:
    """Each rank's part of the global batch ``batch_size`` (a ConfigError when the ranks cannot
    share it evenly: unequal shares would weight some images more than others in DDP's average)."""
    per_rank, rest = divmod(batch_size, world_size)
    if rest:
        below, above = per_rank * world_size, (per_rank + 1) * world_size
        choices = f"{below} or {above}" if below else str(above)
        raise ConfigError(f"data.batch_size {batch_size} is the global batch and does not divide among "
                          f"{world_size} ranks; use a multiple of {world_size}, e.g. --batch-size {choices}")
    return per_rank


def everywhere(err: E) -> E:
    """Mark an error that every rank raises alike (agreed through a collective, such as a
    non-finite loss): the CLI prints it once per machine instead of once per rank."""
    err.everywhere = True  # type: ignore[attr-defined]
    return err


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(e, CnnzooError) else f"{type(e).__name__}: {first}"


def error_line(err: CnnzooError) -> str | None:
    """The line the CLI prints for ``err``: ``error: ...`` in a single process; under torchrun
    ``error: [rank N] ...``, once per machine for errors every rank shares, and nothing where the
    failing rank's own line is already on this machine's terminal. Also hands the message to
    torchrun, whose failure summary then shows it instead of a pointer to its documentation."""
    try:
        ctx = DistContext.from_env()
    except ConfigError:
        ctx = DistContext()
    if not ctx.enabled:
        return f"error: {err}"
    if getattr(err, "everywhere", False):
        line = f"error: [all {ctx.world_size} ranks] {err}"
        show = ctx.local_rank == 0
    else:
        line = f"error: [rank {ctx.rank}] {err}"
        show = getattr(err, "show", True)
    _tell_torchrun(line)
    return line if show else None


def _tell_torchrun(line: str) -> None:
    """Write the error where torchrun reads a failed worker's reason (TORCHELASTIC_ERROR_FILE)."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    data = {"message": {"message": line, "extraInfo": {"py_callstack": line, "timestamp": str(int(time.time()))}}}
    with contextlib.suppress(OSError):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DDP and torch.compile wrappers."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = cast(torch.nn.Module, model._orig_mod)
        else:
            return model

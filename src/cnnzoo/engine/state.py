"""The loop's position and record: everything a checkpoint needs, besides tensors, to continue a run.

The trainer keeps one :class:`TrainState` and saves it whole (``TrainState.to_dict`` becomes the
``loop`` metadata of ``checkpoints/last.state.safetensors``); resuming reads it back whole. A field
added here is saved and restored with no other change, and checked on the way in by its annotation
(:meth:`TrainState.from_dict`). The tensors of the loop (weights, optimizer, RNG, running sums, EMA)
are stored beside it in the same checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError


@dataclass
class TrainState:
    epoch: int = 0  # epochs finished
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # optimizer steps done: the learning-rate schedule's clock
    best_val_acc: float | None = None
    best_epoch: int | None = None  # 1-based, as in metrics.jsonl
    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics.jsonl row per finished epoch
    train_time_s: float = 0.0  # finished epochs, validation included
    epoch_elapsed_s: float = 0.0  # training time of the current epoch so far
    world_size: int = 1  # the saved RNG and running sums are per rank: a run resumes only on as many ranks
    scaler: dict[str, Any] | None = None  # the fp16 GradScaler's state (None in bf16/fp32)
    # train.early_stopping: the best value of its monitor so far, the epochs since it improved, and
    # whether it ended the run (then `--resume` does not train on)
    early_best: float | None = None
    early_wait: int = 0
    stopped_early: bool = False
    # the epochs the learning-rate schedule is laid out over (None: train.epochs, as before it was saved);
    # a run extended past the end of its schedule keeps this, and the extra epochs hold its final rate
    schedule_epochs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, loop: Any, source: str | Path = "the checkpoint") -> TrainState:
        """The state saved by :meth:`to_dict`, each field checked against its annotation and bounds;
        fields a checkpoint lacks keep their defaults, fields this version does not know are ignored.
        A damaged field is a CheckpointError naming ``source`` and the field."""
        if not isinstance(loop, dict):
            raise _damaged(source, "loop", "is not a JSON object")
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in loop:
                values[f.name] = _checked(loop[f.name], f.name, str(f.type), source)
        return cls(**values)


# lower bounds of the numeric fields (an upper one where there is one)
_BOUNDS: dict[str, tuple[float, float]] = {
    "epoch": (0, math.inf), "batch": (0, math.inf), "step": (0, math.inf), "best_epoch": (1, math.inf),
    "best_val_acc": (0.0, 1.0), "train_time_s": (0.0, math.inf), "epoch_elapsed_s": (0.0, math.inf),
    "world_size": (1, math.inf), "schedule_epochs": (1, math.inf),
}


def _damaged(source: str | Path, name: str, why: str) -> CheckpointError:
    return CheckpointError(f"{source}: training state field '{name}' {why}; the file is damaged or was not "
                           "written by `cnnzoo train` (start a new run with --config RUN/config.yaml)")


def _fits(value: Any, kind: str) -> bool:
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "str":
        return isinstance(value, str)
    if kind.startswith("list["):
        return isinstance(value, list)
    if kind.startswith("dict["):
        return isinstance(value, dict)
    raise TypeError(f"TrainState cannot check a field annotated {kind!r}; teach _fits the type")


def _checked(value: Any, name: str, annotation: str, source: str | Path) -> Any:
    kinds = [k.strip() for k in annotation.split("|")]
    if not any(_fits(value, k) for k in kinds):
        shown = repr(value) if isinstance(value, (int, float, bool, type(None))) else type(value).__name__
        raise _damaged(source, name, f"must be {' or '.join(kinds)}, got {shown[:40]}")
    lo, hi = _BOUNDS.get(name, (-math.inf, math.inf))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not lo <= value <= hi:
        raise _damaged(source, name, f"is out of range ({value!r:.40}, expected {lo}..{hi})")
    if name == "history" and not all(isinstance(r, dict) and all(
            isinstance(v, (int, float, type(None))) for v in r.values()) for r in value):
        raise _damaged(source, name, "must be a list of metrics rows (objects of numbers)")
    if name == "scaler" and value is not None and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value.values()):
        raise _damaged(source, name, "must hold finite numbers (the fp16 loss scaler's state)")
    return value


def check_loop_tensors(tensors: dict[str, torch.Tensor], like: dict[str, torch.Tensor], state_file: Path) -> None:
    """A CheckpointError naming ``state_file`` unless each saved loop tensor (RNG states, running sums,
    EMA weights) has the shape and dtype of the one this run would save (``like``); the EMA's must be there."""
    for key, want in like.items():
        got = tensors.get(key)
        if got is not None and (got.shape != want.shape or got.dtype != want.dtype):
            raise CheckpointError(f"{state_file}: tensor '{key}' is {got.dtype} {tuple(got.shape)}, a resume "
                                  f"needs {want.dtype} {tuple(want.shape)}; the file is damaged or was not "
                                  "written by `cnnzoo train`")
        if got is None and key.startswith("ema."):
            raise CheckpointError(f"{state_file}: tensor '{key}' is missing; the file is damaged")

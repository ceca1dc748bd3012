"""The loop's position and record: everything a checkpoint needs, besides tensors, to continue a run.

The trainer keeps one :class:`TrainState` and saves it whole (``TrainState.to_dict`` becomes the
``loop`` metadata of ``checkpoints/last.state.safetensors``); resuming reads it back whole. A field
added here is saved and restored with no other change. The tensors of the loop (weights, optimizer,
RNG, running sums, EMA) are stored beside it in the same checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, loop: dict[str, Any]) -> TrainState:
        """The state saved by :meth:`to_dict`; fields a checkpoint lacks keep their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in loop.items() if k in names})

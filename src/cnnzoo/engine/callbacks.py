"""Hooks into the training loop (Lightning's split: the loop does the loop, the rest hooks in).

A callback subclasses :class:`Callback` and overrides the hooks it needs; pass it to
``Trainer(cfg, callbacks=[...])`` or ``cnnzoo.train(cfg, callbacks=[...])``. Every hook gets the
:class:`~cnnzoo.engine.trainer.Trainer`, whose attributes are the run: ``cfg``, ``state`` (a
:class:`~cnnzoo.engine.state.TrainState`: epoch, step, history, ...), ``model`` (the plain module),
``optimizer``, ``schedule``, ``ds`` (the dataset), ``run_dir`` (None on ranks other than 0 and when
nothing is written) and ``console``. Setting ``trainer.should_stop = True`` ends training after the
current epoch (its checkpoint is saved; the test pass and ``on_fit_end`` follow as usual).

Order of calls::

    on_fit_start
    per epoch:  on_train_epoch_start, on_train_batch_end (every step),
                on_validation_end (val is None without a validation split, and on ranks > 0),
                on_train_epoch_end (after metrics.jsonl has the row, before the checkpoint)
    on_fit_end  (with the RunResult: summary, history, test result and the tested split)

The report files of a run directory (predictions, plots, TensorBoard, summary.json) are callbacks
of this kind, in :mod:`cnnzoo.report.callbacks`; the engine itself imports nothing from report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from .metrics import EvalResult
    from .trainer import RunResult, Trainer


class Callback:
    """Base class; every hook does nothing."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """After setup (and any resume), before the first step."""

    def on_train_epoch_start(self, trainer: Trainer) -> None:
        """Before the epoch's first (or, resuming, next) batch; ``trainer.state.epoch`` is 0-based."""

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor) -> None:
        """After each optimizer step; ``loss`` stays on the device (calling ``.item()`` syncs)."""

    def on_validation_end(self, trainer: Trainer, val: EvalResult | None) -> None:
        """After the epoch's validation pass."""

    def on_train_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """``row`` is the epoch's metrics.jsonl line (also ``trainer.state.history[-1]``)."""

    def on_fit_end(self, trainer: Trainer, result: RunResult) -> None:
        """After the test pass, on every rank (``result.summary`` is empty on ranks > 0)."""

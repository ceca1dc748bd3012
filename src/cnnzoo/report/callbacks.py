"""The report files of a run directory, as training callbacks (see :mod:`cnnzoo.engine.callbacks`).

:func:`run_callbacks` is what ``cnnzoo train`` and :func:`cnnzoo.train` add to the engine's loop:
``steps.jsonl``, ``predictions.safetensors``, ``plots/`` (when ``output.plots``), ``tensorboard/`` (when
``output.tensorboard``) and, last, ``summary.json``: its presence marks a finished run.
"""

from __future__ import annotations

import json
from typing import Any

from ..engine.callbacks import Callback
from .tensorboard import TensorBoardHook


def run_callbacks(cfg: Any) -> list[Callback]:
    """The callbacks that write a run directory's report files for ``cfg``. TensorBoard, when asked
    for and missing, fails here: before any data is read."""
    callbacks: list[Callback] = [WriteSteps(), WritePredictions()]
    if cfg.output.plots:
        callbacks.append(Plots())
    callbacks += [TensorBoardHook.for_config(cfg), WriteSummary()]
    return callbacks


class WriteSteps(Callback):
    """``steps.jsonl``: the training loss and accuracy within epochs. Every ``trainer.log_every`` steps
    and at each epoch's end, one line with the mean over the steps since the last: ``{"step", "epoch"
    (fractional), "train_loss", "train_acc", "lr"}``. Read from the epoch's running sums, which the
    loop keeps on the device, at steps where the loop synchronizes anyway (its NaN check): no
    ``.item()`` per step. On rank 0 only, over its own batches."""

    def __init__(self) -> None:
        self.mark = [0.0, 0.0, 0.0]  # the running sums (loss*n, correct, n) at the last line

    def on_fit_start(self, trainer: Any) -> None:
        from ..engine.metrics import read_jsonl, write_jsonl

        self.mark = trainer.stats.sums.tolist()  # resumed mid-epoch: the sums so far
        path = trainer.run_dir / "steps.jsonl" if trainer.run_dir is not None else None
        if path is not None and path.is_file():  # resumed: lines logged after the checkpoint are redone
            write_jsonl(path, [r for r in read_jsonl(path) if r.get("step", 0) <= trainer.state.step])

    def on_train_epoch_start(self, trainer: Any) -> None:
        if trainer.state.batch == 0:
            self.mark = [0.0, 0.0, 0.0]

    def on_train_batch_end(self, trainer: Any, loss: Any) -> None:
        from ..engine.metrics import append_jsonl

        st = trainer.state
        if trainer.run_dir is None or (st.step % trainer.log_every and st.batch != trainer.steps_per_epoch):
            return
        sums = trainer.stats.sums.tolist()
        loss_sum, correct, n = (a - b for a, b in zip(sums, self.mark, strict=True))
        self.mark = sums
        if n > 0:
            append_jsonl(trainer.run_dir / "steps.jsonl", {
                "step": st.step, "epoch": round(st.epoch + st.batch / trainer.steps_per_epoch, 4),
                "train_loss": loss_sum / n, "train_acc": correct / n, "lr": trainer.schedule(st.step - 1)})


class WritePredictions(Callback):
    """``predictions.safetensors``: each tested image's prediction and its position in the split."""

    def on_fit_end(self, trainer: Any, result: Any) -> None:
        from .predictions import FILE, write_predictions

        if result.run_dir is not None and result.test is not None:
            write_predictions(result.run_dir / FILE, result.test, len(result.test_split))


class Plots(Callback):
    """``plots/curves.png``, ``confusion.png`` and ``samples.png``."""

    def on_fit_end(self, trainer: Any, result: Any) -> None:
        from . import plots

        if result.run_dir is None:
            return
        from ..engine.describe import tested_split_name
        from ..engine.metrics import read_jsonl

        out, ds, name = result.run_dir / "plots", trainer.ds, trainer.model_label
        steps_file = result.run_dir / "steps.jsonl"
        steps = read_jsonl(steps_file) if steps_file.is_file() else []
        lr = plots.schedule_points(trainer.schedule, trainer.steps_per_epoch, trainer.state.step)
        plots.curves(result.history, out / "curves.png", title=f"{name} on {ds.name}", steps=steps, lr=lr)
        test, split = result.test, tested_split_name(ds)
        if test is not None:
            plots.confusion(test.confusion, ds.classes, out / "confusion.png", title=f"{name} on {ds.name} ({split})")
            plots.samples(lambda k: result.test_split.image(int(test.index[k])), test.targets, test.preds,
                          test.probs, ds.classes, out / "samples.png", split=split)


class WriteSummary(Callback):
    """``summary.json``, written last."""

    def on_fit_end(self, trainer: Any, result: Any) -> None:
        from ..engine.checkpoint import atomic_write

        if result.run_dir is not None:
            atomic_write(result.run_dir / "summary.json", (json.dumps(result.summary, indent=2) + "\n").encode())

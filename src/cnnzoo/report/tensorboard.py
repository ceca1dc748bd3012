"""Optional TensorBoard logging (``output.tensorboard: true``), off by default.

:class:`TensorBoardHook` is a training callback (:mod:`cnnzoo.engine.callbacks`): it logs at the end
of every epoch and once at the end of training; with logging off it does nothing and TensorBoard is
never imported. With it on, the run
directory gets ``tensorboard/`` with, per epoch (the x axis is the epoch number): ``loss/train``,
``loss/val``, ``accuracy/train``, ``accuracy/val``, ``lr``, ``speed/images_per_s``,
``time/epoch_s``; once, a grid of training images (``images/train``, as stored, before
augmentation); at the end, ``accuracy/test`` and ``loss/test`` and the run's summary as text.
Watch it with ``tensorboard --logdir runs``.

TensorBoard is an extra dependency (``pip install 'cnnzoo[tensorboard]'``). When it is asked for and
missing, training stops before it starts, with that command in a one-line error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..engine.callbacks import Callback
from ..errors import ConfigError

INSTALL_HINT = "pip install 'cnnzoo[tensorboard]'"

# Images in the sample grid logged once per run: a screenful at 28 px.
SAMPLE_IMAGES = 64

SCALARS = (("loss/train", "train_loss"), ("loss/val", "val_loss"), ("accuracy/train", "train_acc"),
           ("accuracy/val", "val_acc"), ("lr", "lr"), ("speed/images_per_s", "samples_per_s"),
           ("time/epoch_s", "epoch_time_s"))


def summary_writer_class() -> Callable[..., Any]:
    """torch's SummaryWriter, or a ConfigError saying how to install TensorBoard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"output.tensorboard is on but TensorBoard is not installed; {INSTALL_HINT} "
                          "(or set output.tensorboard: false)") from None
    return SummaryWriter


class TensorBoardHook(Callback):
    """The TensorBoard callback; a no-op unless enabled. ``writer_factory(log_dir)`` makes the writer
    (torch's SummaryWriter by default; tests pass a fake)."""

    def __init__(self, enabled: bool, writer_factory: Callable[[str], Any] | None = None) -> None:
        self.enabled = enabled
        self.factory = writer_factory
        if enabled and self.factory is None:
            self.factory = summary_writer_class()  # fail at start, before any data is read
        self.writer: Any = None
        self.logged_images = False

    @classmethod
    def for_config(cls, cfg: Any) -> TensorBoardHook:
        return cls(bool(cfg.output.tensorboard))

    def _open(self, run_dir: Path) -> Any:
        if self.writer is None:
            assert self.factory is not None  # set in __init__ whenever enabled
            self.writer = self.factory(str(Path(run_dir) / "tensorboard"))
        return self.writer

    def on_train_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        images = None
        if self.enabled and trainer.run_dir is not None and not self.logged_images:
            from ..data.split import first_images

            images = first_images(trainer.ds.train, SAMPLE_IMAGES)  # streamed splits decode just these
        self.log_epoch(trainer.run_dir, row, images)

    def on_fit_end(self, trainer: Any, result: Any) -> None:
        self.close(result.run_dir, result.summary)

    def log_epoch(self, run_dir: Path | None, row: dict[str, Any], train_images: Any = None) -> None:
        """One epoch's metrics row (as in metrics.jsonl); the first call given ``train_images`` (an
        in-memory split, or anything with ``.images`` uint8 (N, C, H, W)) also logs them as a grid."""
        if not self.enabled or run_dir is None:
            return
        w = self._open(run_dir)
        step = int(row["epoch"])
        for tag, key in SCALARS:
            value = row.get(key)
            if value is not None:
                w.add_scalar(tag, float(value), step)
        if not self.logged_images and train_images is not None and len(train_images.images):
            w.add_images("images/train", train_images.images[:SAMPLE_IMAGES], step, dataformats="NCHW")
            self.logged_images = True
        w.flush()

    def close(self, run_dir: Path | None, summary: dict[str, Any]) -> None:
        """The final test numbers and the summary; closes the writer."""
        if not self.enabled or run_dir is None:
            return
        w = self._open(run_dir)
        step = int(summary.get("epochs") or 0)
        if summary.get("test_acc") is not None:
            w.add_scalar("accuracy/test", float(summary["test_acc"]), step)
        if summary.get("test_loss") is not None:
            w.add_scalar("loss/test", float(summary["test_loss"]), step)
        text = json.dumps({k: v for k, v in summary.items() if k != "per_class_acc"}, indent=2)
        w.add_text("summary", "    " + text.replace("\n", "\n    "), step)  # indented: shown as code
        w.close()
        self.writer = None

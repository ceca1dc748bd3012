"""``cnnzoo.train``: the engine's training loop with the run directory's report files hooked in.

The engine (:class:`cnnzoo.engine.trainer.Trainer`) writes ``config.yaml``, ``metrics.jsonl`` and
``checkpoints/``; the callbacks of :mod:`cnnzoo.report.callbacks` add ``predictions.safetensors``,
``plots/``, ``tensorboard/`` and ``summary.json``. ``cnnzoo train`` comes through here too, so the
command and the function write the same files. This module sits above both engine and report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config
    from .engine.callbacks import Callback
    from .engine.trainer import RunResult


def train(cfg: Config, *, run_dir: str | Path | None = None, resume: str | Path | None = None,
          overwrite: bool = False, quiet: bool = False, callbacks: Sequence[Callback] = ()) -> RunResult:
    """Train ``cfg`` and return the run's summary (the Python face of ``cnnzoo train``).

    ``resume``: continue that run directory; with ``run_dir`` too, continue in a copy of it
    (``run_dir`` must not exist or be empty, unless ``overwrite``). A run that has already finished
    (for ``cfg.train.epochs``) is left untouched and its recorded summary returned. ``callbacks``: more
    :class:`~cnnzoo.engine.callbacks.Callback` objects, called after the report files' own.

    >>> from cnnzoo import load_config, train                    # doctest: +SKIP
    >>> result = train(load_config(model="cnn", sets=["train.epochs=1"]))
    >>> result.summary["test_acc"]
    0.87...
    """
    from .engine.progress import Console
    from .engine.trainer import Trainer
    from .report.callbacks import run_callbacks

    trainer = Trainer(cfg, run_dir=Path(run_dir) if run_dir else None, resume=Path(resume) if resume else None,
                      overwrite=overwrite, console=Console(quiet=quiet),
                      callbacks=[*run_callbacks(cfg), *callbacks])
    return trainer.fit()

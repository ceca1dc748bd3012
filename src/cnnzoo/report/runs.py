"""Reading a finished run directory back: what the report, compare and visualize commands start from.

A run directory (written by ``cnnzoo train``) holds ``config.yaml``, ``metrics.jsonl`` (one row per
epoch), ``summary.json`` (written last, when the run finished), ``predictions.safetensors`` (each
test image's prediction), ``checkpoints/`` and ``plots/``. :func:`read_run` checks that a folder
is such a run and finished, and returns its pieces; everything heavier (the model, the test images)
is loaded on demand by the functions below, so comparing twenty runs reads twenty small files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.yaml_reader import read_text_file
from ..engine.metrics import read_jsonl
from ..errors import CheckpointError, DataError
from .predictions import FILE as PREDICTIONS_FILE
from .predictions import Predictions, read_predictions_file


@dataclass
class RunRecord:
    """A finished run, as its files describe it."""

    path: Path
    summary: dict[str, Any]
    history: list[dict[str, Any]]
    config_text: str
    steps: list[dict[str, Any]] = field(default_factory=list)  # steps.jsonl: the loss within epochs

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model(self) -> str:
        return str(self.summary.get("model", "?"))

    @property
    def classes(self) -> list[str]:
        per_class = self.summary.get("per_class_acc")
        if isinstance(per_class, dict) and per_class:
            return list(per_class)
        return list(read_spec(self.path).classes)

    def config(self) -> Any:
        """The run's resolved :class:`~cnnzoo.config.Config` (validated like any recipe)."""
        from ..config import load_config

        return load_config(self.path / "config.yaml")


def read_run(target: str | Path) -> RunRecord:
    """The finished run in folder ``target``; a one-line CheckpointError when it is not one."""
    path = Path(target)
    if not path.exists():
        raise CheckpointError(f"no run directory at {path}")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a run directory (pass the folder `cnnzoo train` wrote)")
    if not (path / "config.yaml").is_file():
        raise CheckpointError(f"{path} is not a cnnzoo run directory (no config.yaml); pass a folder written "
                              "by `cnnzoo train`")
    if not (path / "summary.json").is_file():
        raise CheckpointError(f"run {path} has not finished (no summary.json); finish it with "
                              f"`cnnzoo train --resume {path}` first")
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path / 'summary.json'} is damaged ({e})") from None
    if not isinstance(summary, dict):
        raise CheckpointError(f"{path / 'summary.json'} is damaged (not a JSON object)")
    history: list[dict[str, Any]] = []
    metrics = path / "metrics.jsonl"
    if metrics.is_file():
        for n, line in enumerate(metrics.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                history.append(json.loads(line))
            except ValueError:
                raise CheckpointError(f"{metrics}:{n}: not a JSON line; the file was damaged") from None
    steps = read_jsonl(path / "steps.jsonl") if (path / "steps.jsonl").is_file() else []
    return RunRecord(path, summary, history, read_text_file(path / "config.yaml"), steps)  # bounded, UTF-8 checked


def read_spec(run: str | Path) -> Any:
    """The :class:`~cnnzoo.engine.checkpoint.ModelSpec` of a run's checkpoint, from the file's header
    only (no weights are read)."""
    from safetensors import SafetensorError, safe_open

    from ..engine.checkpoint import ModelSpec, find_checkpoint

    path = find_checkpoint(run)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from None
    return ModelSpec.from_metadata(meta, path)


def read_predictions(run: RunRecord) -> Predictions | None:
    """``predictions.safetensors`` of a run (checked; see :mod:`cnnzoo.report.predictions`), or None
    for a run without a test split."""
    path = run.path / PREDICTIONS_FILE
    return read_predictions_file(path) if path.is_file() else None


def tested_split(run: RunRecord, data_dir: str | Path | None = None) -> tuple[Any, list[str]]:
    """The split the run was tested on (an ImageSplit: ``len``, ``labels``, ``image(i)``) and the class
    names, never downloading.

    The split is rebuilt exactly as training built it: the run's dataset, seed and validation
    fraction; ``summary['test_split']`` says whether the test was the test split or (for a folder
    without one) the validation split. A DataError says where the files were looked for.
    """
    from ..data import load_dataset

    cfg = run.config()
    ds = load_dataset(cfg.data.dataset, data_dir=data_dir or cfg.data.data_dir, offline=True,
                      channels=cfg.data.channels, image_size=cfg.data.image_size,
                      val_fraction=cfg.data.val_fraction, seed=cfg.train.seed, progress=False)
    split = ds.val if run.summary.get("test_split") == "val" else (ds.test if ds.test is not None else ds.val)
    if split is None:
        raise DataError(f"{ds.name} has no test or validation split to take images from")
    return split, list(ds.classes)

"""Reading a finished run directory back: what the report, compare and visualize commands start from.

A run directory (written by ``cnnzoo train``) holds ``config.yaml``, ``metrics.jsonl`` (one row per
epoch), ``summary.json`` (written last, when the run finished), ``predictions.safetensors`` (each
test image's prediction), ``checkpoints/`` and ``plots/``. :func:`read_run` checks that a folder
is such a run and finished, and returns its pieces; everything heavier (the model, the test images)
is loaded on demand by the functions below, so comparing twenty runs reads twenty small files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, DataError
from ..paths import describe


@dataclass
class RunRecord:
    """A finished run, as its files describe it."""

    path: Path
    summary: dict[str, Any]
    history: list[dict[str, Any]]
    config_text: str

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
    kind = describe(path)
    if kind == "does not exist":
        raise CheckpointError(f"no run directory at {path}")
    if kind != "is a folder":  # a file, a symlink loop, a named pipe...
        raise CheckpointError(f"{path} {kind}, not a run directory (pass the folder `cnnzoo train` wrote)")
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
    return RunRecord(path, summary, history, (path / "config.yaml").read_text(encoding="utf-8"))


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


@dataclass
class Predictions:
    """Per test image: predicted class, its probability, the true class; and the confusion matrix."""

    preds: Any
    probs: Any
    targets: Any
    confusion: Any


def read_predictions(run: RunRecord) -> Predictions | None:
    """``predictions.safetensors`` of a run, or None for a run without a test split."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = run.path / "predictions.safetensors"
    if not path.is_file():
        return None
    try:
        t = load_file(str(path))
        return Predictions(t["preds"], t["probs"], t["targets"], t["confusion"])
    except (SafetensorError, OSError, KeyError) as e:
        raise CheckpointError(f"{path} is damaged ({e})") from None


def tested_split(run: RunRecord, data_dir: str | Path | None = None) -> tuple[Any, list[str]]:
    """The images the run was tested on (uint8, as stored) and the class names, never downloading.

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


def split_image(split: Any, index: int) -> Any:
    """Image ``index`` of an in-memory or streamed split, as a uint8 ``(C, H, W)`` tensor."""
    import torch

    if hasattr(split, "images"):
        return split.images[index]
    arr = split.decode(index)
    if arr is None:
        raise DataError(f"cannot decode {split.files[index]}")
    return torch.from_numpy(arr)

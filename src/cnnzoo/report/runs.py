"""Reading a finished run directory back: what the report, compare and visualize commands start from.

A run directory (written by ``cnnzoo train``) holds ``config.yaml``, ``metrics.jsonl`` (one row per
epoch), ``summary.json`` (written last, when the run finished), ``predictions.safetensors`` (each
test image's prediction), ``checkpoints/`` and ``plots/``. :func:`read_run` checks that a folder
is such a run and finished, and returns its pieces; everything heavier (the model, the test images)
is loaded on demand by the functions below, so comparing twenty runs reads twenty small files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.yaml_reader import read_text_file
from ..engine.metrics import read_jsonl
from ..errors import CheckpointError, DataError
from ..paths import describe
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
    def label(self) -> str:
        """The network as it is shown: ``resnet18 (width_mult=0.25)`` (see
        :func:`cnnzoo.models.display_name`); runs written before summary.json held it are named from
        their config.yaml."""
        label = self.summary.get("model_label")
        if isinstance(label, str) and label:
            return label
        from ..errors import CnnzooError
        from ..models.registry import display_name

        try:
            return display_name(self.model, self.config().model.kwargs)
        except CnnzooError:
            return self.model

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
    summary = _read_json(path / "summary.json")
    if not isinstance(summary, dict):
        raise CheckpointError(f"{path / 'summary.json'} is damaged (not a JSON object){_REDO}")
    check_fields(summary, SUMMARY_FIELDS, str(path / "summary.json"))
    history: list[dict[str, Any]] = []
    metrics = path / "metrics.jsonl"
    if metrics.is_file():
        for n, line in enumerate(_read_text(metrics).splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                raise CheckpointError(f"{metrics}:{n}: not a JSON line; the file was damaged{_REDO}") from None
            if not isinstance(row, dict):
                raise CheckpointError(f"{metrics}:{n}: not a JSON object; the file was damaged{_REDO}")
            if "epoch" not in row:
                raise CheckpointError(f"{metrics}:{n}: field 'epoch' is missing; the file was damaged{_REDO}")
            check_fields(row, METRICS_FIELDS, f"{metrics}:{n}")
            history.append(row)
    return RunRecord(path, summary, history, read_text_file(path / "config.yaml"), _read_steps(path / "steps.jsonl"))


def _read_steps(path: Path) -> list[dict[str, Any]]:
    """steps.jsonl (the loss within epochs) if the run has one: only rows whose fields are numbers,
    so that a damaged line never reaches a plot (a torn last line is skipped, as the trainer may leave one)."""
    if not path.is_file():
        return []
    try:
        rows = read_jsonl(path)
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read {path} ({str(e)[:100]}){_REDO}") from None
    return [r for r in rows if all(_number(r.get(k)) and math.isfinite(r[k]) for k in ("step", "train_loss"))]


# --------------------------------------------------------------------------------------------------
# Checking the run files where they are read
#
# summary.json and metrics.jsonl are written by `cnnzoo train`, but a run folder is a folder: files
# get edited, truncated, copied half-way. Each field the commands use is checked here, once, so that
# compare and report never meet a string where a number belongs (or NaN where an accuracy does).

_REDO = " (restore it, or train the run again)"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read {path} ({str(e)[:100]}){_REDO}") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path} is damaged (not JSON: {str(e)[:80]}){_REDO}") from None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fraction(v: Any) -> bool:
    return _number(v) and 0.0 <= v <= 1.0  # NaN fails both comparisons


def _nonneg(v: Any) -> bool:
    return _number(v) and 0.0 <= v < math.inf


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 1000


# field -> (test, what it must be, may it be null)
Field = tuple[Callable[[Any], bool], str, bool]
FRACTION: Field = (_fraction, "a number in 0..1", True)
SECONDS: Field = (_nonneg, "a finite number >= 0", True)
COUNT: Field = (_count, "an integer >= 0", False)
TEXT: Field = (_text, "a string", False)

SUMMARY_FIELDS: dict[str, Field] = {
    "model": TEXT, "dataset": TEXT, "device": TEXT, "precision": TEXT, "torch_version": TEXT,
    "cnnzoo_version": TEXT, "finished_at": TEXT, "test_weights": TEXT,
    "test_split": (lambda v: v in ("test", "val"), "'test' or 'val'", False),
    "params": COUNT, "macs": COUNT, "epochs": COUNT, "steps": COUNT, "classes": COUNT,
    "world_size": (lambda v: _count(v) and v >= 1, "an integer >= 1", False),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer", True),
    "best_epoch": (_count, "an integer >= 0", True),
    "best_val_acc": FRACTION, "test_acc": FRACTION,
    "test_loss": SECONDS, "train_time_s": SECONDS, "wall_time_s": SECONDS, "samples_per_s": SECONDS,
    "peak_memory_mb": SECONDS,
    "input": (lambda v: isinstance(v, list) and 1 <= len(v) <= 4 and all(_count(x) and x >= 1 for x in v),
              "a list of positive integers", False),
    # NaN is what a class without test images gets
    "per_class_acc": (lambda v: isinstance(v, dict) and len(v) <= 100_000 and all(
        _text(k) and (x is None or _fraction(x) or (isinstance(x, float) and math.isnan(x)))
        for k, x in v.items()), "an object of class name -> accuracy in 0..1", False),
}

METRICS_FIELDS: dict[str, Field] = {
    "epoch": (lambda v: _count(v) and v >= 1, "an integer >= 1", False),
    "step": COUNT,
    "train_loss": SECONDS, "val_loss": SECONDS, "train_acc": FRACTION, "val_acc": FRACTION,
    "lr": SECONDS, "epoch_time_s": SECONDS, "samples_per_s": SECONDS,
}


def check_fields(data: dict[str, Any], schema: dict[str, Field], where: str) -> None:
    """A CheckpointError naming ``where`` and the first field of ``data`` that ``schema`` refuses
    (fields the schema does not know, and absent ones, pass: older and newer runs stay readable)."""
    for key, (ok, what, nullable) in schema.items():
        if key not in data or (nullable and data[key] is None):
            continue
        if not ok(data[key]):
            v = data[key]
            shown = repr(v) if isinstance(v, (int, float, str, bool, type(None))) else type(v).__name__
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise CheckpointError(f"{where}: field '{key}' must be {what}, got {shown}; the file is damaged{_REDO}")


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

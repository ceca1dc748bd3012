"""``cnnzoo eval``: accuracy (top-1 and top-k), precision, recall and F1 per class, and the confusion
matrix of a trained model, in eval.json."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from .checkpoint import atomic_write, build_model, find_checkpoint, load_weights
from .metrics import evaluate, precision_recall_f1
from .runtime import Runtime

log = logging.getLogger("cnnzoo.engine")


def run_dir_of(checkpoint: Path) -> Path | None:
    """The run directory a checkpoint file belongs to, if any (RUN/checkpoints/x.safetensors)."""
    parent = checkpoint.resolve().parent
    if parent.name == "checkpoints" and (parent.parent / "config.yaml").is_file():
        return parent.parent
    return None


def _run_config(run: Path | None) -> Any:
    """The run's configuration; None (with a warning saying why) where config.yaml cannot be used,
    so the checkpoint is still evaluated on what it records itself."""
    if run is None:
        return None
    from ..config import load_config

    try:
        return load_config(run / "config.yaml")
    except ConfigError as e:
        log.warning("%s; evaluating without it (seed 0, val_fraction 0.1, no flip TTA)", e)
        return None


def evaluate_run(target: str | Path, *, dataset: str | None = None, data_dir: str | None = None,
                 split: str = "test", batch_size: int = 512, device: str = "auto", offline: bool = False,
                 out: str | Path | None = None) -> dict[str, Any]:
    """Evaluate the best weights of a run (or a checkpoint file) and write ``eval.json`` (``cnnzoo
    eval`` draws its confusion matrix beside it: :func:`cnnzoo.report.plots.eval_confusion`).

    An image folder without a test split has its validation split tested instead (as in training):
    ``split`` in the result then says ``val``, and ``split_asked`` says ``test``."""
    from ..data import load_dataset, make_loader

    path = find_checkpoint(target)
    state, spec = load_weights(path)
    run = run_dir_of(path)
    cfg = _run_config(run)
    name = dataset or spec.dataset
    if not name:
        raise ConfigError(f"{path} does not record its dataset; pass --dataset")
    if data_dir is None and cfg is not None and name == cfg.data.dataset:
        data_dir = cfg.data.data_dir
    seed = cfg.train.seed if cfg is not None else 0
    val_fraction = cfg.data.val_fraction if cfg is not None else 0.1
    # Evaluating reads what is on disk (never downloads), and for the test split only the test files.
    ds = load_dataset(name, data_dir=data_dir, offline=offline, channels=spec.in_channels,
                      image_size=spec.native_size if name == "folder" or Path(name).exists() else None,
                      val_fraction=val_fraction, seed=seed, download=False, only_test=split == "test")
    if len(ds.classes) != spec.num_classes:
        raise CheckpointError(f"{path} predicts {spec.num_classes} classes but {ds.name} has {len(ds.classes)}; "
                              "evaluate it on the dataset it was trained on")
    asked = split
    if split == "test" and getattr(ds, "test_is_val", False):
        split = "val"  # the folder has no test split: its test split *is* the validation split
    chosen = {"test": ds.test, "val": ds.val, "train": ds.train}[split]
    if chosen is None:
        raise ConfigError(f"{ds.name} has no {split} split" + (" (val_fraction is 0)" if split == "val" else ""))
    rt = Runtime.resolve(device=device)
    rt.apply(seed)
    model = build_model(spec, state, path).to(rt.device)
    if rt.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
    native = list(ds.image_size)
    loader = make_loader(chosen, batch_size=batch_size, train=False, seed=seed, device=rt.device,
                         mean=spec.mean, std=spec.std, augment=None,
                         image_size=tuple(spec.input_size) if list(spec.input_size) != native else None,
                         channels_last=rt.channels_last, drop_last=False)
    tta = bool(cfg.train.tta_flip and ds.flip) if cfg is not None else False
    res = evaluate(model, loader, spec.num_classes, rt.autocast, tta_flip=tta)
    per_class_n = res.confusion.sum(1).tolist()
    prf = precision_recall_f1(res.confusion)
    ks = sorted({k for k in (1, 3, 5) if k <= spec.num_classes})
    result = {
        "checkpoint": str(path), "model": spec.model, "dataset": ds.name, "split": split, "split_asked": asked,
        "n": res.n, "accuracy": res.acc, "loss": res.loss,
        "topk_accuracy": {str(k): res.topk_acc(k) for k in ks},
        "classes": list(ds.classes),
        "per_class_acc": res.per_class_acc(), "per_class_n": per_class_n,
        "per_class_precision": [p for p, _, _ in prf], "per_class_recall": [r for _, r, _ in prf],
        "per_class_f1": [f for _, _, f in prf],
        "macro_f1": _nanmean([f for _, _, f in prf]),
        "confusion": res.confusion.tolist(), "device": rt.describe(), "tta_flip": tta,
    }
    dest = Path(out) if out else ((run or path.parent) / "eval.json")
    if dest.is_dir():
        dest = dest / "eval.json"
    try:
        atomic_write(dest, (json.dumps(result, indent=2) + "\n").encode())
    except OSError as e:
        from ..errors import OutputError

        raise OutputError(f"cannot write {dest}: {e.strerror or e}") from None
    result["eval_json"] = str(dest)
    return result


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else float("nan")


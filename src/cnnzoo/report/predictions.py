"""``predictions.safetensors``: every test image's prediction, written at the end of training.

Tensors (N predictions, C classes): ``preds`` int64 ``(N,)`` predicted class, ``probs`` float32
``(N,)`` its probability, ``targets`` int64 ``(N,)`` true class, ``confusion`` int64 ``(C, C)`` and
``index`` int64 ``(N,)``, the position in the tested split of each prediction's image; metadata
``split_size``, the length of that split. ``index`` keeps predictions and images aligned when a
streamed folder drops a file it cannot decode (then N < split_size). Files written before ``index``
existed read as ``index = 0..N-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

FILE = "predictions.safetensors"


@dataclass
class Predictions:
    """Per tested image: predicted class, its probability, the true class, its split position."""

    preds: torch.Tensor
    probs: torch.Tensor
    targets: torch.Tensor
    confusion: torch.Tensor
    index: torch.Tensor
    split_size: int  # len() of the split the positions in ``index`` refer to


def write_predictions(path: Path, test: Any, split_size: int) -> None:
    """``test``: an :class:`~cnnzoo.engine.metrics.EvalResult` over a split of ``split_size`` images."""
    from safetensors.torch import save

    from ..engine.checkpoint import atomic_write

    tensors = {"preds": test.preds.long().contiguous(), "probs": test.probs.float().contiguous(),
               "targets": test.targets.long().contiguous(), "confusion": test.confusion.long().contiguous(),
               "index": test.index.long().contiguous()}
    atomic_write(path, save(tensors, metadata={"split_size": str(int(split_size))}))


def read_predictions_file(path: Path) -> Predictions:
    """The file at ``path``, checked field by field; a CheckpointError names the file and the field."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            t = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is damaged ({e})") from None

    def bad(field: str, what: str) -> CheckpointError:
        return CheckpointError(f"{path}: field '{field}' {what}; the file is damaged or not written by "
                               "`cnnzoo train` (train the run again to rewrite it)")

    for name, dtype, ndim in (("preds", torch.int64, 1), ("probs", torch.float32, 1), ("targets", torch.int64, 1),
                              ("confusion", torch.int64, 2), ("index", torch.int64, 1)):
        if name not in t:
            if name == "index":
                continue
            raise bad(name, "is missing")
        if t[name].dtype != dtype or t[name].ndim != ndim:
            raise bad(name, f"is {t[name].dtype} with {t[name].ndim} dimensions, expected {dtype} with {ndim}")
    n = len(t["preds"])
    for name in ("probs", "targets", "index"):
        if name in t and len(t[name]) != n:
            raise bad(name, f"has {len(t[name])} values for {n} predictions")
    c = t["confusion"].shape
    if c[0] != c[1] or (n and (int(t["preds"].min()) < 0 or int(t["preds"].max()) >= c[0])):
        raise bad("confusion" if c[0] != c[1] else "preds", f"does not fit {c[0]} classes")
    index = t.get("index", torch.arange(n))
    try:
        size = int(meta.get("split_size", n))
    except ValueError:
        raise bad("split_size", f"is not a number ({meta.get('split_size')!r})") from None
    if n and (int(index.min()) < 0 or int(index.max()) >= size):
        raise bad("index", f"holds positions outside the tested split of {size} images")
    return Predictions(t["preds"], t["probs"], t["targets"], t["confusion"], index, size)

"""Running sums kept on the training device, and the evaluation pass.

The loop never calls ``.item()`` per step: losses and correct counts are added into tensors on the
device, and read (one host-device synchronization) only when the progress display or the end of an
epoch needs them. On a GPU that keeps the launch queue full; on a CPU it costs nothing either way.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F


class RunningStats:
    """Sum of losses, correct predictions and samples, on the device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss*n, correct, n

    def add(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        """``target``: labels, or a mixup/CutMix MixedTarget, whose dominant label counts as correct."""
        if hasattr(target, "dominant"):
            target = target.dominant()
        n = target.shape[0]
        correct = (logits.argmax(1) == target).sum()
        self.sums += torch.stack((loss.detach().double() * n, correct.double(),
                                  torch.tensor(float(n), dtype=torch.float64, device=self.device)))

    def values(self) -> tuple[float, float, int]:
        loss_sum, correct, n = self.sums.tolist()
        if n == 0:
            return float("nan"), float("nan"), 0
        return loss_sum / n, correct / n, int(n)

    def state(self) -> torch.Tensor:
        return self.sums.detach().cpu()

    def load(self, t: torch.Tensor) -> None:
        self.sums.copy_(t.to(self.device))


@dataclass
class EvalResult:
    loss: float
    acc: float
    n: int
    confusion: torch.Tensor  # (C, C) int64: rows = true class, columns = predicted class
    preds: torch.Tensor  # (N,) predicted class
    probs: torch.Tensor  # (N,) probability of the predicted class
    targets: torch.Tensor  # (N,)
    # (N,) int64: the position in the evaluated split of each prediction. Equal to arange(N) unless
    # a streamed split dropped files it could not decode; then it keeps predictions and images aligned.
    index: torch.Tensor = dataclasses.field(default_factory=lambda: torch.empty(0, dtype=torch.int64))
    # (N,) int64: how many classes scored above the true one (0: right; < k: in the top k)
    rank: torch.Tensor = dataclasses.field(default_factory=lambda: torch.empty(0, dtype=torch.int64))

    def topk_acc(self, k: int) -> float:
        """The share of images whose true class is among the ``k`` most probable."""
        return float((self.rank < k).double().mean()) if len(self.rank) else float("nan")

    def per_class_acc(self) -> list[float]:
        c = self.confusion.double()
        total = c.sum(1)
        return [float(c[i, i] / total[i]) if total[i] > 0 else float("nan") for i in range(c.shape[0])]


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, ...]], num_classes: int,
             autocast: Any, tta_flip: bool = False, reduce: Any = None) -> EvalResult:
    """Loss, accuracy and confusion matrix of ``model`` over ``batches`` (model left in eval mode).

    ``batches`` yields ``(x, y)`` or, from ``loader.indexed()``, ``(x, y, index)`` with each image's
    position in the split; without it, positions count from 0 in the order seen.
    ``tta_flip`` averages the probabilities of each image and its mirror image.
    ``reduce`` (distributed runs) sums a tensor across processes.
    """
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, n
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    preds, probs, targets, index, ranks = [], [], [], [], []
    seen = 0
    for x, y, *where in batches:
        index.append(where[0] if where else torch.arange(seen, seen + len(y), device=y.device))
        seen += len(y)
        with autocast():
            logits = model(x)
            if tta_flip:
                logits = torch.logsumexp(torch.stack((logits.float().log_softmax(1),
                                                      model(x.flip(3)).float().log_softmax(1))), 0) - math.log(2)
        logits = logits.float()
        loss = F.cross_entropy(logits, y, reduction="sum")
        p = logits.softmax(1)
        conf, pred = p.max(1)
        sums += torch.stack((loss.double(), torch.tensor(float(y.shape[0]), dtype=torch.float64, device=device)))
        confusion += torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
        preds.append(pred)
        probs.append(conf)
        ranks.append((p > p.gather(1, y[:, None])).sum(1))
        targets.append(y)
    if reduce is not None:
        reduce(sums)
        reduce(confusion)
    loss_sum, n = sums.tolist()
    confusion = confusion.view(num_classes, num_classes).cpu()
    correct = int(confusion.diag().sum())
    cat = (lambda ts: torch.cat(ts).cpu()) if preds else (lambda ts: torch.empty(0))
    return EvalResult(loss=loss_sum / max(n, 1), acc=correct / max(n, 1), n=int(n), confusion=confusion,
                      preds=cat(preds), probs=cat(probs), targets=cat(targets), rank=cat(ranks).long(),
                      index=torch.cat([i.cpu() for i in index]).long() if index else torch.empty(0, dtype=torch.int64))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite the whole metrics file (used on resume, where later lines may be stale)."""
    from .checkpoint import atomic_write

    atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one line. A crash can tear the last line; resume rewrites the file from the
    checkpoint's history, so the file is whole again after any resume."""
    from .checkpoint import _output_error

    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
    except OSError as e:
        raise _output_error(e, path) from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; a line a crash tore (the last one) is skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def precision_recall_f1(confusion: torch.Tensor) -> list[tuple[float, float, float]]:
    """Per class (rows of ``confusion`` are true classes, columns predictions): precision (of the
    images predicted as the class, the share that are), recall (of the class's images, the share
    found) and F1, their harmonic mean. NaN where a class was never predicted or has no images."""
    c = confusion.double()
    out = []
    for i in range(c.shape[0]):
        tp, predicted, actual = float(c[i, i]), float(c[:, i].sum()), float(c[i].sum())
        precision = tp / predicted if predicted else float("nan")
        recall = tp / actual if actual else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else (
            float("nan") if math.isnan(precision) or math.isnan(recall) else 0.0)
        out.append((precision, recall, f1))
    return out

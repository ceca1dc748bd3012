"""The plots of a run directory: training curves, the confusion matrix, sample predictions.

matplotlib runs headless (the Agg backend) and is imported only here, when a plot is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    import io

    from ..engine.checkpoint import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    atomic_write(path, buf.getvalue())


def curves(history: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, train and validation, side by side."""
    plt = _plt()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [r["epoch"] for r in history]
    for key, label, style in (("train", "train", "-o"), ("val", "validation", "-s")):
        loss = [r.get(f"{key}_loss") for r in history]
        acc = [r.get(f"{key}_acc") for r in history]
        if any(v is not None for v in loss):
            ax_loss.plot(epochs, [float("nan") if v is None else v for v in loss], style, label=label, ms=3)
        if any(v is not None for v in acc):
            ax_acc.plot(epochs, [float("nan") if v is None else 100 * v for v in acc], style, label=label, ms=3)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def confusion(matrix: torch.Tensor, classes: Sequence[str], path: Path, title: str = "") -> None:
    """Rows are true classes, columns predictions; each row normalized to 100%."""
    plt = _plt()
    m = matrix.double()
    rows = m.sum(1, keepdim=True).clamp(min=1)
    pct = (100 * m / rows).numpy()
    n = len(classes)
    size = max(5.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    show_labels = n <= 40
    if show_labels:
        ax.set_xticks(range(n), [str(c) for c in classes], rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), [str(c) for c in classes], fontsize=8)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                v = pct[i, j]
                if v >= 0.5:
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if v > 60 else "black")
    acc = float(m.diag().sum() / m.sum().clamp(min=1))
    ax.set(xlabel="predicted", ylabel="true", title=(title + "\n" if title else "") + f"accuracy {100 * acc:.2f}%")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="% of the true class")
    _save(fig, path)


def samples(image: Callable[[int], torch.Tensor], targets: torch.Tensor, preds: torch.Tensor,
            probs: torch.Tensor, classes: Sequence[str], path: Path, n: int = 32, seed: int = 0) -> None:
    """A grid of test images with predicted and true labels; mistakes in red. Half of the grid
    shows mistakes (when there are enough), so the picture teaches something. ``image(k)`` is the
    uint8 ``(C, H, W)`` image of prediction ``k`` (only the ``n`` shown are asked for)."""
    plt = _plt()
    g = torch.Generator().manual_seed(seed)
    wrong = (preds != targets).nonzero().flatten()
    right = (preds == targets).nonzero().flatten()
    k_wrong = min(len(wrong), n // 2)
    pick = torch.cat((wrong[torch.randperm(len(wrong), generator=g)[:k_wrong]],
                      right[torch.randperm(len(right), generator=g)[: n - k_wrong]]))
    pick = pick[torch.randperm(len(pick), generator=g)]
    cols = 8
    rows = max(1, (len(pick) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 1.75))
    axes = [axes] if rows * cols == 1 else list(getattr(axes, "flat", axes))
    for ax in axes:
        ax.axis("off")
    for ax, idx in zip(axes, pick.tolist(), strict=False):
        img = image(idx)
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(img.permute(1, 2, 0).numpy())
        ok = bool(preds[idx] == targets[idx])
        label = f"{classes[int(preds[idx])]} {100 * float(probs[idx]):.0f}%"
        if not ok:
            label += f"\n(true: {classes[int(targets[idx])]})"
        ax.set_title(label, fontsize=7, color="black" if ok else "red")
    fig.suptitle("test predictions (red: mistakes, with the true class)", fontsize=9)
    _save(fig, path)


def lr_find(lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float], suggestion: float,
            path: Path, title: str = "") -> None:
    """The lr range test: loss against learning rate (log axis), the suggestion marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses, color="0.75", linewidth=1, label="loss")
    ax.plot(lrs, smoothed, color="C0", linewidth=2, label="smoothed")
    at = min(range(len(lrs)), key=lambda i: abs(math.log(lrs[i]) - math.log(suggestion)))
    ax.plot([suggestion], [smoothed[at]], "o", color="C3", markersize=8,
            label=f"suggested lr {suggestion:.3g} (steepest descent)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    lo = min(smoothed)
    ax.set_ylim(min(losses) * 0.95 if min(losses) > 0 else None, max(smoothed[0], lo * 1.5) * 1.5)
    ax.set_title(title or "learning-rate range test")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)

"""The plots of a run directory: training curves, the confusion matrix, sample predictions.

matplotlib runs headless (the Agg backend) and is imported only here, when a plot is drawn.
"""

from __future__ import annotations

import dataclasses
import io
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


def _save(fig: Any, path: Path, metadata: dict[str, str] | None = None) -> None:
    """``fig`` as a PNG at ``path`` (atomically); ``metadata``: text chunks stored in the PNG."""
    from ..engine.checkpoint import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata=metadata)
    _plt().close(fig)
    atomic_write(path, buf.getvalue())


def schedule_points(schedule: Callable[[int], float], steps_per_epoch: int, total_steps: int,
                    n: int = 400) -> tuple[list[float], list[float]]:
    """(epoch, learning rate) at up to ``n`` steps spread over the run: the schedule as a curve."""
    if total_steps <= 0 or steps_per_epoch <= 0:
        return [], []
    ks = sorted({round(i * (total_steps - 1) / max(1, n - 1)) for i in range(n)})
    return [k / steps_per_epoch for k in ks], [float(schedule(k)) for k in ks]


def curves(history: Sequence[dict[str, Any]], path: Path, title: str = "",
           steps: Sequence[dict[str, Any]] = (), lr: tuple[list[float], list[float]] | None = None) -> None:
    """Loss, accuracy and learning rate against the epoch, side by side.

    Per epoch: train and validation (markers at each epoch's end). ``steps`` (the rows of
    steps.jsonl) adds the training loss and accuracy within each epoch, a window of steps at a time,
    as a thin line. ``lr``: the schedule as (epoch, learning rate) points (:func:`schedule_points`);
    without it, the learning rate of each steps.jsonl window, else of each epoch's last step.
    """
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(14, 3.9))
    epochs = [r["epoch"] for r in history]
    steps = [r for r in steps if r.get("epoch") is not None]
    if steps:
        x = [r["epoch"] for r in steps]
        ax_loss.plot(x, [r.get("train_loss", float("nan")) for r in steps], "-", color="C0", lw=0.9, alpha=0.45,
                     label="train (within epochs)")
        ax_acc.plot(x, [100 * r.get("train_acc", float("nan")) for r in steps], "-", color="C0", lw=0.9,
                    alpha=0.45, label="train (within epochs)")
    for key, label, style, colour in (("train", "train (epoch)", "-o", "C0"), ("val", "validation", "-s", "C1")):
        loss = [r.get(f"{key}_loss") for r in history]
        acc = [r.get(f"{key}_acc") for r in history]
        if any(v is not None for v in loss):
            ax_loss.plot(epochs, [float("nan") if v is None else v for v in loss], style, label=label, ms=4,
                         color=colour)
        if any(v is not None for v in acc):
            ax_acc.plot(epochs, [float("nan") if v is None else 100 * v for v in acc], style, label=label, ms=4,
                        color=colour)
    if lr is not None and lr[0]:
        ax_lr.plot(*lr, "-", color="C2")
    elif steps:
        ax_lr.plot([r["epoch"] for r in steps], [r.get("lr", float("nan")) for r in steps], "-", color="C2")
    else:
        ax_lr.plot(epochs, [r.get("lr", float("nan")) for r in history], "-o", color="C2", ms=4)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title="learning rate (schedule)")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        # whole epochs only, and at most about ten labels, so that they never run together
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True, min_n_ticks=1))
        if epochs:
            ax.set_xlim(0 if steps or lr else min(epochs) - 0.2, max(epochs) + 0.2)
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
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


def eval_confusion(result: dict[str, Any]) -> Path:
    """The confusion matrix of a ``cnnzoo eval`` result, drawn beside its eval.json
    (``eval.json`` -> ``eval-confusion.png``); returns the path."""
    dest = Path(result["eval_json"])
    path = dest.with_name(dest.stem + "-confusion.png")
    confusion(torch.tensor(result["confusion"]), result["classes"], path,
              title=f"{result['model']} on {result['dataset']} ({result['split']}, {result['n']:,} images)")
    return path


def samples(image: Callable[[int], torch.Tensor], targets: torch.Tensor, preds: torch.Tensor,
            probs: torch.Tensor, classes: Sequence[str], path: Path, n: int = 32, seed: int = 0,
            split: str = "test") -> None:
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
    acc = float((preds == targets).double().mean()) if len(targets) else float("nan")
    overall = f"overall the model is right on {100 * acc:.2f}% of the {len(targets):,} {split} images " \
              f"({len(wrong):,} mistake{'' if len(wrong) == 1 else 's'})"
    if k_wrong:
        head = (f"{split} predictions: {k_wrong} of these {len(pick)} are mistakes (red, with the true class), "
                f"shown on purpose, so the grid is not a fair sample;")
    else:
        head = f"{split} predictions, a random sample (there are no mistakes to show);"
    fig.suptitle(head + "\n" + overall, fontsize=9)
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


def show_batch(cfg: Any, path: Path, n: int = 32, epoch: int = 0) -> str:
    """Training images as the network sees them: the first ``n`` of epoch ``epoch``'s first batch,
    from the very loader :class:`~cnnzoo.engine.trainer.Trainer` builds for ``cfg`` (order,
    augmentation and resize included), undone only for display (un-normalized). fastai's
    ``show_batch``. Returns a caption."""
    from ..engine.progress import Console
    from ..engine.trainer import Trainer

    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device="cpu", compile=False))
    t = Trainer(cfg, console=Console(quiet=True, enabled=False), output=False)
    t.setup()
    ds, loader = t.ds, t.train_loader
    loader.set_epoch(epoch)
    x, y = next(iter(loader.iter_from(0)))
    x, y = x[:n].float().cpu(), y[:n].cpu()
    mean = torch.tensor(ds.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(ds.std, dtype=torch.float32).view(1, -1, 1, 1)
    shown = (x * std + mean).clamp(0, 1)
    plt = _plt()
    cols = min(8, len(shown))
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 1.65 + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, label in zip(axes.flat, shown, y.tolist(), strict=False):
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(str(ds.classes[label]), fontsize=7)
    aug = cfg.data.augment
    flip = {"auto": ds.flip, "on": True, "off": False}.get(str(aug.flip), False)
    how = ", ".join(filter(None, [f"random crops (padding {aug.crop_padding})" if aug.crop_padding else "",
                                  "random horizontal flips" if flip else ""])) or "no augmentation"
    size = "x".join(map(str, x.shape[1:]))
    fig.suptitle(f"{ds.name}: {len(shown)} training images of epoch {epoch + 1} as the network sees them "
                 f"({size})\n{how}; the loader's normalization undone for display", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return f"{len(shown)} training images of {ds.name} at {size}, epoch {epoch + 1}: {how}"

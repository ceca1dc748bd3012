"""Device-resident batches with whole-batch augmentation.

A split that fits in memory is moved to the training device once, as uint8. Each batch is then one
``index_select``, one ``gather`` that performs the random crop *and* the horizontal flip for every
image at once, one fused normalization, and optionally one ``F.interpolate`` to the model's input
size. There is no per-sample Python anywhere on this path. The plan of each epoch (order, crops,
flips, sharding) and the transform are shared with the streaming loader: see
:mod:`cnnzoo.data.batching`, which also explains the determinism.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from .batching import Augment, BaseLoader, BatchPlan, BatchTransform, as_hw, crop_flip
from .streaming import FileSplit, StreamingLoader

__all__ = ["Augment", "Loader", "batches_per_epoch", "crop_flip", "make_loader"]


class Loader(BaseLoader):
    """Batches of an in-memory :class:`~cnnzoo.data.dataset.Split`, resident on ``device``
    (the surface is :class:`~cnnzoo.data.batching.BaseLoader`'s)."""

    def __init__(self, split, *, batch_size: int, train: bool, seed: int, device, mean, std,
                 augment: Augment | None = None, image_size=None, channels_last: bool = False,
                 drop_last: bool | None = None, rank: int = 0, world_size: int = 1,
                 sample_weights: torch.Tensor | None = None):
        self.device = torch.device(device)
        self.split = split
        self.images, self.labels = _on_device(split, self.device)
        drop_last = train if drop_last is None else drop_last
        self.plan = BatchPlan(len(split), batch_size=batch_size, train=train, seed=seed, augment=augment,
                              drop_last=drop_last, rank=rank, world_size=world_size, device=self.device,
                              channels=int(self.images.shape[1]),
                              sample_weights=sample_weights if train else None)
        self.transform = BatchTransform(mean, std, int(self.images.shape[1]), self.device,
                                        augment if train else None, as_hw(image_size), channels_last)
        self._check_nonempty(train)

    def _batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        for b in range(start, len(self)):
            idx, params = self.plan.batch(b)
            names = self.plan.extra_names
            x, y = self.images.index_select(0, idx), self.labels.index_select(0, idx)
            partner = self.transform.partner(params, names)
            x2 = None if partner is None else self.images.index_select(0, partner)
            y2 = None if partner is None else self.labels.index_select(0, partner)
            x, y = self.transform.train_batch(x, y, params, names, x2, y2)
            yield x, y, idx


def _on_device(split, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The split's tensors on ``device``, copied once per (split, device) and then shared."""
    cache = split.__dict__.setdefault("_device_copies", {})
    key = str(device)
    if key not in cache:
        cache[key] = (split.images.to(device), split.labels.to(device))
    return cache[key]


def make_loader(split, *, batch_size: int, train: bool, seed: int = 0, device="cpu",
                mean: Sequence[float], std: Sequence[float], augment: Augment | None = None,
                image_size: int | Sequence[int] | None = None, channels_last: bool = False,
                drop_last: bool | None = None, rank: int = 0, world_size: int = 1,
                num_workers: int | None = None, sample_weights: torch.Tensor | None = None):
    """A batch iterator over ``split``: in memory (``Split``) or streamed from files (``FileSplit``).

    Args:
        split: ``dataset.train`` / ``.val`` / ``.test``.
        batch_size: images per batch (per rank).
        train: shuffle each epoch, apply ``augment``, and drop the last short batch by default.
        seed: with the epoch (``set_epoch``), decides order and augmentation.
        device: where batches are produced (and where an in-memory split is kept).
        mean, std: per channel, 0..1 units (``dataset.mean``, ``dataset.std``).
        augment: an :class:`Augment`, used only when ``train``.
        image_size: resize every batch to this (int or (h, w)) with bilinear interpolation.
        channels_last: return batches in ``torch.channels_last`` memory format.
        drop_last: default ``train``.
        rank, world_size: distributed sharding (see the module docstring).
        num_workers: decoding processes for a streamed split (ignored in memory); default
            ``min(8, cpus - 1)``.
        sample_weights: ``(len(split),)``; when given (and ``train``), each epoch draws its images
            with replacement in proportion to them (``data.balance: sampler``).

    Yields ``(x, y)``: ``x`` float32 ``(B, C, H, W)`` normalized, ``y`` int64 ``(B,)``, on ``device``
    (a :class:`~cnnzoo.data.augment.MixedTarget` when ``augment`` has mixup or CutMix).
    """
    kwargs = dict(batch_size=batch_size, train=train, seed=seed, device=device, mean=mean, std=std,
                  augment=augment, image_size=image_size, channels_last=channels_last,
                  drop_last=drop_last, rank=rank, world_size=world_size, sample_weights=sample_weights)
    if isinstance(split, FileSplit):
        return StreamingLoader(split, num_workers=num_workers, **kwargs)
    return Loader(split, **kwargs)


def batches_per_epoch(n: int, batch_size: int, drop_last: bool, world_size: int = 1) -> int:
    """How many batches a training loader over ``n`` images yields per rank (for schedulers)."""
    per_rank = n // world_size
    return per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)

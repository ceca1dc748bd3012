"""The streaming path: image folders too large to decode into memory.

A :class:`~cnnzoo.data.split.FileSplit` holds file paths and labels. :class:`StreamingLoader` hands each batch's
indices to a ``torch.utils.data.DataLoader`` whose worker processes decode the files with Pillow
(to the dataset's channels and size, as uint8); the main process then moves the batch to the
device and applies exactly the same :class:`~cnnzoo.data.batching.BatchPlan` and
:class:`~cnnzoo.data.batching.BatchTransform` as the in-memory loader: same order, same crops and
flips, same normalization. Only where the pixels come from differs.

A file that Pillow cannot decode is dropped from its batch (that batch is one image shorter) and
named in one warning; the scan already skipped non-image and hidden files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .batching import BaseLoader, BatchPlan, BatchTransform, as_hw
from .split import FileSplit

__all__ = ["FileSplit", "StreamingLoader"]

log = logging.getLogger("cnnzoo.data")


class _Decode(torch.utils.data.Dataset):
    """What each worker process runs: index -> (uint8 image, label, decoded ok?)."""

    def __init__(self, split: FileSplit):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        arr = self.split.decode(i)
        ok = arr is not None
        if arr is None:
            arr = np.zeros((self.split.channels, *self.split.size), dtype=np.uint8)
        return torch.from_numpy(arr), int(self.split.labels[i]), ok, i


def _collate(items):
    images, labels, ok, index = zip(*items, strict=True)
    return (torch.stack(images), torch.tensor(labels, dtype=torch.int64), torch.tensor(ok),
            torch.tensor(index))


def default_workers() -> int:
    """Leave one core to the training loop; more than 8 decoders rarely helps one GPU."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


class StreamingLoader(BaseLoader):
    """The streaming twin of :class:`~cnnzoo.data.loader.Loader` (same interface and batches)."""

    def __init__(self, split: FileSplit, *, batch_size: int, train: bool, seed: int, device, mean, std,
                 augment=None, image_size=None, channels_last: bool = False, drop_last: bool | None = None,
                 rank: int = 0, world_size: int = 1, num_workers: int | None = None,
                 sample_weights: torch.Tensor | None = None):
        self.device = torch.device(device)
        self.split = split
        self.num_workers = default_workers() if num_workers is None else num_workers
        drop_last = train if drop_last is None else drop_last
        self.plan = BatchPlan(len(split), batch_size=batch_size, train=train, seed=seed, augment=augment,
                              drop_last=drop_last, rank=rank, world_size=world_size,
                              device=torch.device("cpu"),  # indices go to the workers, on the CPU
                              channels=split.channels, sample_weights=sample_weights if train else None)
        self.transform = BatchTransform(mean, std, split.channels, self.device, augment if train else None,
                                        as_hw(image_size), channels_last)
        self._warned: set[Path] = set()
        self._check_nonempty(train)

    def _batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        plans = [self.plan.batch(b) for b in range(start, len(self))]
        names = self.plan.extra_names  # known once the epoch is planned
        partners = [self.transform.partner(params, names) for _, params in plans]
        # mixup/CutMix partners are decoded in the same worker batch, after their hosts
        loader = torch.utils.data.DataLoader(
            _Decode(self.split), batch_sampler=[idx.tolist() + ([] if p is None else p.tolist())
                                                for (idx, _), p in zip(plans, partners, strict=True)],
            num_workers=self.num_workers, collate_fn=_collate,
            pin_memory=self.device.type == "cuda")
        for (idx, params), partner, (x, y, ok, index) in zip(plans, partners, loader, strict=True):
            x2 = y2 = None
            if partner is not None:
                k = len(idx)
                x, x2, y, y2, ok, index = x[:k], x[k:], y[:k], y[k:], ok[:k], index[:k]
            if not bool(ok.all()):
                self._warn([self.split.files[i] for i in index[~ok].tolist()])
                x, y, index = x[ok], y[ok], index[ok]
                params = None if params is None else tuple(p[ok] for p in params)
                if x2 is not None and y2 is not None:
                    x2, y2 = x2[ok], y2[ok]
            x = x.to(self.device, non_blocking=True)
            if params is not None:
                params = tuple(p.to(self.device, non_blocking=True) for p in params)
            if x2 is not None and y2 is not None:
                x2, y2 = x2.to(self.device, non_blocking=True), y2.to(self.device, non_blocking=True)
            xb, yb = self.transform.train_batch(x, y.to(self.device, non_blocking=True), params, names, x2, y2)
            yield xb, yb, index

    def _warn(self, files: list[Path]) -> None:
        new = [f for f in files if f not in self._warned]
        if new:
            self._warned.update(new)
            log.warning("skipped %d unreadable image%s: %s", len(new), "s" if len(new) > 1 else "",
                        ", ".join(str(f) for f in new[:3]) + (", ..." if len(new) > 3 else ""))

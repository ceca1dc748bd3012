"""A split of a dataset, in memory (:class:`Split`) or on disk (:class:`FileSplit`).

Both have the same small surface, :class:`ImageSplit`: ``len(split)``, ``split.labels`` (int64
``(N,)``) and ``split.image(i)`` (uint8 ``(C, H, W)``, as stored). Plots, reports and anything else
that shows images use only that, so they work for every split; the loaders are the only code that
knows where the pixels live (:func:`cnnzoo.data.make_loader` picks the loader by the split's type).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..errors import DataError
from .formats import decode_image


class ImageSplit(Protocol):
    """What every split offers its readers."""

    labels: torch.Tensor

    def __len__(self) -> int: ...

    def image(self, i: int) -> torch.Tensor: ...


@dataclass
class Split:
    """One split held in memory: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``, on CPU."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"Split.images must be uint8 (N, C, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (len(self.images),):
            raise ValueError(f"Split.labels must be int64 ({len(self.images)},), got {self.labels.dtype} "
                             f"{tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, i: int) -> torch.Tensor:
        """Image ``i`` as stored: uint8 ``(C, H, W)``."""
        return self.images[i]

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])

    def __repr__(self) -> str:
        return f"Split({len(self)} images of {tuple(self.images.shape[1:])})"


class FileSplit:
    """A split kept on disk: ``files[i]`` has label ``labels[i]``; decoded on demand (there is no
    ``images`` tensor: a streamed folder is too large for one)."""

    def __init__(self, files: Sequence[Path], labels, channels: int, size: tuple[int, int]):
        self.files = [Path(f) for f in files]
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.channels, self.size = channels, (int(size[0]), int(size[1]))
        if len(self.files) != len(self.labels):
            raise ValueError(f"{len(self.files)} files but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"FileSplit({len(self)} files decoded to {self.channels}x{self.size[0]}x{self.size[1]})"

    def image(self, i: int) -> torch.Tensor:
        """Image ``i`` decoded to uint8 ``(C, H, W)``; a DataError names a file Pillow cannot read."""
        arr = self.decode(i)
        if arr is None:
            raise DataError(f"cannot decode {self.files[i]}")
        return torch.from_numpy(arr)

    def subset(self, index: torch.Tensor) -> FileSplit:
        idx = index.tolist()
        return FileSplit([self.files[i] for i in idx], self.labels[index], self.channels, self.size)

    def decode(self, i: int) -> np.ndarray | None:
        return decode_image(self.files[i], self.channels, self.size)

    def sample_images(self, k: int) -> torch.Tensor:
        """Up to ``k`` evenly spaced images, decoded (unreadable ones left out): for statistics."""
        step = max(1, len(self) // k)
        arrays = [a for a in (self.decode(i) for i in range(0, len(self), step)[:k]) if a is not None]
        if not arrays:
            return torch.zeros((0, self.channels, *self.size), dtype=torch.uint8)
        return torch.from_numpy(np.stack(arrays))


def first_images(split: ImageSplit, k: int) -> Split:
    """Up to the first ``k`` readable images of ``split``, with their labels, as an in-memory Split."""
    picked: list[int] = []
    images: list[torch.Tensor] = []
    for i in range(len(split)):
        if len(images) == k:
            break
        try:
            images.append(split.image(i))
        except DataError:  # an unreadable file of a streamed split: take the next one
            continue
        picked.append(i)
    if not images:
        return Split(torch.zeros((0, 1, 1, 1), dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
    return Split(torch.stack(images), split.labels[picked])

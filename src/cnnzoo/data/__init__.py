"""Datasets, offline first: find or fetch the files, decode once, serve batches from the device.

    >>> from cnnzoo.data import load_dataset, make_loader, Augment
    >>> ds = load_dataset("fashion-mnist", offline=True)          # or "cifar10", "folder", "./my_images"
    >>> loader = make_loader(ds.train, batch_size=128, train=True, seed=0, device="cuda",
    ...                      mean=ds.mean, std=ds.std, augment=Augment.for_dataset(ds))
    >>> for epoch in range(3):
    ...     loader.set_epoch(epoch)
    ...     for x, y in loader:          # x: float32 (128, 1, 28, 28) normalized, on the device
    ...         ...

Modules, in the order data flows: ``catalog`` (what each dataset is), ``sources`` (where files are
found or downloaded), ``formats`` (IDX, CIFAR binary, image folders), ``dataset`` (splits and
statistics), ``split`` (the in-memory and the streamed split, one interface), ``batching`` (the plan
of an epoch and the augmentation both loaders share), ``loader`` (device-resident batches),
``streaming`` (folders too large for memory), ``integrity`` (checksums and structure). See docs/data.md.

Names are imported lazily: ``list_datasets`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "list_datasets": "catalog",
    "get_spec": "catalog",
    "DatasetSpec": "catalog",
    "fetch": "sources",
    "locate": "sources",
    "cache_root": "sources",
    "load_dataset": "dataset",
    "dataset_info": "dataset",
    "Dataset": "dataset",
    "Split": "split",
    "FileSplit": "split",
    "ImageSplit": "split",
    "make_loader": "loader",
    "Augment": "loader",
    "verify": "integrity",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnzoo.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

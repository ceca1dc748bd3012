"""Fixtures shared by the whole suite: isolation from the machine and tiny real-format datasets.

No test reads the developer's datasets, writes into their cache, or reaches the internet: every
test gets its own cache and system-data folders, and download mirrors point at a closed port.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

CLOSED_MIRROR = "http://127.0.0.1:9/"

FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_worker() -> Iterator[None]:
    """Under pytest-xdist, one intra-op thread per worker (two workers on two cores, not four
    threads fighting); CNNZOO_THREADS carries the choice into the trainer and subprocesses."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    os.environ["CNNZOO_THREADS"] = "1"
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _isolated_from_machine(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path_factory.mktemp("machine")
    (base / "system").mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    monkeypatch.setenv("CNNZOO_SYSTEM_DATA", str(base / "system"))
    monkeypatch.setenv("CNNZOO_MIRRORS", CLOSED_MIRROR)
    for var in ("CNNZOO_DATA", "CNNZOO_CHECKSUMS", "CNNZOO_DATA_MEMORY_LIMIT", "CNNZOO_DEBUG"):
        monkeypatch.delenv(var, raising=False)


def learnable_images(n: int, seed: int, num_classes: int = 10, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Images a small network learns within a couple of epochs, whatever the crop and flip:
    classes 0-4 are a horizontal bar in one of five row bands, classes 5-9 a mirror-symmetric pair
    of vertical bars in one of five column bands, jittered by a pixel, over noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    bands = [2 + i * (size // 2 - 4) // 4 for i in range(5)]  # 2, 4, 7, 9, 12 at 28 px
    bands = [2, 7, 12, 17, 22] if size == 28 else bands
    for i, k in enumerate(labels):
        at = bands[int(k) % 5] + int(rng.integers(-1, 2))
        if k < 5:
            images[i, at:at + 3, 3:size - 3] = 230
        else:
            c = min(bands[int(k) % 5] // 2, size // 2 - 3) + int(rng.integers(0, 2))
            images[i, 3:size - 3, c:c + 2] = 230
            images[i, 3:size - 3, size - c - 2:size - c] = 230
    return images, labels


def _idx(array: np.ndarray) -> bytes:
    dims = array.shape
    return struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + array.tobytes()


def write_fashion_like(folder: Path, n_train: int = 1200, n_test: int = 200, seed: int = 0) -> Path:
    """Fashion-MNIST's four IDX files (official names, gzipped) with learnable synthetic content."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", n_train, seed), ("test", n_test, seed + 1)):
        images, labels = learnable_images(n, s)
        img_name, lbl_name = FASHION_FILES[split]
        (folder / img_name).write_bytes(gzip.compress(_idx(images)))
        (folder / lbl_name).write_bytes(gzip.compress(_idx(labels)))
    return folder


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashion_like(tmp_path_factory.mktemp("fashion-mnist"))

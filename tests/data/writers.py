"""Writers of the real dataset file formats, for tests that build their own small data."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

from cnnzoo.data.catalog import get_spec


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX ubyte file: 00 00 08 <ndim>, big-endian uint32 sizes, the values."""
    array = np.asarray(array, dtype=np.uint8)
    head = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path if path.name.endswith(".gz") else path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path = path.with_name(path.name.removesuffix(".gz"))
        path.write_bytes(data)
    return path


def make_idx_images(n: int, seed: int, h: int = 28, w: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Random 0..255 images (so statistics are non-trivial) and balanced labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, h, w), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_idx_dataset(folder: Path, n_train: int = 200, n_test: int = 50, gz: bool = True) -> Path:
    """The four MNIST-family files under their official names."""
    tr_x, tr_y = make_idx_images(n_train, 1)
    te_x, te_y = make_idx_images(n_test, 2)
    write_idx(folder / "train-images-idx3-ubyte.gz", tr_x, gz)
    write_idx(folder / "train-labels-idx1-ubyte.gz", tr_y, gz)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", te_x, gz)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", te_y, gz)
    return folder


def cifar_records(n: int, label_bytes: int, num_classes: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = (np.arange(n) % num_classes).astype(np.uint8)
    heads = np.zeros((n, label_bytes), dtype=np.uint8)
    heads[:, -1] = labels
    if label_bytes == 2:
        heads[:, 0] = labels % 20  # a coarse label that must not be mistaken for the fine one
    return np.concatenate([heads, images.reshape(n, -1)], axis=1).tobytes(), images, labels


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_cifar_archive(folder: Path, kind: str = "cifar10", per_batch: int = 20, n_test: int = 30,
                        skip: tuple[str, ...] = (), extra: dict[str, bytes] | None = None) -> dict:
    """The official binary archive layout, with few records; returns what was written."""
    spec = get_spec(kind)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / spec.files[0].name
    written: dict = {"path": path, "train_images": [], "train_labels": []}
    with tarfile.open(path, "w:gz") as tar:
        if kind == "cifar10":
            for i in range(1, 6):
                data, x, y = cifar_records(per_batch, 1, 10, seed=i)
                written["train_images"].append(x)
                written["train_labels"].append(y)
                if f"data_batch_{i}.bin" not in skip:
                    _add(tar, f"cifar-10-batches-bin/data_batch_{i}.bin", data)
            data, x, y = cifar_records(n_test, 1, 10, seed=9)
            _add(tar, "cifar-10-batches-bin/test_batch.bin", data)
            names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"
            _add(tar, "cifar-10-batches-bin/batches.meta.txt", names.encode())
            _add(tar, "cifar-10-batches-bin/readme.html", b"<html></html>")
        else:
            data, x, y = cifar_records(per_batch * 5, 2, 100, seed=1)
            written["train_images"].append(x)
            written["train_labels"].append(y)
            _add(tar, "cifar-100-binary/train.bin", data)
            data, x, y = cifar_records(n_test, 2, 100, seed=9)
            _add(tar, "cifar-100-binary/test.bin", data)
            fine = "".join(f"fine_{i}\n" for i in range(100))
            _add(tar, "cifar-100-binary/fine_label_names.txt", fine.encode())
            _add(tar, "cifar-100-binary/coarse_label_names.txt", "".join(f"c{i}\n" for i in range(20)).encode())
        for name, data in (extra or {}).items():
            _add(tar, name, data)
    written["test_images"], written["test_labels"] = x, y
    return written


def write_image(path: Path, mode: str, size: tuple[int, int], fmt: str | None = None, seed: int = 0) -> Path:
    """An image of ``mode`` and ``size`` (w, h) with random content, in the format of its suffix."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    elif mode == "1":
        img = Image.fromarray(rng.integers(0, 2, (h, w), dtype=np.uint8) * 255).convert("1")
    elif mode in ("P", "P+t"):
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert("P")
        if mode == "P+t":
            img.info["transparency"] = 0
    else:
        bands = len(Image.new(mode, (1, 1)).getbands())
        arr = rng.integers(0, 256, (h, w, bands), dtype=np.uint8)
        img = Image.fromarray(arr[..., 0] if bands == 1 else arr, "L" if bands == 1 else None)
        if img.mode != mode:
            img = img.convert(mode)
    kwargs = {"transparency": 0} if mode == "P+t" else {}
    img.save(path, fmt, **kwargs)
    return path


def make_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "eel"), per_class: int = 6,
                junk: bool = True) -> Path:
    """ROOT/<class>/<image> with mixed formats, modes and sizes, plus junk that must be skipped."""
    variants = [("png", "RGB", (40, 30)), ("jpg", "L", (24, 24)), ("bmp", "RGB", (24, 24)),
                ("webp", "RGB", (24, 24)), ("gif", "P", (17, 31)), ("png", "RGBA", (24, 24)),
                ("png", "LA", (24, 24)), ("png", "I;16", (24, 24)), ("png", "1", (24, 24)),
                ("jpg", "CMYK", (24, 24)), ("png", "P+t", (24, 24))]
    k = 0
    for c in classes:
        for i in range(per_class):
            ext, mode, size = variants[k % len(variants)]
            write_image(root / c / f"img{i}.{ext}", mode, size, seed=k)
            k += 1
    if junk:
        (root / classes[0] / "notes.txt").write_text("not an image")
        (root / classes[0] / ".DS_Store").write_bytes(b"\0\1\2")
        (root / classes[1] / "._img0.png").write_bytes(b"AppleDouble junk")
        (root / classes[1] / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        (root / classes[2] / "empty.jpg").write_bytes(b"")
        (root / "README.md").write_text("my dataset")
    return root

"""``load_dataset``: from a name (or a folder) to decoded, split, described tensors.

The result is a :class:`Dataset` whose splits hold every image as one ``uint8 (N, C, H, W)`` tensor
on the CPU, decoded once; :func:`cnnzoo.data.make_loader` moves a split to the training device and
draws batches from it. Image folders too large for memory get :class:`~cnnzoo.data.streaming.FileSplit`
splits instead, which hold file paths and decode on demand in loader worker processes. Both kinds
share one surface (:class:`~cnnzoo.data.split.ImageSplit`): ``len``, ``labels``, ``image(i)``.

Validation split. Built-in datasets ship train and test only, so ``val`` is carved from train:
``val_fraction`` of each class, chosen by a permutation seeded with ``seed`` (stratified: class
proportions are the same in both parts, which matters for small folders). ``val_fraction=0`` gives
``val=None``. Folders that have ``ROOT/val`` use it as is.

Statistics. ``mean`` and ``std`` are per channel, in 0..1 units, computed exactly (integer sums)
over the final train split, after channel conversion; the loader normalizes with them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import env
from ..errors import DataError
from ..paths import describe
from . import formats
from .catalog import DatasetSpec, get_spec
from .sources import cache_root, locate
from .split import FileSplit, ImageSplit, Split

log = logging.getLogger("cnnzoo.data")

# Decoded image folders above this many bytes (uint8, at the decode size) are streamed from disk
# instead of held in memory (and on the training device). 2 GiB holds CIFAR-size folders many times
# over and stays well inside a laptop's RAM; ImageNet-size folders stream. Override with
# load_dataset(memory_limit=...) or $CNNZOO_DATA_MEMORY_LIMIT (bytes).
DEFAULT_MEMORY_LIMIT: int = env.DATA_MEMORY_LIMIT.default  # 2 GiB, declared with its variable in cnnzoo.env

# Bump when the decoded-folder cache layout or decoding changes, so stale caches are not reused.
FOLDER_CACHE_VERSION = 1

# Streaming splits estimate mean/std from this many evenly spaced images (decoding all of a huge
# folder just for two numbers per channel would take as long as an epoch).
STATS_SAMPLE = 2048


AnySplit = Split | FileSplit  # both are ImageSplits: len(), labels, image(i)

__all__ = ["Dataset", "FileSplit", "ImageSplit", "Split", "load_dataset", "dataset_info"]


@dataclass
class Dataset:
    """A loaded dataset: splits, class names and what the loader needs to know about it."""

    name: str
    classes: list[str]
    train: AnySplit
    val: AnySplit | None
    test: AnySplit | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool  # is a horizontal flip a label-preserving augmentation?
    source: str  # the folder the files were read from
    channels: int
    image_size: tuple[int, int]  # (H, W) as stored: native, or a folder's decode size
    test_is_val: bool = False  # True when there is no test split and ``test`` is ``val``
    found_in: str = ""  # which step of the search order found it ("system", "cache", ...)
    skipped: list[str] = field(default_factory=list)  # folder files that were not used

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def streaming(self) -> bool:
        return isinstance(self.train, FileSplit)

    def __repr__(self) -> str:
        parts = ", ".join(f"{s}={len(getattr(self, s))}" for s in ("train", "val", "test")
                          if getattr(self, s) is not None)
        return (f"Dataset({self.name!r}, {parts}, {self.num_classes} classes, "
                f"{self.channels}x{self.image_size[0]}x{self.image_size[1]}, from {self.source})")


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, offline: bool = False,
                 channels: int | None = None, image_size: int | Sequence[int] | None = None,
                 val_fraction: float = 0.1, seed: int = 0, download: bool = True,
                 stream: bool | None = None, memory_limit: int | None = None,
                 progress: bool | None = None, only_test: bool = False) -> Dataset:
    """Find, read, split and describe a dataset.

    Args:
        name: a built-in name (``cnnzoo data list``), ``"folder"`` with ``data_dir`` as the root, or
            the path of an image folder.
        data_dir: searched first (see :mod:`cnnzoo.data.sources`); for ``folder``, the root.
        offline: never touch the network; a dataset that is not on disk is a DataError.
        channels: 1 or 3 to convert (grey -> RGB by repetition, RGB -> grey by ITU-R 601 luma);
            None keeps the native channels (folders: 1 if the sampled images are all grey, else 3).
        image_size: folders only: decode size, int or (h, w); images are scaled to cover it and
            centre-cropped. Built-ins ignore it (the loader resizes per batch).
        val_fraction: the stratified share of train held out as ``val`` when there is no val split.
        seed: seeds that hold-out (and nothing else).
        download: allow downloading into the cache when the files are nowhere on disk.
        stream: folders only: force (True) or forbid (False) the streaming path; None picks it when
            the decoded folder would exceed ``memory_limit`` bytes (default 2 GiB,
            ``$CNNZOO_DATA_MEMORY_LIMIT``).
        progress: download progress bar: None = automatic, False = quiet.
        only_test: read the test split alone where the files allow it (IDX datasets: the t10k
            files; ``cnnzoo eval``); ``train`` and ``val`` are then empty, mean/std the test split's.
    """
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = _folder_root(name, data_dir)
    if root is not None:
        return _load_folder(root, channels, image_size, val_fraction, seed, stream, memory_limit)
    spec = get_spec(name)
    if only_test and spec.kind == "idx":
        loc = locate(spec, data_dir, offline=offline, download=download, progress=progress, prefixes=("t10k",))
        te_x, te_y = formats.read_idx_pair(*_idx_paths(spec, loc.path, "t10k"), len(spec.classes))
        test = _convert(Split(torch.from_numpy(te_x), torch.from_numpy(te_y)), channels)
        empty = Split(test.images[:0], test.labels[:0])
        mean, std = channel_stats(test)
        return Dataset(spec.name, list(spec.classes), empty, None, test, mean, std, spec.flip, str(loc.path),
                       int(test.images.shape[1]), (int(test.images.shape[2]), int(test.images.shape[3])), False,
                       loc.where)
    loc = locate(spec, data_dir, offline=offline, download=download, progress=progress)
    if spec.kind == "idx":
        classes = list(spec.classes)
        tr_x, tr_y = formats.read_idx_pair(*_idx_paths(spec, loc.path, "train"), len(classes))
        te_x, te_y = formats.read_idx_pair(*_idx_paths(spec, loc.path, "t10k"), len(classes))
    else:
        cifar = formats.read_cifar(loc.path, spec.kind, spec.files[0].name)
        classes = cifar.classes
        tr_x, tr_y, te_x, te_y = cifar.train_images, cifar.train_labels, cifar.test_images, cifar.test_labels
    pool = _convert(Split(torch.from_numpy(tr_x), torch.from_numpy(tr_y)), channels)
    test = _convert(Split(torch.from_numpy(te_x), torch.from_numpy(te_y)), channels)
    train, val = carve_val(pool, val_fraction, seed)
    mean, std = channel_stats(train)
    return Dataset(spec.name, classes, train, val, test, mean, std, spec.flip, str(loc.path),
                   int(pool.images.shape[1]), (pool.images.shape[2], pool.images.shape[3]), False, loc.where)


def _folder_root(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    """The image-folder root if ``name`` means a folder, else None (a built-in name)."""
    key = name.strip().lower()
    if key == "folder":
        if data_dir is None:
            raise DataError("the 'folder' dataset needs data_dir / --data-dir ROOT "
                            "(a folder laid out as ROOT/<class>/<image>)")
        return Path(data_dir).expanduser()
    from .catalog import DATASETS

    looks_like_path = os.sep in name or name.startswith(".") or name.startswith("~")
    if key.replace("_", "-") not in DATASETS and (looks_like_path or os.path.lexists(name)):
        root = Path(name).expanduser()
        kind = describe(root)
        if kind != "is a folder":
            raise DataError(f"{root} {kind if kind == 'does not exist' else f'is not a folder (it {kind})'} "
                            "(an image folder is ROOT/<class>/<image>)")
        return root
    return None


def _idx_paths(spec: DatasetSpec, folder: Path, prefix: str) -> tuple[Path, Path]:
    def pick(kind: str) -> Path:
        f = next(f for f in spec.files if f.name.startswith(f"{prefix}-{kind}"))
        return folder / f.name if (folder / f.name).is_file() else folder / f.stem

    return pick("images"), pick("labels")


# ---------------------------------------------------------------------------------------------
# transformations shared by all datasets


def to_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` with C in {1, 3} converted to ``channels`` (None: unchanged)."""
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        # ITU-R 601-2 luma in integer arithmetic, rounded: exactly what Pillow's convert("L") does
        w = torch.tensor([299, 587, 114], dtype=torch.int32).view(1, 3, 1, 1)
        out = torch.empty((len(images), 1, *images.shape[2:]), dtype=torch.uint8)
        for i in range(0, len(images), 4096):  # chunked: int32 temporaries stay small
            chunk = (images[i:i + 4096].to(torch.int32) * w).sum(1, keepdim=True)
            out[i:i + 4096] = torch.div(chunk + 500, 1000, rounding_mode="floor").to(torch.uint8)
        return out
    raise DataError(f"cannot convert {c}-channel images to {channels} channels")


def _convert(split: Split, channels: int | None) -> Split:
    return Split(to_channels(split.images, channels), split.labels)


def carve_val(split: AnySplit, fraction: float, seed: int) -> tuple[AnySplit, AnySplit | None]:
    """Split off a stratified validation set: ``round(fraction * n_c)`` images of each class c.

    Each class keeps at least one training image; if rounding leaves val empty, the largest class
    gives one. Both parts keep the original order. Depends only on (labels, fraction, seed).
    """
    if fraction <= 0:
        return split, None
    labels = np.asarray(split.labels, dtype=np.int64)
    n = len(labels)
    counts = np.bincount(labels, minlength=1)
    n_val = np.minimum(np.floor(counts * fraction + 0.5).astype(np.int64), np.maximum(counts - 1, 0))
    if n_val.sum() == 0 and counts.max() >= 2:
        n_val[counts.argmax()] = 1
    if n_val.sum() == 0:
        raise DataError(f"cannot hold out a validation set from {n} training images; add images or "
                        f"set val_fraction=0")
    # A seeded permutation (torch's CPU generator: the same on every machine), grouped by class
    # with a stable sort so each class keeps its random order; the first n_val[c] of class c go to val.
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    order = perm[np.argsort(labels[perm], kind="stable")]
    start = np.cumsum(counts) - counts
    rank = np.arange(n) - start[labels[order]]
    is_val = np.zeros(n, dtype=bool)
    is_val[order[rank < n_val[labels[order]]]] = True
    return (split.subset(torch.from_numpy(np.flatnonzero(~is_val))),
            split.subset(torch.from_numpy(np.flatnonzero(is_val))))


def channel_stats(split: AnySplit) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in 0..1 units (population std), exact for in-memory splits."""
    images = split.sample_images(STATS_SAMPLE) if isinstance(split, FileSplit) else split.images
    n, c = images.shape[:2]
    if n == 0:
        return (0.0,) * c, (1.0,) * c
    values = torch.arange(256, dtype=torch.float64)
    mean, std = [], []
    for ch in range(c):
        # A histogram of the 256 byte values gives exact sums at bincount speed.
        hist = torch.bincount(images[:, ch].reshape(-1), minlength=256).to(torch.float64)
        total = hist.sum()
        m = (hist * values).sum() / total
        var = ((hist * (values - m) ** 2).sum() / total).clamp(min=0)
        s = float(var.sqrt()) / 255
        mean.append(round(float(m) / 255, 6))
        # A constant channel (std 0) would divide by zero in the loader; 1.0 leaves it unscaled.
        std.append(round(s, 6) if s > 0 else 1.0)
    return tuple(mean), tuple(std)


# ---------------------------------------------------------------------------------------------
# image folders


def _as_hw(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        hw: tuple[int, ...] = (size, size)
    else:
        hw = tuple(int(s) for s in size)
        if len(hw) != 2:
            raise DataError(f"image_size must be an int or (height, width), got {size!r}")
    if min(hw) < 1:
        raise DataError(f"image_size must be positive, got {size!r}")
    return hw  # type: ignore[return-value]


def _probe_channels(files: Sequence[Path]) -> int:
    """1 if every sampled image is greyscale, else 3."""
    from PIL import Image

    step = max(1, len(files) // formats.SIZE_SAMPLE)
    for p in files[::step][:formats.SIZE_SAMPLE]:
        try:
            with Image.open(p) as img:
                if img.mode not in ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "F"):
                    return 3
        except Exception:  # noqa: BLE001 - unreadable files are dealt with when decoding
            continue
    return 1


def _memory_limit(limit: int | None) -> int:
    if limit is not None:
        return limit
    return env.DATA_MEMORY_LIMIT.read()  # unset: the default; not a number of bytes: one ConfigError line


def _load_folder(root: Path, channels: int | None, image_size, val_fraction: float, seed: int,
                 stream: bool | None, memory_limit: int | None) -> Dataset:
    index = formats.scan_folder(root)
    every = [f for s in index.splits.values() for f in s.files]
    size = _as_hw(image_size) or formats.choose_size(every)
    channels = channels or _probe_channels(every)
    estimate = len(every) * channels * size[0] * size[1]
    if stream is None:
        stream = estimate > _memory_limit(memory_limit)
    skipped = list(index.skipped)
    if stream:
        parts: dict[str, AnySplit] = {
            k: FileSplit(s.files, s.labels, channels, size) for k, s in index.splits.items()}
    else:
        decoded, bad = _decode_folder(index, channels, size)
        skipped += bad
        _check_decoded(decoded, index, bad)
        parts = dict(decoded)
    if skipped:
        log.warning(formats.describe_skipped(skipped, root))
    pool = parts.get("train") or parts["all"]
    given_val = parts.get("val")
    val: AnySplit | None
    if given_val is not None:
        train, val = pool, given_val
    else:
        train, val = carve_val(pool, val_fraction, seed)
    test = parts.get("test")
    test_is_val = test is None and val is not None
    if test_is_val:
        test = val
    mean, std = channel_stats(train)
    return Dataset("folder", list(index.classes), train, val, test, mean, std, True, str(root),
                   channels, size, test_is_val, "--data-dir", [str(p) for p in skipped])


def _check_decoded(parts: dict[str, Split], index: formats.FolderIndex, bad: list[Path]) -> None:
    pool = parts.get("train") or parts["all"]
    used = torch.unique(pool.labels).tolist()
    if len(used) < 2:
        what = "no readable images" if not used else f"readable images of only one class ('{index.classes[used[0]]}')"
        raise DataError(f"{index.root} has {what} ({len(bad)} unreadable); a classifier needs at least "
                        f"two class folders of images Pillow can open")


def _folder_key(index: formats.FolderIndex, channels: int, size: tuple[int, int]) -> str:
    """A hash of everything the decoded tensors depend on: files, their sizes and mtimes, settings."""
    h = hashlib.sha256()
    h.update(json.dumps([FOLDER_CACHE_VERSION, str(index.root.resolve()), channels, list(size),
                         index.classes]).encode())
    for split, part in sorted(index.splits.items()):
        h.update(split.encode())
        for path, label in zip(part.files, part.labels, strict=True):
            try:
                st = path.stat()
                stamp = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                stamp = "missing"
            h.update(f"\0{path.relative_to(index.root)}\0{label}\0{stamp}".encode())
    return h.hexdigest()[:32]


def _decode_folder(index: formats.FolderIndex, channels: int,
                   size: tuple[int, int]) -> tuple[dict[str, Split], list[Path]]:
    """Every split decoded to uint8 tensors, from the safetensors cache when it is current."""
    key = _folder_key(index, channels, size)
    cache = cache_root() / "folders" / f"{key}.safetensors"
    cached = _read_folder_cache(cache, index)
    if cached is not None:
        return cached
    parts: dict[str, Split] = {}
    bad: list[Path] = []
    workers = min(8, os.cpu_count() or 1)  # Pillow decodes without the GIL: threads scale
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for split, part in index.splits.items():
            images = np.zeros((len(part.files), channels, *size), dtype=np.uint8)
            ok = np.zeros(len(part.files), dtype=bool)
            decoded = pool.map(lambda p: formats.decode_image(p, channels, size), part.files)
            for i, arr in enumerate(decoded):
                if arr is None:
                    bad.append(part.files[i])
                else:
                    images[i] = arr
                    ok[i] = True
            labels = np.asarray(part.labels, dtype=np.int64)[ok]
            parts[split] = Split(torch.from_numpy(images[ok]), torch.from_numpy(labels))
    _write_folder_cache(cache, parts, bad, index.root)
    return parts, bad


def _read_folder_cache(path: Path, index: formats.FolderIndex) -> tuple[dict[str, Split], list[Path]] | None:
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open

        parts: dict[str, Split] = {}
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            for split in json.loads(meta["splits"]):
                parts[split] = Split(f.get_tensor(f"{split}.images"), f.get_tensor(f"{split}.labels"))
            bad = [index.root / p for p in json.loads(meta["unreadable"])]
        return parts, bad
    except Exception as err:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
        log.debug("ignoring damaged folder cache %s: %s", path, err)
        return None


def _write_folder_cache(path: Path, parts: dict[str, Split], bad: list[Path], root: Path) -> None:
    from safetensors.torch import save_file

    tensors = {}
    for split, s in parts.items():
        tensors[f"{split}.images"] = s.images.contiguous()
        tensors[f"{split}.labels"] = s.labels.contiguous()
    meta = {"splits": json.dumps(list(parts)),
            "unreadable": json.dumps([str(p.relative_to(root)) for p in bad])}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError as err:  # a read-only cache only costs a re-decode next time
        log.debug("could not write folder cache %s: %s", path, err)
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# info


def dataset_info(name: str, data_dir: str | os.PathLike | None = None, offline: bool = False, *,
                 channels: int | None = None, image_size: int | Sequence[int] | None = None) -> dict:
    """What ``cnnzoo data info`` prints: where it was found, native split sizes, classes, stats.

    Splits are reported as shipped (no validation hold-out), so Fashion-MNIST reads 60000/10000.
    """
    ds = load_dataset(name, data_dir=data_dir, offline=offline, channels=channels,
                      image_size=image_size, val_fraction=0.0, download=False)  # a question never downloads
    splits = {s: len(getattr(ds, s)) for s in ("train", "val", "test") if getattr(ds, s) is not None}
    if ds.test_is_val:
        splits.pop("test", None)
    return {
        "name": ds.name,
        "source": ds.source,
        "found_in": ds.found_in,
        "splits": splits,
        "num_classes": ds.num_classes,
        "classes": ds.classes,
        "image_shape": [ds.channels, *ds.image_size],
        "mean": list(ds.mean),
        "std": list(ds.std),
        "flip": ds.flip,
        "streaming": ds.streaming,
        "skipped": len(ds.skipped),
    }

"""What each built-in dataset is: its files, checksums, mirrors, classes and shape.

This module is pure data and imports nothing heavy, so ``cnnzoo data list`` answers at once. The
facts come from the datasets' official pages; the MD5 sums of the downloadable archives are the ones
the authors publish (and torchvision pins). Where we know the SHA-256 of a file's *decompressed*
content we pin that too: Debian re-compresses Fashion-MNIST, so its ``.gz`` files have other MD5s
while the images inside are byte-for-byte the official ones, and ``cnnzoo data verify`` can prove it.

Adding a dataset in one of the supported formats is one :class:`DatasetSpec` entry below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import DataError, did_you_mean


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset as the mirrors serve it.

    ``md5`` is the checksum of the file exactly as downloaded (the archive); ``content_sha256``,
    when known, is the checksum of its decompressed content (IDX files only), which survives
    re-compression by a distribution.
    """

    name: str
    md5: str
    content_sha256: str | None = None

    @property
    def stem(self) -> str:
        """The name without ``.gz``: IDX files may also lie on disk decompressed."""
        return self.name[:-3] if self.name.endswith(".gz") else self.name


@dataclass(frozen=True)
class DatasetSpec:
    """Everything cnnzoo knows about a dataset before reading a byte of it."""

    name: str
    title: str
    description: str
    homepage: str
    kind: str  # "idx", "cifar10", "cifar100" or "folder": which parser reads it
    shape: tuple[int, int, int] | None  # native (C, H, W); None when it depends on the files
    splits: dict[str, int]  # official split sizes, for `data list` and `data verify` notes
    flip: bool  # is a horizontal flip label-preserving? (not for digits or characters)
    classes: tuple[str, ...] = ()  # known up front; CIFAR's are read from the archive itself
    num_classes: int | None = None
    files: tuple[FileSpec, ...] = ()
    # Archive members the parser needs (CIFAR), relative to the archive root. They may also lie
    # extracted on disk, in that folder or flat.
    members: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()  # base URLs under which the official file names are served
    # Other folder names under which the files are commonly found (torchvision's layout), so an
    # existing torchvision download is picked up without copying.
    dir_aliases: tuple[str, ...] = ()
    package_hint: str = ""  # how a distribution ships it, for the not-found message


# IDX file names are the same for MNIST and its drop-in replacements.
_IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _idx_files(md5s: tuple[str, str, str, str],
               sha256s: tuple[str | None, ...] = (None, None, None, None)) -> tuple[FileSpec, ...]:
    return tuple(FileSpec(n, m, s) for n, m, s in zip(_IDX_NAMES, md5s, sha256s, strict=True))


_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                    "ship", "truck")

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        description="handwritten digits 0-9, 28x28 grayscale",
        homepage="http://yann.lecun.com/exdb/mnist/",
        kind="idx",
        shape=(1, 28, 28),
        splits={"train": 60000, "test": 10000},
        flip=False,  # a mirrored 2 or 7 is not a digit
        classes=tuple(str(d) for d in range(10)),
        files=_idx_files(("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                          "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
        # LeCun's own page often refuses scripted downloads, so the PyTorch and Google copies
        # of the same files come first.
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"),
        dir_aliases=("MNIST/raw",),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        description="Zalando clothing photos in 10 classes, 28x28 grayscale",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        kind="idx",
        shape=(1, 28, 28),
        splits={"train": 60000, "test": 10000},
        flip=True,  # a mirrored shoe is still a shoe
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
        files=_idx_files(
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")),
        # The S3 website endpoint speaks plain HTTP only; the pinned checksum is what makes
        # the download trustworthy, not the transport.
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        dir_aliases=("FashionMNIST/raw",),
        package_hint="sudo apt-get install dataset-fashion-mnist",
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        title="Kuzushiji-MNIST",
        description="cursive Japanese (Kuzushiji) hiragana in 10 classes, 28x28 grayscale",
        homepage="https://github.com/rois-codh/kmnist",
        kind="idx",
        shape=(1, 28, 28),
        splits={"train": 60000, "test": 10000},
        flip=False,  # characters have a handedness
        # The romanized readings of the ten hiragana, in label order (kmnist_classmap.csv).
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        files=_idx_files(("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                          "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134")),
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        dir_aliases=("KMNIST/raw",),
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        title="CIFAR-10",
        description="tiny natural images in 10 classes, 32x32 RGB (binary version)",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        kind="cifar10",
        shape=(3, 32, 32),
        splits={"train": 50000, "test": 10000},
        flip=True,
        classes=_CIFAR10_CLASSES,
        files=(FileSpec("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),),
        members=tuple(f"cifar-10-batches-bin/{m}" for m in (
            "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
            "data_batch_5.bin", "test_batch.bin", "batches.meta.txt")),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
    ),
    "cifar100": DatasetSpec(
        name="cifar100",
        title="CIFAR-100",
        description="tiny natural images in 100 fine classes, 32x32 RGB (binary version)",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        kind="cifar100",
        shape=(3, 32, 32),
        splits={"train": 50000, "test": 10000},
        flip=True,
        num_classes=100,  # the names come from fine_label_names.txt inside the archive
        files=(FileSpec("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8"),),
        members=tuple(f"cifar-100-binary/{m}" for m in (
            "train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt")),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
    ),
    "folder": DatasetSpec(
        name="folder",
        title="Image folder",
        description="your own images: ROOT/<class>/<image> (or ROOT/train, ROOT/val)",
        homepage="docs/data.md",
        kind="folder",
        shape=None,
        splits={},
        flip=True,  # most photo datasets are mirror-symmetric; pass augment=None to opt out
    ),
}


def dataset_names() -> list[str]:
    return list(DATASETS)


# Other spellings of the built-in names, after lower-casing and '_' -> '-'.
SPELLINGS = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10",
             "cifar-100": "cifar100", "k-mnist": "kmnist"}


def _key(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    return SPELLINGS.get(key, key)


# Names that are no dataset on disk but that a command gives a meaning (`cnnzoo bench --dataset
# synthetic`: random images of the right shape, see cnnzoo.engine.bench).
SPECIAL_NAMES = ("synthetic",)


def canonical_dataset(name: str) -> str:
    """The one spelling of a dataset name (``Fashion_MNIST`` -> ``fashion-mnist``), which names the
    run folder; ``folder`` and paths of image folders are kept as they are. DataError for an
    unknown name (with the closest built-in ones)."""
    key = _key(name)
    if key in DATASETS:
        return DATASETS[key].name
    if key in SPECIAL_NAMES:
        return key
    if os.sep in name or "/" in name or name.startswith((".", "~")) or os.path.isdir(name):
        return name
    get_spec(name)  # raises, with the suggestions
    return name


def get_spec(name: str) -> DatasetSpec:
    """The spec for ``name`` (case-insensitive, ``_`` and ``-`` interchangeable)."""
    spec = DATASETS.get(_key(name))
    if spec is None:
        raise DataError(f"unknown dataset '{name}'{did_you_mean(name, DATASETS)}; "
                        f"known: {', '.join(DATASETS)} (or a path to a folder of images)")
    return spec


@dataclass(frozen=True)
class DatasetMeta:
    """One row of :func:`list_datasets`."""

    name: str
    title: str
    description: str
    num_classes: int | None
    splits: dict[str, int] = field(default_factory=dict)
    shape: tuple[int, int, int] | None = None
    flip: bool = True
    homepage: str = ""
    urls: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description,
                "num_classes": self.num_classes, "splits": dict(self.splits),
                "shape": list(self.shape) if self.shape else None, "flip": self.flip,
                "homepage": self.homepage, "urls": list(self.urls)}


def list_datasets() -> list[DatasetMeta]:
    """Metadata of every built-in dataset (no file is read, nothing is downloaded)."""
    rows = []
    for spec in DATASETS.values():
        n = spec.num_classes or (len(spec.classes) or None)
        urls = tuple(spec.mirrors[0] + f.name for f in spec.files) if spec.mirrors else ()
        rows.append(DatasetMeta(spec.name, spec.title, spec.description, n, dict(spec.splits),
                                spec.shape, spec.flip, spec.homepage, urls))
    return rows

"""Readers for the file formats: IDX (MNIST family), CIFAR binary, and folders of images.

Every reader takes untrusted bytes. Whatever is wrong with a file (a bad magic number, a truncated
body, a gzip CRC error, random bytes) ends as a :class:`DataError` naming the file and what to do,
never as another exception or a hang: sizes declared in headers are checked against the real file
before anything is allocated, and nothing is ever unpickled or extracted to disk.

Readers return numpy arrays (``uint8`` images ``(N, C, H, W)``, ``int64`` labels); turning them
into tensors is :mod:`cnnzoo.data.dataset`'s job.

IDX (http://yann.lecun.com/exdb/mnist/): a big-endian header ``00 00 <type> <ndim>``, ``ndim``
uint32 sizes, then the values. We accept type 0x08 (unsigned byte), the only one these datasets use.

CIFAR binary (https://www.cs.toronto.edu/~kriz/cifar.html): fixed-size records, one label byte
(CIFAR-100: a coarse then a fine label byte) followed by 3072 pixel bytes, the red, green and blue
32x32 planes in row-major order. Class names are one per line in ``batches.meta.txt`` /
``fine_label_names.txt``. We read the needed members straight out of the ``.tar.gz``.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import tarfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..paths import describe, is_regular_file

# ---------------------------------------------------------------------------------------------
# IDX

IDX_UBYTE = 0x08  # the IDX type code for unsigned bytes
IDX_IMAGES_MAGIC = 0x00000803  # ubyte, 3 dimensions (N, H, W)
IDX_LABELS_MAGIC = 0x00000801  # ubyte, 1 dimension (N,)

# The largest body an IDX header may declare (4 GiB). Far above any real IDX file (MNIST is 47 MB),
# low enough that a random header cannot make us try to allocate terabytes.
IDX_MAX_BYTES = 1 << 32

GZIP_MAGIC = b"\x1f\x8b"

# Read decompressed data in 4 MiB pieces so memory grows with the real data, not with a header's claim.
_READ_PIECE = 4 << 20


def _fix(path: Path) -> str:
    return f"delete {path} and run 'cnnzoo data fetch' again (or copy a good file there)"


def read_idx(path: str | os.PathLike, expect_ndim: int | None = None) -> np.ndarray:
    """An IDX file (gzipped or not: the first bytes decide) as a ``uint8`` array of its shape.

    ``expect_ndim`` (3 for images, 1 for labels) turns a valid file of the wrong kind into a
    DataError. The whole file is read and, for gzip, its CRC checked.
    """
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below, possibly through the gzip wrapper
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    with raw:
        is_gzip = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        size_on_disk = os.fstat(raw.fileno()).st_size
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
        try:
            return _read_idx_stream(stream, path, None if is_gzip else size_on_disk, expect_ndim)
        except (OSError, EOFError, zlib.error) as err:
            if not is_gzip:
                raise DataError(f"cannot read {path}: {err}") from None
            raise DataError(f"{path} is a corrupt gzip file ({err or type(err).__name__}); {_fix(path)}") from None


def _read_exact(stream: io.BufferedIOBase, n: int) -> bytearray:
    buf = bytearray()
    while len(buf) < n:
        piece = stream.read(min(_READ_PIECE, n - len(buf)))
        if not piece:
            break
        buf += piece
    return buf


def _read_idx_stream(stream: io.BufferedIOBase, path: Path, size_on_disk: int | None,
                     expect_ndim: int | None) -> np.ndarray:
    head = _read_exact(stream, 4)
    if len(head) < 4:
        raise DataError(f"{path} is truncated ({len(head)} bytes, not even an IDX header); {_fix(path)}")
    zero, dtype, ndim = struct.unpack(">HBB", head)
    magic = int.from_bytes(head, "big")
    kind = {1: "label", 3: "image"}.get(expect_ndim or 0, "")
    if zero != 0 or dtype != IDX_UBYTE or ndim == 0 or (expect_ndim is not None and ndim != expect_ndim):
        want = {1: IDX_LABELS_MAGIC, 3: IDX_IMAGES_MAGIC}.get(expect_ndim or 0)
        wanted = f" (an IDX {kind} file starts with 0x{want:08x})" if want else ""
        raise DataError(f"{path}: bad IDX magic 0x{magic:08x}{wanted}: not an IDX {kind} file "
                        f"or corrupt; {_fix(path)}".replace("  ", " "))
    dims_raw = _read_exact(stream, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its IDX header; {_fix(path)}")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    body = math.prod(dims)
    header = 4 + 4 * ndim
    if body > IDX_MAX_BYTES:
        raise DataError(f"{path}: IDX header declares shape {dims} ({body} bytes), which is implausible; "
                        f"the file is corrupt; {_fix(path)}")
    if size_on_disk is not None and size_on_disk < header + body:
        raise DataError(f"{path} is truncated: its header declares shape {tuple(dims)} ({header + body} "
                        f"bytes) but the file has {size_on_disk}; {_fix(path)}")
    data = _read_exact(stream, body)
    if len(data) < body:
        raise DataError(f"{path} is truncated: its header declares shape {tuple(dims)} ({body} bytes of "
                        f"values) but only {len(data)} follow; {_fix(path)}")
    if stream.read(1):  # also makes gzip check its CRC and length trailer
        raise DataError(f"{path} is longer than its IDX header says (shape {tuple(dims)}); "
                        f"it is corrupt or not an IDX file; {_fix(path)}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def read_idx_pair(images_path: Path, labels_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """An images file and its labels file as ``(N, 1, H, W) uint8`` and ``(N,) int64``, checked."""
    images = read_idx(images_path, expect_ndim=3)
    labels = read_idx(labels_path, expect_ndim=1)
    if len(images) != len(labels):
        raise DataError(f"{images_path.name} has {len(images)} images but {labels_path.name} has "
                        f"{len(labels)} labels (in {images_path.parent}); one of them is truncated or "
                        f"from another dataset: run 'cnnzoo data verify'")
    _check_labels(labels, num_classes, labels_path)
    return images[:, None], labels.astype(np.int64)


def _check_labels(labels: np.ndarray, num_classes: int, path: Path | str) -> None:
    if labels.size and int(labels.max()) >= num_classes:
        raise DataError(f"{path}: label {int(labels.max())} is out of range for {num_classes} classes; "
                        f"the file is corrupt or belongs to another dataset")


# ---------------------------------------------------------------------------------------------
# CIFAR binary

CIFAR_PIXELS = 3 * 32 * 32  # bytes of one image: three 32x32 colour planes

# The label files are a few hundred bytes; anything bigger is not a label file.
_MAX_TEXT_MEMBER = 1 << 16


@dataclass(frozen=True)
class CifarLayout:
    """What differs between CIFAR-10 and CIFAR-100 in the binary version."""

    label_bytes: int  # bytes before the pixels in each record
    label_offset: int  # which of them is the label we train on
    train: tuple[str, ...]  # member names (relative to the archive root)
    test: tuple[str, ...]
    names: str  # the member with the class names
    num_classes: int

    @property
    def record(self) -> int:
        return self.label_bytes + CIFAR_PIXELS


CIFAR_LAYOUTS = {
    "cifar10": CifarLayout(1, 0, tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)),
                           ("cifar-10-batches-bin/test_batch.bin",), "cifar-10-batches-bin/batches.meta.txt", 10),
    # byte 0 is the coarse (20 superclasses) label, byte 1 the fine (100 classes) label we use
    "cifar100": CifarLayout(2, 1, ("cifar-100-binary/train.bin",), ("cifar-100-binary/test.bin",),
                            "cifar-100-binary/fine_label_names.txt", 100),
}


@dataclass
class CifarData:
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list[str]


def read_cifar(folder: Path, kind: str, archive_name: str) -> CifarData:
    """CIFAR from ``folder``: its ``.tar.gz`` (read in place) or the members extracted beside it."""
    layout = CIFAR_LAYOUTS[kind]
    archive = folder / archive_name
    wanted = (*layout.train, *layout.test, layout.names)
    if archive.is_file():
        blobs = _read_tar_members(archive, wanted, layout)
    else:
        blobs = {}
        for m in wanted:
            p = folder / m if (folder / m).is_file() else folder / Path(m).name
            try:
                blobs[m] = p.read_bytes()
            except OSError as err:
                raise DataError(f"cannot read {p}: {err.strerror}; run 'cnnzoo data fetch {kind}'") from None
    where = archive if archive.is_file() else folder
    tr_x, tr_y = _cifar_records([blobs[m] for m in layout.train], layout, where, "train")
    te_x, te_y = _cifar_records([blobs[m] for m in layout.test], layout, where, "test")
    classes = _class_names(blobs[layout.names], layout, where)
    return CifarData(tr_x, tr_y, te_x, te_y, classes)


def _read_tar_members(archive: Path, wanted: Sequence[str], layout: CifarLayout) -> dict[str, bytes]:
    """The ``wanted`` regular-file members of a tar archive, read in memory.

    Nothing is extracted, so absolute names, ``..`` and links cannot write anywhere; a link or
    device posing as a wanted member is refused, and each member's size is checked before it is read.
    """
    out: dict[str, bytes] = {}
    fix = f"delete {archive} and run 'cnnzoo data fetch' again"
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name not in wanted or name in out:
                    continue
                if not member.isfile():
                    raise DataError(f"{archive}: member {name} is not a regular file (a link?); "
                                    f"refusing to read it; {fix}")
                limit = _MAX_TEXT_MEMBER if name.endswith(".txt") else IDX_MAX_BYTES
                if member.size > limit or (not name.endswith(".txt") and member.size % layout.record):
                    raise DataError(f"{archive}: member {name} has an impossible size ({member.size} "
                                    f"bytes); the archive is corrupt; {fix}")
                f = tar.extractfile(member)
                data = f.read() if f is not None else b""
                if len(data) != member.size:
                    raise DataError(f"{archive}: member {name} is truncated; {fix}")
                out[name] = data
    except DataError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"{archive} is corrupt or not a tar.gz archive ({err or type(err).__name__}); "
                        f"{fix}") from None
    missing = [m for m in wanted if m not in out]
    if missing:
        raise DataError(f"{archive} lacks {', '.join(missing)}; it is not the official binary archive "
                        f"(the python version is not read: we never unpickle); {fix}")
    return out


def _cifar_records(blobs: Iterable[bytes], layout: CifarLayout, where: Path,
                   split: str) -> tuple[np.ndarray, np.ndarray]:
    data = b"".join(blobs)
    if not data or len(data) % layout.record:
        raise DataError(f"{where}: the {split} batches hold {len(data)} bytes, not a whole number of "
                        f"{layout.record}-byte CIFAR records; the file is truncated or corrupt")
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, layout.record)
    labels = rec[:, layout.label_offset].astype(np.int64)
    _check_labels(labels, layout.num_classes, f"{where} ({split})")
    images = rec[:, layout.label_bytes:].copy().reshape(-1, 3, 32, 32)  # contiguous and writable
    return images, labels


def _class_names(blob: bytes, layout: CifarLayout, where: Path) -> list[str]:
    try:
        names = [line.strip() for line in blob.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        names = []
    if len(names) != layout.num_classes:
        raise DataError(f"{where}: {Path(layout.names).name} should name {layout.num_classes} classes, "
                        f"found {len(names)}; the archive is corrupt")
    return names


# ---------------------------------------------------------------------------------------------
# image folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")

# Most common native size among this many evenly spaced images picks the decode size when the
# caller gives none: enough to find the usual size, few enough to stay instant on huge folders.
SIZE_SAMPLE = 256

# Without an explicit size, never decode larger than this on the long side: a folder of 12 MP photos
# would not fit in memory, and classic CNNs take at most 224-299 pixels anyway.
MAX_AUTO_SIZE = 256

# Background for transparent pixels: white, as image viewers and browsers show them.
ALPHA_BACKGROUND = 255


@dataclass
class FolderSplit:
    """The usable image files of one split of a folder, with their class indices."""

    files: list[Path]
    labels: list[int]


@dataclass
class FolderIndex:
    """A scanned image folder: its layout, classes, splits and the files that were skipped."""

    root: Path
    classes: list[str]
    splits: dict[str, FolderSplit]  # "train" and optionally "val", "test"; or "all" when flat
    skipped: list[Path] = field(default_factory=list)

    @property
    def has_splits(self) -> bool:
        return "all" not in self.splits


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX")


def _class_dirs(root: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(root) if e.is_dir() and not _is_hidden(e.name))
    except OSError as err:
        raise DataError(f"cannot read {root}: {err.strerror}") from None


def _walk_images(folder: Path, skipped: list[Path]) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for name in sorted(filenames):
            p = Path(dirpath, name)
            # stat, never open: opening a named pipe blocks until a writer comes (a socket, a device
            # node, a broken symlink are no images either)
            if _is_hidden(name) or not name.lower().endswith(IMAGE_EXTENSIONS) or not is_regular_file(p):
                skipped.append(p)
            else:
                found.append(p)
    return found


def scan_folder(root: str | os.PathLike) -> FolderIndex:
    """Index ``root``: ``ROOT/<class>/...`` or ``ROOT/{train,val,test}/<class>/...``.

    Class names are the sorted folder names (of ``train`` when there are splits), so label ``i``
    is always ``classes[i]``. Hidden files and non-image files are listed in ``skipped``; images
    are checked only when decoded (:func:`decode_image`). An empty folder or one with fewer than
    two classes is a DataError.
    """
    root = Path(root).expanduser()
    kind = describe(root)
    if kind != "is a folder":
        raise DataError(f"{root} {kind if kind == 'does not exist' else f'is not a folder (it {kind})'} "
                        "(an image folder is ROOT/<class>/<image>)")
    skipped: list[Path] = []
    top = _class_dirs(root)
    split_dirs = {s: root / s for s in ("train", "val", "test") if s in top}
    # ROOT/train with ROOT/val or ROOT/test (or nothing else) is the split layout; a folder that
    # merely has a class called "train" among others is not.
    layout_with_splits = "train" in split_dirs and (
        "val" in split_dirs or "test" in split_dirs or set(top) <= {"train", "val", "test"})
    if layout_with_splits:
        classes = _class_dirs(split_dirs["train"])
        parts: dict[str, Path] = {s: split_dirs[s] for s in ("train", "val", "test") if s in split_dirs}
    else:
        classes = top
        parts = {"all": root}
    # Loose files next to the class folders are not in any class.
    for part in parts.values():
        skipped += [p for p in sorted(part.iterdir()) if not p.is_dir()]
    splits: dict[str, FolderSplit] = {}
    for split, folder in parts.items():
        files: list[Path] = []
        labels: list[int] = []
        names = _class_dirs(folder)
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise DataError(f"{folder} has class folders {', '.join(unknown[:5])} that {root / 'train'} "
                            f"lacks; every class needs training images (add them or remove the folders)")
        for label, name in enumerate(classes):
            if name not in names:
                continue
            imgs = _walk_images(folder / name, skipped)
            files += imgs
            labels += [label] * len(imgs)
        splits[split] = FolderSplit(files, labels)
    first = splits.get("train") or splits["all"]
    if not first.files:
        loose = [f for f in skipped if f.parent == root and f.suffix.lower() in IMAGE_EXTENSIONS]
        if loose:  # a flat folder of images: the labels are the folder names, and there are none
            raise DataError(f"{root} holds {len(loose)} images but no class subfolders: the class of an image is "
                            f"the name of its folder, so put them in ROOT/<class>/<image> (e.g. "
                            f"{root / 'cat' / loose[0].name}), at least two classes")
        extra = f" (skipped {len(skipped)} other files)" if skipped else ""
        raise DataError(f"no images in {root}{extra}: expected ROOT/<class>/<image> with extensions "
                        f"{', '.join(e[1:] for e in IMAGE_EXTENSIONS)}")
    used = sorted(set(first.labels))
    if len(used) < 2:
        only = f" ('{classes[used[0]]}')" if used else ""
        raise DataError(f"{root} has images of only one class{only}; a classifier needs at least two "
                        f"class folders: ROOT/<class>/<image>")
    return FolderIndex(root, classes, splits, skipped)


def _to_mode(img, channels: int):
    """A Pillow image in any mode as 'L' (channels=1) or 'RGB' (channels=3)."""
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16/32-bit grey: scale 0..65535 to 0..255 (Pillow's own convert would clip at 255)
        arr = np.asarray(img, dtype=np.float32)
        scale = 1 / 257 if img.mode != "F" else 1.0
        img = Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (ALPHA_BACKGROUND,) * 3 + (255,))
        img = Image.alpha_composite(background, rgba)
    # 'L' uses ITU-R 601-2 luma (299/587/114), the same weights as our tensor conversion
    return img.convert("L" if channels == 1 else "RGB")


def _resize_cover(img, size: tuple[int, int]):
    """Scale so the image covers ``size`` (h, w), then centre-crop: no distortion of shapes."""
    from PIL import Image

    h, w = size
    if img.size == (w, h):
        return img
    iw, ih = img.size
    scale = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
    left, top = (nw - w) // 2, (nh - h) // 2
    # reducing_gap: decode-time shrinking first, then a proper filter; fast and sharp
    return (img.resize((nw, nh), Image.Resampling.BILINEAR, box=None, reducing_gap=3.0)
            .crop((left, top, left + w, top + h)))


def decode_image(path: str | os.PathLike, channels: int, size: tuple[int, int]) -> np.ndarray | None:
    """One image file as ``uint8 (channels, h, w)``, or None when Pillow cannot read it.

    Any mode (1, L, P, RGB, RGBA, CMYK, 16-bit...) is converted; alpha is composited on white; an
    animated GIF gives its first frame; the image is scaled to cover ``size`` and centre-cropped.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("L" if channels == 1 else "RGB", (size[1], size[0]))  # fast JPEG downscale
            img.load()
            return decode_pil(img, channels, size)
    except Exception:  # noqa: BLE001 - untrusted bytes: Pillow raises a zoo of exception types
        return None


def decode_pil(img: Any, channels: int, size: tuple[int, int]) -> np.ndarray:
    """An opened PIL image converted as :func:`decode_image` converts a file: ``uint8 (channels, h, w)``."""
    out = _resize_cover(_to_mode(img, channels), size)
    arr = np.array(out, dtype=np.uint8)  # a writable copy (asarray would be read-only)
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def image_size_of(path: Path) -> tuple[int, int] | None:
    """(h, w) from the header only (cheap), or None when the file is not a readable image."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
    except Exception:  # noqa: BLE001 - see decode_image
        return None
    return (h, w) if h > 0 and w > 0 else None


def choose_size(files: Sequence[Path]) -> tuple[int, int]:
    """The decode size when none is given: the most common size of a sample, capped.

    Looks at up to :data:`SIZE_SAMPLE` evenly spaced files (deterministic); ties go to the larger
    size; a long side over :data:`MAX_AUTO_SIZE` is scaled down keeping the aspect ratio.
    """
    step = max(1, len(files) // SIZE_SAMPLE)
    counts: dict[tuple[int, int], int] = {}
    for p in files[::step][:SIZE_SAMPLE]:
        s = image_size_of(p)
        if s is not None:
            counts[s] = counts.get(s, 0) + 1
    if not counts:
        return (MAX_AUTO_SIZE, MAX_AUTO_SIZE)
    h, w = max(counts, key=lambda s: (counts[s], s[0] * s[1], s))
    if max(h, w) > MAX_AUTO_SIZE:
        f = MAX_AUTO_SIZE / max(h, w)
        h, w = max(1, round(h * f)), max(1, round(w * f))
    return (h, w)


def describe_skipped(paths: Sequence[Path], root: Path, what: str = "skipped") -> str:
    """``"skipped 3 files (not images, hidden, unreadable or not regular files): a.txt, .DS_Store, b.png"``."""
    names = []
    for p in paths[:3]:
        try:
            names.append(str(p.relative_to(root)))
        except ValueError:
            names.append(str(p))
    more = ", ..." if len(paths) > 3 else ""
    noun = "file" if len(paths) == 1 else "files"
    return (f"{what} {len(paths)} {noun} in {root} (not images, hidden, unreadable or not regular files): "
            f"{', '.join(names)}{more}")

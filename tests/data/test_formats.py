"""Parsers on small files written in the real formats, and the clear errors for broken ones."""

from __future__ import annotations

import gzip
import io
import logging
import tarfile

import numpy as np
import pytest
import torch

from cnnzoo.data import formats, load_dataset
from cnnzoo.errors import DataError

from .writers import (
    idx_bytes,
    make_folder,
    make_idx_images,
    write_cifar_archive,
    write_idx,
    write_idx_dataset,
    write_image,
)

# ---------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_gzipped_and_raw(tmp_path, gz):
    x, _ = make_idx_images(7, 0, 5, 3)
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", x, gz=gz)
    got = formats.read_idx(path, expect_ndim=3)
    assert got.dtype == np.uint8 and got.shape == (7, 5, 3)
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_dataset_loads_with_official_names(tmp_path, gz):
    write_idx_dataset(tmp_path / "mnist", 200, 50, gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path, offline=True, val_fraction=0)
    tr_x, tr_y = make_idx_images(200, 1)
    assert (len(ds.train), len(ds.test), ds.val) == (200, 50, None)
    assert ds.train.images.shape == (200, 1, 28, 28) and ds.train.images.dtype == torch.uint8
    assert ds.train.labels.dtype == torch.int64
    np.testing.assert_array_equal(ds.train.images[:, 0].numpy(), tr_x)
    np.testing.assert_array_equal(ds.train.labels.numpy(), tr_y)
    assert ds.classes == [str(d) for d in range(10)] and ds.flip is False
    assert ds.image_size == (28, 28) and ds.channels == 1


def test_bad_idx_magic_names_file_and_expected_magic(tmp_path):
    data = bytearray(idx_bytes(np.zeros((2, 3, 3), np.uint8)))
    data[2] = 0x0D  # float type code: a valid IDX, not ours
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: bad IDX magic 0x00000d03.*0x00000803"):
        formats.read_idx(p, expect_ndim=3)


def test_labels_file_where_images_expected_is_bad_magic(tmp_path):
    p = write_idx(tmp_path / "x.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="bad IDX magic 0x00000801"):
        formats.read_idx(p, expect_ndim=3)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx_says_truncated(tmp_path, gz):
    data = idx_bytes(np.ones((10, 4, 4), np.uint8))[:-7]
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match=r"truncated.*\(10, 4, 4\)"):
        formats.read_idx(p)


def test_idx_with_trailing_bytes_is_an_error(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(idx_bytes(np.ones((2, 2, 2), np.uint8)) + b"xx")
    with pytest.raises(DataError, match="longer than its IDX header"):
        formats.read_idx(p)


def test_gzip_crc_error_is_a_corrupt_gzip_dataerror(tmp_path):
    blob = bytearray(gzip.compress(idx_bytes(np.ones((3, 4, 4), np.uint8))))
    blob[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is a corrupt gzip file.*CRC"):
        formats.read_idx(p)


def test_truncated_gzip_stream_is_a_corrupt_gzip_dataerror(tmp_path):
    blob = gzip.compress(idx_bytes(np.arange(300, dtype=np.uint8).reshape(3, 10, 10)))
    p = tmp_path / "x.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="corrupt gzip"):
        formats.read_idx(p)


def test_implausible_header_is_refused_before_allocating(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(bytes([0, 0, 8, 3]) + (0xFFFFFFFF).to_bytes(4, "big") * 3)
    with pytest.raises(DataError, match="implausible"):
        formats.read_idx(p)


def test_image_label_count_mismatch(tmp_path):
    folder = write_idx_dataset(tmp_path / "mnist", 30, 10)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz has 30 images but "
                                        "train-labels-idx1-ubyte.gz has 29 labels"):
        load_dataset("mnist", data_dir=folder, offline=True)


def test_label_out_of_range(tmp_path):
    folder = write_idx_dataset(tmp_path / "kmnist", 30, 10)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(10, 10, np.uint8))
    with pytest.raises(DataError, match="label 10 is out of range for 10 classes"):
        load_dataset("kmnist", data_dir=folder, offline=True)


# ---------------------------------------------------------------------------------------------
# CIFAR binary


def test_cifar10_archive_read_in_place(tmp_path):
    w = write_cifar_archive(tmp_path / "cifar10", "cifar10", per_batch=20, n_test=30)
    ds = load_dataset("cifar10", data_dir=tmp_path, offline=True, val_fraction=0)
    assert (len(ds.train), len(ds.test)) == (100, 30)
    np.testing.assert_array_equal(ds.train.images.numpy(), np.concatenate(w["train_images"]))
    np.testing.assert_array_equal(ds.train.labels.numpy(), np.concatenate(w["train_labels"]))
    np.testing.assert_array_equal(ds.test.images.numpy(), w["test_images"])
    assert ds.classes[:3] == ["airplane", "automobile", "bird"] and len(ds.classes) == 10
    assert ds.channels == 3 and ds.image_size == (32, 32) and ds.flip
    # nothing was extracted next to the archive
    assert sorted(p.name for p in (tmp_path / "cifar10").iterdir()) == ["cifar-10-binary.tar.gz"]


def test_cifar100_uses_fine_labels_and_names_from_archive(tmp_path):
    w = write_cifar_archive(tmp_path / "cifar100", "cifar100", per_batch=40, n_test=120)
    ds = load_dataset("cifar100", data_dir=tmp_path / "cifar100", offline=True, val_fraction=0)
    assert len(ds.classes) == 100 and ds.classes[7] == "fine_7"
    np.testing.assert_array_equal(ds.train.labels.numpy(), w["train_labels"][0])
    np.testing.assert_array_equal(ds.test.labels.numpy(), w["test_labels"])
    assert int(ds.test.labels.max()) == 99  # fine labels: the coarse byte stays below 20


def test_cifar_extracted_members_are_read_too(tmp_path):
    write_cifar_archive(tmp_path / "src", "cifar10", per_batch=4, n_test=6)
    with tarfile.open(tmp_path / "src" / "cifar-10-binary.tar.gz") as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read()
            out = tmp_path / "flat" / m.name.split("/")[-1]
            out.parent.mkdir(exist_ok=True)
            out.write_bytes(data)
    ds = load_dataset("cifar10", data_dir=tmp_path / "flat", offline=True, val_fraction=0)
    assert (len(ds.train), len(ds.test)) == (20, 6)


def test_cifar_missing_member(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", skip=("data_batch_3.bin",))
    with pytest.raises(DataError, match=r"lacks cifar-10-batches-bin/data_batch_3.bin.*never unpickle"):
        load_dataset("cifar10", data_dir=tmp_path, offline=True)


def test_cifar_corrupt_archive(tmp_path):
    w = write_cifar_archive(tmp_path, "cifar10")
    blob = w["path"].read_bytes()
    w["path"].write_bytes(blob[: len(blob) // 3])
    with pytest.raises(DataError, match=r"cifar-10-binary.tar.gz is corrupt.*cnnzoo data fetch"):
        load_dataset("cifar10", data_dir=tmp_path, offline=True)


def test_cifar_batch_with_partial_record(tmp_path):
    bad = b"\x01" * (3073 * 2 + 5)
    buf = io.BytesIO()
    w = write_cifar_archive(tmp_path, "cifar10")
    # rebuild the archive with a test batch that is not whole records
    with tarfile.open(w["path"]) as src, tarfile.open(fileobj=buf, mode="w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.endswith("test_batch.bin"):
                data = bad
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    w["path"].write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="impossible size"):
        load_dataset("cifar10", data_dir=tmp_path, offline=True)


def test_cifar_link_member_is_refused_and_nothing_is_written(tmp_path):
    folder = tmp_path / "c"
    write_cifar_archive(folder, "cifar10", skip=("data_batch_1.bin",))
    path = folder / "cifar-10-binary.tar.gz"
    # re-pack with a symlink posing as data_batch_1.bin, pointing out of the folder, plus hostile names
    buf = io.BytesIO()
    with tarfile.open(path) as src, tarfile.open(fileobj=buf, mode="w:gz") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
        link = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        dst.addfile(link)
        for evil in ("/tmp/cnnzoo-evil-abs", "../cnnzoo-evil-up"):
            info = tarfile.TarInfo(evil)
            info.size = 1
            dst.addfile(info, io.BytesIO(b"x"))
    path.write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset("cifar10", data_dir=folder, offline=True)
    assert not (tmp_path / "cnnzoo-evil-up").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-binary.tar.gz"]


def test_cifar_bad_class_names(tmp_path):
    write_cifar_archive(tmp_path, "cifar10")
    # a second, short names member later in the archive does not replace the first; build anew
    w = write_cifar_archive(tmp_path / "b", "cifar10")
    buf = io.BytesIO()
    with tarfile.open(w["path"]) as src, tarfile.open(fileobj=buf, mode="w:gz") as dst:
        for m in src.getmembers():
            data = b"cat\ndog\n" if m.name.endswith("batches.meta.txt") else src.extractfile(m).read()
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    w["path"].write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="should name 10 classes, found 2"):
        load_dataset("cifar10", data_dir=tmp_path / "b", offline=True)


def test_channels_conversion_luma_and_repeat(tmp_path):
    write_cifar_archive(tmp_path, "cifar10", per_batch=2, n_test=3)
    rgb = load_dataset("cifar10", data_dir=tmp_path, offline=True, val_fraction=0)
    gray = load_dataset("cifar10", data_dir=tmp_path, offline=True, val_fraction=0, channels=1)
    r, g, b = rgb.test.images.to(torch.int64).unbind(1)
    want = (r * 299 + g * 587 + b * 114 + 500) // 1000
    assert gray.channels == 1 and len(gray.mean) == 1
    assert torch.equal(gray.test.images[:, 0].to(torch.int64), want)
    write_idx_dataset(tmp_path / "mnist", 20, 10)
    m3 = load_dataset("mnist", data_dir=tmp_path, offline=True, channels=3)
    assert m3.train.images.shape[1] == 3 and torch.equal(m3.train.images[:, 0], m3.train.images[:, 2])
    assert len(set(m3.mean)) == 1


# ---------------------------------------------------------------------------------------------
# image folders


def test_folder_mixed_modes_sizes_and_junk(tmp_path, caplog):
    root = make_folder(tmp_path / "pets", per_class=11)
    with caplog.at_level(logging.WARNING, logger="cnnzoo.data"):
        ds = load_dataset("folder", data_dir=root, image_size=16, channels=3, val_fraction=0.2, seed=1)
    assert ds.classes == ["cat", "dog", "eel"]
    n = len(ds.train) + len(ds.val)
    assert n == 33  # every real image, in every mode, decoded; the junk is not
    assert ds.train.images.shape[1:] == (3, 16, 16) and ds.train.images.dtype == torch.uint8
    assert ds.test is ds.val and ds.test_is_val
    # one warning line that counts the skipped files and names a few
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "skipped 6 files" in lines[0] and "notes.txt" in lines[0]
    names = sorted(p.replace("\\", "/").rsplit("/", 1)[-1] for p in ds.skipped)
    assert names == sorted([".DS_Store", "._img0.png", "notes.txt", "README.md", "broken.png", "empty.jpg"])


def test_folder_stratified_val_and_gray_detection(tmp_path):
    root = tmp_path / "digits"
    for c in ("a", "b"):
        for i in range(10):
            write_image(root / c / f"{i}.png", "L", (12, 12), seed=i)
    ds = load_dataset(str(root), val_fraction=0.2, seed=3)
    assert ds.channels == 1 and ds.image_size == (12, 12)
    assert torch.bincount(ds.val.labels).tolist() == [2, 2]  # stratified
    again = load_dataset(str(root), val_fraction=0.2, seed=3)
    assert torch.equal(again.val.images, ds.val.images)
    other = load_dataset(str(root), val_fraction=0.2, seed=4)
    assert not torch.equal(other.val.images, ds.val.images)


def test_folder_train_val_layout(tmp_path):
    for split, n in (("train", 4), ("val", 2)):
        for c in ("x", "y"):
            for i in range(n):
                write_image(tmp_path / split / c / f"{i}.png", "RGB", (8, 8), seed=i)
    ds = load_dataset("folder", data_dir=tmp_path)
    assert (len(ds.train), len(ds.val)) == (8, 4) and ds.test_is_val and ds.classes == ["x", "y"]
    write_image(tmp_path / "test" / "x" / "0.png", "RGB", (8, 8))
    write_image(tmp_path / "test" / "y" / "0.png", "RGB", (8, 8))
    ds = load_dataset("folder", data_dir=tmp_path)
    assert (len(ds.val), len(ds.test), ds.test_is_val) == (4, 2, False)


def test_folder_val_class_missing_from_train(tmp_path):
    write_image(tmp_path / "train" / "a" / "0.png", "RGB", (8, 8))
    write_image(tmp_path / "train" / "b" / "0.png", "RGB", (8, 8))
    write_image(tmp_path / "val" / "zebra" / "0.png", "RGB", (8, 8))
    with pytest.raises(DataError, match="zebra"):
        load_dataset("folder", data_dir=tmp_path)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"no images in .*ROOT/<class>/<image>"):
        load_dataset("folder", data_dir=tmp_path)


def test_single_class_folder_is_a_clear_error(tmp_path):
    write_image(tmp_path / "only" / "0.png", "RGB", (8, 8))
    write_image(tmp_path / "only" / "1.png", "RGB", (8, 8))
    with pytest.raises(DataError, match=r"only one class \('only'\).*at least two"):
        load_dataset("folder", data_dir=tmp_path)


def test_folder_where_second_class_is_all_unreadable(tmp_path):
    write_image(tmp_path / "a" / "0.png", "RGB", (8, 8))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "0.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="only one class"):
        load_dataset("folder", data_dir=tmp_path)


def test_decoded_folder_cache_is_used_and_invalidated(tmp_path, isolated, monkeypatch):
    root = make_folder(tmp_path / "f", per_class=3, junk=False)
    first = load_dataset("folder", data_dir=root, image_size=10, val_fraction=0)
    caches = list((isolated.cache / "folders").glob("*.safetensors"))
    assert len(caches) == 1
    calls = []
    with monkeypatch.context() as m:
        m.setattr(formats, "decode_image", lambda *a: calls.append(a))
        second = load_dataset("folder", data_dir=root, image_size=10, val_fraction=0)
    assert calls == [] and torch.equal(first.train.images, second.train.images)
    write_image(root / "cat" / "new.png", "RGB", (10, 10))  # a new file: a new key
    third = load_dataset("folder", data_dir=root, image_size=10, val_fraction=0)
    assert len(third.train) == len(first.train) + 1
    assert len(list((isolated.cache / "folders").glob("*.safetensors"))) == 2


def test_resize_covers_and_center_crops():
    from PIL import Image

    img = Image.new("L", (40, 20), 0)
    img.paste(255, (10, 0, 30, 20))  # a white centre band, half the width
    out = formats._resize_cover(img, (10, 10))
    arr = np.asarray(out)
    assert arr.shape == (10, 10) and arr.min() > 200  # the centre 20x20 survives, scaled to 10x10

"""One split interface: in memory or streamed, ``len``, ``labels`` and ``image(i)`` mean the same."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.data import FileSplit, Split, load_dataset, make_loader
from cnnzoo.data.split import first_images
from cnnzoo.errors import DataError

from .writers import make_folder


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "imgs", per_class=8, junk=False)


def test_both_splits_show_the_same_images(folder):
    mem = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=False, val_fraction=0)
    disk = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=True, val_fraction=0)
    assert isinstance(mem.train, Split) and isinstance(disk.train, FileSplit)
    assert len(mem.train) == len(disk.train) and torch.equal(mem.train.labels, disk.train.labels)
    for i in (0, 5, len(mem.train) - 1):
        a, b = mem.train.image(i), disk.train.image(i)
        assert a.dtype == b.dtype == torch.uint8 and a.shape == b.shape == (3, 12, 12)
        assert torch.equal(a, b)


def test_an_unreadable_streamed_image_is_a_data_error_naming_the_file(folder):
    disk = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=True, val_fraction=0)
    victim = disk.train.files[2]
    victim.write_bytes(b"not an image")
    with pytest.raises(DataError, match=victim.name):
        disk.train.image(2)
    head = first_images(disk.train, 4)  # skips it
    assert isinstance(head, Split) and len(head) == 4
    assert torch.equal(head.labels, disk.train.labels[[0, 1, 3, 4]])


@pytest.mark.parametrize("stream", [False, True])
def test_indexed_batches_carry_each_images_split_position(folder, stream):
    ds = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=stream, val_fraction=0)
    if stream:
        ds.train.files[5].write_bytes(b"broken")
    ld = make_loader(ds.train, batch_size=4, train=False, seed=0, device="cpu", mean=ds.mean, std=ds.std,
                     num_workers=0)
    seen = [(x, y, idx) for x, y, idx in ld.indexed()]
    index = torch.cat([i for _, _, i in seen]).tolist()
    expected = [i for i in range(len(ds.train)) if not (stream and i == 5)]
    assert index == expected
    assert torch.equal(torch.cat([y for _, y, _ in seen]), ds.train.labels[expected])
    # iterating plainly yields the same batches, without the positions
    for (x, y), (x2, y2, _) in zip(ld, ld.indexed(), strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)

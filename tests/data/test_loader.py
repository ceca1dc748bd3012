"""The in-memory and streaming loaders: determinism, resume, sharding, augmentation, normalization."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.data import Augment, FileSplit, Split, load_dataset, make_loader
from cnnzoo.data.loader import crop_flip
from cnnzoo.errors import DataError

from .writers import make_folder, write_idx_dataset

MEAN, STD = (0.5,), (0.25,)


def id_split(n: int = 103, c: int = 1, h: int = 8, w: int = 8, seed: int = 0) -> Split:
    """Random images whose label is their index, so a batch's labels say which images it holds."""
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g), torch.arange(n))


def collect(loader, start: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader.iter_from(start)]


def same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2)
                                    for (x1, y1), (x2, y2) in zip(a, b, strict=True))


def loader(split, **kw):
    args = dict(batch_size=16, train=True, seed=7, device="cpu", mean=MEAN * split.images.shape[1],
                std=STD * split.images.shape[1], augment=Augment(crop_padding=2, flip=True))
    args.update(kw)
    return make_loader(split, **args)


# ---------------------------------------------------------------------------------------------
# crop and flip by index arithmetic


def reference_crop_flip(x, dy, dx, flip, p, mode):
    """The obvious per-image implementation: pad, slice, maybe mirror."""
    out = []
    h, w = x.shape[-2:]
    for i in range(len(x)):
        img = x[i:i + 1].float()
        padded = F.pad(img, (p, p, p, p), mode=mode) if p else img
        crop = padded[..., int(dy[i]):int(dy[i]) + h, int(dx[i]):int(dx[i]) + w]
        out.append(crop.flip(-1) if flip[i] else crop)
    return torch.cat(out).to(x.dtype)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
@pytest.mark.parametrize("p", [0, 1, 3])
def test_crop_flip_matches_pad_and_slice(mode, p):
    g = torch.Generator().manual_seed(p)
    x = torch.randint(0, 256, (12, 3, 7, 9), dtype=torch.uint8, generator=g)
    dy = torch.randint(0, 2 * p + 1, (12,), generator=g)
    dx = torch.randint(0, 2 * p + 1, (12,), generator=g)
    flip = torch.rand(12, generator=g) < 0.5
    got = crop_flip(x, dy, dx, flip, p, mode)
    assert got.dtype == torch.uint8 and got.shape == x.shape
    assert torch.equal(got, reference_crop_flip(x, dy, dx, flip, p, mode))


# ---------------------------------------------------------------------------------------------
# determinism


def test_same_seed_same_batches_other_seed_other_batches():
    s = id_split()
    a, b = loader(s), loader(s)
    assert same(collect(a), collect(b))
    assert not same(collect(a), collect(loader(s, seed=8)))


def test_epoch_depends_only_on_seed_and_epoch():
    s = id_split()
    run = loader(s)
    epochs = []
    for e in range(3):
        run.set_epoch(e)
        epochs.append(collect(run))
    assert not same(epochs[0], epochs[1])
    fresh = loader(s)
    fresh.set_epoch(2)
    assert same(collect(fresh), epochs[2])
    run.set_epoch(1)  # going back reproduces it
    assert same(collect(run), epochs[1])


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_resume_from_batch_k_is_the_tail_of_the_epoch(k):
    s = id_split()
    full = loader(s)
    full.set_epoch(4)
    whole = collect(full)
    resumed = loader(s)
    resumed.set_epoch(4)
    assert len(whole) == len(resumed) == 103 // 16
    assert same(collect(resumed, k), whole[k:])


def test_iter_from_out_of_range():
    with pytest.raises(DataError, match="cannot start at batch 99"):
        loader(id_split()).iter_from(99)


def test_epoch_is_a_permutation_and_drop_last():
    s = id_split()
    ys = torch.cat([y for _, y in loader(s)])
    assert len(ys) == (103 // 16) * 16 and len(set(ys.tolist())) == len(ys)
    ys = torch.cat([y for _, y in loader(s, drop_last=False)])
    assert sorted(ys.tolist()) == list(range(103))
    ev = torch.cat([y for _, y in loader(s, train=False)])
    assert ev.tolist() == list(range(103))  # evaluation: in order, nothing dropped


# ---------------------------------------------------------------------------------------------
# sharding


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_train_shards_are_disjoint_equal_and_cover_the_epoch(world_size):
    s = id_split(103)
    shards = []
    for r in range(world_size):
        ld = loader(s, rank=r, world_size=world_size, drop_last=False, batch_size=5)
        ld.set_epoch(3)
        shards.append(torch.cat([y for _, y in ld]).tolist())
    assert len({len(sh) for sh in shards}) == 1  # equal length
    union = [i for sh in shards for i in sh]
    assert len(union) == len(set(union)) == (103 // world_size) * world_size  # disjoint, covering


def test_eval_shards_cover_the_split_exactly():
    s = id_split(103)
    union = []
    for r in range(4):
        union += torch.cat([y for _, y in loader(s, train=False, rank=r, world_size=4)]).tolist()
    assert sorted(union) == list(range(103))


def test_an_images_augmentation_does_not_depend_on_world_size():
    s = id_split(64)
    one = loader(s, drop_last=False)
    by_id_1 = {int(y): x for xb, yb in one for x, y in zip(xb, yb, strict=True)}
    by_id_2 = {}
    for r in range(2):
        for xb, yb in loader(s, rank=r, world_size=2, drop_last=False, batch_size=8):
            by_id_2.update({int(y): x for x, y in zip(xb, yb, strict=True)})
    assert by_id_1.keys() == by_id_2.keys()
    assert all(torch.equal(by_id_1[i], by_id_2[i]) for i in by_id_1)


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_rank_shares_of_a_global_batch_reassemble_the_single_process_batch(world_size, streamed, tmp_path):
    """The trainer gives each of N ranks batch_size / N (the global batch split evenly). Rank r's
    batch b must then be positions r, r + N, ... of the one-process batch b, with the same crops and
    flips: the union over ranks is the single-process batch, so N ranks take the same steps."""
    global_batch, s = 4 * world_size, id_split(103)
    if streamed:  # the streaming loader shares the plan: the same cut for image folders
        root = make_folder(tmp_path / "imgs", classes=("a", "b", "c", "d", "e"), per_class=8, junk=False)
        s = load_dataset("folder", data_dir=root, image_size=8, channels=1, stream=True, val_fraction=0).train
    kw = dict(train=True, seed=7, device="cpu", mean=MEAN, std=STD, augment=Augment(crop_padding=2, flip=True),
              num_workers=0)
    one = make_loader(s, batch_size=global_batch, **kw)
    ranks = [make_loader(s, batch_size=global_batch // world_size, rank=r, world_size=world_size, **kw)
             for r in range(world_size)]
    for ld in (one, *ranks):
        ld.set_epoch(5)
    assert {len(ld) for ld in ranks} == {len(one)} == {len(s) // global_batch}  # the same steps per epoch
    shares = [list(ld) for ld in ranks]
    for b, (x, y) in enumerate(one):
        for r in range(world_size):
            xr, yr = shares[r][b]
            assert torch.equal(yr, y[r::world_size]), (b, r)
            assert torch.equal(xr, x[r::world_size]), (b, r)  # same images, same crops and flips


def test_bad_rank_and_oversized_batch():
    with pytest.raises(DataError, match="rank 2 is not in"):
        loader(id_split(), rank=2, world_size=2)
    with pytest.raises(DataError, match="batch_size 64 is larger than the 51 training images per rank"):
        loader(id_split(103), batch_size=64, world_size=2, rank=1)


# ---------------------------------------------------------------------------------------------
# what a batch looks like


def test_batch_shapes_dtypes_resize_and_channels_last():
    s = id_split(40, c=3, h=28, w=28)
    ld = loader(s, image_size=224, channels_last=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    x, y = next(iter(ld))
    assert x.shape == (16, 3, 224, 224) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.is_contiguous(memory_format=torch.channels_last)
    x2, _ = next(iter(loader(s, image_size=(20, 12), mean=(0.5,) * 3, std=(0.25,) * 3)))
    assert x2.shape == (16, 3, 20, 12) and x2.is_contiguous()


def test_eval_batches_are_exactly_normalized_pixels():
    s = id_split(20)
    x, y = next(iter(loader(s, train=False, augment=None)))
    want = (s.images[y].float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(x, want)


def test_flip_without_crop_mirrors_about_half():
    s = id_split(200)
    ld = loader(s, augment=Augment(crop_padding=0, flip=True), batch_size=200)
    x, y = next(iter(ld))
    plain = (s.images[y].float() / 255 - 0.5) / 0.25
    flipped = torch.tensor([torch.allclose(x[i], plain[i].flip(-1), atol=1e-5) for i in range(200)])
    kept = torch.tensor([torch.allclose(x[i], plain[i], atol=1e-5) for i in range(200)])
    assert bool((flipped | kept).all()) and 70 < int(flipped.sum()) < 130
    no_flip = loader(s, augment=Augment(crop_padding=0, flip=False), batch_size=200)
    x, y = next(iter(no_flip))
    torch.testing.assert_close(x, (s.images[y].float() / 255 - 0.5) / 0.25)


def test_normalized_batches_of_a_real_format_dataset_have_mean_0_std_1(tmp_path):
    write_idx_dataset(tmp_path / "fashion-mnist", 600, 100)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path, offline=True)
    assert ds.flip and Augment.for_dataset(ds) == Augment(crop_padding=4, flip=True)
    ev = make_loader(ds.train, batch_size=128, train=False, seed=0, device="cpu", mean=ds.mean, std=ds.std)
    x = torch.cat([b for b, _ in ev])
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3  # stats of this very split
    # Reflect padding keeps the pixel distribution, so a training batch stays near 0/1 too.
    tr = make_loader(ds.train, batch_size=128, train=True, seed=0, device="cpu", mean=ds.mean, std=ds.std,
                     augment=Augment(crop_padding=4, flip=True, pad_mode="reflect"))
    x, _ = next(iter(tr))
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05


SYSTEM_FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not __import__("os").path.isfile(f"{SYSTEM_FASHION}/train-images-idx3-ubyte.gz"),
                    reason=f"real Fashion-MNIST not installed in {SYSTEM_FASHION} (apt install dataset-fashion-mnist)")
def test_real_fashion_mnist_training_batches_are_about_0_1(monkeypatch):
    monkeypatch.setenv("CNNZOO_SYSTEM_DATA", "/usr/share/datasets")
    ds = load_dataset("fashion-mnist", offline=True)
    assert ds.found_in == "system" and ds.mean[0] == pytest.approx(0.286, abs=0.001)
    tr = make_loader(ds.train, batch_size=512, train=True, seed=0, device="cpu", mean=ds.mean, std=ds.std,
                     augment=Augment.for_dataset(ds))
    x, y = next(iter(tr))
    # black zero padding on black-background photos barely moves the statistics
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1) < 0.1


def test_digits_do_not_flip(tmp_path):
    write_idx_dataset(tmp_path / "mnist", 40, 10)
    ds = load_dataset("mnist", data_dir=tmp_path, offline=True)
    assert ds.flip is False and Augment.for_dataset(ds).flip is False


def test_augment_validation():
    with pytest.raises(DataError, match="pad_mode"):
        Augment(pad_mode="wrap")
    with pytest.raises(DataError, match="crop_padding"):
        Augment(crop_padding=-1)


# ---------------------------------------------------------------------------------------------
# streaming


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "imgs", classes=("a", "b", "c"), per_class=8, junk=False)


def test_streaming_is_chosen_by_estimated_size(folder):
    small = load_dataset("folder", data_dir=folder, image_size=12, channels=3)
    assert isinstance(small.train, Split) and not small.streaming
    big = load_dataset("folder", data_dir=folder, image_size=12, channels=3, memory_limit=1000)
    assert isinstance(big.train, FileSplit) and big.streaming
    assert len(big.train) == len(small.train) and torch.equal(big.val.labels, small.val.labels)


@pytest.mark.parametrize("workers", [0, 1])
def test_streaming_batches_equal_in_memory_batches(folder, workers):
    mem = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=False)
    disk = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=True)
    assert mem.mean == pytest.approx(disk.mean, abs=0.02)  # disk: estimated from a sample
    kw = dict(batch_size=5, train=True, seed=1, device="cpu", mean=mem.mean, std=mem.std,
              augment=Augment(crop_padding=2, flip=True), image_size=16)
    a = make_loader(mem.train, **kw)
    b = make_loader(disk.train, num_workers=workers, **kw)
    a.set_epoch(2)
    b.set_epoch(2)
    assert len(a) == len(b) > 1
    assert same(collect(a, 1), collect(b, 1))


def test_streaming_skips_a_file_that_became_unreadable(folder, caplog):
    ds = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=True, val_fraction=0)
    victim = ds.train.files[3]
    victim.write_bytes(b"no longer an image")
    ld = make_loader(ds.train, batch_size=len(ds.train), train=False, seed=0, device="cpu",
                     mean=ds.mean, std=ds.std, num_workers=0)
    with caplog.at_level(logging.WARNING, logger="cnnzoo.data"):
        (x, y), = list(ld)
    assert len(x) == len(ds.train) - 1 and len(y) == len(x)
    assert victim.name in caplog.text

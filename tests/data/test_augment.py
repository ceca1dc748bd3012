"""The augmentations beyond crop and flip: each op against PIL where PIL has it, the policies'
determinism and independence of batch size and rank count, mixup/CutMix targets, and that
everything is off by default."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from cnnzoo.data import Augment, load_dataset, make_loader
from cnnzoo.data.augment import (
    NUM_BINS,
    OPS,
    MixedTarget,
    apply_geometric,
    apply_mix,
    apply_photometric,
    magnitude,
)
from cnnzoo.errors import DataError

from .test_loader import id_split, same
from .writers import make_folder

MEAN, STD = (0.5,), (0.25,)
ALL_ON = dict(policy="randaugment", resized_crop=0.5, color_jitter=0.3, erasing=0.5, mixup=0.4, cutmix=1.0)


def loader(split, augment, **kw):
    c = split.images.shape[1]
    args = dict(batch_size=16, train=True, seed=7, device="cpu", mean=MEAN * c, std=STD * c, augment=augment)
    args.update(kw)
    return make_loader(split, **args)


def by_image(batches) -> dict[int, tuple[torch.Tensor, tuple]]:
    """image id (its label in id_split) -> (augmented image, its target as plain values)."""
    out = {}
    for xb, yb in batches:
        if isinstance(yb, MixedTarget):
            for i in range(len(yb)):
                out[int(yb.a[i])] = (xb[i], (int(yb.b[i]), float(yb.lam[i])))
        else:
            out.update({int(y): (x, ()) for x, y in zip(xb, yb, strict=True)})
    return out


def same_images(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k][0], b[k][0]) and a[k][1] == b[k][1] for k in a)


# ---------------------------------------------------------------------------------------------
# per-position parameters: reproducible, independent of batch size and rank count


@pytest.mark.parametrize("policy", ["randaugment", "trivialaugment"])
def test_every_augmentation_is_independent_of_batch_size_and_rank_count(policy):
    s = id_split(96, c=3, h=12, w=12)
    aug = Augment(crop_padding=2, flip=True, **dict(ALL_ON, policy=policy))
    one = by_image(loader(s, aug, batch_size=32, drop_last=False))
    other_batch = by_image(loader(s, aug, batch_size=7, drop_last=False))
    two = {}
    for r in range(2):
        two.update(by_image(loader(s, aug, batch_size=5, rank=r, world_size=2, drop_last=False)))
    assert len(one) == 96
    assert same_images(one, other_batch)
    assert same_images(one, two)
    # and the policy really changed the images (not a test of the identity)
    plain = by_image(loader(s, Augment(crop_padding=2, flip=True), batch_size=32, drop_last=False))
    assert sum(not torch.equal(one[k][0], plain[k][0]) for k in one) > 80


def test_same_seed_same_augmentation_other_epoch_or_seed_other():
    s = id_split(64, c=3, h=10, w=10)
    aug = Augment(crop_padding=0, flip=False, policy="trivialaugment", erasing=0.5, mixup=0.5)
    a, b = loader(s, aug), loader(s, aug)
    assert same(collect_plain(a), collect_plain(b))
    c = loader(s, aug)
    c.set_epoch(1)
    assert not same(collect_plain(a), collect_plain(c))
    assert not same(collect_plain(a), collect_plain(loader(s, aug, seed=8)))


def collect_plain(ld):
    return [(x, torch.stack((y.a, y.b)).float() + y.lam if isinstance(y, MixedTarget) else y) for x, y in ld]


def test_turning_one_augmentation_on_keeps_the_crops_and_flips_of_the_others():
    s = id_split(50)
    base = loader(s, Augment(crop_padding=2, flip=True))
    more = loader(s, Augment(crop_padding=2, flip=True, erasing=0.5))
    base.plan._plan()
    more.plan._plan()
    assert all(torch.equal(p, q) for p, q in zip(base.plan.params, more.plan.params[:3], strict=True))
    assert more.plan.extra_names == ("erase",)


def test_everything_new_is_off_by_default():
    from cnnzoo.config import AugmentConfig

    assert not Augment().extra and not Augment.from_config(AugmentConfig(), flip=True).extra
    assert Augment.from_config(AugmentConfig(crop_padding=4), flip=True) == Augment(crop_padding=4, flip=True)
    # the trainer's Augment of a recipe without the new keys is the crop/flip one it built before,
    # and its plan draws crop offsets and flips only
    assert Augment.from_config(AugmentConfig(), flip=False) == Augment(crop_padding=0, flip=False)
    ld = loader(id_split(40), Augment.from_config(AugmentConfig(crop_padding=2), flip=True))
    ld.plan._plan()
    assert ld.plan.extra_names == () and len(ld.plan.params) == 3


def test_bad_values_are_data_errors():
    with pytest.raises(DataError, match="policy"):
        Augment(policy="autoaugment")
    with pytest.raises(DataError, match="erasing"):
        Augment(erasing=1.5)
    with pytest.raises(DataError, match="randaugment_magnitude"):
        Augment(randaugment_magnitude=NUM_BINS)


# ---------------------------------------------------------------------------------------------
# the operations, against PIL (the reference of torchvision's policies)


def one_op(name: str, x: torch.Tensor, bin_: int = 20, sign: float = 1.0, wide: bool = False) -> torch.Tensor:
    """Apply op ``name`` to every image of the uint8 batch ``x`` with RandAugment's parameters."""
    b = x.shape[0]
    ops = OPS if x.shape[1] == 3 else OPS[:-1]
    p = {"op": torch.full((b, 1), ops.index(name)), "mag": torch.full((b, 1), bin_),
         "sign": torch.full((b, 1), sign)}
    f = x.float()
    return apply_photometric(apply_geometric(f, p, x.shape[1], wide), p, x.shape[1], wide)


def pil(x: torch.Tensor, i: int) -> Image.Image:
    arr = x[i].permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def as_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.array(img)
    return torch.from_numpy(arr[..., None] if arr.ndim == 2 else arr).permute(2, 0, 1).float()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(30, 200, (4, 3, 9, 11), dtype=torch.uint8, generator=g)
    x[0] = torch.randint(0, 256, (3, 9, 11), dtype=torch.uint8, generator=g)
    return x


@pytest.mark.parametrize("name,reference", [
    ("equalize", ImageOps.equalize),
    ("autocontrast", ImageOps.autocontrast),
    ("posterize", lambda im: ImageOps.posterize(im, 5)),  # bin 20 of RandAugment: 8 - round(20 / 7.5) = 5 bits
    ("solarize", lambda im: ImageOps.solarize(im, 85)),  # bin 20: threshold 255 * (1 - 20 / 30)
])
def test_photometric_ops_match_pil(batch, name, reference):
    got = one_op(name, batch)
    for i in range(len(batch)):
        want = as_tensor(reference(pil(batch, i)))
        assert torch.allclose(got[i], want, atol=1.0), name


def test_enhance_ops_match_pil_up_to_rounding(batch):
    from PIL import ImageEnhance

    f = 1 + float(magnitude("brightness", torch.tensor(20), wide=False))
    for name, enhancer in (("brightness", ImageEnhance.Brightness), ("contrast", ImageEnhance.Contrast),
                           ("color", ImageEnhance.Color), ("sharpness", ImageEnhance.Sharpness)):
        got = one_op(name, batch)
        for i in range(len(batch)):
            want = as_tensor(enhancer(pil(batch, i)).enhance(f))
            assert (got[i] - want).abs().max() <= 2.5, name


def test_identity_changes_nothing_and_translate_moves_the_image():
    x = torch.zeros(2, 1, 10, 10)
    x[:, :, 4, 4] = 255
    assert torch.equal(one_op("identity", x.to(torch.uint8)), x)
    # translate_x at the widest RandAugment bin: 150/331 of 10 px ~ 4.5 px; sign decides the side
    right = one_op("translate_x", x.to(torch.uint8), bin_=30, sign=-1.0)
    left = one_op("translate_x", x.to(torch.uint8), bin_=30, sign=1.0)
    col_r = int(right[0, 0].amax(0).argmax())
    col_l = int(left[0, 0].amax(0).argmax())
    assert col_r > 4 + 3 and col_l < 4 - 3
    # rotation keeps the bright pixel count (nearest neighbour) near the centre
    rot = one_op("rotate", x.to(torch.uint8), bin_=30)
    assert int((rot > 0).sum()) >= 2


def test_colour_saturation_is_not_drawn_for_grayscale():
    s = id_split(300, c=1, h=6, w=6)
    ld = loader(s, Augment(crop_padding=0, flip=False, policy="trivialaugment"))
    ld.plan._plan()
    op = ld.plan.params[3 + ld.plan.extra_names.index("op")]
    assert int(op.max()) == len(OPS) - 2  # "color" is last and left out


# ---------------------------------------------------------------------------------------------
# mixup and CutMix


def test_mixup_blends_and_cutmix_pastes_with_lam_the_hosts_share():
    x, x2 = torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
    y, y2 = torch.tensor([1, 2]), torch.tensor([3, 4])
    # image 0: mixup with lam 0.7; image 1: CutMix of a 4x4 box in the middle (lam = 1 - 16/64)
    p = {"mix": torch.tensor([[0.7, 0.0, 0.5, 0.5, 0.0], [0.3, 1.0, 0.5, 0.5, 0.5]])}
    out, t = apply_mix(x, x2, y, y2, p)
    assert torch.allclose(out[0], torch.full((1, 8, 8), 0.3))
    assert int(out[1].sum()) == 16 and torch.equal(out[1, 0, 2:6, 2:6], torch.ones(4, 4))
    assert torch.allclose(t.lam, torch.tensor([0.7, 0.75]))
    assert torch.equal(t.a, y) and torch.equal(t.b, y2)
    assert torch.equal(t.dominant(), torch.tensor([1, 2]))
    t.lam[0] = 0.2
    assert torch.equal(t.dominant(), torch.tensor([3, 2]))


def test_mixed_batches_pair_images_with_dataset_partners():
    s = id_split(64, c=1, h=8, w=8)
    aug = Augment(crop_padding=0, flip=False, mixup=1.0)
    for x, y in loader(s, aug):
        assert isinstance(y, MixedTarget)
        # pixel-exact: the image is lam * host + (1 - lam) * partner, in normalized units
        host = (s.images[y.a].float() / 255 - 0.5) / 0.25
        partner = (s.images[y.b].float() / 255 - 0.5) / 0.25
        lam = y.lam.view(-1, 1, 1, 1)
        assert torch.allclose(x, lam * host + (1 - lam) * partner, atol=1e-4)
        assert (y.lam > 0).all() and (y.lam <= 1).all()


def test_mix_prob_zero_leaves_images_unmixed():
    s = id_split(32)
    x, y = next(iter(loader(s, Augment(crop_padding=0, flip=False, cutmix=1.0, mix_prob=0.0))))
    assert torch.equal(y.lam, torch.ones(16))
    plain, _ = next(iter(loader(s, Augment(crop_padding=0, flip=False))))
    assert torch.equal(x, plain)


def test_streaming_loader_gives_the_in_memory_loaders_augmented_batches(tmp_path):
    folder = make_folder(tmp_path / "imgs", classes=("a", "b", "c"), per_class=8, junk=False)
    mem = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=False)
    disk = load_dataset("folder", data_dir=folder, image_size=12, channels=3, stream=True)
    aug = Augment(crop_padding=1, flip=True, **ALL_ON)
    kw = dict(batch_size=5, train=True, seed=1, device="cpu", mean=mem.mean, std=mem.std, augment=aug)
    a, b = make_loader(mem.train, **kw), make_loader(disk.train, num_workers=0, **kw)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.allclose(xa, xb, atol=1e-5)
        assert all(torch.equal(getattr(ya, f.name), getattr(yb, f.name)) for f in dataclasses.fields(MixedTarget))


def test_random_resized_crop_zooms_in():
    # a checkerboard of 1-px squares: a crop of a quarter of the area, resized back, has 2-px squares
    x = ((torch.arange(16).view(1, 16) + torch.arange(16).view(16, 1)) % 2 * 255).to(torch.uint8)
    x = x.expand(4, 1, 16, 16)
    p = {"rrc": torch.tensor([[0.5, 0.5, 0.25, 0.25]]).expand(4, 4)}
    out = apply_geometric(x.float(), p, 1, wide=False)
    assert out.shape == x.shape
    # neighbouring pixels agree far more often than in the original (where they never do)
    agree = (out[..., :, 1:] == out[..., :, :-1]).float().mean()
    assert agree > 0.3

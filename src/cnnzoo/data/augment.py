"""The augmentations beyond crop and flip, for whole batches on the device (airbench's style).

Every random choice is a *parameter of an epoch position*, drawn on the CPU once per epoch for all
``n`` positions (see :mod:`cnnzoo.data.batching`: ``draw`` returns arrays of length ``n``; the plan
shards and slices them as it does the crop offsets), so an image's augmentation depends on
(seed, epoch, position) only: not on the batch size, the number of ranks or the device. Each
family of parameters has its own generator, ``(seed, epoch, "randaugment")`` and so on, so turning
one on does not change the draws of another (nor crop/flip's, whose stream predates this module).

What runs, in this order, for a batch (``apply_*`` below):

1. ``resized_crop`` and the geometric operations of RandAugment / TrivialAugment (rotate, shear,
   translate), composed into one 2x3 affine matrix per image and applied by **one**
   ``grid_sample`` (nearest neighbour, as torchvision's policies; outside the image is black).
   The random-resized crop samples bilinearly and keeps the stored size: the resize to the model's
   input follows in :class:`~cnnzoo.data.batching.BatchTransform`.
2. The photometric operations of the policy (brightness, contrast, sharpness, posterize,
   solarize, autocontrast, equalize, and colour saturation on 3-channel images), in 0..255 float.
   Each operation is computed only for the images that drew it (one ``index_select`` /
   ``index_copy`` per operation; on CUDA a ``torch.where`` over the batch instead, which needs no
   host synchronization). Equalize batches well: one ``scatter_add`` makes every image's
   histogram, a ``cumsum`` its lookup table, a ``gather`` applies it.
3. Colour jitter (brightness, contrast, saturation factors in ``[1 - s, 1 + s]``; saturation on 3
   channels only; no hue: a hue rotation needs an RGB->HSV round trip per pixel, and grayscale
   data has no hue).
4. After normalization and resizing: random erasing (a box of 2-33% of the area, aspect 0.3-3.3,
   set to 0, which is the dataset mean after normalization), then mixup / CutMix.

Mixup and CutMix mix an image with a *partner*: another training image drawn per position (a
dataset index, so again independent of batch size and ranks), gathered by the loader and augmented
with its host's parameters. The batch's target becomes a :class:`MixedTarget` ``(a, b, lam)`` and
the trainer's loss is ``lam * CE(a) + (1 - lam) * CE(b)`` per image; train accuracy counts the
dominant label (``a`` where ``lam >= 0.5``).

Magnitudes follow torchvision (``RandAugment``: 31 bins, magnitude 9 by default; the "wide" ranges
of ``TrivialAugmentWide``); translations are fractions of the image side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

POLICIES = ("none", "randaugment", "trivialaugment")
NUM_BINS = 31  # torchvision's magnitude bins

# Operations, by name; geometric ones become part of the affine matrix. "color" (saturation) only
# on 3 channels. Index = op code drawn per image per slot.
OPS = ("identity", "rotate", "shear_x", "shear_y", "translate_x", "translate_y", "brightness", "contrast",
       "sharpness", "posterize", "solarize", "autocontrast", "equalize", "color")
GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
SIGNED = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y", "brightness", "contrast", "sharpness",
          "color")


def ops_for(channels: int) -> tuple[str, ...]:
    return OPS if channels == 3 else OPS[:-1]


def magnitude(op: str, bin_: torch.Tensor, wide: bool) -> torch.Tensor:
    """The strength of ``op`` at magnitude bin ``bin_`` (0..30), torchvision's tables as formulas."""
    t = bin_.double() / (NUM_BINS - 1)
    if op in ("shear_x", "shear_y"):
        return t * (0.99 if wide else 0.3)
    if op in ("translate_x", "translate_y"):
        return t * (1.0 if wide else 150.0 / 331.0)  # fraction of the side (torchvision: 32 px of 32 / 150 of 331)
    if op == "rotate":
        return t * (135.0 if wide else 30.0)  # degrees
    if op in ("brightness", "contrast", "sharpness", "color"):
        return t * (0.99 if wide else 0.9)
    if op == "posterize":  # bits kept: 8 down to 2 (wide) or 4
        return 8 - (bin_.double() / ((NUM_BINS - 1) / (6 if wide else 4))).round()
    if op == "solarize":  # threshold: 255 (identity) down to 0
        return 255.0 * (1 - t)
    return torch.zeros_like(t)


@dataclass
class MixedTarget:
    """The target of a mixup/CutMix batch: image ``i`` is ``lam[i]`` of class ``a[i]`` and
    ``1 - lam[i]`` of class ``b[i]``. Shaped like ``a`` for code that reads ``y.shape[0]``."""

    a: torch.Tensor
    b: torch.Tensor
    lam: torch.Tensor  # float32 (B,)

    @property
    def shape(self) -> torch.Size:
        return self.a.shape

    def __len__(self) -> int:
        return len(self.a)

    def dominant(self) -> torch.Tensor:
        """The label that makes up at least half of each image: what train accuracy counts."""
        return torch.where(self.lam >= 0.5, self.a, self.b)

    def to(self, device: torch.device, non_blocking: bool = False) -> MixedTarget:
        return MixedTarget(self.a.to(device, non_blocking=non_blocking), self.b.to(device, non_blocking=non_blocking),
                           self.lam.to(device, non_blocking=non_blocking))


# --------------------------------------------------------------------------------------------------
# Drawing the parameters of an epoch (CPU, all n positions)


def draw(aug, n: int, channels: int, gen) -> dict[str, torch.Tensor]:
    """Per-position parameters of the augmentations ``aug`` turns on (besides crop/flip).
    ``gen(purpose)`` returns the CPU generator of that purpose for this (seed, epoch)."""
    out: dict[str, torch.Tensor] = {}
    if aug.resized_crop > 0:
        g = gen("resized_crop")
        area = aug.resized_crop + (1 - aug.resized_crop) * torch.rand(n, generator=g, dtype=torch.float64)
        log_r = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * torch.rand(n, generator=g, dtype=torch.float64)
        r = log_r.exp()
        w, h = (area * r).sqrt().clamp(max=1.0), (area / r).sqrt().clamp(max=1.0)  # fractions of the side
        cx, cy = torch.rand(n, generator=g, dtype=torch.float64), torch.rand(n, generator=g, dtype=torch.float64)
        out["rrc"] = torch.stack((w, h, (1 - w) * cx, (1 - h) * cy), 1).float()  # size and top-left, fractions
    if aug.policy != "none":
        g = gen("policy")
        ops = ops_for(channels)
        slots = aug.randaugment_ops if aug.policy == "randaugment" else 1
        out["op"] = torch.randint(0, len(ops), (n, slots), generator=g)
        if aug.policy == "randaugment":
            out["mag"] = torch.full((n, slots), aug.randaugment_magnitude, dtype=torch.int64)
        else:
            out["mag"] = torch.randint(0, NUM_BINS, (n, slots), generator=g)
        out["sign"] = torch.where(torch.rand(n, slots, generator=g) < 0.5, -1.0, 1.0)
    if aug.color_jitter > 0:
        g = gen("color_jitter")
        s = aug.color_jitter
        out["jitter"] = 1 - s + 2 * s * torch.rand(n, 3, generator=g)
    if aug.erasing > 0:
        g = gen("erasing")
        on = torch.rand(n, generator=g) < aug.erasing
        area = 0.02 + (1 / 3 - 0.02) * torch.rand(n, generator=g, dtype=torch.float64)
        log_r = math.log(0.3) + (math.log(1 / 0.3) - math.log(0.3)) * torch.rand(n, generator=g, dtype=torch.float64)
        r = log_r.exp()
        w, h = (area * r).sqrt().clamp(max=1.0), (area / r).sqrt().clamp(max=1.0)
        x0 = (1 - w) * torch.rand(n, generator=g, dtype=torch.float64)
        y0 = (1 - h) * torch.rand(n, generator=g, dtype=torch.float64)
        w = torch.where(on, w, torch.zeros_like(w))
        out["erase"] = torch.stack((w, h, x0, y0), 1).float()
    if aug.mixing:
        g = gen("mix")
        # numpy's Beta sampler, seeded from the same generator: torch has no seeded Beta on the CPU
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))
        out["partner"] = torch.randint(0, n, (n,), generator=g)  # a dataset index (the loader maps positions)
        use_cut = np.zeros(n, dtype=bool)
        if aug.mixup > 0 and aug.cutmix > 0:
            use_cut = rng.random(n) < 0.5  # timm's switch probability
        elif aug.cutmix > 0:
            use_cut[:] = True
        alpha = np.where(use_cut, aug.cutmix or 1.0, aug.mixup or 1.0)
        share = np.where(rng.random(n) < aug.mix_prob, rng.beta(alpha, alpha), 1.0)  # unmixed images: 1
        side = np.sqrt(1 - share)
        box_x, box_y = rng.random(n), rng.random(n)
        # lam, cutmix?, then the CutMix box as fractions: centre and side (clipped when applied)
        out["mix"] = torch.from_numpy(np.stack((share, use_cut.astype(np.float64), box_x, box_y, side), 1)).float()
    return out


# --------------------------------------------------------------------------------------------------
# Applying them to a batch


def _affine(p: dict[str, torch.Tensor], ops: tuple[str, ...], wide: bool, b: int,
            device: torch.device) -> torch.Tensor | None:
    """One 2x3 matrix per image (output -> input, in affine_grid's [-1, 1] coordinates), or None."""
    theta = None
    eye = torch.eye(3, dtype=torch.float64, device=device).expand(b, 3, 3)
    if "rrc" in p:
        w, h, x0, y0 = p["rrc"].double().unbind(1)
        m = eye.clone()
        # output [-1, 1] -> the window [x0, x0 + w] of the side, in [-1, 1]
        m[:, 0, 0], m[:, 0, 2] = w, 2 * x0 + w - 1
        m[:, 1, 1], m[:, 1, 2] = h, 2 * y0 + h - 1
        theta = m
    if "op" in p:
        for s in range(p["op"].shape[1]):
            op, mag, sign = p["op"][:, s], p["mag"][:, s], p["sign"][:, s].double()
            m = eye.clone()
            for name in GEOMETRIC:
                if name not in ops:
                    continue
                sel = op == ops.index(name)
                v = magnitude(name, mag, wide) * sign
                if name == "rotate":
                    a = torch.where(sel, v * math.pi / 180, torch.zeros_like(v))
                    m[:, 0, 0], m[:, 0, 1] = torch.cos(a), -torch.sin(a)
                    m[:, 1, 0], m[:, 1, 1] = torch.sin(a), torch.cos(a)
                elif name == "shear_x":
                    m[:, 0, 1] = torch.where(sel, v, m[:, 0, 1])
                elif name == "shear_y":
                    m[:, 1, 0] = torch.where(sel, v, m[:, 1, 0])
                elif name == "translate_x":
                    m[:, 0, 2] = torch.where(sel, 2 * v, m[:, 0, 2])
                else:
                    m[:, 1, 2] = torch.where(sel, 2 * v, m[:, 1, 2])
            theta = m if theta is None else theta @ m
    return None if theta is None else theta[:, :2].float()


def apply_geometric(x: torch.Tensor, p: dict[str, torch.Tensor], channels: int, wide: bool) -> torch.Tensor:
    """Random-resized crop and the policy's geometric operations: one ``grid_sample`` (float 0..255)."""
    theta = _affine(p, ops_for(channels), wide, x.shape[0], x.device)
    if theta is None:
        return x
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    mode = "bilinear" if "rrc" in p else "nearest"
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    return x


def _blend(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``b + f * (a - b)`` clamped to 0..255 (PIL's ImageEnhance: f = 1 gives a)."""
    return (b + f.view(-1, 1, 1, 1) * (a - b)).clamp_(0, 255)


def _sharpness_base(x: torch.Tensor) -> torch.Tensor:
    """PIL's SMOOTH filter (centre 5, neighbours 1, /13) inside, the image itself on the border."""
    c = x.shape[1]
    k = torch.ones(3, 3, dtype=x.dtype, device=x.device)
    k[1, 1] = 5
    k = (k / 13).expand(c, 1, 3, 3)
    inner = F.conv2d(x, k, groups=c)
    out = x.clone()
    out[:, :, 1:-1, 1:-1] = inner
    return out


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalization of every image and channel at once (torchvision's rule)."""
    b, c, h, w = x.shape
    v = x.round().clamp(0, 255).long().view(b * c, h * w)
    hist = torch.zeros(b * c, 256, dtype=torch.int64, device=x.device).scatter_add_(1, v, torch.ones_like(v))
    # the count of the highest value present is left out of the step, as in PIL / torchvision
    last = torch.where(hist > 0, torch.arange(256, device=x.device), -1).amax(1, keepdim=True)
    step = (hist.sum(1, keepdim=True) - hist.gather(1, last.clamp(min=0))) // 255
    safe = step.clamp(min=1)
    lut = (hist.cumsum(1) + safe // 2) // safe
    lut = F.pad(lut, (1, 0))[:, :-1].clamp(0, 255)
    out = lut.gather(1, v).to(x.dtype)
    out = torch.where(step == 0, v.to(x.dtype), out)
    return out.view(b, c, h, w)


def _photometric(name: str, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """One photometric operation on a batch (float 0..255) with per-image strength ``v``."""
    if name == "brightness":
        return _blend(x, torch.zeros_like(x), 1 + v)
    if name == "contrast":
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        return _blend(x, mean.expand_as(x), 1 + v)
    if name == "color":
        return _blend(x, _gray(x).expand_as(x), 1 + v)
    if name == "sharpness":
        return _blend(x, _sharpness_base(x), 1 + v) if x.shape[-1] > 2 and x.shape[-2] > 2 else x
    if name == "posterize":
        q = torch.pow(2.0, 8 - v).view(-1, 1, 1, 1).to(x.dtype)
        return torch.floor(x.round() / q) * q
    if name == "solarize":
        t = v.view(-1, 1, 1, 1).to(x.dtype)
        return torch.where(x >= t, 255 - x, x)
    if name == "autocontrast":
        lo, hi = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
        scale = torch.where(hi > lo, 255 / (hi - lo).clamp(min=1e-6), torch.ones_like(hi))
        lo = torch.where(hi > lo, lo, torch.zeros_like(lo))
        return ((x - lo) * scale).clamp_(0, 255)
    if name == "equalize":
        return _equalize(x)
    return x


def apply_photometric(x: torch.Tensor, p: dict[str, torch.Tensor], channels: int, wide: bool) -> torch.Tensor:
    """The policy's photometric operations, then colour jitter (float 0..255 in and out)."""
    ops = ops_for(channels)
    subset = x.device.type == "cpu"  # CPU: compute each op on its images only; CUDA: no host syncs
    if "op" in p:
        for s in range(p["op"].shape[1]):
            op, mag, sign = p["op"][:, s], p["mag"][:, s], p["sign"][:, s]
            for k, name in enumerate(ops):
                if name == "identity" or name in GEOMETRIC:
                    continue
                v = magnitude(name, mag, wide).float()
                if name in SIGNED:
                    v = v * sign
                sel = op == k
                if subset:
                    idx = sel.nonzero().view(-1)
                    if len(idx):
                        x = x.index_copy(0, idx, _photometric(name, x.index_select(0, idx), v[idx]))
                else:
                    x = torch.where(sel.view(-1, 1, 1, 1), _photometric(name, x, v), x)
    if "jitter" in p:
        f = p["jitter"]
        x = _photometric("brightness", x, f[:, 0] - 1)
        x = _photometric("contrast", x, f[:, 1] - 1)
        if channels == 3:
            x = _photometric("color", x, f[:, 2] - 1)
    return x


def _box_mask(box: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, 1, H, W) bool: inside each image's box ``(w, h, x0, y0)`` (fractions of the sides)."""
    bw, bh, x0, y0 = box.unbind(1)
    dev = box.device
    cols = (torch.arange(w, device=dev) + 0.5) / w
    rows = (torch.arange(h, device=dev) + 0.5) / h
    in_c = (cols.view(1, w) >= x0.view(-1, 1)) & (cols.view(1, w) < (x0 + bw).view(-1, 1))
    in_r = (rows.view(1, h) >= y0.view(-1, 1)) & (rows.view(1, h) < (y0 + bh).view(-1, 1))
    return (in_r.view(-1, 1, h, 1) & in_c.view(-1, 1, 1, w))


def apply_erasing(x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Random erasing on the normalized batch: the box becomes 0 (the dataset mean)."""
    if "erase" not in p:
        return x
    return x.masked_fill(_box_mask(p["erase"], x.shape[-2], x.shape[-1]), 0.0)


def apply_mix(x: torch.Tensor, x2: torch.Tensor, y: torch.Tensor, y2: torch.Tensor,
              p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, MixedTarget]:
    """Mixup (a blend) or CutMix (the partner's box pasted) per image; lam is the host's share."""
    lam, cut, cx, cy, side = p["mix"].unbind(1)
    h, w = x.shape[-2:]
    # the CutMix box, clipped to the image; its true area decides lam
    x0, x1 = (cx - side / 2).clamp(0, 1), (cx + side / 2).clamp(0, 1)
    y0, y1 = (cy - side / 2).clamp(0, 1), (cy + side / 2).clamp(0, 1)
    # snap to whole pixels so that lam is the share of pixels really pasted
    x0, x1 = (x0 * w).round() / w, (x1 * w).round() / w
    y0, y1 = (y0 * h).round() / h, (y1 * h).round() / h
    box = _box_mask(torch.stack((x1 - x0, y1 - y0, x0, y0), 1), h, w) & (cut > 0).view(-1, 1, 1, 1)
    lam_cut = 1 - (x1 - x0) * (y1 - y0)
    is_cut = cut > 0
    lam_eff = torch.where(is_cut, lam_cut, lam)
    blend = torch.where(is_cut, torch.ones_like(lam), lam).view(-1, 1, 1, 1).to(x.dtype)
    mixed = x * blend + x2 * (1 - blend)
    mixed = torch.where(box, x2, mixed)
    return mixed, MixedTarget(y, y2, lam_eff.float())
